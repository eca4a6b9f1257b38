//! The PostgreSQL tables, made and upgraded by numbered migrations
//! (`migrations/NNNN_name.sql`, docs/POSTGRES.md). Each runs once, in the
//! transaction that records it in `krc_schema_migration`, under an advisory
//! lock: relays starting together on a new database do not race, and a
//! relay meeting tables of a newer version refuses to touch them.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::DbError;
use crate::registry::OFFICE_CENTRE_NAME;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "tables", include_str!("migrations/0001_tables.sql"))];

/// The version this relay brings the tables to.
pub const LATEST_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Key of the advisory lock migrations run under ("krc" and 1).
const MIGRATION_LOCK: i64 = 0x006b_7263_0000_0001;

/// Brings the tables to [`LATEST_VERSION`] and makes the office's centre on
/// a new database; the office centre's id.
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> Result<Uuid, DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS krc_schema_migration (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found = version(&tx).await?;
    if found > LATEST_VERSION {
        return Err(DbError::Newer {
            found,
            known: LATEST_VERSION,
        });
    }
    for (number, name, sql) in MIGRATIONS.iter().filter(|(n, _, _)| *n > found) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO krc_schema_migration (version, name) VALUES ($1, $2)",
            &[number, name],
        )
        .await?;
        tracing::info!(version = number, name, "database tables migrated");
    }
    let office = office_centre(&tx).await?;
    tx.commit().await?;
    Ok(office)
}

/// The version the tables are at (0: none made yet).
pub(super) async fn version(client: &impl GenericClient) -> Result<i32, DbError> {
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM krc_schema_migration",
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// The office's own centre, made with the tables.
async fn office_centre(client: &impl GenericClient) -> Result<Uuid, DbError> {
    let found = client
        .query_opt(
            "SELECT value FROM krc_setting WHERE name = 'office_centre'",
            &[],
        )
        .await?;
    if let Some(row) = found {
        let bytes: Vec<u8> = row.try_get(0)?;
        return Uuid::from_slice(&bytes)
            .map_err(|_| DbError::Damaged("the office centre's id is unreadable".into()));
    }
    let id = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO krc_centre (id, name, created_at) VALUES ($1, $2, now())",
            &[&id, &OFFICE_CENTRE_NAME],
        )
        .await?;
    client
        .execute(
            "INSERT INTO krc_setting (name, value) VALUES ('office_centre', $1)",
            &[&id.as_bytes().as_slice()],
        )
        .await?;
    Ok(id)
}
