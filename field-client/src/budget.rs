//! A monthly data budget and metered mode, for a centre on a prepaid mobile
//! dongle.
//!
//! - Bytes are counted at the UDP socket: QUIC's own count of every datagram
//!   sent and received on a connection (handshake, retransmissions, ACKs and
//!   keep-alives included), added to this month's total after each sync.
//! - Before connecting, a sync checks what is left of the month's budget; a
//!   running sync stops when its connection has used it up (checked every
//!   [`BUDGET_CHECK_EVERY`]). Recording never stops: only syncing waits, until
//!   the budget is raised or the month (local time) rolls over.
//! - Every round sends this device's new records before it downloads anything,
//!   so a budget that runs out mid-round has gone first to sending the centre's
//!   own activities.
//! - Metered: the daemon does not stay connected (keep-alives cost about
//!   0.2 MB a day each way); it connects when there is something to send and
//!   otherwise every [`METERED_SYNC_EVERY`], and disconnects once in sync.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Local};
use serde::{Deserialize, Serialize};
use sync_core::{ReplicaError, Store, StoreError};

use crate::net::NetError;

/// Settings keys in the store.
const DATA_PLAN_KEY: &str = "data_plan";
const DATA_USED_KEY: &str = "data_used";

/// How often a running sync compares its connection's bytes with what is left
/// of the budget. At 384 kbit/s a quarter second is 12 KB: the most a sync
/// overshoots by, besides packets already in flight.
pub const BUDGET_CHECK_EVERY: Duration = Duration::from_millis(250);

/// How often the daemon looks again whether a spent budget was raised or the
/// month rolled over (reading a setting: no network).
pub const BUDGET_RECHECK_EVERY: Duration = Duration::from_secs(60);

/// How often a metered device connects with nothing to send, to receive the
/// office's corrections: once an hour costs one handshake (~5 KB).
pub const METERED_SYNC_EVERY: Duration = Duration::from_secs(3600);

/// The centre's choice, kept in the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPlan {
    /// Bytes per calendar month; `None`: no budget.
    pub monthly_budget: Option<u64>,
    pub metered: bool,
}

/// Bytes used in one month, kept in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataUsed {
    /// `YYYY-MM`, local time.
    pub month: String,
    pub bytes: u64,
    /// A sync stopped because what is left of this budget was not enough for
    /// it: no new attempt (and no new handshake) until the budget changes or
    /// the month ends.
    #[serde(default)]
    pub stopped_at_budget: Option<u64>,
}

/// The plan and this month's use, for `status` and for deciding to sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetState {
    pub plan: DataPlan,
    pub month: String,
    pub used: u64,
    /// A sync stopped at this budget this month.
    pub stopped: bool,
}

impl BudgetState {
    /// Bytes left this month; `None` when there is no budget.
    pub fn left(&self) -> Option<u64> {
        self.plan
            .monthly_budget
            .map(|budget| budget.saturating_sub(self.used))
    }

    /// No sync may start: the budget is used, or what is left of it was not
    /// enough for the last sync.
    pub fn is_spent(&self) -> bool {
        self.left() == Some(0) || self.stopped
    }
}

pub fn month_of(now: DateTime<Local>) -> String {
    format!("{:04}-{:02}", now.year(), now.month())
}

pub fn plan(store: &Store) -> Result<DataPlan, StoreError> {
    Ok(store.setting(DATA_PLAN_KEY)?.unwrap_or_default())
}

pub fn set_plan(store: &Store, plan: &DataPlan) -> Result<(), StoreError> {
    store.set_setting(DATA_PLAN_KEY, plan)
}

/// This month's use (a new month starts from zero).
fn used(store: &Store, now: DateTime<Local>) -> Result<DataUsed, StoreError> {
    let month = month_of(now);
    Ok(store
        .setting::<DataUsed>(DATA_USED_KEY)?
        .filter(|u| u.month == month)
        .unwrap_or(DataUsed {
            month,
            ..DataUsed::default()
        }))
}

pub fn state(store: &Store, now: DateTime<Local>) -> Result<BudgetState, StoreError> {
    let used = used(store, now)?;
    let plan = plan(store)?;
    Ok(BudgetState {
        stopped: used.stopped_at_budget.is_some() && used.stopped_at_budget == plan.monthly_budget,
        plan,
        month: used.month,
        used: used.bytes,
    })
}

/// Adds `bytes` to this month's use.
pub fn add_used(store: &Store, bytes: u64, now: DateTime<Local>) -> Result<(), StoreError> {
    if bytes == 0 {
        return Ok(());
    }
    let mut used = used(store, now)?;
    used.bytes = used.bytes.saturating_add(bytes);
    store.set_setting(DATA_USED_KEY, &used)
}

/// Records that a sync stopped at `budget` this month.
pub fn mark_stopped(store: &Store, budget: u64, now: DateTime<Local>) -> Result<(), StoreError> {
    let mut used = used(store, now)?;
    used.stopped_at_budget = Some(budget);
    store.set_setting(DATA_USED_KEY, &used)
}

/// Records that a sync stopped for the budget, so that no new attempt spends
/// a handshake before the budget changes (best effort).
pub fn stopped_at_budget(store: &Store, budget: u64) {
    if let Err(e) = mark_stopped(store, budget, Local::now()) {
        eprintln!("warning: could not record the data budget stop: {e}");
    }
}

/// What a connection may still use this month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub left: u64,
    pub budget: u64,
}

/// What is left of this month's budget (`None`: no budget); an error when
/// nothing is.
pub fn budget_left(store: &Store) -> Result<Option<Allowance>, NetError> {
    let state = state(store, Local::now()).map_err(ReplicaError::from)?;
    match (state.plan.monthly_budget, state.left()) {
        (Some(budget), _) if state.is_spent() => Err(NetError::BudgetSpent { budget }),
        (Some(budget), Some(left)) => Ok(Some(Allowance { left, budget })),
        _ => Ok(None),
    }
}

/// Runs `work` on `conn` until it ends or the connection has used what the
/// allowance leaves (counted at the socket since the connection began):
/// catches what the per-frame check in the session cannot see coming
/// (downloads, retransmissions).
pub async fn within_budget<T>(
    conn: &quinn::Connection,
    allowance: Option<Allowance>,
    work: impl Future<Output = Result<T, NetError>>,
) -> Result<T, NetError> {
    let Some(Allowance { left, budget }) = allowance else {
        return work.await;
    };
    let spent = async {
        while socket_bytes(conn) < left {
            tokio::time::sleep(BUDGET_CHECK_EVERY).await;
        }
    };
    tokio::select! {
        result = work => result,
        () = spent => Err(NetError::BudgetSpent { budget }),
    }
}

/// Bytes of every UDP datagram a connection sent and received so far.
pub fn socket_bytes(conn: &quinn::Connection) -> u64 {
    let stats = conn.stats();
    stats.udp_tx.bytes + stats.udp_rx.bytes
}

/// Adds a connection's bytes to the month's total as they accrue.
#[derive(Debug)]
pub struct Meter {
    conn: quinn::Connection,
    counted: u64,
}

impl Meter {
    pub fn new(conn: &quinn::Connection) -> Meter {
        Meter {
            conn: conn.clone(),
            counted: 0,
        }
    }

    /// Records the bytes since the last call (best effort: a failure to
    /// record must not stop the sync).
    pub fn settle(&mut self, store: &Store) {
        let now = socket_bytes(&self.conn);
        if let Err(e) = add_used(store, now - self.counted, Local::now()) {
            eprintln!("warning: could not record the data used: {e}");
            return;
        }
        self.counted = now;
    }
}

/// Refuses a frame of `len` bytes that would take the connection past its
/// allowance (a `Changes` frame can be half a megabyte: better not to start it).
pub fn check_allowance(
    conn: &quinn::Connection,
    allowance: Option<Allowance>,
    len: usize,
) -> Result<(), NetError> {
    match allowance {
        Some(Allowance { left, budget }) if socket_bytes(conn) + len as u64 > left => {
            Err(NetError::BudgetSpent { budget })
        }
        _ => Ok(()),
    }
}

/// Bytes in people's units (decimal, as mobile operators count them).
#[derive(Clone, Copy, Debug)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        match self.0 {
            0..1_000 => write!(f, "{} B", self.0),
            1_000..1_000_000 => write!(f, "{:.1} kB", b / 1e3),
            1_000_000..1_000_000_000 => write!(f, "{:.1} MB", b / 1e6),
            _ => write!(f, "{:.2} GB", b / 1e9),
        }
    }
}

/// Parses a budget such as `200MB`, `1.5 GB`, `750kB` or a plain number of
/// bytes; `off` (or `none`) is no budget.
pub fn parse_budget(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim().to_lowercase().replace(' ', "");
    if t == "off" || t == "none" {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor = match unit {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        _ => return Err(format!("\"{text}\" has an unknown unit (use kB, MB or GB)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size such as 200MB or 1.5GB"))?;
    let bytes = value * factor;
    if !(1.0..=1e15).contains(&bytes) {
        return Err(format!("\"{text}\" is not a sensible monthly budget"));
    }
    Ok(Some(bytes.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_in_decimal_units() {
        assert_eq!(parse_budget("200MB"), Ok(Some(200_000_000)));
        assert_eq!(parse_budget("1.5 GB"), Ok(Some(1_500_000_000)));
        assert_eq!(parse_budget("750kB"), Ok(Some(750_000)));
        assert_eq!(parse_budget("4096"), Ok(Some(4096)));
        assert_eq!(parse_budget("off"), Ok(None));
        assert!(parse_budget("12 parsecs").is_err());
        assert!(parse_budget("-3MB").is_err());
        assert!(parse_budget("0").is_err());
    }

    #[test]
    fn sizes_print_for_people() {
        assert_eq!(Bytes(950).to_string(), "950 B");
        assert_eq!(Bytes(12_345).to_string(), "12.3 kB");
        assert_eq!(Bytes(200_000_000).to_string(), "200.0 MB");
    }
}
