//! Command-line arguments (clap). Each command maps to one function in
//! [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sync_core::ActivityInput;

use crate::web::i18n::Lang;

/// Records the activities of a community resource centre, with or without a
/// network connection. Everything is saved on this computer first.
#[derive(Debug, Parser)]
#[command(name = "field-client", version, about, max_term_width = 100)]
pub struct Cli {
    /// Folder holding this device's journal [default: the system's data folder]
    #[arg(long, global = true, env = "FIELD_CLIENT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a journal for a centre on this device
    Init {
        /// The centre's name, e.g. "Daugavpils KRC"
        #[arg(long)]
        centre: String,
        /// This device's name, shown as "recorded by" [default: the computer's name]
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Record a new activity; prints its id once it is safely saved
    Add(ActivityArgs),
    /// Change the given fields of an activity; other fields stay as they are
    Edit {
        /// The activity's id (as printed by `add` or `list`)
        id: String,
        #[command(flatten)]
        fields: ActivityArgs,
    },
    /// Delete an activity (it can be restored)
    Delete {
        /// The activity's id
        id: String,
    },
    /// Office: erase an activity for privacy, from every computer and the office server (it cannot be undone; docs/ERASURE.md)
    Erase {
        /// The activity's id
        id: String,
    },
    /// Undo a delete
    Restore {
        /// The activity's id
        id: String,
    },
    /// List activities, newest first
    List {
        /// Print one JSON array with every field
        #[arg(long)]
        json: bool,
        /// List only deleted activities (the ones `restore` can bring back)
        #[arg(long, conflicts_with = "all")]
        deleted: bool,
        /// List deleted and current activities together
        #[arg(long)]
        all: bool,
        /// Every centre's activities, with the centre's name (office devices)
        #[arg(long)]
        all_centres: bool,
    },
    /// Attach files (JPEG or PNG photos, PDF scans) to an activity, as evidence for funders
    Attach {
        /// The activity's id
        id: String,
        /// The files to attach (each is stored as it is, unchanged)
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the files attached to an activity, or save copies of them
    Attachments {
        /// The activity's id
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Save a copy of every file into this folder (files this computer lacks are
        /// fetched from the office server first)
        #[arg(long, value_name = "DIR")]
        save: Option<PathBuf>,
    },
    /// Remove a file from an activity (the record keeps no reference; a copy
    /// stays while any other record refers to it)
    Detach {
        /// The activity's id
        id: String,
        /// The file: its name, or its hash as `attachments` prints it (the
        /// first 12 characters are enough)
        attachment: String,
    },
    /// Show every field of one activity
    Show {
        /// The activity's id
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Write all activities to a CSV or JSON file (or to standard output)
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// File to write [default: standard output]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Field separator for CSV [default: `semicolon` in Latvian, as Excel with Latvian
        /// regional settings expects; `comma` in English]
        #[arg(long, value_enum)]
        delimiter: Option<Delimiter>,
        /// Language of the CSV's column names, kinds and numbers [default: the system's]
        #[arg(long, value_enum)]
        lang: Option<FileLang>,
        /// Include deleted activities (with deleted = true)
        #[arg(long)]
        include_deleted: bool,
    },
    /// Add activities from a CSV or JSON file (as written by `export`, or a spreadsheet saved as CSV)
    Import {
        /// The file to read
        file: PathBuf,
        /// Import the valid rows even if some rows are bad (the bad ones are listed)
        #[arg(long)]
        skip_invalid: bool,
        /// Check every row and report, but save nothing
        #[arg(long)]
        dry_run: bool,
        /// Rows whose id is already here with different content update that activity
        /// (without it they are left as they are, and listed)
        #[arg(long)]
        update: bool,
    },
    /// Enrol this device with the office server, using the code the office gave you
    Enrol {
        /// The enrolment code (starts with KRC2-)
        code: String,
        /// This device's name, if no journal exists yet [default: the computer's name]
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Sync now: exits 0 only when everything here is sent and everything on the server is here
    Sync,
    /// Run in the background: serve the app on this computer, and sync automatically whenever a connection exists
    Run {
        /// Port of the app on 127.0.0.1 (0: any free port)
        #[arg(
            long,
            env = "FIELD_CLIENT_WEB_PORT",
            default_value_t = crate::web::DEFAULT_PORT,
            value_name = "PORT"
        )]
        web_port: u16,
        /// Sync only, without the app
        #[arg(long)]
        no_web: bool,
        /// Office: warn about a centre after this many days without a successful sync
        #[arg(long, default_value_t = crate::health::DEFAULT_SILENT_DAYS, value_name = "DAYS",
              value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::health::MAX_SILENT_DAYS)))]
        silent_days: u32,
    },
    /// Office: sync health of every centre and device (last successful sync, activities not yet sent, silent centres)
    Health {
        /// Warn about a centre after this many days without a successful sync
        #[arg(long, default_value_t = crate::health::DEFAULT_SILENT_DAYS, value_name = "DAYS",
              value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::health::MAX_SILENT_DAYS)))]
        silent_days: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Open the app in the default browser, starting `field-client run` if it is not running
    Open,
    /// Start the app and background sync at every login, without a terminal (Linux: a systemd user service and a menu entry "KRC žurnāls")
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Report for partners and funders: activities, hours, participants per group and distinct institutions for a period, per centre and in total
    Report {
        /// First day of the period, YYYY-MM-DD (or DD.MM.YYYY)
        #[arg(long)]
        from: String,
        /// Last day of the period (included)
        #[arg(long)]
        to: String,
        /// Only this centre (by name, as `list --all-centres` shows it)
        #[arg(long)]
        centre: Option<String>,
        /// Only the centres of this municipality (as the office server set it)
        #[arg(long)]
        municipality: Option<String>,
        /// Only this kind of activity
        #[arg(long)]
        kind: Option<String>,
        /// The file's format; `zip`: the xlsx workbook and every file attached to its
        /// activities, for a funder
        #[arg(long, value_enum)]
        format: ReportFormat,
        /// File to write [default: standard output; required for xlsx and zip]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Language of the file's column names, sheet names and words [default: the system's]
        #[arg(long, value_enum)]
        lang: Option<FileLang>,
    },
    /// Set or show the monthly data budget and metered mode (for a prepaid mobile connection)
    DataPlan {
        /// Monthly budget: 200MB, 1.5GB, 750kB … or "off"
        #[arg(long)]
        budget: Option<String>,
        /// "on": connect only to send (and hourly), instead of staying connected
        #[arg(long)]
        metered: Option<OnOff>,
    },
    /// Show the centre, this device and how many activities are not yet sent
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show what the client does: record sample activities in a new folder, list and export them
    Demo {
        /// Folder for the demo journal [default: a new temporary folder]
        #[arg(long)]
        into: Option<PathBuf>,
    },
    /// Fold the journal's appended changes into one snapshot (done automatically too)
    #[command(hide = true)]
    Compact,
}

/// What `field-client service` does.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ServiceCommand {
    /// Start it now and at every login, restart it if it fails, and add "KRC žurnāls" to the menu
    Install,
    /// Stop it and take it out of login and the menu (the journal stays where it is)
    Uninstall,
    /// Say whether it is installed, starts at login, and runs now
    Status,
}

/// A switch given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Csv,
    Xlsx,
    Json,
    Zip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Delimiter {
    Comma,
    Semicolon,
    Tab,
}

/// The language of a file the program writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileLang {
    Lv,
    En,
}

impl FileLang {
    /// The chosen language, or the system's (`LC_ALL`, `LC_MESSAGES`, `LANG`:
    /// Latvian when it names Latvian, English otherwise).
    pub fn or_system(chosen: Option<FileLang>) -> Lang {
        match chosen {
            Some(FileLang::Lv) => Lang::Lv,
            Some(FileLang::En) => Lang::En,
            None => system_lang(["LC_ALL", "LC_MESSAGES", "LANG"].map(std::env::var)),
        }
    }
}

/// The language the locale variables name: the first one set decides, as
/// POSIX has it.
fn system_lang(vars: [Result<String, std::env::VarError>; 3]) -> Lang {
    let locale = vars
        .into_iter()
        .find_map(|v| v.ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    if locale.to_ascii_lowercase().starts_with("lv") {
        Lang::Lv
    } else {
        Lang::En
    }
}

impl Delimiter {
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }
}

/// The fields of an activity. For `add`, title, kind and date are required;
/// for `edit`, only the fields given change.
#[derive(Debug, Args)]
pub struct ActivityArgs {
    /// Title, e.g. "Skolotāja loma vietējās kopienas attīstībā"
    #[arg(long)]
    pub title: Option<String>,
    /// seminar, workshop, training, consultation, community_initiative, event, meeting, symposium or other (Latvian names work too)
    #[arg(long)]
    pub kind: Option<String>,
    /// Date as YYYY-MM-DD
    #[arg(long)]
    pub date: Option<String>,
    /// Start time as HH:MM (an empty value clears it)
    #[arg(long, value_name = "HH:MM")]
    pub start: Option<String>,
    /// Duration in hours, e.g. 1.5 (an empty value clears it)
    #[arg(long, value_name = "H")]
    pub hours: Option<String>,
    /// Where it took place
    #[arg(long)]
    pub place: Option<String>,
    /// An organiser; repeat for several. On edit, replaces the list (--organiser "" empties it)
    #[arg(long = "organiser", value_name = "NAME")]
    pub organisers: Vec<String>,
    /// A partner institution, e.g. "20.PII"; repeat for several. On edit, replaces the list
    #[arg(long = "institution", value_name = "NAME")]
    pub institutions: Vec<String>,
    /// Participants of one group, e.g. --count teachers=12; repeat per group
    #[arg(long = "count", value_name = "GROUP=N")]
    pub counts: Vec<String>,
    /// Free-text description
    #[arg(long)]
    pub description: Option<String>,
    /// Outcome notes
    #[arg(long)]
    pub notes: Option<String>,
}

impl ActivityArgs {
    /// Converts the arguments to the core's input form. A `--count` without `=`
    /// keeps its text as the group name with an empty value, which the core
    /// reports as an error naming it.
    pub fn to_input(&self) -> ActivityInput {
        let list = |names: &Vec<String>| (!names.is_empty()).then(|| names.clone());
        ActivityInput {
            title: self.title.clone(),
            kind: self.kind.clone(),
            date: self.date.clone(),
            start: self.start.clone(),
            hours: self.hours.clone(),
            place: self.place.clone(),
            organisers: list(&self.organisers),
            institutions: list(&self.institutions),
            counts: self
                .counts
                .iter()
                .map(|c| match c.split_once('=') {
                    Some((group, n)) => (group.to_owned(), n.to_owned()),
                    None => (c.clone(), "missing: write GROUP=N".to_owned()),
                })
                .collect(),
            description: self.description.clone(),
            notes: self.notes.clone(),
        }
    }
}
