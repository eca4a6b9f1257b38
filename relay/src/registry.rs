//! Who may sync what: centres, devices and enrolment codes. A device's id is
//! also the Automerge actor of every change it writes; the sync session stores
//! only changes written by the connected device (`sync_core::sync::Peer`).
//!
//! Kept in its own redb file, `registry.redb`, opened in redb's multi-writer
//! mode: the admin commands (`centre add`, `enrol-code`, `revoke`, `devices`)
//! run as separate processes while `relay serve` is running, and the server
//! reads the registry afresh on every connection, so a revocation takes effect
//! at the device's next connection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sync_core::sync::{Access, DeviceHealth, EnrolRefusal, JournalGrant, Role};
use uuid::Uuid;

use crate::store::DeviceNote;
use crate::tls::Fingerprint;

/// Key: centre id / Value: JSON [`Centre`].
const CENTRES: TableDefinition<u128, &[u8]> = TableDefinition::new("centres-v1");
/// Key: device id (= its Automerge actor id) / Value: JSON [`Device`].
const DEVICES: TableDefinition<u128, &[u8]> = TableDefinition::new("devices-v1");
/// Key: SHA-256 of a device certificate / Value: device id.
const DEVICE_BY_CERT: TableDefinition<&[u8; 32], u128> = TableDefinition::new("device_by_cert-v1");
/// Key: SHA-256 of an enrolment secret / Value: JSON [`EnrolCode`].
const ENROL_CODES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("enrol_codes-v1");
/// Key: setting name / Value: bytes. `office_centre`: 16-byte id of the office's own journal.
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings-v1");

/// Name of the office's own centre, made when the registry is created.
pub const OFFICE_CENTRE_NAME: &str = "Centrālais birojs (IIC)";

/// Characters of a device's name the registry keeps (a device names itself;
/// the office's list stays readable).
const MAX_DEVICE_NAME_CHARS: usize = 100;

/// What the admin commands do to the registry, wherever it is kept: the
/// redb file ([`Registry`]) or PostgreSQL (`crate::store::PgStore`).
pub trait RegistryAdmin {
    /// The centre whose journal the office records into.
    fn office_centre(&self) -> Uuid;
    fn add_centre(&self, name: &str, now: DateTime<Utc>) -> Result<Centre, RegistryError>;
    /// Sets (or with `None` clears) the municipality of a centre; devices
    /// learn it at their next sync.
    fn set_municipality(
        &self,
        id: Uuid,
        municipality: Option<&str>,
    ) -> Result<Centre, RegistryError>;
    fn centres(&self) -> Result<Vec<Centre>, RegistryError>;
    fn centre(&self, id: Uuid) -> Result<Centre, RegistryError>;
    /// Makes a one-time enrolment secret for a centre's device (or, with
    /// `None`, the office's) and stores only its hash. Returns the secret.
    fn new_enrol_secret(
        &self,
        centre: Option<Uuid>,
        valid_until: DateTime<Utc>,
    ) -> Result<[u8; 32], RegistryError>;
    fn devices(&self) -> Result<Vec<Device>, RegistryError>;
    fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> Result<Device, RegistryError>;
}

impl RegistryAdmin for Registry {
    fn office_centre(&self) -> Uuid {
        Registry::office_centre(self)
    }
    fn add_centre(&self, name: &str, now: DateTime<Utc>) -> Result<Centre, RegistryError> {
        Registry::add_centre(self, name, now)
    }
    fn set_municipality(
        &self,
        id: Uuid,
        municipality: Option<&str>,
    ) -> Result<Centre, RegistryError> {
        Registry::set_municipality(self, id, municipality)
    }
    fn centres(&self) -> Result<Vec<Centre>, RegistryError> {
        Registry::centres(self)
    }
    fn centre(&self, id: Uuid) -> Result<Centre, RegistryError> {
        Registry::centre(self, id)
    }
    fn new_enrol_secret(
        &self,
        centre: Option<Uuid>,
        valid_until: DateTime<Utc>,
    ) -> Result<[u8; 32], RegistryError> {
        Registry::new_enrol_secret(self, centre, valid_until)
    }
    fn devices(&self) -> Result<Vec<Device>, RegistryError> {
        Registry::devices(self)
    }
    fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> Result<Device, RegistryError> {
        Registry::revoke(self, id, now)
    }
}

/// Every row of a registry, for `relay migrate-store` (`crate::store::copy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRows {
    pub office_centre: Uuid,
    /// By id.
    pub centres: Vec<Centre>,
    /// By id, with their sync health.
    pub devices: Vec<Device>,
    /// By the secret's hash.
    pub codes: Vec<EnrolCodeRow>,
}

impl RegistryRows {
    /// As compared after a copy: times to the microsecond (PostgreSQL
    /// keeps no finer), rows sorted.
    pub fn comparable(mut self) -> RegistryRows {
        use chrono::SubsecRound;
        for c in &mut self.centres {
            c.created_at = c.created_at.trunc_subsecs(6);
        }
        for d in &mut self.devices {
            d.enrolled_at = d.enrolled_at.trunc_subsecs(6);
            d.last_seen = d.last_seen.map(|t| t.trunc_subsecs(6));
            d.revoked_at = d.revoked_at.map(|t| t.trunc_subsecs(6));
            d.last_synced = d.last_synced.map(|t| t.trunc_subsecs(6));
        }
        for c in &mut self.codes {
            c.expires_at = c.expires_at.trunc_subsecs(6);
        }
        self.sorted()
    }

    /// Sorted, so two registries compare row by row.
    pub fn sorted(mut self) -> RegistryRows {
        self.centres.sort_by_key(|c| c.id);
        self.devices.sort_by_key(|d| d.id);
        self.codes.sort_by_key(|c| c.secret_sha256);
        self
    }
}

/// An enrolment code as kept: the secret's hash, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolCodeRow {
    pub secret_sha256: [u8; 32],
    pub centre: Uuid,
    pub office: bool,
    pub expires_at: DateTime<Utc>,
    pub used_by: Option<Uuid>,
}

/// The certificate hash a device's record names (its `fingerprint`).
pub(crate) fn cert_of(device: &Device) -> Result<Fingerprint, RegistryError> {
    device.fingerprint.parse().map_err(|_| {
        RegistryError::Damaged(format!("device {} has no readable certificate", device.id))
    })
}

/// A new centre named `name` (trimmed), refused when empty or when one of
/// `existing` has the name already (ASCII case aside).
pub(crate) fn new_centre(
    name: &str,
    now: DateTime<Utc>,
    existing: &[Centre],
) -> Result<Centre, RegistryError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(RegistryError::EmptyName);
    }
    if existing.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
        return Err(RegistryError::DuplicateCentre(name.to_owned()));
    }
    Ok(Centre {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        created_at: now,
        municipality: None,
    })
}

/// A municipality as stored: trimmed, and none for an empty one.
pub(crate) fn clean_municipality(municipality: Option<&str>) -> Option<&str> {
    municipality.map(str::trim).filter(|m| !m.is_empty())
}

/// A new enrolment secret from the system's random generator.
pub(crate) fn new_secret() -> Result<[u8; 32], RegistryError> {
    let mut secret = [0_u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| RegistryError::Damaged("the system's random generator failed".into()))?;
    Ok(secret)
}

/// Refuses a code already used or expired at `now`.
pub(crate) fn check_redeemable(
    used_by: Option<Uuid>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), RegistryError> {
    if used_by.is_some() {
        return Err(RegistryError::UsedCode);
    }
    if expires_at <= now {
        return Err(RegistryError::ExpiredCode);
    }
    Ok(())
}

/// The journals `device` may sync of `centres`: its centre's; every
/// centre's for the office.
pub(crate) fn grants_of(device: &Device, centres: Vec<Centre>) -> Vec<JournalGrant> {
    centres
        .into_iter()
        .filter(|c| device.office || c.id == device.centre)
        .map(|c| JournalGrant {
            journal: c.id,
            centre: c.name,
            municipality: c.municipality.unwrap_or_default(),
            access: Access::ReadWrite,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Centre {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The municipality the centre is in, for the office's reports; absent
    /// in records written before it existed.
    #[serde(default)]
    pub municipality: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: Uuid,
    pub name: String,
    pub centre: Uuid,
    pub office: bool,
    pub fingerprint: String,
    pub enrolled_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last time this relay held every change the device had in its centre's
    /// journal when it opened a round: its last successful sync. Absent in
    /// records written before sync health existed (read as never).
    #[serde(default)]
    pub last_synced: Option<DateTime<Utc>>,
    /// Activities the device said at its last connection it had not sent
    /// yet (0 once it synced after that), if it said.
    #[serde(default)]
    pub unsent: Option<u32>,
}

impl Device {
    /// The record of a device enrolling now with a code of `centre` (and
    /// the office's role when `office`).
    pub(crate) fn enrolled(
        id: Uuid,
        name: &str,
        (centre, office): (Uuid, bool),
        cert: Fingerprint,
        now: DateTime<Utc>,
    ) -> Device {
        Device {
            id,
            name: name.trim().chars().take(MAX_DEVICE_NAME_CHARS).collect(),
            centre,
            office,
            fingerprint: cert.to_string(),
            enrolled_at: now,
            last_seen: None,
            revoked_at: None,
            last_synced: None,
            unsent: None,
        }
    }

    /// Its sync health, as the office sees it (the `Health` frame).
    pub fn health(self) -> DeviceHealth {
        DeviceHealth {
            device: self.id,
            centre: self.centre,
            role: self.role(),
            revoked: self.revoked_at.is_some(),
            enrolled_at: self.enrolled_at,
            last_contact: self.last_seen,
            last_synced: self.last_synced,
            unsent: self.unsent,
            name: self.name,
        }
    }

    pub fn role(&self) -> Role {
        if self.office {
            Role::Office
        } else {
            Role::Centre
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct EnrolCode {
    centre: Uuid,
    office: bool,
    expires_at: DateTime<Utc>,
    used_by: Option<Uuid>,
}

/// Errors of registry operations, in words an administrator can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("cannot open the relay registry {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the relay registry could not be read or written: {0}")]
    Storage(#[from] redb::Error),
    #[error("the relay registry is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Database(#[from] crate::store::DbError),
    #[error("no centre with id {0}")]
    UnknownCentre(Uuid),
    #[error("no device with id {0}")]
    UnknownDevice(Uuid),
    #[error("a centre named \"{0}\" already exists")]
    DuplicateCentre(String),
    #[error("the centre's name must not be empty")]
    EmptyName,
    #[error("{}", EnrolRefusal::UnknownCode.text())]
    UnknownCode,
    #[error("{}", EnrolRefusal::ExpiredCode.text())]
    ExpiredCode,
    #[error("{}", EnrolRefusal::UsedCode.text())]
    UsedCode,
    #[error("{}", EnrolRefusal::AlreadyEnrolled.text())]
    AlreadyEnrolled,
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self { RegistryError::Storage(e.into()) }
        }
    )*};
}
impl RegistryError {
    /// The file failed an I/O operation (a full disk): it must be reopened
    /// ([`Registry::reopen`]) before anything else works.
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            RegistryError::Storage(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// The relay's database cannot be reached now: the same work succeeds
    /// once it can.
    pub fn is_database_unreachable(&self) -> bool {
        matches!(self, RegistryError::Database(e) if e.is_unreachable())
    }

    /// The disk is full: the same work succeeds once there is space.
    pub fn is_disk_full(&self) -> bool {
        use std::io::ErrorKind;
        matches!(self, RegistryError::Storage(redb::Error::Io(e))
            if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded))
    }
}

storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// The registry file, shared by `relay serve` and the admin commands.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    /// Replaced by [`Registry::reopen`] after an I/O error, which redb
    /// latches until the file is opened again.
    db: RwLock<Database>,
    office_centre: Uuid,
}

impl Registry {
    /// Opens (creating if needed) the registry in `dir`.
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        let path = dir.join(REGISTRY_FILE);
        let open_err = |reason: String| RegistryError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let db = open_db(&path).map_err(|e| open_err(e.to_string()))?;
        let office_centre = ensure_office_centre(&db)?;
        Ok(Registry {
            path,
            db: RwLock::new(db),
            office_centre,
        })
    }

    /// Opens the file again after an I/O error (a full disk): redb refuses
    /// every later operation on a database that failed one, until it is
    /// closed and opened again. Nothing committed is lost; what failed was
    /// never committed.
    pub fn reopen(&self) -> Result<(), RegistryError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The old handle must be closed before the file opens again.
        let placeholder =
            redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new())?;
        drop(std::mem::replace(&mut *db, placeholder));
        *db = open_db(&self.path).map_err(|e| RegistryError::Open {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(())
    }

    fn db(&self) -> std::sync::RwLockReadGuard<'_, Database> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The centre whose journal the office records into.
    pub fn office_centre(&self) -> Uuid {
        self.office_centre
    }

    pub fn add_centre(&self, name: &str, now: DateTime<Utc>) -> Result<Centre, RegistryError> {
        let centre = new_centre(name, now, &self.centres()?)?;
        let tx = self.begin_write()?;
        put_json(&mut tx.open_table(CENTRES)?, centre.id.as_u128(), &centre)?;
        tx.commit()?;
        Ok(centre)
    }

    /// Sets (or with `None` clears) the municipality of a centre; devices
    /// learn it at their next sync.
    pub fn set_municipality(
        &self,
        id: Uuid,
        municipality: Option<&str>,
    ) -> Result<Centre, RegistryError> {
        let municipality = clean_municipality(municipality);
        let tx = self.begin_write()?;
        let centre = {
            let mut centres = tx.open_table(CENTRES)?;
            let mut centre: Centre = match centres.get(id.as_u128())? {
                Some(v) => parse_json(v.value())?,
                None => return Err(RegistryError::UnknownCentre(id)),
            };
            centre.municipality = municipality.map(str::to_owned);
            put_json(&mut centres, id.as_u128(), &centre)?;
            centre
        };
        tx.commit()?;
        Ok(centre)
    }

    pub fn centres(&self) -> Result<Vec<Centre>, RegistryError> {
        let tx = self.db().begin_read()?;
        let table = tx.open_table(CENTRES)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(parse_json(row?.1.value())?);
        }
        Ok(out)
    }

    pub fn centre(&self, id: Uuid) -> Result<Centre, RegistryError> {
        let tx = self.db().begin_read()?;
        let table = tx.open_table(CENTRES)?;
        let value = table
            .get(id.as_u128())?
            .ok_or(RegistryError::UnknownCentre(id))?;
        parse_json(value.value())
    }

    /// Makes a one-time enrolment secret for a centre's device (or the office's)
    /// and stores only its hash. Returns the secret.
    pub fn new_enrol_secret(
        &self,
        centre: Option<Uuid>,
        valid_until: DateTime<Utc>,
    ) -> Result<[u8; 32], RegistryError> {
        let (centre, office) = match centre {
            Some(id) => (self.centre(id)?.id, false),
            None => (self.office_centre, true),
        };
        let secret = new_secret()?;
        let code = EnrolCode {
            centre,
            office,
            expires_at: valid_until,
            used_by: None,
        };
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(ENROL_CODES)?;
            let bytes = serde_json::to_vec(&code).expect("EnrolCode serializes");
            table.insert(&hash(&secret), bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(secret)
    }

    /// Redeems an enrolment secret: registers the device under the code's
    /// centre and role, binds its certificate and actor, and spends the code,
    /// all in one transaction.
    pub fn enrol(
        &self,
        secret: &[u8; 32],
        device: Uuid,
        name: &str,
        cert: Fingerprint,
        now: DateTime<Utc>,
    ) -> Result<Device, RegistryError> {
        let tx = self.begin_write()?;
        let device = {
            let mut codes = tx.open_table(ENROL_CODES)?;
            let key = hash(secret);
            let mut code: EnrolCode = match codes.get(&key)? {
                Some(v) => parse_json(v.value())?,
                None => return Err(RegistryError::UnknownCode),
            };
            check_redeemable(code.used_by, code.expires_at, now)?;
            let mut devices = tx.open_table(DEVICES)?;
            let mut by_cert = tx.open_table(DEVICE_BY_CERT)?;
            if devices.get(device.as_u128())?.is_some() || by_cert.get(&cert.0)?.is_some() {
                return Err(RegistryError::AlreadyEnrolled);
            }
            let record = Device::enrolled(device, name, (code.centre, code.office), cert, now);
            put_json(&mut devices, device.as_u128(), &record)?;
            by_cert.insert(&cert.0, device.as_u128())?;
            code.used_by = Some(device);
            let bytes = serde_json::to_vec(&code).expect("EnrolCode serializes");
            codes.insert(&key, bytes.as_slice())?;
            record
        };
        tx.commit()?;
        Ok(device)
    }

    /// `device`, when it is the device that redeemed the enrolment secret: a
    /// device asking again for the enrolment whose answer it lost. `None`
    /// for a secret it did not redeem.
    pub fn redeemed_by(
        &self,
        secret: &[u8; 32],
        device: Uuid,
    ) -> Result<Option<Device>, RegistryError> {
        let tx = self.db().begin_read()?;
        let codes = tx.open_table(ENROL_CODES)?;
        let Some(value) = codes.get(&hash(secret))? else {
            return Ok(None);
        };
        let code: EnrolCode = parse_json(value.value())?;
        if code.used_by != Some(device) {
            return Ok(None);
        }
        self.device(device).map(Some)
    }

    /// The device presenting this certificate, if enrolled.
    pub fn device_by_cert(&self, cert: &Fingerprint) -> Result<Option<Device>, RegistryError> {
        let tx = self.db().begin_read()?;
        let Some(id) = tx
            .open_table(DEVICE_BY_CERT)?
            .get(&cert.0)?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let devices = tx.open_table(DEVICES)?;
        let value = devices
            .get(id)?
            .ok_or(RegistryError::Damaged(format!("device {id} is missing")))?;
        parse_json(value.value()).map(Some)
    }

    pub fn device(&self, id: Uuid) -> Result<Device, RegistryError> {
        let tx = self.db().begin_read()?;
        let devices = tx.open_table(DEVICES)?;
        let value = devices
            .get(id.as_u128())?
            .ok_or(RegistryError::UnknownDevice(id))?;
        parse_json(value.value())
    }

    pub fn devices(&self) -> Result<Vec<Device>, RegistryError> {
        let tx = self.db().begin_read()?;
        let table = tx.open_table(DEVICES)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(parse_json(row?.1.value())?);
        }
        Ok(out)
    }

    pub fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> Result<Device, RegistryError> {
        self.update_device(id, |d| {
            d.revoked_at.get_or_insert(now);
        })
    }

    /// Writes sync-health notes (see [`crate::store::Bookkeeping`]) in one
    /// durable transaction; notes of devices no longer registered are dropped.
    pub fn apply_notes(&self, notes: &HashMap<Uuid, DeviceNote>) -> Result<(), RegistryError> {
        let tx = self.begin_write()?;
        {
            let mut devices = tx.open_table(DEVICES)?;
            for (id, note) in notes {
                let mut device: Device = match devices.get(id.as_u128())? {
                    Some(v) => parse_json(v.value())?,
                    None => continue,
                };
                device.last_seen = note.last_seen.or(device.last_seen);
                device.last_synced = note.last_synced.or(device.last_synced);
                if let Some(unsent) = note.unsent {
                    device.unsent = unsent;
                }
                put_json(&mut devices, id.as_u128(), &device)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every device's sync health, for the office (the `Health` frame).
    pub fn health(&self) -> Result<Vec<DeviceHealth>, RegistryError> {
        Ok(self.devices()?.into_iter().map(Device::health).collect())
    }

    /// The journals a device may sync: its centre's; every centre's for the office.
    pub fn grants_for(&self, device: &Device) -> Result<Vec<JournalGrant>, RegistryError> {
        Ok(grants_of(device, self.centres()?))
    }

    /// Every row, for a copy into another store.
    pub fn rows(&self) -> Result<RegistryRows, RegistryError> {
        let tx = self.db().begin_read()?;
        let mut codes = Vec::new();
        for row in tx.open_table(ENROL_CODES)?.iter()? {
            let (key, value) = row?;
            let code: EnrolCode = parse_json(value.value())?;
            codes.push(EnrolCodeRow {
                secret_sha256: *key.value(),
                centre: code.centre,
                office: code.office,
                expires_at: code.expires_at,
                used_by: code.used_by,
            });
        }
        Ok(RegistryRows {
            office_centre: self.office_centre,
            centres: self.centres()?,
            devices: self.devices()?,
            codes,
        }
        .sorted())
    }

    /// Replaces every row with `rows` in one durable transaction (a new
    /// registry, whose own office centre gives way to the copied one's).
    pub fn put_rows(&self, rows: &RegistryRows) -> Result<(), RegistryError> {
        let tx = self.begin_write()?;
        {
            let mut centres = tx.open_table(CENTRES)?;
            centres.retain(|_, _| false)?;
            for centre in &rows.centres {
                put_json(&mut centres, centre.id.as_u128(), centre)?;
            }
            let mut devices = tx.open_table(DEVICES)?;
            let mut by_cert = tx.open_table(DEVICE_BY_CERT)?;
            for device in &rows.devices {
                put_json(&mut devices, device.id.as_u128(), device)?;
                by_cert.insert(&cert_of(device)?.0, device.id.as_u128())?;
            }
            let mut codes = tx.open_table(ENROL_CODES)?;
            for code in &rows.codes {
                let kept = EnrolCode {
                    centre: code.centre,
                    office: code.office,
                    expires_at: code.expires_at,
                    used_by: code.used_by,
                };
                let bytes = serde_json::to_vec(&kept).expect("EnrolCode serializes");
                codes.insert(&code.secret_sha256, bytes.as_slice())?;
            }
            tx.open_table(SETTINGS)?
                .insert("office_centre", rows.office_centre.as_bytes().as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    fn update_device(
        &self,
        id: Uuid,
        change: impl FnOnce(&mut Device),
    ) -> Result<Device, RegistryError> {
        let tx = self.begin_write()?;
        let device = {
            let mut devices = tx.open_table(DEVICES)?;
            let mut device: Device = match devices.get(id.as_u128())? {
                Some(v) => parse_json(v.value())?,
                None => return Err(RegistryError::UnknownDevice(id)),
            };
            change(&mut device);
            put_json(&mut devices, id.as_u128(), &device)?;
            device
        };
        tx.commit()?;
        Ok(device)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, RegistryError> {
        let mut tx = self.db().begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        Ok(tx)
    }
}

fn open_db(path: &Path) -> Result<Database, redb::DatabaseError> {
    Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(path)
}

fn ensure_office_centre(db: &Database) -> Result<Uuid, RegistryError> {
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::Immediate)?;
    let id = {
        let mut settings = tx.open_table(SETTINGS)?;
        let existing = settings
            .get("office_centre")?
            .map(|v| Uuid::from_slice(v.value()));
        match existing {
            Some(Ok(id)) => id,
            Some(Err(_)) => {
                return Err(RegistryError::Damaged(
                    "the office centre id is unreadable".into(),
                ));
            }
            None => {
                let centre = Centre {
                    id: Uuid::new_v4(),
                    name: OFFICE_CENTRE_NAME.into(),
                    created_at: Utc::now(),
                    municipality: None,
                };
                put_json(&mut tx.open_table(CENTRES)?, centre.id.as_u128(), &centre)?;
                settings.insert("office_centre", centre.id.as_bytes().as_slice())?;
                centre.id
            }
        }
    };
    tx.open_table(DEVICES)?;
    tx.open_table(DEVICE_BY_CERT)?;
    tx.open_table(ENROL_CODES)?;
    tx.commit()?;
    Ok(id)
}

/// What the registry keeps of an enrolment secret: its SHA-256.
pub(crate) fn hash(secret: &[u8; 32]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret);
    let mut out = [0_u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn put_json<T: Serialize>(
    table: &mut redb::Table<'_, u128, &[u8]>,
    key: u128,
    value: &T,
) -> Result<(), RegistryError> {
    let bytes = serde_json::to_vec(value).expect("registry records serialize");
    table.insert(key, bytes.as_slice())?;
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Damaged(e.to_string()))
}

/// Name of the registry's file in the data folder.
pub const REGISTRY_FILE: &str = "registry.redb";

/// Opens the registry file at `path` read-only, sharing it with a running
/// `relay serve` and admin commands (for `relay backup`).
pub fn open_read_only(path: &Path) -> Result<redb::ReadOnlyDatabase, redb::DatabaseError> {
    Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .open_read_only(path)
}

/// Reads every table of the registry as `from` sees it, copying each row into
/// `to` when given; what each table holds. Refuses a registry holding a table
/// this version does not know (a copy would drop it).
pub fn copy_tables(
    from: &redb::ReadTransaction,
    to: Option<&redb::WriteTransaction>,
) -> Result<Vec<sync_core::store::backup::TableContents>, RegistryError> {
    use redb::TableHandle;
    use sync_core::store::backup::copy_table;
    let known = [
        CENTRES.name(),
        DEVICES.name(),
        DEVICE_BY_CERT.name(),
        ENROL_CODES.name(),
        SETTINGS.name(),
    ];
    for table in from.list_tables()? {
        if !known.contains(&table.name()) {
            return Err(RegistryError::Damaged(format!(
                "it holds a table this version does not know ({})",
                table.name()
            )));
        }
    }
    let contents = [
        copy_table(from, to, CENTRES)?,
        copy_table(from, to, DEVICES)?,
        copy_table(from, to, DEVICE_BY_CERT)?,
        copy_table(from, to, ENROL_CODES)?,
        copy_table(from, to, SETTINGS)?,
    ];
    Ok(contents.into_iter().flatten().collect())
}
