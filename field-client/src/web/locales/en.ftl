# The volunteers' app, in English. Every message here exists in lv.ftl too
# (a test checks it). Numbers come pre-formatted as $n; $count selects plurals.

app-name = KRC journal
skip-to-content = Skip to the content
nav-activities = Activities
nav-new = Record an activity
nav-language = Language
footer-local = Everything is saved on this computer first, and sent to the office server whenever a connection exists.

## Sync status, always visible
status-heading = Sending to the office
status-all-sent = Everything is sent.
status-waiting = { $count ->
    [one] Changes to { $n } activity are waiting to be sent.
   *[other] Changes to { $n } activities are waiting to be sent.
}
status-files-waiting = { $count ->
    [one] { $n } photo or scan ({ $size }) is waiting to be sent.
   *[other] { $n } photos or scans ({ $size }) are waiting to be sent.
}
status-files-waiting-budget = { $count ->
    [one] { $n } photo or scan ({ $size }) waits: files use at most half of the mobile data left this month. It goes next month, or sooner with a bigger budget in Settings (on Wi-Fi, no budget is needed).
   *[other] { $n } photos or scans ({ $size }) wait: files use at most half of the mobile data left this month. They go next month, or sooner with a bigger budget in Settings (on Wi-Fi, no budget is needed).
}
status-last-sent = Last sent { $ago }.
status-never-sent = Nothing has been sent yet.
status-offline-since = No connection to the office server since { $since }.
status-offline-last-sent = No connection to the office server since { $since }; last sent { $ago }.
status-office-received = Centres' records received { $ago }; each centre's last sync is on the "Sync health" page.
status-not-enrolled = This computer is not connected to the office yet: records are saved here and will be sent once it is.
status-revoked = The office revoked this computer: sending has stopped. Everything recorded here stays on this computer; contact the office.
status-office-disk-full = The office server's disk is full: records are kept on this computer and will be sent later, by themselves.
status-update-this-program = This program is older than the office server: update it on this computer to send again. Everything recorded stays saved here.
status-update-server = The office server is older than this program: the office must update it before sending works again. Everything recorded stays saved here.
status-update-either = This program and the office server speak different versions: update this program, or ask the office to update the server. Everything recorded stays saved here.
status-budget = Mobile data this month: { $used } of { $budget } used.
status-budget-spent = This month's mobile data budget is used up: sending waits for next month or a bigger budget. Records are still saved here.
status-metered = Metered connection: this computer connects only to send.
ago-just-now = just now
ago-minutes = { $count ->
    [one] { $count } minute ago
   *[other] { $count } minutes ago
}
ago-hours = { $count ->
    [one] { $count } hour ago
   *[other] { $count } hours ago
}
ago-days = { $count ->
    [one] { $count } day ago
   *[other] { $count } days ago
}

## The list
list-heading = Activities
list-deleted-heading = Deleted activities
search-label = Search
search-hint = Title, place, organiser, institution or notes; Latvian letters are optional.
filter-kind = Kind
filter-kind-all = All kinds
filter-centre = Centre
filter-centre-all = All centres
filter-month = Month
filter-month-all = All months
filter-apply = Show
filter-clear = Clear
list-shown = { $count ->
    [one] { $n } activity
   *[other] { $n } activities
}
list-page = { $from }–{ $to } of { $total }
list-newer = ← Newer
list-older = Older →
list-empty = No activities are recorded yet.
list-no-match = No activity matches.
list-show-deleted = Show deleted activities
list-show-current = Back to the activities
col-date = Date
col-centre = Centre
col-title = Title
col-kind = Kind
col-place = Place
col-participants = Participants
totals-heading = Participants by group in the activities found
totals-all = Total
totals-hours = Hours

## The form
form-new-heading = Record an activity
form-edit-heading = Edit the activity
form-required = required
field-title = Title
field-kind = Kind
field-kind-choose = Choose…
field-date = Date
field-start = Start time
field-hours = Duration in hours
field-place = Place
field-organisers = Organisers
field-institutions = Partner institutions
field-names-hint = One name per box. Earlier names are suggested as you type.
field-add-another = Add another
field-counts = Participants by group
field-description = Description
field-notes = Outcome notes
form-total = Total participants: { $n }
form-save = Save
form-cancel = Cancel
form-errors = Please correct the marked fields; nothing has been saved yet.
form-not-saved-restart = Not saved yet: the app restarted while this form was open. Check what you typed and save again.
form-saving = Saving…
draft-restored = Your unsaved entries from before were restored.
draft-discard = Discard them
conflict-heading = Someone else changed this activity while you were editing it
conflict-hint = Your changes are kept below but not saved yet. Check them against these changes and save again.
conflict-change = { $field }: “{ $before }” → “{ $after }”
conflict-by = Changed by { $who }, { $when }.
no-changes = Nothing was changed.

## Saved, deleted, restored
saved-new = Saved: “{ $title }”.
saved-edit = Your changes to “{ $title }” are saved.
deleted = “{ $title }” was deleted.
undo = Undo
restored = “{ $title }” is back.

## One activity
detail-recorded = Recorded by { $who }, { $when }.
detail-updated = Last changed by { $who }, { $when }.
detail-deleted = This activity is deleted.
detail-none = —
action-edit = Edit
action-delete = Delete…
action-restore = Restore
back-to-list = Back to the list
delete-heading = Delete this activity?
delete-explain = “{ $title }” will no longer be listed or counted. You can undo this.
delete-confirm = Delete
delete-cancel = Keep it
action-erase = Erase for privacy…
detail-erasure-waiting = An erasure of this activity was asked for. It is hidden, and it will be erased from every computer after the next sync with the office server.
erase-heading = Erase this activity for privacy?
erase-explain = “{ $title }” will be removed from the office server and from every centre's computer, with all its earlier versions, at their next sync. Use this when personal data was recorded that must not be kept: a name, a phone number, a health detail.
erase-warning = This cannot be undone: unlike a delete, nobody can bring it back. The other activities stay as they are, but their history of changes starts again.
erase-understood = I understand that this cannot be undone.
erase-confirm = Erase for good
erase-requested = Erasure asked for. The activity is hidden now; it will be erased from the office server and from every computer after this computer's next sync.

## Problems with a field
problem-required = This field is required.
problem-empty = This field must not be empty.
problem-unknown-kind = Choose a kind from the list.
problem-not-a-date = Enter a date, for example 2026-05-14.
problem-not-a-time = Enter a time as hours and minutes, for example 14:30.
problem-hours-out-of-range = Enter more than 0 and at most { $limit } hours.
problem-not-hours = Enter a number of hours, for example 1.5.
problem-unknown-group = This is not a participant group.
problem-negative = A count cannot be negative.
problem-over-limit = At most { $limit }.
problem-not-a-whole-number = Enter a whole number.
problem-too-many-names = At most { $limit } names.
problem-too-long = At most { $limit } characters.
problem-control-characters = The text contains characters that are not allowed.
problem-given-twice = This group is given more than once; give each group once.

## Errors
error-heading = Something went wrong
error-not-found = There is no such activity here.
error-page-not-found = There is no such page.
error-busy = The journal is busy for a moment. Please try again.
error-stale-form = This form is out of date or was sent from another page. Nothing was saved. Reload the page and try again.
error-store = The journal could not be read or saved: { $details }
error-bad-form = The form could not be read. Nothing was saved.
error-office-only = Only the central office can erase activities.

## Reports
nav-reports = Reports
report-heading = Report
report-period = Period
period-this-month = This month
period-last-month = Last month
period-this-quarter = This quarter
period-last-quarter = Last quarter
period-this-year = This year
period-last-year = Last year
period-custom = Dates below
report-from = From
report-to = To
report-headline = From { $from } to { $to }: { $activities ->
    [one] { $activities_n } activity
   *[other] { $activities_n } activities
}, { $hours } hours, { $participants ->
    [one] { $participants_n } participant
   *[other] { $participants_n } participants
} and { $institutions ->
    [one] { $institutions_n } partner institution
   *[other] { $institutions_n } partner institutions
}.
col-activities = Activities
col-institutions = Partner institutions
chart-months = Participants per month, by centre
chart-groups = Participants by group
download-csv = Download CSV
download-xlsx = Download Excel (XLSX)

## History of an activity
action-history = History
history-heading = History: { $title }
history-created = Recorded by { $who }, { $when }.
history-changed = { $field } changed from “{ $before }” to “{ $after }” by { $who }, { $when }.
history-set = { $field } set to “{ $after }” by { $who }, { $when }.
history-cleared = { $field } cleared (it was “{ $before }”) by { $who }, { $when }.
history-deleted = Deleted by { $who }, { $when }.
history-restored = Restored by { $who }, { $when }.
history-back = Back to the activity
field-deleted = Deleted

## Kinds of activity
kind-seminar = Seminar
kind-workshop = Workshop
kind-training = Training
kind-consultation = Consultation
kind-community-initiative = Community initiative
kind-event = Event
kind-meeting = Meeting
kind-symposium = Symposium
kind-other = Other

## Participant groups
group-teachers = Teachers
group-children-and-youth = Children and young people
group-parents = Parents
group-municipal-staff = Municipal staff
group-ngo-representatives = NGO representatives
group-media = Media
group-volunteers = Volunteers
group-other = Other

## Months
month-of-year = { $month } { $year }
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

nav-health = Sync health
health-heading = Sync health of the centres
health-none-yet = The office server has not reported the sync health yet. It does at every sync: it appears here once this computer has synced.
health-as-of = As the office server reported it on { $when }. A centre is marked silent after { $days ->
    [one] { $days } day
   *[other] { $days } days
} without a successful sync.
health-silent-count = { $count ->
    [one] { $count } centre is silent: check its computer and connection.
   *[other] { $count } centres are silent: check their computers and connections.
}
health-all-fine = Every centre has synced recently.
health-centre = Centre / device
health-last-sync = Last successful sync
health-unsent = Not yet sent
health-state = State
health-revoked = revoked
health-last-contact = last connected { $ago }
health-never = never
health-unknown = not known
health-fine = Fine
health-silent-days = { $count ->
    [one] Silent for { $count } day
   *[other] Silent for { $count } days
}
health-never-synced = Silent: has never synced
health-office = Central office
health-no-device = No computer enrolled yet: make the centre an enrolment code on the server:
health-no-device-count = { $count ->
    [one] { $count } centre has no computer enrolled yet: it needs an enrolment code.
   *[other] { $count } centres have no computer enrolled yet: they need enrolment codes.
}

filter-municipality = Municipality
filter-municipality-all = All municipalities
col-municipality = Municipality
report-by-municipality = By municipality

## First run and settings (web/enrol.rs)
nav-settings = Settings
setup-heading = Welcome! Let's set this computer up
setup-intro = This is where the centre's activities are recorded. If the office gave you an enrolment code, paste it; if not yet, you can start recording now and enter the code later.
setup-with-code = I have a code from the office
enrol-code = Enrolment code
setup-device-name = This computer's name
setup-enrol = Enrol
setup-offline = Start without a code
setup-offline-hint = What you record stays on this computer and is sent to the office once the computer is enrolled (Settings).
setup-centre = Centre's name
setup-start-offline = Start recording
setup-centre-missing = Type the centre's name.
setup-provisional-centre = New centre
enrol-code-not-a-code = That is not an enrolment code: codes start with "KRC2-". Copy it again from the office's message.
enrol-code-mistyped = The code was mistyped. Copy it again; nothing was changed.
enrol-code-old = This code is in an old format. Ask the office for a new one.
enrol-code-damaged = The code is incomplete or damaged. Copy all of it again.
enrol-unreachable = Could not reach the office server. Check the internet connection and try again; you can also start recording without a code.
enrol-refused = The office server did not accept the code: { $details }. Ask the office for a new one.
enrol-code-unknown = The office server does not know this code: it is mistyped, or made for another server. Ask the office for a new one.
enrol-code-expired = This code has expired. Ask the office for a new one.
enrol-code-used = This code was already used. Ask the office for a new one.
enrol-already-enrolled = This computer is already enrolled with the office server.
enrol-failed = Enrolling did not work: { $details }
settings-heading = Settings
settings-enrolled = This computer is enrolled with the office server { $relay } ({ $when }); what is recorded is sent by itself.
settings-enrol-heading = Enrol with the office server
settings-enrol-hint = Paste the code the office gave you. Everything already recorded stays and will be sent.

## Column names and words of the files the program writes (interchange/)
file-col-id = ID
file-col-centre = Centre
file-col-title = Title
file-col-kind = Kind
file-col-date = Date
file-col-start = Start
file-col-hours = Hours
file-col-place = Place
file-col-organisers = Organisers
file-col-institutions = Institutions
file-col-total = Total
file-col-description = Description
file-col-notes = Notes
file-col-recorded-by = Recorded by
file-col-attachments = Attached files
file-col-created-at = Created at
file-col-updated-by = Updated by
file-col-updated-at = Updated at
file-col-deleted = Deleted
file-col-activities = Activities
file-col-participants = Total participants
file-col-distinct-institutions = Distinct institutions
file-col-municipality = Municipality
file-yes = yes
file-no = no
file-all = all
file-total-row = TOTAL
file-municipality-row = Municipality: { $name }
sheet-report = Report
sheet-activities = Activities

## Who records on this computer (people.rs)
author-office = office
author-office-person = { $name } (office)
people-recording = Recording
people-switch = Switch
people-heading = Who records on this computer
people-hint = One person's name per line. Each record and correction is marked with the name of the person chosen at the top of the page, instead of the computer's name.
people-names = Names
people-save = Save the names
people-name-too-long = A name may be at most { $limit } characters long.
people-too-many = At most { $limit } names can be kept on one computer.
people-ask = Who records on this computer? Enter the names in the settings, so that each record shows who made it.
field-date-placeholder = yyyy-mm-dd or dd.mm.yyyy
list-fold-search = Search and filter
list-fold-totals = Totals

## The command line's own sentences (commands.rs), in the system's language
cli-wrote = { $count ->
    [one] Wrote { $n } activity to { $path }.
   *[other] Wrote { $n } activities to { $path }.
}
cli-imported = { $added ->
    [one] Imported { $n } activity
   *[other] Imported { $n } activities
} ({ $present } already present{ $bad ->
    [0] {""}
    [one] , { $bad } bad row skipped
   *[other] , { $bad } bad rows skipped
}).
cli-updated = { $count ->
    [one] Updated { $n } activity from the file.
   *[other] Updated { $n } activities from the file.
}
cli-checked = { $count ->
    [one] Checked: { $n } row can be imported. Nothing was saved (--dry-run).
   *[other] Checked: { $n } rows can be imported. Nothing was saved (--dry-run).
}
cli-sent = Sent { $up ->
    [one] { $up } change
   *[other] { $up } changes
}, received { $down ->
    [one] { $down } change
   *[other] { $down } changes
}.
cli-all-sent = Everything is sent.
cli-not-acknowledged = { $count ->
    [one] { $n } activity is still not acknowledged by the server
   *[other] { $n } activities are still not acknowledged by the server
}
cli-show-id = Id
cli-show-centre = Centre
cli-show-title = Title
cli-show-kind = Kind
cli-show-date = Date
cli-show-start = Start
cli-show-hours = Hours
cli-show-place = Place
cli-show-organisers = Organisers
cli-show-institutions = Institutions
cli-show-participants = Participants: { $n } in total
cli-show-description = Description
cli-show-notes = Notes
cli-show-recorded = Recorded by
cli-show-changed = Changed by
cli-show-by-at = { $who } at { $at }
cli-show-deleted = Deleted
cli-show-deleted-how = yes (field-client restore brings it back)

## The command line's messages and errors (commands.rs, output.rs, words.rs)
cli-error = error: { $message }
cli-because = {"  "}because: { $message }
cli-busy = The journal is busy (another command?); waiting…
cli-no-journal = there is no journal in { $folder } yet; set this computer up in the app (`field-client run`) or create one with `field-client init --centre NAME`
cli-cannot-open = cannot open the journal
cli-centre-empty = the centre's name must not be empty
cli-cannot-create-folder = cannot create the data folder { $folder }
cli-cannot-create = cannot create the journal
cli-created =
    Created a journal for "{ $centre }" on this device ({ $device }).
    Data: { $path }
cli-not-saved = the activity was not saved
cli-cannot-write-output = cannot write to standard output
cli-not-changed = nothing was changed
cli-nothing-to-change = nothing to change: give at least one field, e.g. --title or --count teachers=12
cli-saved = Saved.
cli-same-values = Nothing changed: the activity already had these values.
cli-deleted = Deleted. To undo: field-client restore { $id }
cli-already-deleted = It was already deleted.
cli-restored = Restored.
cli-not-deleted = It was not deleted; nothing to restore.
cli-erase-office-only = only the office can erase a record; to hide it here, delete it (field-client delete { $id })
cli-erasure-asked = Erasure asked for. The record is hidden here now; the office server erases it at this computer's next sync, and every computer replaces its copy at its own next sync. It cannot be undone.
cli-none-yet = No activities yet.
cli-none-deleted = No activities are deleted.
cli-no-runtime = cannot start the network runtime
cli-not-enrolled = the device was not enrolled
cli-enrolled = Enrolled as { $office ->
    [true] the office
   *[other] a device of this centre
}: "{ $centre }" with the server at { $server }. Activities recorded before are kept and will be sent.
cli-sync-unfinished = the sync did not finish
cli-differing = note: { $count ->
    [one] { $n } row has the id of an activity already here but different content; it was left as it is
   *[other] { $n } rows have the id of an activity already here but different content; they were left as they are
} (run again with --update to apply the file's values): { $ids }{ $more ->
    [0] {""}
   *[other] {" "}and { $more } more
}
cli-run-no-journal = there is no journal on this computer yet; set it up in the app (`field-client run` without --no-web), or create one with `field-client init --centre NAME` and `field-client enrol CODE`
cli-cannot-lend = warning: commands run beside this one will wait for it (cannot listen on 127.0.0.1: { $why })
cli-app-at = The app is at { $url } (open it in a browser, or run `field-client open`)
cli-app-stopped = error: the app stopped: { $why }
cli-syncing = Syncing "{ $centre }" with { $server } in the background; recording stays available. Data: { $path }
cli-revoked-app-stays = sync: { $why }. Syncing has stopped; the app stays open and everything recorded on this computer is kept.
cli-sync-stopped = background sync stopped
cli-port-taken = cannot serve the app on port { $port } (is another `field-client run` using it?); choose another with --web-port
cli-cannot-write-address = cannot write the app's address into the data folder
cli-setup-at = The app is at { $url } — set this computer up there (the browser opens by itself)
cli-no-browser = Could not open a browser ({ $why }); open { $url } by hand.
cli-setup-stopped = the setup page stopped
cli-set-up = This computer is set up; the app now runs at { $url }
cli-waiting-for-enrolment = This device is not enrolled yet: everything is recorded here, and syncing starts once it is enrolled (on the app's settings page, or `field-client enrol CODE`).
cli-health-not-yet = the office server has not reported the sync health yet; it does at every sync (run `field-client sync`)
cli-health-office-only = only the office's devices see the sync health of every centre
cli-cannot-open-browser = cannot open a browser; open { $url } by hand
cli-no-such-activity = no activity with id { $id }
cli-flag-not-a-date = --{ $flag } "{ $text }" is not a date (write it as YYYY-MM-DD)
cli-unknown-kind = --kind "{ $text }" is not a known kind
cli-xlsx-needs-file = an XLSX workbook needs a file: give --out FILE.xlsx
cli-cannot-write = cannot write { $path }
cli-wrote-report = { $count ->
    [one] Wrote the report ({ $n } activity, { $people } participants) to { $path }.
   *[other] Wrote the report ({ $n } activities, { $people } participants) to { $path }.
}
cli-nothing-imported = nothing was imported
cli-note = note: { $note }
cli-bad-rows = { $count ->
    [one] nothing was imported: { $n } row has problems (listed above). Fix it, or run again with --skip-invalid to import only the good rows
   *[other] nothing was imported: { $n } rows have problems (listed above). Fix them, or run again with --skip-invalid to import only the good rows
}
cli-deleted-rows-skipped = { $count ->
    [one] note: { $n } row marked deleted was not imported
   *[other] note: { $n } rows marked deleted were not imported
}
cli-saving = saving
cli-compact-failed = compaction failed; the journal is unchanged
cli-compacted = Compacted.
cli-compact-warning = warning: could not compact the journal (your data is safe): { $why }
cli-not-an-id = "{ $text }" is not an activity id (ids look like 3f2b6c1e-8a4d-4f7e-9c0b-1d2e3f4a5b6c)
cli-problem-unknown-kind = Not a known kind; use one of: { $known }.
cli-problem-unknown-group = Not a participant group; use one of: { $known }.
import-line = line { $n }
import-record = record { $n }
import-not-an-id = id: "{ $text }" is not an activity id
import-total-differs = total: { $total } does not equal the sum of the groups ({ $sum })
import-same-id = id: the same id as { $first }
import-same-event = the same date, start, kind, title and place as { $first }; add an id column or tell them apart
import-unknown-column = column "{ $header }" is not known and was ignored
import-cannot-read = cannot read { $path }: { $why }
import-too-large = { $path } is { $size } bytes; the limit is { $limit } bytes
import-too-many-rows = the file has more than { $limit } rows; split it into smaller files
import-no-header = the file has no header row
import-missing-columns = the header row lacks the column(s): { $columns }
import-bad-csv = the CSV cannot be read: { $why }
import-bad-json = the JSON cannot be read: { $why }
import-not-an-array = the JSON must be an array of activities, as `export --format json` writes
out-col-date = Date
out-col-start = Start
out-col-kind = Kind
out-col-title = Title
out-col-people = People
out-col-centre = Centre
out-deleted-mark = deleted
out-centre = Centre
out-municipality = Municipality
out-device = Device
out-activities = Activities
out-activities-are = { $n } ({ $deleted } deleted)
out-sync = Sync
out-files = Files
out-files-waiting = { $count ->
    [one] { $n } file ({ $size }) not yet sent to the office server
   *[other] { $n } files ({ $size }) not yet sent to the office server
}
out-unsent = { $count ->
    [0] everything is sent (as far as this device knows)
    [one] { $n } activity not yet sent to the office server
   *[other] { $n } activities not yet sent to the office server
}
out-data = Data
out-server = Server
out-not-enrolled = not enrolled yet (field-client enrol CODE)
out-server-is = { $server }{ $office ->
    [true] {" "}(office device)
   *[other] {""}
}
out-last-sync = Last sync
out-never = never
out-last-attempt = Last attempt
out-attempt-failed = failed at { $at }: { $why }
out-connection = Connection
out-offline-since = no connection to the office server since { $since }
out-erasure = Erasure
out-erasure-waits = of activity { $activity } waits for the next sync with the office server
out-erasure-done = of activity { $activity } was erased by the office server on { $at }
out-erasure-not-found = of activity { $activity }: the office server holds no such record (erased before, or never sent); it stays hidden here
out-data-no-budget = { $used } used this month ({ $month }), no budget set
out-data-spent = the budget of { $budget } for { $month } is used up ({ $used } used{ $left_n ->
    [0] {""}
   *[other] ; the rest of the sync needs more than the { $left } left
}): syncing is paused until the budget is raised or the month ends; records are still saved here
out-data-budget = { $used } of { $budget } used this month ({ $month }), { $left } left
out-metered = Metered
out-metered-is = { $metered ->
    [true] yes: connects only to send, and once an hour
   *[other] no: stays connected while a network exists
}
out-health-reported = As the office server reported at { $at } (a centre is silent after { $days ->
    [one] { $days } day
   *[other] { $days } days
})
out-col-centre-device = Centre / device
out-col-last-sync = Last sync
out-col-not-sent = Not sent
out-col-state = State
out-state-fine = ok
out-state-silent = { $count ->
    [one] SILENT for { $n } day
   *[other] SILENT for { $n } days
}
out-state-never = SILENT: never synced
out-state-office = office
out-state-no-device = NO DEVICE: make it an enrolment code (relay enrol-code --centre ID)
out-revoked = revoked
cli-no-data-folder = cannot find this computer's data folder; give one with --data-dir DIR
out-store = Data
net-not-enrolled = this device is not enrolled yet; enrol it with `field-client enrol CODE` (the office gives the code)
net-already-enrolled = this device is already enrolled with { $details }
net-bad-address = cannot find the office server at "{ $details }"
net-unreachable = the office server did not answer; is there a connection?
net-transport = no connection to the office server: { $details }
net-refused = the office server refused: { $details }
net-refused-malformed = the office server could not read what this computer sent (it may be a fault of this program); the records stay saved here (the server said: { $details })
net-refused-too-large = what was sent was too large for the office server; the records stay saved here (the server said: { $details })
net-refused-not-allowed = the office server does not allow this computer to do that (the server said: { $details })
net-refused-unknown-journal = the office server does not know this centre's journal; ask the office (the server said: { $details })
net-refused-limit = the office server is busy right now; syncing will try again by itself (the server said: { $details })
net-refused-internal = something went wrong on the office server; syncing will try again by itself, and the records stay saved here (the server said: { $details })
net-busy = the office server is busy right now; syncing will try again by itself
net-unreadable-answer = the office server's answer could not be read; this program may need an update (details: { $details })
net-request = this program could not write its request to the office server (details: { $details })
net-journal-changed = the office replaced the centre's journal again during the download; the next sync starts over
net-revoked = this device was revoked by the office; it can no longer sync
net-interrupted = the sync was interrupted: { $details }
net-too-slow = the sync took too long and was stopped; it resumes where it stopped next time
net-panicked = the sync failed inside this program; nothing saved was lost (details: { $details })
net-budget-spent = this month's data budget of { $details } is used up (or too little of it is left for the rest of the sync), so syncing waits until the budget is raised (`field-client data-plan --budget SIZE`) or the month ends; records are still saved on this computer
net-stopped = the sync was stopped because the program is closing
cli-stop-too-slow = The program did not stop in time and was ended; everything saved is kept.
cli-app-did-not-start = the app did not start; what it said is in { $log }
cli-service-installed = The app and background sync now start at every login and restart if they fail ({ $unit }); "KRC žurnāls" is in the menu ({ $menu }).
cli-service-removed = The app no longer starts at login and is out of the menu. The journal stays in { $folder }.
out-service-unit = Service
out-service-not-installed = not installed (field-client service install)
out-service-at-login = At login
out-service-running = Running
service-unsupported = a background service is set up by this command on Linux only; on this system start `field-client run` at login as docs/DEPLOYMENT.md describes
service-no-home = cannot find this user's configuration folder (is HOME set?)
service-cannot-write = cannot write { $path }: { $why }
service-cannot-remove = cannot remove { $path }: { $why }
service-no-systemctl = cannot run `systemctl { $args }`: { $why }
service-systemctl-failed = `systemctl { $args }` failed: { $why }
out-store-file = Store file
out-rewrite-failed = still to be rewritten after an erasure (old bytes of the erased record may remain in it); { $count ->
    [one] { $n } attempt failed
   *[other] { $n } attempts failed
}, the last: { $why }. `field-client run` tries again when it starts and daily.
net-update-either = this program and the office server speak different versions: update this program, or ask the office to update the server; everything recorded stays saved here (the server said: { $details })
status-rewrite-failed = The erased record's old bytes may still be in this computer's journal file: rewriting it has not worked yet; it is tried again each day (field-client status says why).

## Attached files (docs/ATTACHMENTS.md)
cli-attached = Attached { $name } ({ $size }).
cli-already-attached = { $name } is attached already (the same file, perhaps under another name); nothing changed.
cli-attach-too-many = the activity holds { $held } files and may hold at most { $max }; nothing was attached
cli-file-refused = { $name } cannot be attached: { $why }; nothing was attached
cli-file-changed = { $name } changed while it was being read; nothing was attached, try again
cli-cannot-read-file = cannot read { $path }
cli-no-attachments = No files are attached to this activity.
cli-file-partial = (partly received so far)
cli-file-absent = (not on this computer yet)
cli-file-saved = Saved { $path }
cli-file-not-saved = { $name } was not saved:
cli-detached = Removed { $name } from the activity.
cli-no-such-attachment = no attached file is named or starts with "{ $which }" (see: field-client attachments ID)
cli-attachment-ambiguous = "{ $which }" names more than one attached file; give more of its hash
cli-show-attachments = Files
file-empty = the file is empty
file-too-large = it is { $size }, and a file may be at most { $max }
file-unknown-type = it is not a JPEG or PNG picture or a PDF document
file-damaged = it looks like a { $kind } file but is cut short or damaged
cli-fetching-files = { $count ->
    [one] Fetching { $n } file from the office server…
   *[other] Fetching { $n } files from the office server…
}
cli-files-not-at-relay = { $count ->
    [one] { $n } file is not on the office server yet (its centre's computer has not sent all of it); try again later
   *[other] { $n } files are not on the office server yet (their centre's computer has not sent all of them); try again later
}
cli-fetch-failed = The files could not be fetched from the office server now; the ones on this computer are saved.
cli-bundle-missing = { $count ->
    [one] { $n } attached file is not on this computer yet and is not in the bundle (its centre has not sent it); the bundle names it
   *[other] { $n } attached files are not on this computer yet and are not in the bundle (their centre has not sent them); the bundle names them
}
bundle-report-name = report
bundle-missing-name = files not received yet
bundle-missing-text = These attached files had not reached the office when the bundle was made:
files-heading = Files
files-none = No files yet: a photo of the activity or a scanned sign-in sheet is evidence for funders.
files-fetch = Fetch from the office server
files-fetching = (being fetched from the office server; this page shows it once here)
file-fetching = The file is being fetched from the office server: it shows here once it arrives (reload the page).
files-remove = Remove
files-remove-named = Remove { $name }
files-choose = Add photos or scans (JPEG, PNG, PDF)
files-hint = Each file up to { $max }; files are kept as they are.
files-smaller = Send a smaller copy of photos (long side { $pixels } pixels)
files-add = Add files
files-added = Files added to “{ $title }”. They go to the office server after the records.
file-removed = The file was removed from “{ $title }”.
no-files = No file was chosen.
files-refused = { $name } cannot be attached: { $why }. Nothing was attached.
files-too-many = An activity may hold at most { $max } files; nothing was attached.
