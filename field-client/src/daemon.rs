//! `field-client run`: background sync that never blocks recording.
//!
//! The daemon keeps a QUIC connection to the relay open while the network
//! allows. It shares the one open store of the process with the app
//! ([`StoreOwner`]), taking it for one received frame or one round at a time;
//! commands run beside it borrow the store (crate::owner). It syncs
//! - when the relay announces a change by another device (`Notify`),
//! - right after a local change (the app or a command recorded something),
//! - every [`net::RESYNC_EVERY`] in case a notification was lost,
//!
//! and reconnects with capped, jittered backoff when the connection drops.
//!
//! With a data budget (crate::budget) it stops when the month's budget is
//! used and looks again every [`budget::BUDGET_RECHECK_EVERY`]; on a metered
//! connection it disconnects once in sync and connects again after a local
//! change or every [`budget::METERED_SYNC_EVERY`].

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sync_core::sync::ClientEvent;
use sync_core::{OpenError, ReplicaError};
use tokio::time::Duration;
use uuid::Uuid;

use crate::adopt::adopt_and_resume;
use crate::budget;
use crate::budget::{Allowance, Meter};
use crate::net::{self, NetError, SyncReport};
use crate::owner::StoreOwner;
use relay::transport;

/// Quiet time after a local change before a metered connection is opened: a
/// volunteer entering several activities in a row causes one connection, not
/// one per activity. (Connected, a change is sent at once.)
const METERED_DEBOUNCE: Duration = Duration::from_secs(3);

/// How often the daemon verifies every page checksum of the store (it also
/// does at start): damage from outside, e.g. a failing disk, is found within
/// a day rather than when a page is next read.
pub const INTEGRITY_CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest wait for the store when another process is using it and no
/// running `run` lends it: commands hold it for under a second, an import of
/// thousands of rows for a few.
pub const STORE_BUSY_WAIT: Duration = Duration::from_secs(10);

/// Pause between attempts to open a busy store.
pub const STORE_BUSY_RETRY: Duration = Duration::from_millis(50);

/// Opens the store with `open`, waiting (bounded by [`STORE_BUSY_WAIT`], on
/// this thread) while another process holds it; `on_busy` runs once, when
/// the first attempt finds it busy. For the CLI commands.
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

/// Runs until the device is revoked or not enrolled, or the store is found
/// damaged; returns why it stopped.
pub async fn run(data_dir: &Path, owner: &Arc<StoreOwner>) -> NetError {
    let mut failures = 0_u32;
    let mut checked_at = tokio::time::Instant::now();
    loop {
        let outcome = connected_session(data_dir, owner).await;
        let metered = match owner.hold().await {
            Ok(replica) => {
                net::record_attempt(&replica, &outcome);
                budget::plan(replica.store()).is_ok_and(|plan| plan.metered)
            }
            Err(_) => false,
        };
        if checked_at.elapsed() >= INTEGRITY_CHECK_EVERY {
            checked_at = tokio::time::Instant::now();
            if let Err(e) = check_integrity(owner).await {
                return e;
            }
        }
        match outcome {
            Err(e @ (NetError::Revoked | NetError::NotEnrolled)) => return e,
            Err(e @ NetError::BudgetSpent { .. }) => {
                eprintln!("sync: {e}");
                tokio::time::sleep(budget::BUDGET_RECHECK_EVERY).await;
            }
            Ok(_) if metered => {
                failures = 0;
                wait_for_local_change(owner, budget::METERED_SYNC_EVERY).await;
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

/// The scheduled integrity check; a damaged store stops the daemon.
async fn check_integrity(owner: &StoreOwner) -> Result<(), NetError> {
    let mut replica = owner.hold().await?;
    replica.check_integrity()?;
    Ok(())
}

/// Waits until a local change has settled or `longest` has passed.
async fn wait_for_local_change(owner: &StoreOwner, longest: Duration) {
    if tokio::time::timeout(longest, owner.local_change())
        .await
        .is_ok()
    {
        tokio::time::sleep(METERED_DEBOUNCE).await;
    }
}

/// One connection, within the month's data budget; the bytes it used are
/// added to the month's total.
async fn connected_session(data_dir: &Path, owner: &StoreOwner) -> Result<SyncReport, NetError> {
    let (enrolment, device_name, allowance, metered) = {
        let replica = owner.hold().await?;
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
    let conn = net::connect_enrolled(data_dir, &device_name, &enrolment).await?;
    let mut meter = Meter::new(&conn);
    let session = stay_in_sync(&conn, &enrolment, owner, (metered, allowance), &mut meter);
    let outcome = budget::within_budget(&conn, allowance, session).await;
    if let Ok(replica) = owner.hold().await {
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
    owner: &StoreOwner,
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
    let mut session = net::start_session(&mut *owner.hold().await?, wanted)?;
    let mut report = SyncReport::default();
    let mut resync_at = tokio::time::Instant::now() + net::RESYNC_EVERY;
    // Whether the last step fed the session anything from the store (then an
    // idle session has just finished a round worth recording).
    let mut worked = true;
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
                ClientEvent::Health { devices } => {
                    net::keep_health(&*owner.hold().await?, devices);
                }
                ClientEvent::NewEpoch { journal, epoch } => {
                    let mut replica = owner.hold().await?;
                    let link = (conn, &mut send);
                    adopt_and_resume(link, &mut replica, &mut session, (journal, epoch), &pay)
                        .await?;
                }
                ClientEvent::Erased {
                    activity,
                    rewritten,
                } => net::say_erased(activity, rewritten),
                ClientEvent::Idle | ClientEvent::Welcomed { .. } | ClientEvent::Synced { .. } => {}
            }
        }
        if session.is_idle() && std::mem::take(&mut worked) {
            let replica = owner.hold().await?;
            net::record_attempt(&replica, &Ok(report));
            meter.settle(replica.store());
            if metered {
                return Ok(report);
            }
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => {
                    let mut replica = owner.hold().await?;
                    net::guarded(&mut replica, |r| session.handle_bytes(Instant::now(), &bytes, r))?;
                    worked = true;
                }
                None => session.handle_stream_closed(),
            },
            _ = net::sleep_until(deadline) => session.handle_timeout(Instant::now()),
            () = owner.local_change() => {
                let mut replica = owner.hold().await?;
                net::guarded(&mut replica, |r| session.request_sync_all(Instant::now(), r))?;
                worked = true;
            }
            _ = net::sleep_until(Some(resync_at)) => {
                resync_at = tokio::time::Instant::now() + net::RESYNC_EVERY;
                let mut replica = owner.hold().await?;
                net::guarded(&mut replica, |r| session.request_sync_all(Instant::now(), r))?;
                worked = true;
            }
        }
    }
}
