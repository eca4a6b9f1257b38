//! One function per command. Each returns `anyhow::Result`; `main` prints the
//! error chain in plain words. Output meant for scripts (ids, JSON, CSV) goes
//! to stdout; messages for people go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use sync_core::replica::ListView;
use sync_core::replica::Status;
use sync_core::{Activity, ActivityId, Kind, NewStore, OpenError, Replica, ReplicaError};

use crate::budget;
use crate::cli::{
    ActivityArgs, Command, Delimiter, ExportFormat, FileLang, OnOff, ReportFormat, ServiceCommand,
};
use crate::interchange::export::{ActivityRow, default_delimiter, write_csv, write_json};
use crate::interchange::import::{Checked, check_file_each};
use crate::web::i18n::Lang;
use crate::words::{say, say_count};
use crate::{net, output, progress};

/// The store file inside the data folder.
pub const STORE_FILE: &str = "journal.redb";

pub fn run(command: Command, data_dir: &Path) -> Result<()> {
    let store = data_dir.join(STORE_FILE);
    match command {
        Command::Init {
            centre,
            device_name,
        } => init(data_dir, &store, &centre, device_name),
        Command::Add(fields) => add(&store, &fields),
        Command::Edit { id, fields } => edit(&store, &id, &fields),
        Command::Delete { id } => set_deleted(&store, &id, true),
        Command::Restore { id } => set_deleted(&store, &id, false),
        Command::Erase { id } => erase(&store, &id),
        Command::List {
            json,
            deleted,
            all,
            all_centres,
        } => {
            if all_centres {
                list_all_centres(&store, json, deleted, all)
            } else {
                list(&store, json, deleted, all)
            }
        }
        Command::Enrol { code, device_name } => enrol(data_dir, &store, &code, device_name),
        Command::Sync => sync_now(data_dir, &store),
        Command::Run {
            web_port,
            no_web,
            silent_days,
        } => crate::run::run(
            data_dir,
            &store,
            (!no_web).then_some(crate::web::Options {
                port: web_port,
                silent_days,
            }),
        ),
        Command::Health { silent_days, json } => health(&store, silent_days, json),
        Command::Open => open_app(data_dir),
        Command::Service { command } => service(data_dir, command),
        Command::Show { id, json } => show(&store, &id, json),
        Command::Attach { id, files } => crate::attachments::attach(&store, &id, &files),
        Command::Attachments { id, json, save } => {
            crate::attachments::list((data_dir, &store), &id, json, save.as_deref())
        }
        Command::Detach { id, attachment } => crate::attachments::detach(&store, &id, &attachment),
        Command::Export {
            format,
            out,
            delimiter,
            lang,
            include_deleted,
        } => {
            let lang = FileLang::or_system(lang);
            let delimiter = delimiter.map_or_else(|| default_delimiter(lang), Delimiter::byte);
            export(
                &store,
                format,
                out.as_deref(),
                (lang, delimiter),
                include_deleted,
            )
        }
        Command::Import {
            file,
            skip_invalid,
            dry_run,
            update,
        } => import(&store, &file, (skip_invalid, dry_run, update)),
        Command::Status { json } => status(&store, json),
        Command::Report {
            from,
            to,
            centre,
            municipality,
            kind,
            format,
            out,
            lang,
        } => report(
            (data_dir, &store),
            (&from, &to),
            (centre, municipality),
            kind.as_deref(),
            (format, out.as_deref(), FileLang::or_system(lang)),
        ),
        Command::DataPlan { budget, metered } => data_plan(&store, budget.as_deref(), metered),
        Command::Compact => compact(&store),
        Command::Demo { into } => demo(into),
    }
}

/// Opens the store for editing, waiting (bounded) while the background sync holds it.
pub(crate) fn open(store: &Path) -> Result<Replica> {
    open_with(store, Replica::open)
}

/// Opens the store for reading through its materialized view (no Automerge load).
pub(crate) fn open_view(store: &Path) -> Result<ListView> {
    open_with(store, ListView::open)
}

/// A running `field-client run` holds the store: it lends it (crate::owner)
/// until this process ends. Otherwise another command holds it for a moment:
/// wait, bounded.
pub(crate) fn open_with<T>(
    store: &Path,
    open: impl Fn(&Path) -> Result<T, ReplicaError>,
) -> Result<T> {
    let opened = match open(store) {
        Err(ReplicaError::Open(OpenError::InUse(_)))
            if crate::owner::borrow(store.parent().unwrap_or(Path::new("."))) =>
        {
            crate::daemon::open_when_free(store, &open, || {})
        }
        Err(ReplicaError::Open(OpenError::InUse(_))) => {
            crate::daemon::open_when_free(store, &open, || {
                eprintln!("{}", say("cli-busy", &[]));
            })
        }
        other => other,
    };
    match opened {
        Err(ReplicaError::Open(OpenError::Missing(_))) => {
            let folder = store.parent().unwrap_or(store).display().to_string();
            bail!("{}", say("cli-no-journal", &[("folder", folder.into())]))
        }
        other => other.with_context(|| say("cli-cannot-open", &[])),
    }
}

fn init(data_dir: &Path, store: &Path, centre: &str, device_name: Option<String>) -> Result<()> {
    let centre = centre.trim();
    if centre.is_empty() {
        bail!("{}", say("cli-centre-empty", &[]));
    }
    create_data_folder(data_dir)?;
    let device_name = device_name.unwrap_or_else(default_device_name);
    let replica = Replica::create(
        store,
        NewStore {
            centre,
            device_name: &device_name,
        },
    )
    .with_context(|| say("cli-cannot-create", &[]))?;
    let path = replica.store().path().display().to_string();
    eprintln!(
        "{}",
        say(
            "cli-created",
            &[
                ("centre", centre.into()),
                ("device", device_name.into()),
                ("path", path.into())
            ]
        )
    );
    Ok(())
}

pub(crate) fn default_device_name() -> String {
    ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|n| !n.trim().is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "this device".to_owned())
}

fn add(store: &Path, fields: &ActivityArgs) -> Result<()> {
    let not_saved = || say("cli-not-saved", &[]);
    let patch = fields.to_input().parse().with_context(not_saved)?;
    patch.check_complete().with_context(not_saved)?;
    let mut replica = open(store)?;
    let id = replica
        .add(ActivityId::new_random(), &patch, Utc::now())
        .with_context(not_saved)?;
    // The id is printed only now: the activity is on disk.
    println!("{id}");
    std::io::stdout()
        .flush()
        .with_context(|| say("cli-cannot-write-output", &[]))?;
    compact_quietly(&mut replica);
    Ok(())
}

fn edit(store: &Path, id: &str, fields: &ActivityArgs) -> Result<()> {
    let id = parse_id(id)?;
    let not_changed = || say("cli-not-changed", &[]);
    let patch = fields.to_input().parse().with_context(not_changed)?;
    if patch.is_empty() {
        bail!("{}", say("cli-nothing-to-change", &[]));
    }
    let mut replica = open(store)?;
    let changed = replica
        .edit(id, &patch, Utc::now())
        .with_context(not_changed)?;
    let said = if changed {
        "cli-saved"
    } else {
        "cli-same-values"
    };
    eprintln!("{}", say(said, &[]));
    compact_quietly(&mut replica);
    Ok(())
}

fn set_deleted(store: &Path, id: &str, deleted: bool) -> Result<()> {
    let id = parse_id(id)?;
    let mut replica = open(store)?;
    let changed = replica.set_deleted(id, deleted, Utc::now())?;
    let said = match (deleted, changed) {
        (true, true) => "cli-deleted",
        (true, false) => "cli-already-deleted",
        (false, true) => "cli-restored",
        (false, false) => "cli-not-deleted",
    };
    eprintln!("{}", say(said, &[("id", id.to_string().into())]));
    compact_quietly(&mut replica);
    Ok(())
}

/// `field-client erase ID` (office): asks the office server to erase the
/// record at the next sync; until then it is hidden here.
fn erase(store: &Path, id: &str) -> Result<()> {
    let id = parse_id(id)?;
    let mut replica = open(store)?;
    if !net::enrolment(replica.store())?.is_some_and(|e| e.office) {
        bail!(
            "{}",
            say("cli-erase-office-only", &[("id", id.to_string().into())])
        );
    }
    replica.request_erasure(id, Utc::now())?;
    eprintln!("{}", say("cli-erasure-asked", &[]));
    Ok(())
}

fn list(store: &Path, json: bool, only_deleted: bool, all: bool) -> Result<()> {
    let view = open_view(store)?;
    let home = view.home()?;
    let centre = home.centre;
    let activities: Vec<Activity> = view
        .activities(home.id)?
        .into_iter()
        .filter(|a| all || a.deleted == only_deleted)
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let rows = activities.iter().map(|a| ActivityRow {
            centre: &centre,
            activity: a,
        });
        write_json(&mut out, rows)?;
    } else {
        output::write_table(&mut out, crate::words::lang(), &activities)?;
        if activities.is_empty() {
            let said = if only_deleted {
                "cli-none-deleted"
            } else {
                "cli-none-yet"
            };
            eprintln!("{}", say(said, &[]));
        }
    }
    Ok(())
}

fn list_all_centres(store: &Path, json: bool, only_deleted: bool, all: bool) -> Result<()> {
    let view = open_view(store)?;
    let rows: Vec<_> = view
        .all_activities()?
        .into_iter()
        .filter(|(_, a)| all || a.deleted == only_deleted)
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let rows = rows.iter().map(|(info, a)| ActivityRow {
            centre: &info.centre,
            activity: a,
        });
        write_json(&mut out, rows)?;
    } else {
        output::write_centre_table(&mut out, crate::words::lang(), &rows)?;
    }
    Ok(())
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .with_context(|| say("cli-no-runtime", &[]))
}

fn enrol(data_dir: &Path, store: &Path, code: &str, device_name: Option<String>) -> Result<()> {
    // Check the code before creating anything: a mistyped code must not leave
    // a half-made journal behind (which would also block `init`).
    relay::enrol_code::EnrolCode::decode(code)
        .map_err(net::NetError::from)
        .with_context(|| say("cli-not-enrolled", &[]))?;
    let mut replica = if store.exists() {
        open(store)?
    } else {
        create_data_folder(data_dir)?;
        let name = device_name.unwrap_or_else(default_device_name);
        Replica::create(
            store,
            NewStore {
                centre: "(enrolling)",
                device_name: &name,
            },
        )?
    };
    let enrolment = runtime()?
        .block_on(net::enrol(data_dir, &mut replica, code))
        .with_context(|| say("cli-not-enrolled", &[]))?;
    eprintln!(
        "{}",
        say(
            "cli-enrolled",
            &[
                ("office", enrolment.office.to_string().into()),
                ("centre", enrolment.centre.as_str().into()),
                ("server", enrolment.relay.to_string().into()),
            ]
        )
    );
    Ok(())
}

fn sync_now(data_dir: &Path, store: &Path) -> Result<()> {
    let mut replica = open(store)?;
    let outcome = runtime()?.block_on(async {
        match tokio::time::timeout(
            net::SYNC_COMMAND_TIMEOUT,
            net::sync(data_dir, &mut replica, net::Mode::Once),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(net::NetError::TooSlow(net::SYNC_COMMAND_TIMEOUT)),
        }
    });
    net::record_attempt(&replica, &outcome);
    let report = outcome.with_context(|| say("cli-sync-unfinished", &[]))?;
    let unsent = replica.unsent_total()?;
    println!(
        "{}",
        say(
            "cli-sent",
            &[
                ("up", report.uploaded.into()),
                ("down", report.downloaded.into())
            ]
        )
    );
    if unsent > 0 {
        bail!("{}", say_count("cli-not-acknowledged", unsent, &[]));
    }
    eprintln!("{}", say("cli-all-sent", &[]));
    // Not compacted here either: after a first download that is a quarter
    // of the sync's time. `field-client run` compacts once the store is
    // quiet, and so does the app (which runs in `run`).
    Ok(())
}

/// Rows of the file whose id is here with other content: updated (with
/// `--update`), or left as they are and named, so that nothing changes
/// silently either way.
fn tell_differing(outcome: &sync_core::replica::ImportOutcome, updated: bool) {
    /// Ids named in the note; more are counted, not listed.
    const NAMED: usize = 10;
    if updated {
        if outcome.updated > 0 {
            eprintln!("{}", say_count("cli-updated", outcome.updated as u64, &[]));
        }
        return;
    }
    if outcome.differing.is_empty() {
        return;
    }
    let named: Vec<String> = outcome
        .differing
        .iter()
        .take(NAMED)
        .map(ToString::to_string)
        .collect();
    let more = outcome.differing.len().saturating_sub(NAMED);
    eprintln!(
        "{}",
        say_count(
            "cli-differing",
            outcome.differing.len() as u64,
            &[("ids", named.join(", ").into()), ("more", more.into())]
        )
    );
}

/// `field-client health`: the office's sync-health table, as last reported
/// by the relay.
fn health(store: &Path, silent_days: u32, json: bool) -> Result<()> {
    let view = open_view(store)?;
    let Some(report) = crate::health::load(view.store())? else {
        let office = net::enrolment(view.store())?.is_some_and(|e| e.office);
        if office {
            bail!("{}", say("cli-health-not-yet", &[]));
        }
        bail!("{}", say("cli-health-office-only", &[]));
    };
    let rows =
        crate::health::by_centre(&view.store().journals()?, &report, Utc::now(), silent_days);
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "received_at": report.received_at,
            "silent_days": silent_days,
            "centres": rows,
        });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        output::health_table(&mut out, crate::words::lang(), &report, &rows, silent_days)?;
    }
    Ok(())
}

/// `field-client open`: the app in the default browser, started first when
/// it is not running (through the service, when one is installed).
fn open_app(data_dir: &Path) -> Result<()> {
    let first_run = !data_dir.join(STORE_FILE).exists();
    let url = match running_app(data_dir) {
        Some(url) => url,
        None => start_app(data_dir)?,
    };
    // On the first run `run` opens the setup page itself.
    if !first_run {
        webbrowser::open(&url)
            .with_context(|| say("cli-cannot-open-browser", &[("url", url.as_str().into())]))?;
    }
    println!("{url}");
    Ok(())
}

/// Longest wait for a just-started `run` to answer: it opens the store
/// (with the full check of a large journal, a few seconds) and binds.
const APP_START_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Pause between looks for a starting app.
const APP_START_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The address of the app running on `data_dir`, if one answers there.
fn running_app(data_dir: &Path) -> Option<String> {
    let url = std::fs::read_to_string(data_dir.join(crate::web::ADDRESS_FILE)).ok()?;
    let url = url.trim().to_owned();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .ok()?;
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).ok()?;
    Some(url)
}

/// Starts `run` on `data_dir` (the service if installed, else a process of
/// its own that outlives this one) and waits until its app answers.
fn start_app(data_dir: &Path) -> Result<String> {
    let _ = std::fs::remove_file(data_dir.join(crate::web::ADDRESS_FILE));
    let places = crate::service::Places::of_this_user()?;
    let default_folder = crate::default_data_dir().as_deref() == Some(data_dir);
    if !crate::service::start_if_installed(&places, default_folder)? {
        spawn_run(data_dir)?;
    }
    let deadline = std::time::Instant::now() + APP_START_WAIT;
    while std::time::Instant::now() < deadline {
        if let Some(url) = running_app(data_dir) {
            return Ok(url);
        }
        std::thread::sleep(APP_START_POLL);
    }
    bail!(
        "{}",
        say(
            "cli-app-did-not-start",
            &[("log", run_log(data_dir).display().to_string().into())]
        )
    )
}

/// Where a `run` started by `open` writes what it says.
fn run_log(data_dir: &Path) -> PathBuf {
    data_dir.join("run.log")
}

/// `field-client run` on `data_dir` as a process of its own, its output in
/// [`run_log`].
fn spawn_run(data_dir: &Path) -> Result<()> {
    create_data_folder(data_dir)?;
    let exe = std::env::current_exe().context("cannot find this program's own file")?;
    let log = std::fs::File::create(run_log(data_dir))
        .with_context(|| cannot_write(&run_log(data_dir)))?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("run")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().context("cannot write the log")?)
        .stderr(log);
    // Its own process group: a Ctrl-C meant for this command does not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.spawn().context("cannot start `field-client run`")?;
    Ok(())
}

/// `field-client service install | uninstall | status`.
fn service(data_dir: &Path, command: ServiceCommand) -> Result<()> {
    use crate::service;
    let places = service::Places::of_this_user()?;
    match command {
        ServiceCommand::Install => {
            let exe = std::env::current_exe().context("cannot find this program's own file")?;
            let data_dir = std::path::absolute(data_dir).context("cannot find the data folder")?;
            service::install(&exe, &data_dir, &places)?;
            let unit = places.unit.display().to_string();
            let menu = places.desktop_entry.display().to_string();
            eprintln!(
                "{}",
                say(
                    "cli-service-installed",
                    &[("unit", unit.into()), ("menu", menu.into())]
                )
            );
        }
        ServiceCommand::Uninstall => {
            service::uninstall(&places)?;
            let folder = data_dir.display().to_string();
            eprintln!(
                "{}",
                say("cli-service-removed", &[("folder", folder.into())])
            );
        }
        ServiceCommand::Status => {
            let state = service::status(&places)?;
            let mut out = std::io::stdout().lock();
            output::write_service(&mut out, crate::words::lang(), &state)?;
        }
    }
    Ok(())
}

fn show(store: &Path, id: &str, json: bool) -> Result<()> {
    let id = parse_id(id)?;
    let view = open_view(store)?;
    let (info, activity) = view.get(id)?.ok_or_else(|| {
        anyhow::anyhow!(say(
            "cli-no-such-activity",
            &[("id", id.to_string().into())]
        ))
    })?;
    let centre = info.centre;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &ActivityRow {
                centre: &centre,
                activity: &activity,
            },
        )?;
        writeln!(out)?;
    } else {
        output::write_details(&mut out, crate::words::lang(), &centre, &activity)?;
    }
    Ok(())
}

fn export(
    store: &Path,
    format: ExportFormat,
    out: Option<&Path>,
    (lang, delimiter): (Lang, u8),
    include_deleted: bool,
) -> Result<()> {
    let view = open_view(store)?;
    let home = view.home()?;
    let centre = home.centre;
    let activities: Vec<Activity> = view
        .activities(home.id)?
        .into_iter()
        .filter(|a| include_deleted || !a.deleted)
        .collect();
    let rows = activities.iter().map(|a| ActivityRow {
        centre: &centre,
        activity: a,
    });
    let write = |w: &mut dyn Write| match format {
        ExportFormat::Csv => write_csv(w, (lang, delimiter), rows),
        ExportFormat::Json => write_json(w, rows),
    };
    match out {
        Some(path) => {
            write_file_atomically(path, write)?;
            let path = path.display().to_string();
            eprintln!(
                "{}",
                say_count(
                    "cli-wrote",
                    activities.len() as u64,
                    &[("path", path.into())]
                )
            );
        }
        None => write(&mut std::io::stdout().lock())?,
    }
    Ok(())
}

/// `field-client report`: the figures of a period from every journal on
/// this device (an office device holds every centre's).
fn report(
    (data_dir, store): (&Path, &Path),
    (from, to): (&str, &str),
    (centre, municipality): (Option<String>, Option<String>),
    kind: Option<&str>,
    (format, out, lang): (ReportFormat, Option<&Path>, Lang),
) -> Result<()> {
    let day = |text: &str, flag: &str| {
        sync_core::activity::parse_date_text(text).ok_or_else(|| {
            anyhow::anyhow!(say(
                "cli-flag-not-a-date",
                &[("flag", flag.into()), ("text", text.into())]
            ))
        })
    };
    let kind = match kind {
        Some(k) => Some(
            Kind::parse(k)
                .ok_or_else(|| anyhow::anyhow!(say("cli-unknown-kind", &[("text", k.into())])))?,
        ),
        None => None,
    };
    let selection = crate::report::Selection {
        period: crate::report::Period::new(day(from, "from")?, day(to, "to")?)
            .map_err(anyhow::Error::msg)?,
        centre,
        municipality,
        kind,
    };
    let view = open_view(store)?;
    let all = view.all_activities()?;
    let counted: Vec<(crate::report::Origin<'_>, &Activity)> = all
        .iter()
        .map(|(info, a)| (info.into(), a))
        .filter(|(origin, a)| selection.includes(*origin, a))
        .collect();
    let selection_includes =
        |info: &sync_core::JournalInfo, a: &Activity| selection.includes(info.into(), a);
    let report = crate::report::build(selection.clone(), counted.iter().copied());
    match (format, out) {
        (ReportFormat::Xlsx | ReportFormat::Zip, None) => {
            bail!("{}", say("cli-xlsx-needs-file", &[]))
        }
        (ReportFormat::Zip, Some(path)) => {
            let included = all
                .iter()
                .filter(|(info, a)| selection_includes(info, a))
                .map(|(info, a)| (info.id, a));
            crate::attachments::fetch_for(data_dir, view.store(), included)?;
            let tmp = PathBuf::from(format!("{}.partial", path.display()));
            let file = std::fs::File::create(&tmp).with_context(|| cannot_write(&tmp))?;
            let missing = crate::interchange::bundle::write_bundle(
                std::io::BufWriter::new(file),
                (lang, view.store()),
                &report,
                &counted,
            )
            .with_context(|| cannot_write(&tmp))?;
            std::fs::rename(&tmp, path).with_context(|| cannot_write(path))?;
            if !missing.is_empty() {
                let n = missing.len() as u64;
                eprintln!("{}", say_count("cli-bundle-missing", n, &[]));
            }
        }
        (ReportFormat::Xlsx, Some(path)) => {
            let tmp = PathBuf::from(format!("{}.partial", path.display()));
            crate::interchange::report::write_xlsx(&tmp, lang, &report, &counted)
                .with_context(|| cannot_write(&tmp))?;
            std::fs::rename(&tmp, path).with_context(|| cannot_write(path))?;
        }
        (format, out) => {
            let write = |w: &mut dyn Write| match format {
                ReportFormat::Json => crate::interchange::report::write_json(w, &report),
                _ => crate::interchange::report::write_csv(w, lang, &report),
            };
            match out {
                Some(path) => write_file_atomically(path, write)?,
                None => write(&mut std::io::stdout().lock())?,
            }
        }
    }
    if let Some(path) = out {
        eprintln!(
            "{}",
            say_count(
                "cli-wrote-report",
                report.total.activities,
                &[
                    ("people", report.total.total_participants.into()),
                    ("path", path.display().to_string().into())
                ]
            )
        );
    }
    Ok(())
}

/// Writes next to the target and renames, so a failed export never leaves a
/// half-written file under the requested name.
fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.partial", path.display()));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut buffered = std::io::BufWriter::new(file);
        write(&mut buffered)?;
        buffered
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| cannot_write(path));
    }
    Ok(())
}

fn import(
    store: &Path,
    file: &Path,
    (skip_invalid, dry_run, update): (bool, bool, bool),
) -> Result<()> {
    let mut replica = open(store)?;
    let lang = crate::words::lang();
    let nothing = || say("cli-nothing-imported", &[]);
    let journal = replica.journal_id();
    // Rows go to the store as they are checked, in one transaction that
    // is committed only if the whole file may be imported: a large file's
    // rows are never all in memory.
    let mut import = if dry_run {
        None
    } else {
        Some(
            replica
                .begin_import(Utc::now(), update)
                .with_context(nothing)?,
        )
    };
    let (mut good, mut bad, mut deleted) = (0_u64, 0_u64, 0_u64);
    let bar = progress::counter(&say("cli-saving", &[]));
    let checked = check_file_each(file, journal, |found| {
        match found {
            Checked::Note(note) => {
                let note = say("cli-note", &[("note", note.say(lang).into())]);
                bar.suspend(|| eprintln!("{note}"));
            }
            Checked::Bad(row) => {
                bar.suspend(|| eprintln!("{}: {}", file.display(), row.say(lang)));
                bad += 1;
            }
            Checked::Deleted => deleted += 1,
            Checked::Good(row) => {
                good += 1;
                // After a bad row nothing is imported unless bad rows are
                // skipped: the rest is only checked.
                if let Some(import) = import.as_mut().filter(|_| bad == 0 || skip_invalid) {
                    import.push(row.id, row.patch)?;
                    bar.inc(1);
                }
            }
        }
        Ok::<(), anyhow::Error>(())
    });
    bar.finish_and_clear();
    checked.with_context(nothing)?;
    if bad > 0 && !skip_invalid {
        bail!("{}", say_count("cli-bad-rows", bad, &[]));
    }
    if deleted > 0 {
        eprintln!("{}", say_count("cli-deleted-rows-skipped", deleted, &[]));
    }
    let Some(import) = import else {
        eprintln!("{}", say_count("cli-checked", good, &[]));
        return Ok(());
    };
    let outcome = import.finish().with_context(nothing)?;
    tell_differing(&outcome, update);
    println!(
        "{}",
        say(
            "cli-imported",
            &[
                ("added", outcome.added.into()),
                ("n", outcome.added.to_string().into()),
                ("present", outcome.already_present.into()),
                ("bad", bad.into()),
            ]
        )
    );
    // Not compacted here: the import never loads the journal, and its
    // compaction would (about 600 MB and 9 s at 100,000 activities, against
    // about 107 MB and 2 s for the import). `field-client run` compacts it once
    // the store is quiet; `field-client compact` does it at once.
    Ok(())
}

fn status(store: &Path, json: bool) -> Result<()> {
    let view = open_view(store)?;
    let status = view.status()?;
    let replica_store = view.store();
    let mut out = std::io::stdout().lock();
    if json {
        #[derive(serde::Serialize)]
        struct StatusJson<'a> {
            #[serde(flatten)]
            status: &'a Status,
            store: &'a Path,
            enrolment: Option<&'a net::Enrolment>,
            sync: &'a net::SyncStatus,
            data: &'a budget::BudgetState,
            erasures: &'a [sync_core::store::ErasureRequest],
            /// A file rewrite an erasure still owes, that failed.
            rewrite_failure: Option<sync_core::store::RewriteFailure>,
        }
        let enrolment = net::enrolment(replica_store)?;
        let sync = net::sync_status(replica_store)?;
        let data = budget::state(replica_store, chrono::Local::now())?;
        let erasures = replica_store.erasure_requests()?;
        let json = StatusJson {
            status: &status,
            store: replica_store.path(),
            enrolment: enrolment.as_ref(),
            sync: &sync,
            data: &data,
            erasures: &erasures,
            rewrite_failure: replica_store.rewrite_failure()?,
        };
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        let lang = crate::words::lang();
        output::write_status(&mut out, lang, &status, replica_store.path())?;
        let enrolment = net::enrolment(replica_store)?;
        output::write_sync_status(
            &mut out,
            lang,
            enrolment.as_ref(),
            &net::sync_status(replica_store)?,
        )?;
        let data = budget::state(replica_store, chrono::Local::now())?;
        if data.plan != budget::DataPlan::default() {
            output::write_data_plan(&mut out, lang, &data)?;
        }
        output::write_erasures(&mut out, lang, &replica_store.erasure_requests()?)?;
        if let Some(failure) = replica_store.rewrite_failure()? {
            output::write_rewrite_failure(&mut out, lang, &failure)?;
        }
    }
    Ok(())
}

fn data_plan(store: &Path, budget_text: Option<&str>, metered: Option<OnOff>) -> Result<()> {
    let replica = open(store)?;
    let mut plan = budget::plan(replica.store())?;
    if let Some(text) = budget_text {
        plan.monthly_budget = budget::parse_budget(text).map_err(anyhow::Error::msg)?;
    }
    if let Some(switch) = metered {
        plan.metered = switch == OnOff::On;
    }
    if budget_text.is_some() || metered.is_some() {
        budget::set_plan(replica.store(), &plan)?;
    }
    let state = budget::state(replica.store(), chrono::Local::now())?;
    output::write_data_plan(&mut std::io::stdout().lock(), crate::words::lang(), &state)?;
    Ok(())
}

fn demo(into: Option<PathBuf>) -> Result<()> {
    let dir = match into {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("krc-demo-{}", uuid::Uuid::new_v4().simple())),
    };
    crate::demo::run(&dir)
}

fn compact(store: &Path) -> Result<()> {
    let mut replica = open(store)?;
    replica
        .compact()
        .with_context(|| say("cli-compact-failed", &[]))?;
    eprintln!("{}", say("cli-compacted", &[]));
    Ok(())
}

/// Compaction after a write is housekeeping: the write is already durable, so a
/// failure here is reported but does not fail the command.
fn compact_quietly(replica: &mut Replica) {
    if let Err(e) = replica.compact_if_needed() {
        eprintln!(
            "{}",
            say("cli-compact-warning", &[("why", e.to_string().into())])
        );
    }
}

pub(crate) fn parse_id(text: &str) -> Result<ActivityId> {
    text.parse()
        .map_err(|_| anyhow::anyhow!(say("cli-not-an-id", &[("text", text.into())])))
}

pub(crate) fn create_data_folder(data_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir).with_context(|| {
        let folder = data_dir.display().to_string();
        say("cli-cannot-create-folder", &[("folder", folder.into())])
    })
}

fn cannot_write(path: &Path) -> String {
    say(
        "cli-cannot-write",
        &[("path", path.display().to_string().into())],
    )
}
