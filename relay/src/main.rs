//! `relay`: the central server, and its admin commands. Admin commands work
//! while `relay serve` runs (the registry is shared between processes).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use relay::config::{Config, LogFormat};
use relay::enrol_code::{self, EnrolCode};
use relay::limits::DoorLimits;
use relay::registry::RegistryAdmin;
use relay::server::{RELAY_IDENTITY_STEM, Relay};
use relay::store::StoreLocation;
use relay::tls::Identity;
use uuid::Uuid;

/// The central relay of the community resource centres: stores every centre's
/// journal and syncs devices over QUIC.
#[derive(Debug, Parser)]
#[command(name = "relay", version, about)]
struct Cli {
    /// Settings file (relay/relay.toml.example); flags override it. The admin
    /// commands read its `data_dir` and `store` too
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Folder holding the relay's key, registry and journals [default: relay-data, or
    /// `data_dir` of --config]
    #[arg(long, global = true, env = "RELAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the registry and journals are kept: the data folder (the default) or a
    /// PostgreSQL database, postgres://user:password@host/database [default: `store`
    /// of --config, or the data folder]
    #[arg(long, global = true, env = "RELAY_STORE", hide_env_values = true)]
    store: Option<StoreLocation>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve devices until stopped with Ctrl-C or SIGTERM
    Serve {
        /// Address to listen on (UDP) [default: 0.0.0.0:4433]
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Address devices reach the relay at, put into enrolment codes [default: --listen]
        #[arg(long)]
        public_address: Option<String>,
        /// Log format on standard error: text or json [default: text]
        #[arg(long)]
        log_format: Option<LogFormat>,
        /// Serve Prometheus metrics on GET http://ADDR/metrics, e.g. 127.0.0.1:9464
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
    },
    /// Manage centres
    Centre {
        #[command(subcommand)]
        command: CentreCommand,
    },
    /// Print a one-time enrolment code for a centre's device (or the office's)
    EnrolCode {
        /// The centre's id (from `relay centre add` or `relay centre list`)
        #[arg(long, required_unless_present = "office", conflicts_with = "office")]
        centre: Option<Uuid>,
        /// Enrol an office device (reads and edits every centre's journal)
        #[arg(long)]
        office: bool,
        /// How long the code stays valid, from 1min to 90days, e.g. 48h, 7days
        #[arg(long, default_value = "48h", value_parser = code_validity)]
        valid_for: Duration,
        /// The relay's address as devices reach it [default: the address `serve` was given]
        #[arg(long)]
        address: Option<String>,
    },
    /// List enrolled devices with their centre and when they were last seen
    Devices,
    /// Cut a device off: it is refused from its next connection on
    Revoke {
        /// The device's id (from `relay devices`)
        device: Uuid,
    },
    /// Back up the registry, every journal and the relay's key into one file,
    /// while `relay serve` runs; the file is read back and checked. It holds
    /// the relay's private key: keep it as safe as the server.
    Backup {
        /// The backup file to write (replaced only once the new one is complete)
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the registry and every journal for damage (for cron): exit 1 and say
    /// which file when one is damaged
    Check,
    /// Copy everything a relay keeps from one store into another, empty one (a data
    /// folder to PostgreSQL, or back), then read it back and check it; every relay
    /// on either side must be stopped
    MigrateStore {
        /// The data folder or postgres://… address to copy from
        #[arg(long)]
        from: String,
        /// The new data folder or empty postgres://… database to copy into
        #[arg(long)]
        to: String,
    },
    /// Restore a backup into a new, empty --data-dir (never over a relay's data)
    Restore {
        /// A file written by `relay backup`
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CentreCommand {
    /// Add a centre; prints its id
    Add {
        name: String,
        /// The municipality it is in (for the office's reports)
        #[arg(long)]
        municipality: Option<String>,
    },
    /// Set the municipality of a centre ("" to clear it); devices learn it at their next sync
    SetMunicipality { centre: Uuid, municipality: String },
    /// List centres
    List,
}

fn main() -> ExitCode {
    // Automerge panics on some damaged input; the sync code turns those into
    // plain errors, so they must not print as if the program had crashed.
    sync_core::sync::hide_caught_library_panics();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Data folder when neither `--data-dir`, `RELAY_DATA_DIR` nor the
/// configuration file names one.
const DEFAULT_DATA_DIR: &str = "relay-data";
/// Address `serve` listens on when neither `--listen` nor the file says.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 4433);

fn run(cli: Cli) -> Result<()> {
    let file = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let dir = cli
        .data_dir
        .clone()
        .or(file.data_dir.clone())
        .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let store = cli.store.clone().or(file.store.clone()).unwrap_or_default();
    let registry = || {
        relay::store::check_store_of(&dir, &store)?;
        Ok::<_, anyhow::Error>(store.open_registry(&dir)?)
    };
    match cli.command {
        Command::Serve {
            listen,
            public_address,
            log_format,
            metrics,
        } => serve(ServeSettings {
            store,
            dir,
            listen: listen.or(file.listen).unwrap_or(DEFAULT_LISTEN),
            public_address: public_address.or(file.public_address),
            log_format: log_format.or(file.log_format).unwrap_or_default(),
            limits: file.limits,
            metrics: metrics.or(file.metrics),
        }),
        Command::Centre {
            command: CentreCommand::Add { name, municipality },
        } => {
            let registry = registry()?;
            let mut centre = registry.add_centre(&name, Utc::now())?;
            if let Some(municipality) = municipality.as_deref() {
                centre = registry.set_municipality(centre.id, Some(municipality))?;
            }
            println!("{}", centre.id);
            eprintln!("Added centre \"{}\".", centre.name);
            Ok(())
        }
        Command::Centre {
            command:
                CentreCommand::SetMunicipality {
                    centre,
                    municipality,
                },
        } => {
            let centre = registry()?.set_municipality(centre, Some(&municipality))?;
            match &centre.municipality {
                Some(m) => eprintln!("\"{}\" is in {m}.", centre.name),
                None => eprintln!("\"{}\" has no municipality now.", centre.name),
            }
            Ok(())
        }
        Command::Centre {
            command: CentreCommand::List,
        } => {
            let registry = registry()?;
            for c in registry.centres()? {
                let office = if c.id == registry.office_centre() {
                    "  (office)"
                } else {
                    ""
                };
                let municipality = c
                    .municipality
                    .as_deref()
                    .map_or(String::new(), |m| format!("  [{m}]"));
                println!("{}  {}{municipality}{office}", c.id, c.name);
            }
            Ok(())
        }
        Command::EnrolCode {
            centre,
            office,
            valid_for,
            address,
        } => enrol_code(
            (&dir, &*registry()?),
            if office { None } else { centre },
            valid_for,
            address,
        ),
        Command::Devices => devices(&*registry()?),
        Command::Backup { .. } | Command::Check | Command::Restore { .. }
            if store != StoreLocation::DataDir
                || dir.join(relay::store::STORE_MARKER_FILE).exists() =>
        {
            bail!(
                "the relay's data is in PostgreSQL: back it up with pg_dump and check it with \
                 PostgreSQL's own tools (docs/OPERATIONS.md, \"Backups with PostgreSQL\")"
            )
        }
        Command::MigrateStore { from, to } => migrate_store(&from, &to),
        Command::Backup { out } => {
            let manifest = relay::backup::back_up(&dir, &out)?;
            eprintln!(
                "Backed up {} journals and the registry to {}; read back and checked.",
                manifest.journals.len(),
                out.display()
            );
            Ok(())
        }
        Command::Check => check(&dir),
        Command::Restore { file } => {
            let manifest = relay::backup::restore(&file, &dir)?;
            eprintln!(
                "Restored the backup of {} UTC ({} journals) into {}; start `relay serve` there.",
                manifest.made_at.format("%Y-%m-%d %H:%M"),
                manifest.journals.len(),
                dir.display()
            );
            Ok(())
        }
        Command::Revoke { device } => {
            let d = registry()?.revoke(device, Utc::now())?;
            eprintln!(
                "Revoked \"{}\": it is refused from its next connection.",
                d.name
            );
            Ok(())
        }
    }
}

/// What `serve` runs with: flags over the configuration file over defaults.
#[derive(Debug)]
struct ServeSettings {
    store: StoreLocation,
    dir: PathBuf,
    listen: SocketAddr,
    public_address: Option<String>,
    log_format: LogFormat,
    limits: DoorLimits,
    metrics: Option<SocketAddr>,
}

fn init_log(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => log
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => log.json().with_ansi(false).init(),
    }
}

fn serve(settings: ServeSettings) -> Result<()> {
    init_log(settings.log_format);
    let dir = settings.dir.as_path();
    let (listen, public_address) = (settings.listen, settings.public_address);
    let _lock = relay::serve_lock::lock_for_serving(dir)?;
    relay::store::mark_store_of(dir, &settings.store)
        .context("cannot mark the data folder with the store it serves")?;
    // Before the runtime: a PostgreSQL store blocks while it connects.
    let opened = Relay::open_store(dir, &settings.store).context("cannot start the relay")?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let relay = Relay::bind_opened(dir, opened, listen, settings.limits)
            .context("cannot start the relay")?;
        let local = relay.local_addr()?;
        if let Some(address) = settings.metrics {
            let stop = relay.stopper().subscribe();
            let bound = relay::telemetry::serve(address, dir, stop).await?;
            tracing::info!(%bound, "metrics on http://{bound}/metrics");
        }
        let public = public_address.unwrap_or_else(|| local.to_string());
        std::fs::write(dir.join(relay::backup::PUBLIC_ADDRESS_FILE), &public)
            .context("cannot save the public address")?;
        let signals = StopSignals::take_over();
        println!("relay listening on {local} key {}", relay.fingerprint());
        let data = std::fs::canonicalize(dir).unwrap_or(dir.to_owned());
        tracing::info!(%local, public = %public, data = %data.display(), "serving");
        let stop = relay.stopper();
        tokio::spawn(async move {
            signals.wait().await;
            let _ = stop.send(true);
        });
        relay.serve().await;
        tracing::info!("stopped; everything acknowledged is on disk");
        Ok(())
    })
}

/// The signals that stop the relay cleanly (SIGTERM, SIGINT; Ctrl-C
/// elsewhere), taken over before the relay says it listens: a SIGTERM
/// right after that line must not kill it by the default action.
struct StopSignals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn take_over() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            StopSignals { unix }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.unix {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reads `--valid-for`: a duration humantime understands, within
/// [`enrol_code::MIN_CODE_VALIDITY`]..=[`enrol_code::MAX_CODE_VALIDITY`]. Checked while
/// the arguments are parsed, so a refused value never reaches the registry.
fn code_validity(text: &str) -> Result<Duration, String> {
    let valid_for: Duration = text
        .parse::<humantime::Duration>()
        .map_err(|e| format!("{e} (write it like 48h or 7days)"))?
        .into();
    enrol_code::check_validity(valid_for).map_err(|e| e.to_string())
}

fn enrol_code(
    (dir, registry): (&std::path::Path, &dyn RegistryAdmin),
    centre: Option<Uuid>,
    valid_for: Duration,
    address: Option<String>,
) -> Result<()> {
    let identity = Identity::load(dir, RELAY_IDENTITY_STEM)
        .context("the relay has no key yet: start `relay serve` once first")?;
    let address = match address {
        Some(a) => a,
        None => std::fs::read_to_string(dir.join(relay::backup::PUBLIC_ADDRESS_FILE))
            .context("give the relay's address with --address HOST:PORT")?
            .trim()
            .to_owned(),
    };
    if address.is_empty() {
        bail!("give the relay's address with --address HOST:PORT");
    }
    let until = Utc::now() + chrono::Duration::from_std(valid_for).context("validity too long")?;
    let secret = registry.new_enrol_secret(centre, until)?;
    let code = EnrolCode {
        relay: address,
        fingerprint: identity.fingerprint(),
        secret,
    }
    .encode()?;
    println!("{code}");
    let whom = match centre {
        Some(id) => format!("a device of \"{}\"", registry.centre(id)?.name),
        None => "an office device".to_owned(),
    };
    eprintln!(
        "One-time code for {whom}, valid until {} UTC.",
        until.format("%Y-%m-%d %H:%M")
    );
    Ok(())
}

fn migrate_store(from: &str, to: &str) -> Result<()> {
    use relay::store::copy::{self, Side};
    let (from, to) = (Side::parse(from), Side::parse(to));
    let copied = copy::copy(&from, &to).context(
        "the copy stopped; its source is unchanged (empty the target before trying again)",
    )?;
    eprintln!(
        "Copied {} centres, {} devices, {} enrolment codes, {} journals and {} files ({} bytes) \
         from {} to {}; read back and checked: the same rows, and every journal's epoch, heads \
         and files.",
        copied.centres,
        copied.devices,
        copied.codes,
        copied.journals,
        copied.files,
        copied.file_bytes,
        from.describe(),
        to.describe()
    );
    match (&from, &to) {
        (Side::Folder(dir), Side::Database(url)) => {
            // The key stays in the folder; the database learns whose it is.
            if let Ok(identity) = Identity::load(dir, RELAY_IDENTITY_STEM) {
                relay::store::PgStore::connect_tool(url)?.adopt_key(identity.fingerprint())?;
            }
            eprintln!(
                "Serve with --store and a data folder holding this relay's key ({}): \
                 relay.cert.der and relay.key.der.",
                dir.display()
            );
        }
        (_, Side::Folder(dir)) => eprintln!(
            "Copy relay.cert.der and relay.key.der from a relay's data folder into {} before \
             serving from it: the key is not kept in a database.",
            dir.display()
        ),
        _ => {}
    }
    Ok(())
}

fn check(dir: &std::path::Path) -> Result<()> {
    let report = relay::check::check(dir);
    for (file, what) in &report.problems {
        eprintln!("{}: {what}", file.display());
    }
    let how = match report.depth {
        relay::check::Depth::Full => "every page's checksum",
        relay::check::Depth::ReadThrough => {
            "the registry fully; journals read through while the relay serves \
             (stop it for a full check)"
        }
    };
    if !report.problems.is_empty() {
        bail!(
            "{} of {} files are damaged (checked {how})",
            report.problems.len(),
            report.checked.len()
        );
    }
    eprintln!("{} files are whole (checked {how}).", report.checked.len());
    Ok(())
}

fn devices(registry: &dyn RegistryAdmin) -> Result<()> {
    let centres = registry.centres()?;
    println!(
        "{:<36}  {:<20}  {:<28}  {:<16}  {:<16}  STATE",
        "DEVICE", "NAME", "CENTRE", "LAST SEEN (UTC)", "LAST SYNCED"
    );
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never".into())
    };
    for d in registry.devices()? {
        let centre = centres
            .iter()
            .find(|c| c.id == d.centre)
            .map_or("?", |c| c.name.as_str());
        let (seen, synced) = (when(d.last_seen), when(d.last_synced));
        let state = if d.revoked_at.is_some() {
            "revoked"
        } else if d.office {
            "office"
        } else {
            "active"
        };
        println!(
            "{}  {:<20}  {:<28}  {:<16}  {:<16}  {state}",
            d.id, d.name, centre, seen, synced
        );
    }
    Ok(())
}
