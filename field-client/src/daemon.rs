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
//!
//! Beside it, [`compact_when_quiet`] folds appended changes into snapshots
//! once nothing has been stored for [`COMPACT_WHEN_QUIET_FOR`]: the one
//! place a journal is loaded only to be compacted (after an import or a
//! first download, which themselves do not compact).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sync_core::{OpenError, ReplicaError};
use tokio::time::Duration;

use crate::budget;
use crate::net::{self, NetError, SyncReport};
use crate::owner::StoreOwner;
use crate::sync_loop::{self, Mode};

/// Quiet time after a local change before a metered connection is opened: a
/// volunteer entering several activities in a row causes one connection, not
/// one per activity. (Connected, a change is sent at once.)
const METERED_DEBOUNCE: Duration = Duration::from_secs(3);

/// How often the daemon verifies every page checksum of the store (it also
/// does at start): damage from outside, e.g. a failing disk, is found within
/// a day rather than when a page is next read.
pub const INTEGRITY_CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long nothing may have been stored before `run` compacts the journals
/// that are due ([`sync_core::Replica::compact_due`]): a compaction holds
/// the store (measured: 2 s for a centre's 50,000 activities, 3.5 s for an
/// office's first download of them, 7 s after an import of 100,000), so it
/// waits for a pause in recording and syncing rather than interrupting a
/// burst of them.
pub const COMPACT_WHEN_QUIET_FOR: Duration = Duration::from_secs(2);

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

/// Runs until the device is revoked or not enrolled, the store is found
/// damaged, or the process is asked to stop ([`NetError::Stopped`]);
/// returns why it stopped.
pub async fn run(data_dir: &Path, owner: &Arc<StoreOwner>) -> NetError {
    let mut failures = 0_u32;
    let mut checked_at = tokio::time::Instant::now();
    loop {
        let outcome = connected_session(data_dir, owner).await;
        if owner.is_stopping() {
            // Not a failed attempt: nothing to record.
            return NetError::Stopped;
        }
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
            Err(e @ NetError::Version(_)) => {
                // Retrying sooner cannot help until a program is updated;
                // the app keeps recording meanwhile.
                let wait = net::VERSION_MISMATCH_RETRY;
                eprintln!("sync: {e}; trying again in {}s", wait.as_secs());
                tokio::time::sleep(wait).await;
            }
            Err(e @ NetError::BudgetSpent { .. }) => {
                eprintln!("sync: {e}");
                pause(owner, budget::BUDGET_RECHECK_EVERY).await;
            }
            Ok(_) if metered => {
                failures = 0;
                wait_for_local_change(owner, budget::METERED_SYNC_EVERY).await;
            }
            Err(e) => {
                let wait = net::backoff(failures);
                failures = failures.saturating_add(1);
                eprintln!("sync: {e}; trying again in {}s", wait.as_secs());
                pause(owner, wait).await;
            }
            Ok(_) => failures = 0,
        }
    }
}

/// Compacts the journals that are due ([`sync_core::Replica::compact_due`])
/// each time the store has been quiet for [`COMPACT_WHEN_QUIET_FOR`]: once
/// after `run` starts, then after whatever is stored next; until the
/// process is asked to stop.
pub async fn compact_when_quiet(owner: Arc<StoreOwner>) {
    let mut stored = owner.stored();
    loop {
        if !quiet_for(&owner, &mut stored, COMPACT_WHEN_QUIET_FOR).await {
            return;
        }
        compact_due(&owner).await;
        tokio::select! {
            changed = stored.changed() => if changed.is_err() { return },
            () = owner.stopping() => return,
        }
    }
}

/// Waits until nothing was stored for `quiet`; false if the process is
/// asked to stop meanwhile.
async fn quiet_for(
    owner: &StoreOwner,
    stored: &mut tokio::sync::watch::Receiver<u64>,
    quiet: Duration,
) -> bool {
    loop {
        tokio::select! {
            changed = tokio::time::timeout(quiet, stored.changed()) => match changed {
                Err(_) => return true,
                Ok(Ok(())) => {}
                // The owner is gone: so is everything to compact.
                Ok(Err(_)) => return false,
            },
            () = owner.stopping() => return false,
        }
    }
}

/// One [`sync_core::Replica::compact_due`] on the held store, off the async
/// threads, saying what it did. Data is durable either way: a failure only
/// leaves the file larger.
async fn compact_due(owner: &StoreOwner) {
    let Ok(mut held) = owner.hold().await else {
        return;
    };
    match tokio::task::spawn_blocking(move || held.compact_due()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(journals)) => {
            eprintln!("Compacted the store: {journals} journal(s) folded into snapshots.");
        }
        Ok(Err(e)) => {
            eprintln!("warning: could not compact the journal (your data is safe): {e}");
        }
        Err(e) => {
            eprintln!("warning: the compaction stopped unexpectedly (your data is safe): {e}");
        }
    }
}

/// The scheduled integrity check; a damaged store stops the daemon. Also
/// the daily retry of a file rewrite an erasure still owes.
async fn check_integrity(owner: &StoreOwner) -> Result<(), NetError> {
    let mut replica = owner.hold().await?;
    replica.check_integrity()?;
    crate::owner::finish_pending_rewrite(&mut replica);
    Ok(())
}

/// Waits `how_long`, or less if the process is asked to stop.
async fn pause(owner: &StoreOwner, how_long: Duration) {
    tokio::select! {
        () = tokio::time::sleep(how_long) => {}
        () = owner.stopping() => {}
    }
}

/// Waits until a local change has settled or `longest` has passed (or the
/// process is asked to stop).
async fn wait_for_local_change(owner: &StoreOwner, longest: Duration) {
    tokio::select! {
        changed = tokio::time::timeout(longest, owner.local_change()) => {
            if changed.is_ok() {
                pause(owner, METERED_DEBOUNCE).await;
            }
        }
        () = owner.stopping() => {}
    }
}

/// One connection, within the month's data budget: syncs everything, then
/// (unless the connection is metered) stays connected until it ends.
async fn connected_session(data_dir: &Path, owner: &StoreOwner) -> Result<SyncReport, NetError> {
    let metered = {
        let replica = owner.hold().await?;
        budget::plan(replica.store())
            .map_err(ReplicaError::from)?
            .metered
    };
    sync_loop::connected(data_dir, owner, Mode::Stay { metered }).await
}
