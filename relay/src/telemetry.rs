//! `relay serve --metrics ADDR`: what the relay does, in Prometheus's text
//! format on `GET /metrics` (docs/OPERATIONS.md lists every metric). The
//! counters are kept by the `metrics` facade wherever the relay does the
//! thing counted; nothing is recorded until a recorder is installed, so
//! the library and its tests pay nothing without `--metrics`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

/// Devices connected now (gauge).
pub const DEVICES_CONNECTED: &str = "relay_devices_connected";
/// Sync sessions started (counter).
pub const SESSIONS: &str = "relay_sessions_total";
/// Sync sessions running now (gauge).
pub const SESSIONS_ACTIVE: &str = "relay_sessions_active";
/// File streams opened (counter; docs/ATTACHMENTS.md).
pub const FILE_STREAMS: &str = "relay_file_streams_total";
/// Attached files stored whole, their hash checked (counter).
pub const FILES_STORED: &str = "relay_files_stored_total";
/// Changes stored durably, from every device (counter).
pub const CHANGES_STORED: &str = "relay_changes_stored_total";
/// UDP bytes received from devices, counted when a connection ends (counter).
pub const BYTES_RECEIVED: &str = "relay_bytes_received_total";
/// UDP bytes sent to devices, counted when a connection ends (counter).
pub const BYTES_SENT: &str = "relay_bytes_sent_total";
/// Connections refused, by `reason` (counter).
pub const REFUSALS: &str = "relay_refusals_total";
/// Sessions that ended with an error (counter).
pub const SESSION_ERRORS: &str = "relay_session_errors_total";
/// Seconds each durable store of received changes took (summary).
pub const STORAGE_SECONDS: &str = "relay_storage_seconds";
/// Bytes free for the relay on the data folder's file system (gauge, read at
/// each scrape).
pub const DATA_DIR_FREE_BYTES: &str = "relay_data_dir_free_bytes";

/// Reasons of [`REFUSALS`].
pub mod refusal {
    /// Every connection slot taken.
    pub const NO_SLOT: &str = "no_slot";
    /// The handshake took longer than its deadline.
    pub const HANDSHAKE_TIMEOUT: &str = "handshake_timeout";
    /// A revoked device.
    pub const REVOKED: &str = "revoked";
    /// Too many strangers at once, or from one address.
    pub const STRANGERS_FULL: &str = "strangers_full";
    /// A stranger that did not enrol in time.
    pub const ENROLMENT_TIMEOUT: &str = "enrolment_timeout";
}

/// Why the metrics could not be served (the relay does not start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    #[error("cannot start the metrics: {0}")]
    Install(String),
    #[error("cannot listen for metrics on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Installs the recorder and serves `GET /metrics` on `address` until `stop`
/// says so; the address bound.
pub async fn serve(
    address: SocketAddr,
    data_dir: &Path,
    mut stop: watch::Receiver<bool>,
) -> Result<SocketAddr, MetricsError> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| MetricsError::Install(e.to_string()))?;
    describe();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| MetricsError::Bind { address, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { address, source })?;
    let state = Scrape {
        handle,
        data_dir: data_dir.to_owned(),
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(render))
        .with_state(state);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(bound)
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    data_dir: PathBuf,
}

async fn render(axum::extract::State(scrape): axum::extract::State<Scrape>) -> String {
    if let Some(free) = free_bytes(&scrape.data_dir) {
        metrics::gauge!(DATA_DIR_FREE_BYTES).set(free as f64);
    }
    scrape.handle.run_upkeep();
    scrape.handle.render()
}

/// Bytes an unprivileged process may still write on `dir`'s file system.
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Not measured off Unix (designed, not built here: Windows would ask
/// `GetDiskFreeSpaceExW`); the gauge is then left out of the scrape.
#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(DEVICES_CONNECTED, "Devices connected now");
    describe_counter!(SESSIONS, "Sync sessions started");
    describe_gauge!(SESSIONS_ACTIVE, "Sync sessions running now");
    describe_counter!(CHANGES_STORED, "Changes stored durably");
    describe_counter!(FILE_STREAMS, "File streams opened");
    describe_counter!(FILES_STORED, "Attached files stored whole");
    describe_counter!(
        BYTES_RECEIVED,
        Unit::Bytes,
        "UDP bytes received, at connection end"
    );
    describe_counter!(BYTES_SENT, Unit::Bytes, "UDP bytes sent, at connection end");
    describe_counter!(REFUSALS, "Connections refused, by reason");
    describe_counter!(SESSION_ERRORS, "Sessions that ended with an error");
    describe_histogram!(STORAGE_SECONDS, Unit::Seconds, "Time of each durable store");
    describe_gauge!(
        DATA_DIR_FREE_BYTES,
        Unit::Bytes,
        "Free bytes on the data folder's disk"
    );
}

/// Counts a refused connection.
pub fn refused(reason: &'static str) {
    metrics::counter!(REFUSALS, "reason" => reason).increment(1);
}

/// Held while something is up (a device connected, a session running):
/// raises a gauge, lowers it again when dropped.
#[derive(Debug)]
pub struct Up(&'static str);

impl Up {
    pub fn new(gauge: &'static str) -> Up {
        metrics::gauge!(gauge).increment(1.0);
        Up(gauge)
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

/// Counts a connection's UDP bytes when it ends.
#[derive(Debug)]
pub struct Traffic(pub quinn::Connection);

impl Drop for Traffic {
    fn drop(&mut self) {
        let stats = self.0.stats();
        metrics::counter!(BYTES_RECEIVED).increment(stats.udp_rx.bytes);
        metrics::counter!(BYTES_SENT).increment(stats.udp_tx.bytes);
    }
}

/// How long a durable store took.
pub fn stored(changes: usize, took: Duration) {
    metrics::counter!(CHANGES_STORED).increment(changes as u64);
    metrics::histogram!(STORAGE_SECONDS).record(took.as_secs_f64());
}
