//! The registry in PostgreSQL: centres, devices, enrolment codes and the
//! deployment's key fingerprint (tables `krc_centre`, `krc_device`,
//! `krc_enrol_code`, `krc_setting`). The rules are the redb registry's
//! (`crate::registry`), shared with it; only the reading and writing is
//! here. Every relay reads the tables afresh at each connection, so an
//! enrolment code made through one relay works on every other, and a
//! revocation takes effect at the device's next connection to any.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, DbError};
use crate::registry::{self, Centre, Device, EnrolCodeRow, RegistryError, RegistryRows};
use crate::store::{DeviceNote, EnrolRequest};
use crate::tls::Fingerprint;

/// Name of the setting holding the deployment's key fingerprint.
const KEY_SETTING: &str = "relay_fingerprint";

/// Columns of `krc_device` as [`device_of`] reads them.
const DEVICE_COLUMNS: &str = "id, name, centre, office, fingerprint, enrolled_at, last_seen, \
                              revoked_at, last_synced, unsent";

fn device_of(row: &Row) -> Result<Device, DbError> {
    let unsent: Option<i32> = row.try_get(9)?;
    Ok(Device {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        centre: row.try_get(2)?,
        office: row.try_get(3)?,
        fingerprint: row.try_get(4)?,
        enrolled_at: row.try_get(5)?,
        last_seen: row.try_get(6)?,
        revoked_at: row.try_get(7)?,
        last_synced: row.try_get(8)?,
        unsent: unsent.map(|n| u32::try_from(n).unwrap_or(0)),
    })
}

fn centre_of(row: &Row) -> Result<Centre, DbError> {
    Ok(Centre {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        created_at: row.try_get(2)?,
        municipality: row.try_get(3)?,
    })
}

pub(super) async fn deployment_key(db: &Db) -> Result<Option<Fingerprint>, DbError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached("SELECT value FROM krc_setting WHERE name = $1")
        .await?;
    let row = client.query_opt(&statement, &[&KEY_SETTING]).await?;
    row.map(|row| fingerprint_of(row.try_get(0)?)).transpose()
}

/// Records `key` unless a key is recorded; the deployment's key after.
pub(super) async fn adopt_key(db: &Db, key: Fingerprint) -> Result<Fingerprint, DbError> {
    let client = db.client().await?;
    client
        .execute(
            "INSERT INTO krc_setting (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&KEY_SETTING, &key.0.as_slice()],
        )
        .await?;
    deployment_key(db)
        .await?
        .ok_or_else(|| DbError::Damaged("the deployment's key was not kept".into()))
}

fn fingerprint_of(bytes: Vec<u8>) -> Result<Fingerprint, DbError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| DbError::Damaged("the deployment's key fingerprint is unreadable".into()))?;
    Ok(Fingerprint(bytes))
}

pub(super) async fn centres(db: &Db) -> Result<Vec<Centre>, DbError> {
    let client = db.client().await?;
    centres_in(&client).await
}

async fn centres_in(client: &impl GenericClient) -> Result<Vec<Centre>, DbError> {
    let statement = client
        .prepare_cached(
            "SELECT id, name, created_at, municipality FROM krc_centre ORDER BY created_at, id",
        )
        .await?;
    let rows = client.query(&statement, &[]).await?;
    rows.iter().map(centre_of).collect()
}

pub(super) async fn centre(db: &Db, id: Uuid) -> Result<Option<Centre>, DbError> {
    let client = db.client().await?;
    centre_in(&client, id).await
}

async fn centre_in(client: &impl GenericClient, id: Uuid) -> Result<Option<Centre>, DbError> {
    let statement = client
        .prepare_cached("SELECT id, name, created_at, municipality FROM krc_centre WHERE id = $1")
        .await?;
    let row = client.query_opt(&statement, &[&id]).await?;
    row.as_ref().map(centre_of).transpose()
}

/// Adds a centre; the names are checked under a lock of the table, so two
/// administrators adding one name at once through two relays make one.
pub(super) async fn add_centre(
    db: &Db,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Centre, RegistryError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    tx.batch_execute("LOCK TABLE krc_centre IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(DbError::from)?;
    let centre = registry::new_centre(name, now, &centres_in(&tx).await?)?;
    tx.execute(
        "INSERT INTO krc_centre (id, name, created_at, municipality) VALUES ($1, $2, $3, NULL)",
        &[&centre.id, &centre.name, &centre.created_at],
    )
    .await
    .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(centre)
}

pub(super) async fn set_municipality(
    db: &Db,
    id: Uuid,
    municipality: Option<&str>,
) -> Result<Centre, RegistryError> {
    let municipality = registry::clean_municipality(municipality);
    let client = db.client().await?;
    let row = client
        .query_opt(
            "UPDATE krc_centre SET municipality = $2 WHERE id = $1 \
             RETURNING id, name, created_at, municipality",
            &[&id, &municipality],
        )
        .await
        .map_err(DbError::from)?;
    match row {
        Some(row) => Ok(centre_of(&row)?),
        None => Err(RegistryError::UnknownCentre(id)),
    }
}

pub(super) async fn add_code(
    db: &Db,
    secret: &[u8; 32],
    (centre, office): (Uuid, bool),
    valid_until: DateTime<Utc>,
) -> Result<(), DbError> {
    let client = db.client().await?;
    client
        .execute(
            "INSERT INTO krc_enrol_code (secret_sha256, centre, office, expires_at, used_by) \
             VALUES ($1, $2, $3, $4, NULL)",
            &[
                &registry::hash(secret).as_slice(),
                &centre,
                &office,
                &valid_until,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn device_by_cert(db: &Db, cert: &Fingerprint) -> Result<Option<Device>, DbError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM krc_device WHERE cert_sha256 = $1"
        ))
        .await?;
    let row = client.query_opt(&statement, &[&cert.0.as_slice()]).await?;
    row.as_ref().map(device_of).transpose()
}

async fn device_in(client: &impl GenericClient, id: Uuid) -> Result<Option<Device>, DbError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM krc_device WHERE id = $1"
        ))
        .await?;
    let row = client.query_opt(&statement, &[&id]).await?;
    row.as_ref().map(device_of).transpose()
}

pub(super) async fn devices(db: &Db) -> Result<Vec<Device>, DbError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM krc_device ORDER BY enrolled_at, id"
        ))
        .await?;
    let rows = client.query(&statement, &[]).await?;
    rows.iter().map(device_of).collect()
}

pub(super) async fn revoke(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Device>, DbError> {
    let client = db.client().await?;
    client
        .execute(
            "UPDATE krc_device SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &now],
        )
        .await?;
    device_in(&client, id).await
}

/// Redeems an enrolment secret in one transaction, the code's row locked:
/// two devices redeeming one code through two relays at once enrol one.
pub(super) async fn enrol(
    db: &Db,
    request: EnrolRequest<'_>,
) -> Result<(Device, Centre), RegistryError> {
    let failed = |e: tokio_postgres::Error| RegistryError::from(DbError::from(e));
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(failed)?;
    let key = registry::hash(request.secret);
    let code = tx
        .query_opt(
            "SELECT centre, office, expires_at, used_by FROM krc_enrol_code \
             WHERE secret_sha256 = $1 FOR UPDATE",
            &[&key.as_slice()],
        )
        .await
        .map_err(failed)?
        .ok_or(RegistryError::UnknownCode)?;
    let (centre, office): (Uuid, bool) = (
        code.try_get(0).map_err(failed)?,
        code.try_get(1).map_err(failed)?,
    );
    let (used_by, expires_at) = (
        code.try_get(3).map_err(failed)?,
        code.try_get(2).map_err(failed)?,
    );
    registry::check_redeemable(used_by, expires_at, request.now)?;
    let taken = tx
        .query_opt(
            "SELECT 1 FROM krc_device WHERE id = $1 OR cert_sha256 = $2",
            &[&request.device, &request.cert.0.as_slice()],
        )
        .await
        .map_err(failed)?;
    if taken.is_some() {
        return Err(RegistryError::AlreadyEnrolled);
    }
    let device = Device::enrolled(
        request.device,
        request.name,
        (centre, office),
        request.cert,
        request.now,
    );
    tx.execute(
        "INSERT INTO krc_device (id, cert_sha256, name, centre, office, fingerprint, enrolled_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &device.id,
            &request.cert.0.as_slice(),
            &device.name,
            &device.centre,
            &device.office,
            &device.fingerprint,
            &device.enrolled_at,
        ],
    )
    .await
    .map_err(failed)?;
    tx.execute(
        "UPDATE krc_enrol_code SET used_by = $2 WHERE secret_sha256 = $1",
        &[&key.as_slice(), &device.id],
    )
    .await
    .map_err(failed)?;
    let centre = centre_in(&tx, centre)
        .await?
        .ok_or(RegistryError::UnknownCentre(centre))?;
    tx.commit().await.map_err(failed)?;
    Ok((device, centre))
}

pub(super) async fn enrolled_with(
    db: &Db,
    secret: &[u8; 32],
    device: Uuid,
) -> Result<Option<(Device, Centre)>, RegistryError> {
    let client = db.client().await?;
    let used_by: Option<Option<Uuid>> = client
        .query_opt(
            "SELECT used_by FROM krc_enrol_code WHERE secret_sha256 = $1",
            &[&registry::hash(secret).as_slice()],
        )
        .await
        .map_err(DbError::from)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(DbError::from)?;
    if used_by.flatten() != Some(device) {
        return Ok(None);
    }
    let found = device_in(&client, device)
        .await?
        .ok_or(RegistryError::UnknownDevice(device))?;
    let centre = centre_in(&client, found.centre)
        .await?
        .ok_or(RegistryError::UnknownCentre(found.centre))?;
    Ok(Some((found, centre)))
}

/// Writes sync-health notes in one transaction. Times only move forward
/// (`GREATEST`): two relays writing the same device's notes keep the later.
pub(super) async fn apply_notes(db: &Db, notes: &HashMap<Uuid, DeviceNote>) -> Result<(), DbError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(
            "UPDATE krc_device SET last_seen = GREATEST(last_seen, $2), \
             last_synced = GREATEST(last_synced, $3), \
             unsent = CASE WHEN $4 THEN $5 ELSE unsent END WHERE id = $1",
        )
        .await?;
    for (id, note) in notes {
        let unsent = note
            .unsent
            .flatten()
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        tx.execute(
            &statement,
            &[
                id,
                &note.last_seen,
                &note.last_synced,
                &note.unsent.is_some(),
                &unsent,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every registry row (`relay migrate-store`).
pub(super) async fn rows(db: &Db, office_centre: Uuid) -> Result<RegistryRows, DbError> {
    let client = db.client().await?;
    let mut codes = Vec::new();
    let found = client
        .query(
            "SELECT secret_sha256, centre, office, expires_at, used_by FROM krc_enrol_code",
            &[],
        )
        .await?;
    for row in found {
        let hash: Vec<u8> = row.try_get(0)?;
        codes.push(EnrolCodeRow {
            secret_sha256: hash
                .try_into()
                .map_err(|_| DbError::Damaged("an enrolment code's hash".into()))?,
            centre: row.try_get(1)?,
            office: row.try_get(2)?,
            expires_at: row.try_get(3)?,
            used_by: row.try_get(4)?,
        });
    }
    Ok(RegistryRows {
        office_centre,
        centres: centres_in(&client).await?,
        devices: devices(db).await?,
        codes,
    }
    .sorted())
}

/// Replaces the rows of a new database's registry (its own office centre
/// gives way to the copied one's) in one transaction.
pub(super) async fn put_rows(db: &Db, rows: &RegistryRows) -> Result<(), RegistryError> {
    let failed = |e: tokio_postgres::Error| RegistryError::from(DbError::from(e));
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(failed)?;
    tx.batch_execute(
        "DELETE FROM krc_setting WHERE name = 'office_centre'; DELETE FROM krc_centre",
    )
    .await
    .map_err(failed)?;
    for c in &rows.centres {
        tx.execute(
            "INSERT INTO krc_centre (id, name, created_at, municipality) VALUES ($1, $2, $3, $4)",
            &[&c.id, &c.name, &c.created_at, &c.municipality],
        )
        .await
        .map_err(failed)?;
    }
    for d in &rows.devices {
        let cert = registry::cert_of(d)?;
        let unsent = d.unsent.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        tx.execute(
            "INSERT INTO krc_device (id, cert_sha256, name, centre, office, fingerprint, \
             enrolled_at, last_seen, revoked_at, last_synced, unsent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &d.id,
                &cert.0.as_slice(),
                &d.name,
                &d.centre,
                &d.office,
                &d.fingerprint,
                &d.enrolled_at,
                &d.last_seen,
                &d.revoked_at,
                &d.last_synced,
                &unsent,
            ],
        )
        .await
        .map_err(failed)?;
    }
    for code in &rows.codes {
        tx.execute(
            "INSERT INTO krc_enrol_code (secret_sha256, centre, office, expires_at, used_by) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &code.secret_sha256.as_slice(),
                &code.centre,
                &code.office,
                &code.expires_at,
                &code.used_by,
            ],
        )
        .await
        .map_err(failed)?;
    }
    tx.execute(
        "INSERT INTO krc_setting (name, value) VALUES ('office_centre', $1)",
        &[&rows.office_centre.as_bytes().as_slice()],
    )
    .await
    .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    Ok(())
}

/// True when the database holds no device, journal, code nor centre but
/// the office's.
pub(super) async fn is_empty(db: &Db, office_centre: Uuid) -> Result<bool, DbError> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "SELECT NOT EXISTS (SELECT 1 FROM krc_device) \
             AND NOT EXISTS (SELECT 1 FROM krc_journal) \
             AND NOT EXISTS (SELECT 1 FROM krc_enrol_code) \
             AND NOT EXISTS (SELECT 1 FROM krc_centre WHERE id <> $1)",
            &[&office_centre],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Connections of running relays to this database, other than this one.
pub(super) async fn relays_connected(db: &Db) -> Result<i64, DbError> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = $1 AND pid <> pg_backend_pid()",
            &[&super::SERVING_APPLICATION],
        )
        .await?;
    Ok(row.try_get(0)?)
}
