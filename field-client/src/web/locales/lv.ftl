# Brīvprātīgo lietotne latviski. Katrs ziņojums ir arī en.ftl (to pārbauda tests).
# Skaitļi nāk jau noformēti kā $n; $count izvēlas daudzskaitļa formu.

app-name = KRC žurnāls
skip-to-content = Pāriet uz saturu
nav-activities = Aktivitātes
nav-new = Ierakstīt aktivitāti
nav-language = Valoda
footer-local = Viss vispirms tiek saglabāts šajā datorā un nosūtīts uz biroja serveri, tiklīdz ir savienojums.

## Sūtīšanas stāvoklis, vienmēr redzams
status-heading = Sūtīšana uz biroju
status-all-sent = Viss ir nosūtīts.
status-waiting = { $count ->
    [one] Izmaiņas { $n } aktivitātē gaida nosūtīšanu.
   *[other] Izmaiņas { $n } aktivitātēs gaida nosūtīšanu.
}
status-files-waiting = { $count ->
    [one] { $n } foto vai skenējums ({ $size }) gaida nosūtīšanu.
   *[other] { $n } foto vai skenējumi ({ $size }) gaida nosūtīšanu.
}
status-files-waiting-budget = { $count ->
    [one] { $n } foto vai skenējums ({ $size }) gaida: faili izmanto ne vairāk kā pusi no šomēnes atlikušajiem mobilajiem datiem. Tas tiks nosūtīts nākammēnes vai ātrāk, ja Iestatījumos norāda lielāku apjomu (Wi-Fi tīklā apjoms nav jānosaka).
   *[other] { $n } foto vai skenējumi ({ $size }) gaida: faili izmanto ne vairāk kā pusi no šomēnes atlikušajiem mobilajiem datiem. Tie tiks nosūtīti nākammēnes vai ātrāk, ja Iestatījumos norāda lielāku apjomu (Wi-Fi tīklā apjoms nav jānosaka).
}
status-last-sent = Pēdējoreiz nosūtīts { $ago }.
status-never-sent = Vēl nekas nav nosūtīts.
status-offline-since = Nav savienojuma ar biroja serveri kopš { $since }.
status-offline-last-sent = Nav savienojuma ar biroja serveri kopš { $since }; pēdējoreiz nosūtīts { $ago }.
status-office-received = Centru ieraksti saņemti { $ago }; katra centra pēdējo sūtīšanu rāda lapa „Sinhronizācija”.
status-not-enrolled = Šis dators vēl nav pievienots birojam: ieraksti tiek saglabāti šeit un tiks nosūtīti, kad tas būs pievienots.
status-revoked = Birojs ir atsaucis šī datora piekļuvi: sūtīšana ir apturēta. Viss šeit ierakstītais paliek šajā datorā; sazinieties ar biroju.
status-office-disk-full = Biroja servera disks ir pilns: ieraksti glabājas šajā datorā un tiks nosūtīti vēlāk paši.
status-update-this-program = Šī programma ir vecāka par biroja serveri: atjauniniet to šajā datorā, lai atkal varētu sūtīt. Viss ierakstītais paliek saglabāts šeit.
status-update-server = Biroja serveris ir vecāks par šo programmu: birojam tas jāatjaunina, lai sūtīšana atkal darbotos. Viss ierakstītais paliek saglabāts šeit.
status-update-either = Šī programma un biroja serveris runā dažādās versijās: atjauniniet šo programmu vai lūdziet birojam atjaunināt serveri. Viss ierakstītais paliek saglabāts šeit.
status-budget = Mobilie dati šomēnes: izmantoti { $used } no { $budget }.
status-budget-spent = Šī mēneša mobilo datu apjoms ir izlietots: sūtīšana gaida nākamo mēnesi vai lielāku apjomu. Ieraksti joprojām tiek saglabāti šeit.
status-metered = Maksas savienojums: dators savienojas tikai, lai nosūtītu.
ago-just-now = tikko
ago-minutes = { $count ->
    [one] pirms { $count } minūtes
   *[other] pirms { $count } minūtēm
}
ago-hours = { $count ->
    [one] pirms { $count } stundas
   *[other] pirms { $count } stundām
}
ago-days = { $count ->
    [one] pirms { $count } dienas
   *[other] pirms { $count } dienām
}

## Saraksts
list-heading = Aktivitātes
list-deleted-heading = Dzēstās aktivitātes
search-label = Meklēt
search-hint = Nosaukums, vieta, organizators, iestāde vai piezīmes; garumzīmes var nerakstīt.
filter-kind = Veids
filter-kind-all = Visi veidi
filter-centre = Centrs
filter-centre-all = Visi centri
filter-month = Mēnesis
filter-month-all = Visi mēneši
filter-apply = Rādīt
filter-clear = Notīrīt
list-shown = { $count ->
    [one] { $n } aktivitāte
   *[other] { $n } aktivitātes
}
list-page = { $from }–{ $to } no { $total }
list-newer = ← Jaunākas
list-older = Vecākas →
list-empty = Vēl nav ierakstīta neviena aktivitāte.
list-no-match = Neviena aktivitāte neatbilst.
list-show-deleted = Rādīt dzēstās aktivitātes
list-show-current = Atpakaļ uz aktivitātēm
col-date = Datums
col-centre = Centrs
col-title = Nosaukums
col-kind = Veids
col-place = Vieta
col-participants = Dalībnieki
totals-heading = Dalībnieki pa grupām atrastajās aktivitātēs
totals-all = Kopā
totals-hours = Stundas

## Veidlapa
form-new-heading = Ierakstīt aktivitāti
form-edit-heading = Labot aktivitāti
form-required = obligāts
field-title = Nosaukums
field-kind = Veids
field-kind-choose = Izvēlieties…
field-date = Datums
field-start = Sākuma laiks
field-hours = Ilgums stundās
field-place = Vieta
field-organisers = Organizatori
field-institutions = Iesaistītās iestādes
field-names-hint = Viens nosaukums katrā lodziņā. Rakstot tiek ieteikti agrāk lietotie.
field-add-another = Pievienot vēl vienu
field-counts = Dalībnieki pa grupām
field-description = Apraksts
field-notes = Rezultāti un piezīmes
form-total = Dalībnieku kopā: { $n }
form-save = Saglabāt
form-cancel = Atcelt
form-errors = Lūdzu, izlabojiet atzīmētos laukus; nekas vēl nav saglabāts.
form-not-saved-restart = Vēl nav saglabāts: programma tika restartēta, kamēr šī veidlapa bija atvērta. Pārbaudiet ierakstīto un saglabājiet vēlreiz.
form-saving = Saglabā…
draft-restored = Jūsu iepriekš nesaglabātie ieraksti ir atjaunoti.
draft-discard = Atmest tos
conflict-heading = Kāds cits mainīja šo aktivitāti, kamēr jūs to labojāt
conflict-hint = Jūsu izmaiņas ir redzamas zemāk, bet vēl nav saglabātas. Salīdziniet tās ar šīm izmaiņām un saglabājiet vēlreiz.
conflict-change = { $field }: “{ $before }” → “{ $after }”
conflict-by = Mainīja { $who }, { $when }.
no-changes = Nekas netika mainīts.

## Saglabāts, dzēsts, atjaunots
saved-new = Saglabāts: “{ $title }”.
saved-edit = Izmaiņas aktivitātē “{ $title }” ir saglabātas.
deleted = Aktivitāte “{ $title }” ir izdzēsta.
undo = Atsaukt
restored = Aktivitāte “{ $title }” ir atjaunota.

## Viena aktivitāte
detail-recorded = Ierakstīja { $who }, { $when }.
detail-updated = Pēdējās izmaiņas: { $who }, { $when }.
detail-deleted = Šī aktivitāte ir izdzēsta.
detail-none = —
action-edit = Labot
action-delete = Dzēst…
action-restore = Atjaunot
back-to-list = Atpakaļ uz sarakstu
delete-heading = Dzēst šo aktivitāti?
delete-explain = “{ $title }” vairs netiks rādīta sarakstā un skaitīta kopsummās. To var atsaukt.
delete-confirm = Dzēst
delete-cancel = Paturēt
action-erase = Neatgriezeniski dzēst privātuma dēļ…
detail-erasure-waiting = Ir lūgts šo aktivitāti neatgriezeniski dzēst. Tā ir paslēpta un tiks izdzēsta no visiem datoriem pēc nākamās sinhronizācijas ar biroja serveri.
erase-heading = Neatgriezeniski dzēst šo aktivitāti privātuma dēļ?
erase-explain = “{ $title }” kopā ar visām iepriekšējām versijām tiks izdzēsta no biroja servera un no visu centru datoriem to nākamajā sinhronizācijā. Izmantojiet to, ja ierakstīti personas dati, kurus nedrīkst glabāt: vārds, tālruņa numurs, ziņas par veselību.
erase-warning = To nevar atsaukt: atšķirībā no parastas dzēšanas, to vairs neviens nevarēs atjaunot. Pārējās aktivitātes paliek nemainītas, bet to izmaiņu vēsture sākas no jauna.
erase-understood = Es saprotu, ka to nevar atsaukt.
erase-confirm = Dzēst neatgriezeniski
erase-requested = Dzēšana pieprasīta. Aktivitāte jau ir paslēpta; pēc šī datora nākamās sinhronizācijas tā tiks izdzēsta no biroja servera un no visiem datoriem.

## Kļūdas laukos
problem-required = Šis lauks ir obligāts.
problem-empty = Šis lauks nedrīkst būt tukšs.
problem-unknown-kind = Izvēlieties veidu no saraksta.
problem-not-a-date = Ierakstiet datumu, piemēram, 14.05.2026.
problem-not-a-time = Ierakstiet laiku stundās un minūtēs, piemēram, 14:30.
problem-hours-out-of-range = Ierakstiet vairāk nekā 0 un ne vairāk kā { $limit } stundas.
problem-not-hours = Ierakstiet stundu skaitu, piemēram, 1,5.
problem-unknown-group = Tāda dalībnieku grupa nav.
problem-negative = Skaits nevar būt negatīvs.
problem-over-limit = Ne vairāk kā { $limit }.
problem-not-a-whole-number = Ierakstiet veselu skaitli.
problem-too-many-names = Ne vairāk kā { $limit } nosaukumi.
problem-too-long = Ne vairāk kā { $limit } rakstzīmes.
problem-control-characters = Tekstā ir neatļautas rakstzīmes.
problem-given-twice = Šī grupa norādīta vairāk nekā vienu reizi; norādiet katru grupu vienreiz.

## Kļūdas
error-heading = Kaut kas nav izdevies
error-not-found = Šeit nav tādas aktivitātes.
error-page-not-found = Tādas lapas nav.
error-busy = Žurnāls uz brīdi ir aizņemts. Lūdzu, mēģiniet vēlreiz.
error-stale-form = Šī veidlapa ir novecojusi vai nosūtīta no citas lapas. Nekas netika saglabāts. Pārlādējiet lapu un mēģiniet vēlreiz.
error-store = Žurnālu neizdevās nolasīt vai saglabāt: { $details }
error-bad-form = Veidlapu neizdevās nolasīt. Nekas netika saglabāts.
error-office-only = Aktivitātes neatgriezeniski dzēst var tikai centrālais birojs.

## Pārskati
nav-reports = Pārskati
report-heading = Pārskats
report-period = Periods
period-this-month = Šis mēnesis
period-last-month = Iepriekšējais mēnesis
period-this-quarter = Šis ceturksnis
period-last-quarter = Iepriekšējais ceturksnis
period-this-year = Šis gads
period-last-year = Iepriekšējais gads
period-custom = Datumi zemāk
report-from = No
report-to = Līdz
report-headline = No { $from } līdz { $to }: { $activities ->
    [one] { $activities_n } aktivitāte
   *[other] { $activities_n } aktivitātes
}, { $hours } stundas, { $participants ->
    [one] { $participants_n } dalībnieks
   *[other] { $participants_n } dalībnieki
} un { $institutions ->
    [one] { $institutions_n } iesaistīta iestāde
   *[other] { $institutions_n } iesaistītās iestādes
}.
col-activities = Aktivitātes
col-institutions = Iesaistītās iestādes
chart-months = Dalībnieki pa mēnešiem un centriem
chart-groups = Dalībnieki pa grupām
download-csv = Lejupielādēt CSV
download-xlsx = Lejupielādēt Excel (XLSX)

## Aktivitātes vēsture
action-history = Vēsture
history-heading = Vēsture: { $title }
history-created = Ierakstīja { $who }, { $when }.
history-changed = { $field }: “{ $before }” mainīts uz “{ $after }” ({ $who }, { $when }).
history-set = { $field }: ierakstīts “{ $after }” ({ $who }, { $when }).
history-cleared = { $field }: notīrīts (bija “{ $before }”) ({ $who }, { $when }).
history-deleted = Izdzēsa { $who }, { $when }.
history-restored = Atjaunoja { $who }, { $when }.
history-back = Atpakaļ uz aktivitāti
field-deleted = Dzēsta

## Aktivitāšu veidi
kind-seminar = Seminārs
kind-workshop = Darbnīca
kind-training = Apmācība
kind-consultation = Konsultācija
kind-community-initiative = Kopienas iniciatīva
kind-event = Pasākums
kind-meeting = Sanāksme
kind-symposium = Simpozijs
kind-other = Cits

## Dalībnieku grupas
group-teachers = Pedagogi
group-children-and-youth = Bērni un jaunieši
group-parents = Vecāki
group-municipal-staff = Pašvaldības darbinieki
group-ngo-representatives = NVO pārstāvji
group-media = Mediji
group-volunteers = Brīvprātīgie
group-other = Citi

## Mēneši
month-of-year = { $year }. gada { $month }
month-1 = janvāris
month-2 = februāris
month-3 = marts
month-4 = aprīlis
month-5 = maijs
month-6 = jūnijs
month-7 = jūlijs
month-8 = augusts
month-9 = septembris
month-10 = oktobris
month-11 = novembris
month-12 = decembris

nav-health = Sinhronizācija
health-heading = Centru sinhronizācijas stāvoklis
health-none-yet = Biroja serveris vēl nav paziņojis sinhronizācijas stāvokli. Tas to dara katrā sinhronizācijā: tas parādīsies šeit, kad šis dators būs sinhronizējies.
health-as-of = Kā biroja serveris ziņoja { $when }. Centrs tiek atzīmēts kā kluss, ja { $days ->
    [one] { $days } dienu
   *[other] { $days } dienas
} nav bijis sekmīgas sinhronizācijas.
health-silent-count = { $count ->
    [one] { $count } centrs klusē: pārbaudiet tā datoru un savienojumu.
   *[other] { $count } centri klusē: pārbaudiet to datorus un savienojumus.
}
health-all-fine = Visi centri nesen ir sinhronizējušies.
health-centre = Centrs / dators
health-last-sync = Pēdējā sekmīgā sinhronizācija
health-unsent = Vēl nav nosūtīts
health-state = Stāvoklis
health-revoked = atsaukts
health-last-contact = pēdējoreiz pieslēdzās { $ago }
health-never = nekad
health-unknown = nav zināms
health-fine = Kārtībā
health-silent-days = { $count ->
    [one] Klusē { $count } dienu
   *[other] Klusē { $count } dienas
}
health-never-synced = Klusē: nekad nav sinhronizējies
health-office = Centrālais birojs
health-no-device = Nav pievienota neviena datora: izveidojiet centram pievienošanās kodu serverī:
health-no-device-count = { $count ->
    [one] { $count } centram vēl nav pievienota neviena datora: tam vajag pievienošanās kodu.
   *[other] { $count } centriem vēl nav pievienota neviena datora: tiem vajag pievienošanās kodus.
}

filter-municipality = Novads
filter-municipality-all = Visi novadi
col-municipality = Novads
report-by-municipality = Pa novadiem

## First run and settings (web/enrol.rs)
nav-settings = Iestatījumi
setup-heading = Sveicināti! Sagatavosim šo datoru darbam
setup-intro = Šeit ierakstīs centra aktivitātes. Ja birojs jums iedeva pievienošanās kodu, ielīmējiet to; ja vēl ne, varat sākt ierakstīt uzreiz un kodu ievadīt vēlāk.
setup-with-code = Man ir kods no biroja
enrol-code = Pievienošanās kods
setup-device-name = Šī datora nosaukums
setup-enrol = Pievienoties
setup-offline = Sākt bez koda
setup-offline-hint = Ierakstītais glabājas šajā datorā un tiks nosūtīts birojam, tiklīdz dators būs pievienots (Iestatījumi).
setup-centre = Centra nosaukums
setup-start-offline = Sākt ierakstīt
setup-centre-missing = Ierakstiet centra nosaukumu.
setup-provisional-centre = Jauns centrs
enrol-code-not-a-code = Tas nav pievienošanās kods: kodi sākas ar „KRC2-”. Nokopējiet to vēlreiz no biroja vēstules.
enrol-code-mistyped = Kodā ir pārrakstīšanās kļūda. Nokopējiet to vēlreiz; nekas netika mainīts.
enrol-code-old = Šis kods ir vecā formātā. Palūdziet birojam jaunu kodu.
enrol-code-damaged = Kods ir nepilnīgs vai bojāts. Nokopējiet to vēlreiz visu.
enrol-unreachable = Neizdevās sazināties ar biroja serveri. Pārbaudiet interneta savienojumu un mēģiniet vēlreiz; varat arī sākt ierakstīt bez koda.
enrol-refused = Biroja serveris kodu nepieņēma: { $details }. Palūdziet birojam jaunu kodu.
enrol-code-unknown = Biroja serveris šo kodu nepazīst: tajā ir kļūda, vai tas ir cita servera kods. Palūdziet birojam jaunu kodu.
enrol-code-expired = Šī koda derīguma termiņš ir beidzies. Palūdziet birojam jaunu kodu.
enrol-code-used = Šis kods jau ir izmantots. Palūdziet birojam jaunu kodu.
enrol-already-enrolled = Šis dators jau ir pievienots biroja serverim.
enrol-failed = Pievienoties neizdevās: { $details }
settings-heading = Iestatījumi
settings-enrolled = Šis dators ir pievienots biroja serverim { $relay } ({ $when }); ierakstītais tiek nosūtīts pats.
settings-enrol-heading = Pievienot biroja serverim
settings-enrol-hint = Ielīmējiet kodu, ko iedeva birojs. Viss jau ierakstītais paliek un tiks nosūtīts.

## Column names and words of the files the program writes (interchange/)
file-col-id = ID
file-col-centre = Centrs
file-col-title = Nosaukums
file-col-kind = Veids
file-col-date = Datums
file-col-start = Sākums
file-col-hours = Stundas
file-col-place = Vieta
file-col-organisers = Organizatori
file-col-institutions = Iestādes
file-col-total = Kopā
file-col-description = Apraksts
file-col-notes = Piezīmes
file-col-recorded-by = Ierakstīja
file-col-attachments = Pievienotie faili
file-col-created-at = Ierakstīts
file-col-updated-by = Mainīja
file-col-updated-at = Mainīts
file-col-deleted = Dzēsts
file-col-activities = Aktivitātes
file-col-participants = Dalībnieki kopā
file-col-distinct-institutions = Dažādas iestādes
file-col-municipality = Novads
file-yes = jā
file-no = nē
file-all = visi
file-total-row = KOPĀ
file-municipality-row = Novads: { $name }
sheet-report = Pārskats
sheet-activities = Aktivitātes

## Who records on this computer (people.rs)
author-office = birojs
author-office-person = { $name } (birojs)
people-recording = Ieraksta
people-switch = Mainīt
people-heading = Kas ieraksta šajā datorā
people-hint = Katra cilvēka vārds savā rindā. Pie katra ieraksta un labojuma tiks rakstīts tā cilvēka vārds, kurš tobrīd ir izvēlēts lapas augšā, nevis datora nosaukums.
people-names = Vārdi
people-save = Saglabāt vārdus
people-name-too-long = Vārds var būt ne garāks par { $limit } rakstzīmēm.
people-too-many = Vienā datorā var saglabāt ne vairāk kā { $limit } vārdus.
people-ask = Kas ieraksta šajā datorā? Ierakstiet vārdus iestatījumos, lai pie katra ieraksta būtu redzams, kurš to ierakstīja.
field-date-placeholder = dd.mm.gggg.
list-fold-search = Meklēt un atlasīt
list-fold-totals = Kopsummas

## The command line's own sentences (commands.rs), in the system's language
cli-wrote = { $count ->
    [one] Failā { $path } ierakstīta { $n } aktivitāte.
   *[other] Failā { $path } ierakstītas { $n } aktivitātes.
}
cli-imported = { $added ->
    [one] Importēta { $n } aktivitāte
   *[other] Importētas { $n } aktivitātes
} ({ $present } jau bija{ $bad ->
    [0] {""}
    [one] , { $bad } kļūdaina rinda izlaista
   *[other] , { $bad } kļūdainas rindas izlaistas
}).
cli-updated = { $count ->
    [one] No faila atjaunināta { $n } aktivitāte.
   *[other] No faila atjauninātas { $n } aktivitātes.
}
cli-checked = { $count ->
    [one] Pārbaudīts: { $n } rindu var importēt. Nekas netika saglabāts (--dry-run).
   *[other] Pārbaudīts: { $n } rindas var importēt. Nekas netika saglabāts (--dry-run).
}
cli-sent = Nosūtītas izmaiņas: { $up }, saņemtas: { $down }.
cli-all-sent = Viss ir nosūtīts.
cli-not-acknowledged = { $count ->
    [one] { $n } aktivitāti serveris vēl nav apstiprinājis
   *[other] { $n } aktivitātes serveris vēl nav apstiprinājis
}
cli-show-id = Id
cli-show-centre = Centrs
cli-show-title = Nosaukums
cli-show-kind = Veids
cli-show-date = Datums
cli-show-start = Sākums
cli-show-hours = Stundas
cli-show-place = Vieta
cli-show-organisers = Organizatori
cli-show-institutions = Iestādes
cli-show-participants = Dalībnieki: kopā { $n }
cli-show-description = Apraksts
cli-show-notes = Piezīmes
cli-show-recorded = Ierakstīja
cli-show-changed = Mainīja
cli-show-by-at = { $who }, { $at }
cli-show-deleted = Dzēsts
cli-show-deleted-how = jā (field-client restore to atjauno)

## Komandrindas ziņojumi un kļūdas (commands.rs, output.rs, words.rs)
cli-error = kļūda: { $message }
cli-because = {"  "}iemesls: { $message }
cli-busy = Žurnāls ir aizņemts (darbojas cita komanda?); gaida…
cli-no-journal = mapē { $folder } vēl nav žurnāla; sagatavojiet šo datoru lietotnē (`field-client run`) vai izveidojiet žurnālu ar `field-client init --centre NOSAUKUMS`
cli-cannot-open = neizdevās atvērt žurnālu
cli-centre-empty = centra nosaukums nedrīkst būt tukšs
cli-cannot-create-folder = neizdevās izveidot datu mapi { $folder }
cli-cannot-create = neizdevās izveidot žurnālu
cli-created =
    Izveidots žurnāls centram „{ $centre }” šajā datorā ({ $device }).
    Dati: { $path }
cli-not-saved = aktivitāte netika saglabāta
cli-cannot-write-output = neizdevās rakstīt standarta izvadē
cli-not-changed = nekas netika mainīts
cli-nothing-to-change = nav ko mainīt: norādiet vismaz vienu lauku, piemēram, --title vai --count teachers=12
cli-saved = Saglabāts.
cli-same-values = Nekas nemainījās: aktivitātei jau bija šīs vērtības.
cli-deleted = Dzēsts. Lai atsauktu: field-client restore { $id }
cli-already-deleted = Tā jau bija dzēsta.
cli-restored = Atjaunots.
cli-not-deleted = Tā nebija dzēsta; nav ko atjaunot.
cli-erase-office-only = ierakstu neatgriezeniski izdzēst var tikai birojs; lai to paslēptu šeit, dzēsiet to (field-client delete { $id })
cli-erasure-asked = Izdzēšana pieprasīta. Ieraksts šeit jau ir paslēpts; biroja serveris to izdzēsīs šī datora nākamajā sinhronizācijā, un katrs dators savu kopiju aizstās savā nākamajā sinhronizācijā. To nevar atsaukt.
cli-none-yet = Vēl nav nevienas aktivitātes.
cli-none-deleted = Nav nevienas dzēstas aktivitātes.
cli-no-runtime = neizdevās palaist tīkla darbību
cli-not-enrolled = dators netika pievienots
cli-enrolled = Pievienots kā { $office ->
    [true] birojs
   *[other] šī centra dators
}: „{ $centre }” pie servera { $server }. Agrāk ierakstītās aktivitātes paliek un tiks nosūtītas.
cli-sync-unfinished = sinhronizācija netika pabeigta
cli-differing = piezīme: { $count ->
    [one] { $n } rindai ir šeit jau esošas aktivitātes id, bet cits saturs; tā atstāta, kā ir
   *[other] { $n } rindām ir šeit jau esošu aktivitāšu id, bet cits saturs; tās atstātas, kā ir
} (palaidiet vēlreiz ar --update, lai ņemtu vērtības no faila): { $ids }{ $more ->
    [0] {""}
   *[other] {" "}un vēl { $more }
}
cli-run-no-journal = šajā datorā vēl nav žurnāla; sagatavojiet to lietotnē (`field-client run` bez --no-web) vai izveidojiet ar `field-client init --centre NOSAUKUMS` un `field-client enrol KODS`
cli-cannot-lend = brīdinājums: komandas, kas palaistas blakus šai, gaidīs, līdz tā beigsies (neizdevās klausīties 127.0.0.1: { $why })
cli-app-at = Lietotne ir adresē { $url } (atveriet to pārlūkā vai palaidiet `field-client open`)
cli-app-stopped = kļūda: lietotne apstājās: { $why }
cli-syncing = „{ $centre }” tiek sinhronizēts ar { $server } fonā; ierakstīt var joprojām. Dati: { $path }
cli-revoked-app-stays = sinhronizācija: { $why }. Sinhronizācija ir apturēta; lietotne paliek atvērta, un viss šajā datorā ierakstītais tiek saglabāts.
cli-sync-stopped = fona sinhronizācija apstājās
cli-port-taken = neizdevās atvērt lietotni portā { $port } (vai to izmanto cits `field-client run`?); izvēlieties citu ar --web-port
cli-cannot-write-address = neizdevās ierakstīt lietotnes adresi datu mapē
cli-setup-at = Lietotne ir adresē { $url } — sagatavojiet šo datoru tur (pārlūks atveras pats)
cli-no-browser = Neizdevās atvērt pārlūku ({ $why }); atveriet { $url } paši.
cli-setup-stopped = sagatavošanas lapa apstājās
cli-set-up = Dators ir sagatavots; lietotne tagad darbojas adresē { $url }
cli-waiting-for-enrolment = Šis dators vēl nav pievienots birojam: viss tiek ierakstīts šeit, un sinhronizācija sāksies, kad tas būs pievienots (lietotnes iestatījumos vai ar `field-client enrol KODS`).
cli-health-not-yet = biroja serveris vēl nav ziņojis sinhronizācijas stāvokli; tas to dara katrā sinhronizācijā (palaidiet `field-client sync`)
cli-health-office-only = visu centru sinhronizācijas stāvokli redz tikai biroja datori
cli-cannot-open-browser = neizdevās atvērt pārlūku; atveriet { $url } paši
cli-no-such-activity = nav aktivitātes ar id { $id }
cli-flag-not-a-date = --{ $flag } „{ $text }” nav datums (rakstiet to kā GGGG-MM-DD)
cli-unknown-kind = --kind „{ $text }” nav zināms aktivitātes veids
cli-xlsx-needs-file = XLSX darbgrāmatai vajag failu: norādiet --out FAILS.xlsx
cli-cannot-write = neizdevās ierakstīt { $path }
cli-wrote-report = { $count ->
    [one] Pārskats ({ $n } aktivitāte, dalībnieki: { $people }) ierakstīts failā { $path }.
   *[other] Pārskats ({ $n } aktivitātes, dalībnieki: { $people }) ierakstīts failā { $path }.
}
cli-nothing-imported = nekas netika importēts
cli-note = piezīme: { $note }
cli-bad-rows = { $count ->
    [one] nekas netika importēts: { $n } rindā ir kļūdas (uzskaitītas augstāk). Izlabojiet tās vai palaidiet vēlreiz ar --skip-invalid, lai importētu tikai labās rindas
   *[other] nekas netika importēts: { $n } rindās ir kļūdas (uzskaitītas augstāk). Izlabojiet tās vai palaidiet vēlreiz ar --skip-invalid, lai importētu tikai labās rindas
}
cli-deleted-rows-skipped = { $count ->
    [one] piezīme: { $n } rinda, kas atzīmēta kā dzēsta, netika importēta
   *[other] piezīme: { $n } rindas, kas atzīmētas kā dzēstas, netika importētas
}
cli-saving = saglabā
cli-compact-failed = saspiešana neizdevās; žurnāls nav mainīts
cli-compacted = Saspiests.
cli-compact-warning = brīdinājums: neizdevās saspiest žurnālu (jūsu dati ir drošībā): { $why }
cli-not-an-id = „{ $text }” nav aktivitātes id (id izskatās šādi: 3f2b6c1e-8a4d-4f7e-9c0b-1d2e3f4a5b6c)
cli-problem-unknown-kind = Tāda veida nav; der: { $known }.
cli-problem-unknown-group = Tādas dalībnieku grupas nav; der: { $known }.
import-line = { $n }. rinda
import-record = { $n }. ieraksts
import-not-an-id = id: „{ $text }” nav aktivitātes id
import-total-differs = kopā: { $total } nav vienāds ar grupu summu ({ $sum })
import-same-id = id: tāds pats id kā { $first }
import-same-event = tāds pats datums, sākums, veids, nosaukums un vieta kā { $first }; pievienojiet id kolonnu vai padariet tās atšķirīgas
import-unknown-column = kolonna „{ $header }” nav zināma un netika ņemta vērā
import-cannot-read = neizdevās nolasīt { $path }: { $why }
import-too-large = { $path } ir { $size } baiti; robeža ir { $limit } baiti
import-too-many-rows = failā ir vairāk nekā { $limit } rindas; sadaliet to mazākos failos
import-no-header = failā nav virsrakstu rindas
import-missing-columns = virsrakstu rindā trūkst kolonnu: { $columns }
import-bad-csv = CSV nevar nolasīt: { $why }
import-bad-json = JSON nevar nolasīt: { $why }
import-not-an-array = JSON jābūt aktivitāšu masīvam, kā to raksta `export --format json`
out-col-date = Datums
out-col-start = Laiks
out-col-kind = Veids
out-col-title = Nosaukums
out-col-people = Kopā
out-col-centre = Centrs
out-deleted-mark = dzēsta
out-centre = Centrs
out-municipality = Novads
out-device = Dators
out-activities = Aktivitātes
out-activities-are = { $n } (dzēstas: { $deleted })
out-sync = Sūtīšana
out-files = Faili
out-files-waiting = { $count ->
    [one] { $n } fails ({ $size }) vēl nav nosūtīts uz biroja serveri
   *[other] { $n } faili ({ $size }) vēl nav nosūtīti uz biroja serveri
}
out-unsent = { $count ->
    [0] viss ir nosūtīts (cik zina šis dators)
    [one] { $n } aktivitāte vēl nav nosūtīta uz biroja serveri
   *[other] { $n } aktivitātes vēl nav nosūtītas uz biroja serveri
}
out-data = Dati
out-server = Serveris
out-not-enrolled = dators vēl nav pievienots (field-client enrol KODS)
out-server-is = { $server }{ $office ->
    [true] {" "}(biroja dators)
   *[other] {""}
}
out-last-sync = Sinhronizēts
out-never = nekad
out-last-attempt = Mēģinājums
out-attempt-failed = neizdevās { $at }: { $why }
out-connection = Savienojums
out-offline-since = nav savienojuma ar biroja serveri kopš { $since }
out-erasure = Izdzēšana
out-erasure-waits = aktivitāte { $activity } gaida nākamo sinhronizāciju ar biroja serveri
out-erasure-done = aktivitāti { $activity } biroja serveris izdzēsa { $at }
out-erasure-not-found = aktivitāte { $activity }: biroja serverī tāda ieraksta nav (izdzēsts agrāk vai nekad nav nosūtīts); šeit tas paliek paslēpts
out-data-no-budget = šomēnes ({ $month }) izmantoti { $used }, apjoms nav noteikts
out-data-spent = mēneša { $month } datu apjoms { $budget } ir izlietots (izmantoti { $used }{ $left_n ->
    [0] {""}
   *[other] ; pārējai sinhronizācijai vajag vairāk nekā atlikušos { $left }
}): sinhronizācija gaida, līdz apjomu palielina vai beidzas mēnesis; ieraksti joprojām tiek saglabāti šeit
out-data-budget = šomēnes ({ $month }) izmantoti { $used } no { $budget }, atlikuši { $left }
out-metered = Maksas tīkls
out-metered-is = { $metered ->
    [true] jā: savienojas tikai, lai nosūtītu, un reizi stundā
   *[other] nē: paliek savienots, kamēr ir tīkls
}
out-health-reported = Kā biroja serveris ziņoja { $at } (centrs ir kluss, ja tas nav sinhronizējies { $days ->
    [one] { $days } dienu
   *[other] { $days } dienas
})
out-col-centre-device = Centrs / dators
out-col-last-sync = Sinhronizēts
out-col-not-sent = Gaida
out-col-state = Stāvoklis
out-state-fine = kārtībā
out-state-silent = { $count ->
    [one] KLUSS { $n } dienu
   *[other] KLUSS { $n } dienas
}
out-state-never = KLUSS: nekad nav sinhronizējies
out-state-office = birojs
out-state-no-device = NAV DATORA: izveidojiet tam pievienošanās kodu (relay enrol-code --centre ID)
out-revoked = atsaukts
cli-no-data-folder = neizdevās atrast šī datora datu mapi; norādiet to ar --data-dir MAPE
out-store = Žurnāla fails
net-not-enrolled = šis dators vēl nav pievienots birojam; pievienojiet to ar `field-client enrol KODS` (kodu dod birojs)
net-already-enrolled = šis dators jau ir pievienots serverim { $details }
net-bad-address = neizdevās atrast biroja serveri adresē „{ $details }”
net-unreachable = biroja serveris neatbildēja; vai ir savienojums?
net-transport = nav savienojuma ar biroja serveri: { $details }
net-refused = biroja serveris atteica: { $details }
net-refused-malformed = biroja serveris nesaprata šī datora sūtīto (tā var būt kļūda šajā programmā); ieraksti paliek saglabāti šeit (serveris teica: { $details })
net-refused-too-large = sūtījums biroja serverim bija par lielu; ieraksti paliek saglabāti šeit (serveris teica: { $details })
net-refused-not-allowed = biroja serveris šim datoram to neatļauj (serveris teica: { $details })
net-refused-unknown-journal = biroja serveris nezina šī centra žurnālu; jautājiet birojam (serveris teica: { $details })
net-refused-limit = biroja serveris šobrīd ir aizņemts; sinhronizācija mēģinās vēlreiz pati (serveris teica: { $details })
net-refused-internal = biroja serverī radās kļūda; sinhronizācija mēģinās vēlreiz pati, un ieraksti paliek saglabāti šeit (serveris teica: { $details })
net-busy = biroja serveris šobrīd ir aizņemts; sinhronizācija mēģinās vēlreiz pati
net-unreadable-answer = biroja servera atbildi nevarēja izlasīt; varbūt jāatjaunina šī programma (sīkāk: { $details })
net-request = šī programma nevarēja uzrakstīt pieprasījumu biroja serverim (sīkāk: { $details })
net-journal-changed = birojs lejupielādes laikā vēlreiz nomainīja centra žurnālu; nākamā sinhronizācija sāks no jauna
net-revoked = birojs ir atsaucis šī datora piekļuvi; tas vairs nevar sinhronizēt
net-interrupted = sinhronizācija tika pārtraukta: { $details }
net-too-slow = sinhronizācija ilga pārāk ilgi un tika apturēta; nākamreiz tā turpināsies no vietas, kur apstājās
net-panicked = sinhronizācija neizdevās šīs programmas iekšienē; nekas saglabātais nav zudis (sīkāk: { $details })
net-budget-spent = šī mēneša mobilo datu apjoms { $details } ir izlietots (vai pārējai sinhronizācijai tā atlicis par maz), tāpēc sinhronizācija gaida, līdz apjomu palielina (`field-client data-plan --budget APJOMS`) vai beidzas mēnesis; ieraksti joprojām tiek saglabāti šajā datorā
net-stopped = sinhronizācija tika apturēta, jo programma tiek aizvērta
cli-stop-too-slow = Programma neapstājās laikā un tika pārtraukta; viss jau saglabātais paliek.
cli-app-did-not-start = lietotne nepalaidās; ko tā teica, ir failā { $log }
cli-service-installed = Lietotne un fona sinhronizācija tagad palaižas katrā pieteikšanās reizē un tiek palaistas no jauna, ja apstājas ({ $unit }); „KRC žurnāls” ir izvēlnē ({ $menu }).
cli-service-removed = Lietotne vairs nepalaižas pieteikšanās brīdī un ir izņemta no izvēlnes. Žurnāls paliek mapē { $folder }.
out-service-unit = Pakalpojums
out-service-not-installed = nav uzstādīts (field-client service install)
out-service-at-login = Pieteikoties
out-service-running = Darbojas
service-unsupported = fona pakalpojumu šī komanda uzstāda tikai Linux sistēmā; šeit palaidiet `field-client run` pieteikšanās brīdī, kā aprakstīts docs/DEPLOYMENT.md
service-no-home = neizdevās atrast šī lietotāja iestatījumu mapi (vai HOME ir norādīts?)
service-cannot-write = neizdevās ierakstīt { $path }: { $why }
service-cannot-remove = neizdevās izdzēst { $path }: { $why }
service-no-systemctl = neizdevās palaist `systemctl { $args }`: { $why }
service-systemctl-failed = `systemctl { $args }` neizdevās: { $why }
out-store-file = Žurnāla fails
out-rewrite-failed = pēc izdzēšanas vēl jāpārraksta (tajā var būt palikuši izdzēstā ieraksta veci baiti); { $count ->
    [one] { $n } mēģinājums neizdevās
   *[other] { $n } mēģinājumi neizdevās
}, pēdējais: { $why }. `field-client run` mēģina vēlreiz, kad sāk darbu, un katru dienu.
net-update-either = šī programma un biroja serveris runā dažādās versijās: atjauniniet šo programmu vai lūdziet birojam atjaunināt serveri; viss ierakstītais paliek saglabāts šeit (serveris teica: { $details })
status-rewrite-failed = Izdzēstā ieraksta vecie baiti vēl var būt šī datora žurnāla failā: to pārrakstīt vēl nav izdevies; to mēģina vēlreiz katru dienu (iemeslu parāda field-client status).

## Pievienotie faili (docs/ATTACHMENTS.md)
cli-attached = Pievienots { $name } ({ $size }).
cli-already-attached = { $name } jau ir pievienots (tas pats fails, varbūt ar citu nosaukumu); nekas netika mainīts.
cli-attach-too-many = aktivitātei ir { $held } faili, un tai var būt ne vairāk kā { $max }; nekas netika pievienots
cli-file-refused = { $name } nevar pievienot: { $why }; nekas netika pievienots
cli-file-changed = { $name } mainījās, kamēr to lasīja; nekas netika pievienots, mēģiniet vēlreiz
cli-cannot-read-file = nevar nolasīt { $path }
cli-no-attachments = Šai aktivitātei nav pievienotu failu.
cli-file-partial = (pagaidām saņemta daļa)
cli-file-absent = (šajā datorā vēl nav)
cli-file-saved = Saglabāts { $path }
cli-file-not-saved = { $name } netika saglabāts:
cli-detached = { $name } noņemts no aktivitātes.
cli-no-such-attachment = nav pievienota faila, kura nosaukums ir vai kura kods sākas ar "{ $which }" (skat.: field-client attachments ID)
cli-attachment-ambiguous = "{ $which }" atbilst vairākiem pievienotiem failiem; norādiet garāku koda daļu
cli-show-attachments = Faili
file-empty = fails ir tukšs
file-too-large = tas ir { $size }, bet failam jābūt ne lielākam par { $max }
file-unknown-type = tas nav JPEG vai PNG attēls vai PDF dokuments
file-damaged = tas izskatās pēc { $kind } faila, bet ir nepilnīgs vai bojāts
cli-fetching-files = { $count ->
    [one] Ielādē { $n } failu no biroja servera…
   *[other] Ielādē { $n } failus no biroja servera…
}
cli-files-not-at-relay = { $count ->
    [one] { $n } fails vēl nav biroja serverī (centra dators to vēl nav nosūtījis līdz galam); mēģiniet vēlāk
   *[other] { $n } faili vēl nav biroja serverī (centra dators tos vēl nav nosūtījis līdz galam); mēģiniet vēlāk
}
cli-fetch-failed = Failus no biroja servera pašlaik nevarēja ielādēt; tie, kas ir šajā datorā, ir saglabāti.
cli-bundle-missing = { $count ->
    [one] { $n } pievienotais fails vēl nav šajā datorā un nav komplektā (centrs to vēl nav nosūtījis); komplektā tas ir nosaukts
   *[other] { $n } pievienotie faili vēl nav šajā datorā un nav komplektā (centrs tos vēl nav nosūtījis); komplektā tie ir nosaukti
}
bundle-report-name = parskats
bundle-missing-name = vel nesanemtie faili
bundle-missing-text = Šie pievienotie faili vēl nebija nonākuši birojā, kad komplekts tika sagatavots:
files-heading = Faili
files-none = Failu vēl nav: aktivitātes fotoattēls vai skenēta dalībnieku lapa ir pierādījums finansētājiem.
files-fetch = Ielādēt no biroja servera
files-fetching = (tiek ielādēts no biroja servera; šī lapa to parādīs, tiklīdz tas būs šeit)
file-fetching = Fails tiek ielādēts no biroja servera: tas parādīsies šeit, tiklīdz būs saņemts (pārlādējiet lapu).
files-remove = Noņemt
files-remove-named = Noņemt { $name }
files-choose = Pievienot fotoattēlus vai skenējumus (JPEG, PNG, PDF)
files-hint = Katrs fails līdz { $max }; faili tiek glabāti tādi, kādi tie ir.
files-smaller = Sūtīt fotoattēlu mazāku kopiju (garākā mala { $pixels } pikseļi)
files-add = Pievienot failus
files-added = Faili pievienoti aktivitātei “{ $title }”. Tie tiks nosūtīti uz biroja serveri pēc ierakstiem.
file-removed = Fails noņemts no aktivitātes “{ $title }”.
no-files = Neviens fails netika izvēlēts.
files-refused = { $name } nevar pievienot: { $why }. Nekas netika pievienots.
files-too-many = Aktivitātei var būt ne vairāk kā { $max } faili; nekas netika pievienots.
