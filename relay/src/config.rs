//! `relay serve --config relay.toml`: the server's settings in a file
//! (every key is described in `relay/relay.toml.example` and
//! docs/OPERATIONS.md). Flags on the command line override the file. An
//! unknown key or a bad value is refused with the file's line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::store::StoreLocation;
use serde::Deserialize;
use toml::Spanned;

use crate::limits::{
    DoorLimits, MAX_CONNECTIONS, MAX_UNENROLLED_CONNECTIONS, MAX_UNENROLLED_PER_ADDRESS,
};

/// Largest configuration file read: a complete one, comments and all, is
/// under 3 KB.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Why the configuration file was not used (the relay does not start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}, line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// How `relay serve` writes its log (to standard error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{text:?} is not a log format: write text or json")),
        }
    }
}

/// The file as written: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    public_address: Option<Spanned<String>>,
    data_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    metrics: Option<SocketAddr>,
    store: Option<Spanned<String>>,
    #[serde(default)]
    limits: Limits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    max_connections: Option<Spanned<usize>>,
    max_unenrolled_connections: Option<Spanned<usize>>,
    max_unenrolled_per_address: Option<Spanned<usize>>,
    file_megabytes_per_centre: Option<Spanned<u64>>,
}

/// Most a centre's files may be set to, in megabytes: a terabyte is beyond
/// any evidence a centre keeps, and a typo of many digits is caught.
const MAX_FILE_MEGABYTES_PER_CENTRE: u64 = 1_000_000;

/// A configuration file's settings, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub listen: Option<SocketAddr>,
    pub public_address: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    /// Where `GET /metrics` is served (`crate::telemetry`); none: not served.
    pub metrics: Option<SocketAddr>,
    /// Where the data is kept (`postgres://…`); none: the data folder.
    pub store: Option<StoreLocation>,
    pub limits: DoorLimits,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Config::parse(path, &text)
    }

    /// Checks `text`, the file at `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let invalid = |at: Option<std::ops::Range<usize>>, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: at.map_or(1, |span| line_of(text, span.start)),
            message,
        };
        let file: File =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().to_owned()))?;
        let limit = |value: &Option<Spanned<usize>>, max: usize, name: &str| match value {
            None => Ok(max),
            Some(v) if (1..=max).contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(invalid(
                Some(v.span()),
                format!("{name} must be from 1 to {max}, not {}", v.get_ref()),
            )),
        };
        let limits = DoorLimits {
            max_connections: limit(
                &file.limits.max_connections,
                MAX_CONNECTIONS,
                "max_connections",
            )?,
            max_unenrolled_connections: limit(
                &file.limits.max_unenrolled_connections,
                MAX_UNENROLLED_CONNECTIONS,
                "max_unenrolled_connections",
            )?,
            max_unenrolled_per_address: limit(
                &file.limits.max_unenrolled_per_address,
                MAX_UNENROLLED_PER_ADDRESS,
                "max_unenrolled_per_address",
            )?,
            max_file_bytes_per_centre: match &file.limits.file_megabytes_per_centre {
                None => DoorLimits::default().max_file_bytes_per_centre,
                Some(v) if (1..=MAX_FILE_MEGABYTES_PER_CENTRE).contains(v.get_ref()) => {
                    v.get_ref() * 1_000_000
                }
                Some(v) => {
                    return Err(invalid(
                        Some(v.span()),
                        format!(
                            "file_megabytes_per_centre must be from 1 to \
                             {MAX_FILE_MEGABYTES_PER_CENTRE}, not {}",
                            v.get_ref()
                        ),
                    ));
                }
            },
        };
        if let Some(address) = &file.public_address
            && address.get_ref().trim().is_empty()
        {
            return Err(invalid(
                Some(address.span()),
                "public_address must not be empty".into(),
            ));
        }
        let store = match &file.store {
            None => None,
            Some(text) => Some(
                text.get_ref()
                    .parse()
                    .map_err(|e| invalid(Some(text.span()), e))?,
            ),
        };
        Ok(Config {
            store,
            listen: file.listen,
            public_address: file.public_address.map(Spanned::into_inner),
            data_dir: file.data_dir,
            log_format: file.log_format,
            metrics: file.metrics,
            limits,
        })
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("relay.toml"), text)
    }

    #[test]
    fn the_example_file_reads_with_every_key() {
        let example = include_str!("../relay.toml.example");
        let config = parse(example).expect("the example is valid");
        assert_eq!(config.listen, Some("0.0.0.0:4433".parse().unwrap()));
        assert_eq!(config.log_format, Some(LogFormat::Text));
        assert_eq!(config.limits, DoorLimits::default());
    }

    #[test]
    fn the_services_file_reads() {
        let service = include_str!("../debian/relay.toml");
        let config = parse(service).expect("the service's file is valid");
        assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/krc-relay")));
        assert_eq!(config.metrics, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let error = parse("listen = \"127.0.0.1:4433\"\n\nlisten_port = 4433\n").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("relay.toml, line 3: "), "{text}");
        assert!(text.contains("listen_port"), "{text}");
    }

    #[test]
    fn a_bad_value_is_named_with_its_line() {
        let error = parse("log_format = \"text\"\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(
            error.to_string().starts_with("relay.toml, line 2: "),
            "{error}"
        );
        let error = parse("log_format = \"xml\"\n").unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn a_limit_may_be_lowered_never_raised() {
        let lowered = parse("[limits]\nmax_connections = 500\n").expect("valid");
        assert_eq!(lowered.limits.max_connections, 500);
        let error = parse("[limits]\n\nmax_connections = 20000\n").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("relay.toml, line 3: "), "{text}");
        assert!(text.contains("from 1 to 10000"), "{text}");
        let error = parse("[limits]\nmax_unenrolled_per_address = 0\n").unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
