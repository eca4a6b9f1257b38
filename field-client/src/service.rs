//! `field-client service install | uninstall | status`: keeps `field-client
//! run` going on a centre's computer without a terminal.
//!
//! On Linux a systemd *user* unit starts it at login, restarts it if it
//! fails and stops it cleanly (SIGTERM: `run` finishes the frame in flight
//! and closes its connection), and a desktop entry "KRC žurnāls" opens the
//! app (`field-client open`, which starts the service when it is not
//! running). Other systems are designed, not built here: docs/DEPLOYMENT.md.
//!
//! The files are written into the user's own folders (`$XDG_CONFIG_HOME/
//! systemd/user`, `$XDG_DATA_HOME/applications`): no administrator is
//! needed, and removing them leaves the journal where it is.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the Debian package puts the program (field-client/Cargo.toml).
pub const PACKAGED_EXE: &str = "/usr/bin/field-client";

/// The unit the Debian package installs for every user.
pub const PACKAGED_UNIT: &str = "/usr/lib/systemd/user/krc-field-client.service";

/// The unit's name, as `systemctl --user status` takes it.
pub const UNIT_NAME: &str = "krc-field-client.service";

/// The desktop entry's file name (its shown name is "KRC žurnāls").
pub const DESKTOP_FILE: &str = "krc-zurnals.desktop";

/// How long systemd waits after SIGTERM before it kills `run`: enough to
/// finish a frame and close a connection on a slow link (the sync's own
/// frame timeout is shorter), short enough not to hold up a logout.
const STOP_TIMEOUT_SECS: u32 = 30;

/// How long systemd waits before restarting a `run` that failed: a fault
/// that repeats at once (a damaged disk) must not spin the computer.
const RESTART_AFTER_SECS: u32 = 10;

/// Why a service command did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Not Linux: the designed alternatives are in docs/DEPLOYMENT.md.
    #[error(
        "a background service is set up by this command on Linux only; on this system start \
         `field-client run` at login as docs/DEPLOYMENT.md describes"
    )]
    Unsupported,
    /// No home folder to put the user's unit into.
    #[error("cannot find this user's configuration folder (is HOME set?)")]
    NoHome,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `systemctl` is missing or cannot reach the user's service manager.
    #[error("cannot run `systemctl {args}`: {source}")]
    NoSystemctl {
        args: String,
        source: std::io::Error,
    },
    #[error("`systemctl {args}` failed: {said}")]
    Systemctl { args: String, said: String },
}

/// Where the service's files go for this user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Places {
    /// The systemd user unit.
    pub unit: PathBuf,
    /// The desktop entry (menus and launchers list it).
    pub desktop_entry: PathBuf,
}

impl Places {
    /// This user's places, from the XDG folders (`~/.config`, `~/.local/share`).
    pub fn of_this_user() -> Result<Places, ServiceError> {
        let dirs = directories::BaseDirs::new().ok_or(ServiceError::NoHome)?;
        Ok(Places {
            unit: dirs.config_dir().join("systemd/user").join(UNIT_NAME),
            desktop_entry: dirs.data_dir().join("applications").join(DESKTOP_FILE),
        })
    }
}

/// What `service status` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    pub places: Places,
    /// The unit file is in place.
    pub installed: bool,
    /// `systemctl --user is-enabled`: "enabled" when it starts at login.
    pub enabled: String,
    /// `systemctl --user is-active`: "active" while `run` runs.
    pub active: String,
}

/// The systemd user unit that runs `exe run` on `data_dir` (the user's
/// default data folder when `None`: the unit the package installs).
pub fn unit_text(exe: &Path, data_dir: Option<&Path>) -> String {
    format!(
        "# The app and background sync of KRC žurnāls (docs/DEPLOYMENT.md).\n\
         [Unit]\n\
         Description=KRC žurnāls: records the centre's activities and sends them to the office\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={}{} run\n\
         # `run` finishes the frame in flight, closes its connection and exits 0 on SIGTERM.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec={STOP_TIMEOUT_SECS}\n\
         Restart=on-failure\n\
         RestartSec={RESTART_AFTER_SECS}\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        unit_word(&exe.to_string_lossy()),
        data_dir.map_or_else(String::new, |dir| format!(
            " --data-dir {}",
            unit_word(&dir.to_string_lossy())
        )),
    )
}

/// The desktop entry that opens the app (starting it when needed), on
/// `data_dir` (the user's default data folder when `None`).
pub fn desktop_entry_text(exe: &Path, data_dir: Option<&Path>) -> String {
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Version=1.5\n\
         Name=KRC žurnāls\n\
         Comment=Centra aktivitāšu žurnāls: ierakstīt un nosūtīt birojam\n\
         Comment[en]=The centre's activity journal: record, and send to the office\n\
         Exec={}{} open\n\
         Terminal=false\n\
         Categories=Office;\n",
        desktop_word(&exe.to_string_lossy()),
        data_dir.map_or_else(String::new, |dir| format!(
            " --data-dir {}",
            desktop_word(&dir.to_string_lossy())
        )),
    )
}

/// One word of a unit's command line: quoted, with systemd's specifiers
/// (`%`) and variables (`$`) kept literal.
fn unit_word(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// One word of a desktop entry's `Exec`: quoted as the Desktop Entry
/// Specification asks, field codes (`%`) kept literal.
fn desktop_word(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                // Inside quotes these take a backslash; the file format
                // itself then doubles every backslash.
                quoted.push_str("\\\\");
                quoted.push(c);
            }
            '%' => quoted.push_str("%%"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Writes the unit and the desktop entry, and starts the service now and
/// at every login.
pub fn install(exe: &Path, data_dir: &Path, places: &Places) -> Result<(), ServiceError> {
    supported()?;
    write(&places.unit, &unit_text(exe, Some(data_dir)))?;
    write(
        &places.desktop_entry,
        &desktop_entry_text(exe, Some(data_dir)),
    )?;
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", "--now", UNIT_NAME])?;
    Ok(())
}

/// Stops the service and removes its files; the journal stays.
pub fn uninstall(places: &Places) -> Result<(), ServiceError> {
    supported()?;
    if places.unit.exists() {
        systemctl(&["disable", "--now", UNIT_NAME])?;
    }
    for path in [&places.unit, &places.desktop_entry] {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ServiceError::Remove {
                    path: path.clone(),
                    source: e,
                });
            }
            _ => {}
        }
    }
    systemctl(&["daemon-reload"])?;
    Ok(())
}

/// Whether the service is installed, enabled and running.
pub fn status(places: &Places) -> Result<ServiceState, ServiceError> {
    supported()?;
    // `is-enabled` and `is-active` answer with a word and a non-zero exit
    // when the answer is "no": the word is what matters.
    let word = |verb: &str| -> Result<String, ServiceError> {
        let out = run_systemctl(&[verb, UNIT_NAME])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    Ok(ServiceState {
        places: places.clone(),
        installed: places.unit.exists(),
        enabled: word("is-enabled")?,
        active: word("is-active")?,
    })
}

/// Starts the installed service (for `field-client open`); false when it
/// is not installed. The packaged unit counts only for the default data
/// folder (`packaged_too`): it runs on that one.
pub fn start_if_installed(places: &Places, packaged_too: bool) -> Result<bool, ServiceError> {
    let packaged = packaged_too && Path::new(PACKAGED_UNIT).exists();
    let installed = places.unit.exists() || packaged;
    if !cfg!(target_os = "linux") || !installed {
        return Ok(false);
    }
    systemctl(&["start", UNIT_NAME])?;
    Ok(true)
}

fn supported() -> Result<(), ServiceError> {
    if cfg!(target_os = "linux") {
        Ok(())
    } else {
        Err(ServiceError::Unsupported)
    }
}

/// Writes next to the target and renames, so a unit is never half written.
fn write(path: &Path, text: &str) -> Result<(), ServiceError> {
    let failed = |source| ServiceError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(failed)?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)
}

fn systemctl(args: &[&str]) -> Result<(), ServiceError> {
    let out = run_systemctl(args)?;
    if out.status.success() {
        return Ok(());
    }
    Err(ServiceError::Systemctl {
        args: format!("--user {}", args.join(" ")),
        said: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

fn run_systemctl(args: &[&str]) -> Result<std::process::Output, ServiceError> {
    Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|source| ServiceError::NoSystemctl {
            args: format!("--user {}", args.join(" ")),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_spaces_quotes_and_specifiers_stay_one_literal_word() {
        let unit = unit_text(
            Path::new("/opt/KRC žurnāls/field-client"),
            Some(Path::new("/home/anna/100% \"dati\" $HOME")),
        );
        assert!(
            unit.contains(
                "ExecStart=\"/opt/KRC žurnāls/field-client\" --data-dir \
                 \"/home/anna/100%% \\\"dati\\\" $$HOME\" run\n"
            ),
            "{unit}"
        );
        let entry = desktop_entry_text(
            Path::new("/opt/krc/field-client"),
            Some(Path::new("/home/anna/100% $x")),
        );
        assert!(
            entry.contains(
                "Exec=\"/opt/krc/field-client\" --data-dir \"/home/anna/100%% \\\\$x\" open\n"
            ),
            "{entry}"
        );
        assert!(entry.contains("Name=KRC žurnāls\n"), "{entry}");
    }

    /// The package installs the same unit and entry as the command writes,
    /// on the user's default data folder.
    #[test]
    fn the_packaged_unit_and_entry_are_the_ones_the_command_writes() {
        let exe = Path::new(PACKAGED_EXE);
        assert_eq!(
            include_str!("../packaging/krc-field-client.service"),
            unit_text(exe, None)
        );
        assert_eq!(
            include_str!("../packaging/krc-zurnals.desktop"),
            desktop_entry_text(exe, None)
        );
    }
}
