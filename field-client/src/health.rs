//! The office's sync-health table: for each centre and each of its devices,
//! when it last synced successfully and how many activities it said it had
//! not sent yet, with a warning for a centre silent for too long.
//!
//! The relay knows this (it sees every device); it tells office devices in a
//! `Health` frame at each sync (docs/PROTOCOL.md), and the office keeps the
//! latest report in its store, so the table is there offline too, as of the
//! time it was received.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::store::{JournalInfo, Store, StoreError};
use sync_core::sync::{DeviceHealth, Role};
use uuid::Uuid;

/// Settings key of the latest [`SyncHealth`] (settings table, docs/STORAGE.md).
const SYNC_HEALTH_KEY: &str = "sync_health";

/// Days without a successful sync after which a centre is called silent,
/// unless `--silent-days` says otherwise: centres hold activities every
/// week, and a device that is switched on syncs within minutes.
pub const DEFAULT_SILENT_DAYS: u32 = 7;

/// Longest `--silent-days` accepted: a year; longer would hide every problem.
pub const MAX_SILENT_DAYS: u32 = 366;

/// The relay's latest report, as the office received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHealth {
    pub received_at: DateTime<Utc>,
    pub devices: Vec<DeviceHealth>,
}

/// Keeps the relay's report (replacing the one before).
pub fn record(
    store: &Store,
    devices: Vec<DeviceHealth>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let health = SyncHealth {
        received_at: now,
        devices,
    };
    store.set_setting(SYNC_HEALTH_KEY, &health)
}

/// The latest report, if the relay ever sent one (only office devices get it).
pub fn load(store: &Store) -> Result<Option<SyncHealth>, StoreError> {
    store.setting(SYNC_HEALTH_KEY)
}

/// Whether a centre has been heard from recently enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Silence {
    /// Synced within the allowed days.
    Fine,
    /// Last synced successfully this many whole days ago, more than allowed.
    Silent { days: i64 },
    /// No device of the centre ever synced successfully.
    NeverSynced,
    /// The office's own journal: not watched (not listed among the centres).
    Office,
    /// No device of the centre is enrolled (or all were revoked): the office
    /// has to make it an enrolment code.
    NoDevice,
}

impl Silence {
    /// Needs the office's attention (listed first, highlighted).
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Silence::Silent { .. } | Silence::NeverSynced | Silence::NoDevice
        )
    }

    /// A centre whose computer went quiet (not one that has none yet).
    pub fn is_silent(self) -> bool {
        matches!(self, Silence::Silent { .. } | Silence::NeverSynced)
    }
}

/// One centre's row of the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CentreHealth {
    pub journal: Uuid,
    pub centre: String,
    /// The latest successful sync of any of its devices.
    pub last_synced: Option<DateTime<Utc>>,
    /// Activities its devices said were not sent yet (None: none said).
    pub unsent: Option<u64>,
    pub silence: Silence,
    /// Its devices, the one that synced last first.
    pub devices: Vec<DeviceHealth>,
}

/// The table: one row per journal on this device, centres in trouble first,
/// then by name.
pub fn by_centre(
    journals: &[JournalInfo],
    health: &SyncHealth,
    now: DateTime<Utc>,
    silent_days: u32,
) -> Vec<CentreHealth> {
    let mut rows: Vec<CentreHealth> = journals
        .iter()
        .map(|info| centre_row(info, health, now, silent_days))
        .filter(|row| row.silence != Silence::Office)
        .collect();
    rows.sort_by(|a, b| {
        (!a.silence.is_warning(), &a.centre).cmp(&(!b.silence.is_warning(), &b.centre))
    });
    rows
}

fn centre_row(
    info: &JournalInfo,
    health: &SyncHealth,
    now: DateTime<Utc>,
    silent_days: u32,
) -> CentreHealth {
    let mut devices: Vec<DeviceHealth> = health
        .devices
        .iter()
        .filter(|d| d.centre == info.id.0)
        .cloned()
        .collect();
    devices.sort_by(|a, b| b.last_synced.cmp(&a.last_synced).then(a.name.cmp(&b.name)));
    let last_synced = devices.iter().filter_map(|d| d.last_synced).max();
    let said: Vec<u64> = devices
        .iter()
        .filter(|d| !d.revoked)
        .filter_map(|d| d.unsent.map(u64::from))
        .collect();
    let unsent = (!said.is_empty()).then(|| said.iter().sum());
    let silence = if devices.iter().any(|d| d.role == Role::Office) {
        Silence::Office
    } else if devices.iter().all(|d| d.revoked) {
        Silence::NoDevice
    } else {
        silence(last_synced, now, silent_days)
    };
    CentreHealth {
        journal: info.id.0,
        centre: info.centre.clone(),
        last_synced,
        unsent,
        silence,
        devices,
    }
}

/// Silent when the last successful sync is more than `silent_days` days
/// before `now`.
pub fn silence(
    last_synced: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    silent_days: u32,
) -> Silence {
    let Some(last) = last_synced else {
        return Silence::NeverSynced;
    };
    let quiet = now.signed_duration_since(last);
    if quiet > chrono::Duration::days(i64::from(silent_days)) {
        Silence::Silent {
            days: quiet.num_days(),
        }
    } else {
        Silence::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::store::JournalId;

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T12:00:00Z"))
            .expect("time")
            .to_utc()
    }

    fn device(n: u128, centre: u128, role: Role, last_synced: Option<u32>) -> DeviceHealth {
        DeviceHealth {
            device: Uuid::from_u128(n),
            centre: Uuid::from_u128(centre),
            name: format!("dators {n}"),
            role,
            revoked: false,
            enrolled_at: at(1),
            last_contact: last_synced.map(at),
            last_synced: last_synced.map(at),
            unsent: Some(n as u32),
        }
    }

    fn journal(n: u128, centre: &str) -> JournalInfo {
        JournalInfo {
            id: JournalId(Uuid::from_u128(n)),
            centre: centre.into(),
            municipality: None,
            epoch: 0,
        }
    }

    #[test]
    fn silence_counts_whole_days_past_the_limit() {
        let now = at(20);
        assert_eq!(silence(Some(at(13)), now, 7), Silence::Fine);
        assert_eq!(
            silence(Some(at(13) - chrono::Duration::seconds(1)), now, 7),
            Silence::Silent { days: 7 }
        );
        assert_eq!(silence(Some(at(2)), now, 7), Silence::Silent { days: 18 });
        assert_eq!(silence(Some(at(2)), now, 30), Silence::Fine);
        assert_eq!(silence(None, now, 7), Silence::NeverSynced);
    }

    #[test]
    fn centres_in_trouble_come_first_with_their_devices() {
        let health = SyncHealth {
            received_at: at(20),
            devices: vec![
                device(1, 10, Role::Centre, Some(19)),
                device(2, 10, Role::Centre, Some(3)),
                device(3, 11, Role::Centre, Some(4)),
                device(4, 12, Role::Centre, None),
                device(5, 99, Role::Office, Some(20)),
            ],
        };
        let journals = [
            journal(10, "Ludzas KRC"),
            journal(11, "Balvu KRC"),
            journal(12, "Dagdas KRC"),
            journal(13, "Viļānu KRC"),
            journal(99, "Birojs"),
        ];
        let rows = by_centre(&journals, &health, at(20), 7);
        let summary: Vec<(&str, Silence, Option<u64>)> = rows
            .iter()
            .map(|r| (r.centre.as_str(), r.silence, r.unsent))
            .collect();
        assert_eq!(
            summary,
            [
                ("Balvu KRC", Silence::Silent { days: 16 }, Some(3)),
                ("Dagdas KRC", Silence::NeverSynced, Some(4)),
                ("Viļānu KRC", Silence::NoDevice, None),
                ("Ludzas KRC", Silence::Fine, Some(3)),
            ],
            "the office is not among the centres; a centre without a device says so"
        );
        let ludza = &rows[3];
        assert_eq!(ludza.last_synced, Some(at(19)));
        let names: Vec<&str> = ludza.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["dators 1", "dators 2"]);
    }
}
