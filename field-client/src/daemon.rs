//! `field-client run`: background sync that never blocks recording.
//!
//! The daemon keeps a QUIC connection to the relay open while the network
//! allows, but opens the journal store only to handle one received frame or to
//! start a round, and closes it right after: volunteers' `add`, `edit` and
//! `import` commands use the store in between, waiting at most for one frame
//! to be handled. It syncs
//! - when the relay announces a change by another device (`Notify`),
//! - shortly after a local change (the store file changed; debounced),
//! - every [`net::RESYNC_EVERY`] in case a notification was lost,
//!
//! and reconnects with capped, jittered backoff when the connection drops.
//!
//! With a data budget (crate::budget) it stops when the month's budget is
//! used and looks again every [`budget::BUDGET_RECHECK_EVERY`]; on a metered
//! connection it disconnects once in sync and connects again after a local
//! change or every [`budget::METERED_SYNC_EVERY`].

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use sync_core::sync::ClientEvent;
use sync_core::{OpenError, Replica, ReplicaError};
use tokio::time::Duration;
use uuid::Uuid;

use crate::adopt::adopt_and_resume;
use crate::budget;
use crate::budget::{Allowance, Meter};
use crate::net::{self, NetError, SyncReport};
use relay::transport;

/// How often the daemon looks at the store file for local changes. A stat
/// call every two seconds costs nothing; a change waits at most this long.
const LOCAL_CHANGE_POLL: Duration = Duration::from_secs(2);

/// Quiet time after a local change before syncing: a volunteer entering
/// several activities in a row causes one sync, not one per activity.
const LOCAL_CHANGE_DEBOUNCE: Duration = Duration::from_secs(3);

/// Longest wait for the store when another process is using it. The daemon
/// holds it for one frame (a batch applied and committed: well under a second);
/// other commands for under a second, an import of thousands of rows for a few.
pub const STORE_BUSY_WAIT: Duration = Duration::from_secs(10);

/// Pause between attempts to open a busy store.
pub const STORE_BUSY_RETRY: Duration = Duration::from_millis(50);

/// Opens the store with `open`, waiting (bounded by [`STORE_BUSY_WAIT`], on
/// this thread) while another process or the daemon holds it; `on_busy` runs
/// once, when the first attempt finds it busy. For code off the async runtime:
/// the CLI commands and the web app's store work.
pub fn open_when_free<T>(
    path: &Path,
    open: impl Fn(&Path) -> Result<T, ReplicaError>,
    on_busy: impl FnOnce(),
) -> Result<T, ReplicaError> {
    let deadline = Instant::now() + STORE_BUSY_WAIT;
    let mut on_busy = Some(on_busy);
    loop {
        match open(path) {
            Err(ReplicaError::Open(OpenError::InUse(_))) if Instant::now() < deadline => {
                if let Some(tell) = on_busy.take() {
                    tell();
                }
                std::thread::sleep(STORE_BUSY_RETRY);
            }
            other => return other,
        }
    }
}

/// The store, opened only while needed.
struct StoreAccess {
    path: PathBuf,
    replica: Option<Replica>,
    /// Modification time of the store file when the daemon last released it.
    released_at_mtime: Option<SystemTime>,
}

impl StoreAccess {
    async fn get(&mut self) -> Result<&mut Replica, NetError> {
        if self.replica.is_none() {
            self.replica = Some(open_waiting(&self.path).await?);
        }
        Ok(self.replica.as_mut().expect("opened above"))
    }

    fn release(&mut self) {
        if self.replica.take().is_some() {
            self.released_at_mtime = mtime(&self.path);
        }
    }

    fn changed_since_release(&self) -> bool {
        self.replica.is_none() && mtime(&self.path) != self.released_at_mtime
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Opens the store, waiting (bounded) while another command holds it.
pub async fn open_waiting(path: &Path) -> Result<Replica, NetError> {
    let deadline = Instant::now() + STORE_BUSY_WAIT;
    loop {
        match Replica::open(path) {
            Err(ReplicaError::Open(OpenError::InUse(_))) if Instant::now() < deadline => {
                tokio::time::sleep(STORE_BUSY_RETRY).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Runs until the device is revoked or not enrolled; returns why it stopped.
pub async fn run(data_dir: &Path, store: &Path) -> NetError {
    let mut access = StoreAccess {
        path: store.to_owned(),
        replica: None,
        released_at_mtime: None,
    };
    let mut failures = 0_u32;
    loop {
        let outcome = connected_session(data_dir, &mut access).await;
        if let Ok(replica) = access.get().await {
            net::record_attempt(replica, &outcome);
        }
        let metered = access
            .get()
            .await
            .ok()
            .and_then(|r| budget::plan(r.store()).ok())
            .is_some_and(|plan| plan.metered);
        access.release();
        match outcome {
            Err(e @ (NetError::Revoked | NetError::NotEnrolled)) => return e,
            Err(e @ NetError::BudgetSpent { .. }) => {
                eprintln!("sync: {e}");
                tokio::time::sleep(budget::BUDGET_RECHECK_EVERY).await;
            }
            Ok(_) if metered => {
                failures = 0;
                wait_for_local_change(&mut access, budget::METERED_SYNC_EVERY).await;
            }
            Err(e) => {
                let wait = net::backoff(failures);
                failures = failures.saturating_add(1);
                eprintln!("sync: {e}; trying again in {}s", wait.as_secs());
                tokio::time::sleep(wait).await;
            }
            Ok(_) => failures = 0,
        }
    }
}

/// Waits (reading only the store file's time) until a local change has
/// settled or `longest` has passed.
async fn wait_for_local_change(access: &mut StoreAccess, longest: Duration) {
    let give_up = tokio::time::Instant::now() + longest;
    let mut poll = tokio::time::interval(LOCAL_CHANGE_POLL);
    while tokio::time::Instant::now() < give_up {
        poll.tick().await;
        if access.changed_since_release() {
            tokio::time::sleep(LOCAL_CHANGE_DEBOUNCE).await;
            return;
        }
    }
}

/// One connection, within the month's data budget; the bytes it used are
/// added to the month's total.
async fn connected_session(
    data_dir: &Path,
    access: &mut StoreAccess,
) -> Result<SyncReport, NetError> {
    let (enrolment, device_name, allowance, metered) = {
        let replica = access.get().await?;
        let store = replica.store();
        let enrolment = net::enrolment(store)?.ok_or(NetError::NotEnrolled)?;
        let allowance = budget::budget_left(store)?;
        let metered = budget::plan(store).map_err(ReplicaError::from)?.metered;
        (
            enrolment,
            store.device_name().to_owned(),
            allowance,
            metered,
        )
    };
    access.release();
    let conn = net::connect_enrolled(data_dir, &device_name, &enrolment).await?;
    let mut meter = Meter::new(&conn);
    let session = stay_in_sync(&conn, &enrolment, access, (metered, allowance), &mut meter);
    let outcome = budget::within_budget(&conn, allowance, session).await;
    if let Ok(replica) = access.get().await {
        meter.settle(replica.store());
        if let Err(NetError::BudgetSpent { budget }) = &outcome {
            budget::stopped_at_budget(replica.store(), *budget);
        }
    }
    outcome
}

/// Syncs everything, then (unless `metered`) stays connected and re-syncs on
/// notifications, local changes and the timer, until the connection ends.
async fn stay_in_sync(
    conn: &quinn::Connection,
    enrolment: &net::Enrolment,
    access: &mut StoreAccess,
    (metered, allowance): (bool, Option<Allowance>),
    meter: &mut Meter,
) -> Result<SyncReport, NetError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(transport::TransportError::from)?;
    let wanted: Vec<Uuid> = if enrolment.office {
        vec![]
    } else {
        vec![enrolment.journal]
    };
    let mut session = net::start_session(access.get().await?, wanted)?;
    let mut report = SyncReport::default();
    let mut resync_at = tokio::time::Instant::now() + net::RESYNC_EVERY;
    let mut local_change_at: Option<tokio::time::Instant> = None;
    let mut poll = tokio::time::interval(LOCAL_CHANGE_POLL);
    let pay = |frame: &[u8]| budget::check_allowance(conn, allowance, frame.len());
    loop {
        net::flush_or_refusal(&mut session, (&mut send, &mut recv), &pay).await?;
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Uploaded { changes, .. } => {
                    report.uploaded += changes;
                    eprintln!("sync: the office server stored {changes} changes from here");
                }
                ClientEvent::Downloaded { changes, .. } => report.downloaded += changes,
                ClientEvent::Closed { reason } => return Err(net::closed(reason)),
                ClientEvent::Health { devices } => net::keep_health(access.get().await?, devices),
                ClientEvent::NewEpoch { journal, epoch } => {
                    let replica = access.get().await?;
                    let link = (conn, &mut send);
                    adopt_and_resume(link, replica, &mut session, (journal, epoch), &pay).await?;
                }
                ClientEvent::Erased {
                    activity,
                    rewritten,
                } => net::say_erased(activity, rewritten),
                ClientEvent::Idle | ClientEvent::Welcomed { .. } | ClientEvent::Synced { .. } => {}
            }
        }
        if session.is_idle()
            && let Some(replica) = access.replica.as_ref()
        {
            net::record_attempt(replica, &Ok(report));
            meter.settle(replica.store());
            if metered {
                return Ok(report);
            }
        }
        access.release();
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => {
                    let replica = access.get().await?;
                    net::guarded(replica, |r| session.handle_bytes(Instant::now(), &bytes, r))?;
                }
                None => session.handle_stream_closed(),
            },
            _ = net::sleep_until(deadline) => session.handle_timeout(Instant::now()),
            _ = poll.tick() => {
                if access.changed_since_release() && local_change_at.is_none() {
                    local_change_at = Some(tokio::time::Instant::now() + LOCAL_CHANGE_DEBOUNCE);
                }
            }
            _ = net::sleep_until(local_change_at.or(Some(resync_at))) => {
                local_change_at = None;
                resync_at = tokio::time::Instant::now() + net::RESYNC_EVERY;
                let replica = access.get().await?;
                net::guarded(replica, |r| session.request_sync_all(Instant::now(), r))?;
            }
        }
    }
}
