//! [`PgStore`]: the relay's storage in PostgreSQL (`relay serve --store
//! postgres://…`), for deployments with several relay processes on one
//! database (docs/POSTGRES.md).
//!
//! - The tables (`migrations/`, numbered, applied as the store opens under
//!   an advisory lock) hold what the redb files hold: the registry, every
//!   journal as a snapshot and the changes appended after it, files, and
//!   sync health.
//! - Each relay keeps the journals its devices use loaded in memory, as the
//!   redb store does. What another relay stored reaches it through the
//!   table, in order: changes of a journal are numbered under a lock of the
//!   journal's row, so "every change below N" is a fact a relay can read
//!   ([`journals`]). Each round of a session reads that number first.
//! - A change is acknowledged only after its transaction committed, with
//!   `synchronous_commit` on for every connection.
//! - Other relays learn of a stored change at once through `NOTIFY`
//!   ([`news`]), and tell their sessions, as the redb store's own sessions
//!   are told.
//! - The relay's key is not kept here: each relay has a copy in its data
//!   folder, and the database keeps only its certificate's fingerprint, so
//!   that a relay with another key refuses to serve ([`PgStore::adopt_key`]).
//!
//! The driver is async (`tokio-postgres`, pooled by `deadpool-postgres`,
//! statements prepared once per connection); the [`RelayStore`] methods
//! block, as its callers expect, on a small runtime of the store's own.

mod journals;
mod news;
mod registry;
mod schema;

use std::future::Future;
use std::sync::Arc;

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use sync_core::ActivityId;
use sync_core::files::FileHash;
use sync_core::store::{FileDescription, ReceiveChunkError, StoredFile};
use sync_core::sync::{Batch, DeviceHealth, JournalGrant, Received, StorageFailure};
use tokio::sync::broadcast;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{NoTls, Socket};
use uuid::Uuid;

use super::bookkeeping::Bookkeeping;
use super::copy::CopyError;
use super::{EnrolRequest, OpenStoreError, RelayStore};
use crate::limits::{
    DATABASE_CONNECT_TIMEOUT, DATABASE_POOL_WAIT, DATABASE_STATEMENT_TIMEOUT,
    MAX_DATABASE_CONNECTIONS,
};
use crate::registry::{Centre, Device, RegistryAdmin, RegistryError, RegistryRows};
use crate::tls::Fingerprint;

pub use news::FROM_ANOTHER_RELAY;
pub use schema::LATEST_VERSION as LATEST_SCHEMA_VERSION;

/// How a serving relay's connections name themselves to PostgreSQL (what
/// `relay migrate-store` looks for before it copies).
pub(crate) const SERVING_APPLICATION: &str = "krc-relay";

/// How the admin commands' and tools' connections name themselves.
const TOOL_APPLICATION: &str = "krc-relay-tool";

/// What devices read when the relay cannot reach its database.
pub const DATABASE_UNREACHABLE_MESSAGE: &str = "the office server cannot reach its database \
     just now; everything is kept on this computer and will be sent later, by itself";

/// Why the PostgreSQL store could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("the database address is not one the relay can use: {0}")]
    Address(String),
    #[error("cannot reach the relay's database: {0}")]
    Unreachable(String),
    #[error("the relay's database refused: {0}")]
    Refused(String),
    #[error("the relay's database holds what this relay cannot read: {0}")]
    Damaged(String),
    #[error(
        "the relay's database was set up by a newer relay (its tables are at version {found}, \
         this relay knows up to {known}): upgrade this relay"
    )]
    Newer { found: i32, known: i32 },
    #[error("cannot set up TLS to the database: {0}")]
    Tls(String),
}

impl DbError {
    /// The database cannot be reached now; the same work succeeds later.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DbError::Unreachable(_))
    }

    /// The failure as a sync session reports it: an unreachable database in
    /// plain words, with the promise devices rely on.
    pub(crate) fn failure(self) -> StorageFailure {
        if self.is_unreachable() {
            StorageFailure::Unavailable(DATABASE_UNREACHABLE_MESSAGE)
        } else {
            StorageFailure::local(self)
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No answer from the server: the connection failed or closed.
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            return DbError::Unreachable(match cause {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            });
        };
        let code = db.code().code();
        // 08: connection exception; 57P: the server is shutting down or
        // starting; 53: out of resources (too many connections, disk full);
        // 57014: a statement ran past DATABASE_STATEMENT_TIMEOUT (a stuck
        // or overloaded server, which answers again later).
        let words = format!("{} ({code})", db.message());
        let out_of_reach = ["08", "57P", "53", "57014"];
        if out_of_reach.iter().any(|class| code.starts_with(class)) {
            DbError::Unreachable(words)
        } else {
            DbError::Refused(words)
        }
    }
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        match e {
            // No connection could be made (or remade): whatever the
            // server said, the database is out of reach for now.
            PoolError::Backend(e) => DbError::Unreachable(match e.as_db_error() {
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => DbError::from(e).to_string(),
            }),
            PoolError::Timeout(_) => DbError::Unreachable(format!(
                "no connection to it came within {DATABASE_POOL_WAIT:?}"
            )),
            other => DbError::Unreachable(other.to_string()),
        }
    }
}

/// How the relay talks to its database: plain TCP, or TLS checked against
/// the system's certificate authorities (`sslmode=require` in the address).
#[derive(Clone)]
enum DbTls {
    Plain,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The connection pool and the runtime its connections run on.
pub(crate) struct Db {
    /// `None` only while dropping (see `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    config: tokio_postgres::Config,
    tls: DbTls,
}

impl Db {
    fn connect(url: &str, application: &str) -> Result<Db, DbError> {
        let (url, root_cert) = take_root_cert(url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::Address(e.to_string()))?;
        config
            .application_name(application)
            .connect_timeout(DATABASE_CONNECT_TIMEOUT)
            // The promise: a commit the relay acknowledges is on disk.
            .options(format!(
                "-c synchronous_commit=on -c statement_timeout={}",
                DATABASE_STATEMENT_TIMEOUT.as_millis()
            ));
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => {
                DbTls::Rustls(rustls_connector(root_cert.as_deref())?)
            }
            _ => DbTls::Plain,
        };
        let manager = |tls: &DbTls| {
            let settings = ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            };
            match tls.clone() {
                DbTls::Plain => Manager::from_config(config.clone(), NoTls, settings),
                DbTls::Rustls(tls) => Manager::from_config(config.clone(), tls, settings),
            }
        };
        let pool = Pool::builder(manager(&tls))
            .max_size(MAX_DATABASE_CONNECTIONS)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(DATABASE_POOL_WAIT))
            .create_timeout(Some(DATABASE_CONNECT_TIMEOUT))
            .recycle_timeout(Some(DATABASE_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| DbError::Address(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("relay-database")
            .enable_all()
            .build()
            .map_err(|e| DbError::Unreachable(format!("cannot start its runtime: {e}")))?;
        Ok(Db {
            runtime: Some(runtime),
            pool,
            config,
            tls,
        })
    }

    /// Runs database work to its end on the calling (blocking) thread.
    fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime().block_on(work)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        Ok(self.pool.get().await?)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // A runtime must not be dropped where blocking is not allowed (a
        // test's async body): its threads are told to stop, not joined.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The address without its `sslrootcert=FILE` (libpq's name for it, which
/// tokio-postgres does not take), and that file: the authority that signed
/// the database's certificate (an office's own), trusted instead of the
/// system's.
fn take_root_cert(url: &str) -> Result<(String, Option<std::path::PathBuf>), DbError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut root_cert = None;
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "sslrootcert" {
            root_cert = Some(std::path::PathBuf::from(value.into_owned()));
        } else {
            kept.append_pair(&key, &value);
        }
    }
    let kept = kept.finish();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{kept}")
    };
    Ok((url, root_cert))
}

/// The authorities in the PEM file `path`.
fn root_certs_in(path: &std::path::Path) -> Result<rustls::RootCertStore, DbError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let unreadable = |e: &dyn std::fmt::Display| {
        DbError::Tls(format!("cannot read the authority {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    Ok(roots)
}

/// The system's certificate authorities.
fn system_roots() -> Result<rustls::RootCertStore, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // One unreadable certificate of the system's does not stop the rest.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(DbError::Tls(
            "this system has no certificate authorities to check the database's certificate \
             with (Debian: install ca-certificates)"
                .into(),
        ));
    }
    Ok(roots)
}

/// TLS to the database through rustls, trusting the authority in
/// `root_cert` when given, else the system's.
fn rustls_connector(
    root_cert: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let roots = match root_cert {
        Some(path) => root_certs_in(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Connects one connection outside the pool (the news listener's).
async fn connect_one<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<Socket, T::Stream>,
    ),
    DbError,
>
where
    T: MakeTlsConnect<Socket>,
{
    Ok(config.connect(tls).await?)
}

/// The relay's storage in PostgreSQL.
pub struct PgStore {
    db: Arc<Db>,
    office_centre: Uuid,
    journals: journals::PgJournals,
    notes: Bookkeeping,
    /// This process, as its notifications name it (so it ignores its own).
    instance: Uuid,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`,
    /// `?sslmode=require` for TLS) and brings its tables to this relay's
    /// version, making them on first use.
    pub fn connect(url: &str) -> Result<PgStore, OpenStoreError> {
        PgStore::connect_as(url, SERVING_APPLICATION)
    }

    /// [`PgStore::connect`] for an admin command or a tool, which a running
    /// relay's connections are told from.
    pub fn connect_tool(url: &str) -> Result<PgStore, OpenStoreError> {
        PgStore::connect_as(url, TOOL_APPLICATION)
    }

    fn connect_as(url: &str, application: &str) -> Result<PgStore, OpenStoreError> {
        let db = Arc::new(Db::connect(url, application)?);
        let office_centre = db.block_on(async {
            let mut client = db.client().await?;
            schema::migrate(&mut client).await
        })?;
        Ok(PgStore {
            db,
            office_centre,
            journals: journals::PgJournals::default(),
            notes: Bookkeeping::default(),
            instance: Uuid::new_v4(),
        })
    }

    /// The version the database's tables are at.
    pub fn schema_version(&self) -> Result<i32, DbError> {
        self.db.block_on(async {
            let client = self.db.client().await?;
            schema::version(&client).await
        })
    }

    /// The fingerprint of the key the deployment's relays serve with, once
    /// one relay served from this database.
    pub fn deployment_key(&self) -> Result<Option<Fingerprint>, DbError> {
        self.db.block_on(registry::deployment_key(&self.db))
    }

    /// Records `key` as the deployment's key if none is, and refuses one
    /// that differs from it: every relay of a deployment must present the
    /// key devices pinned when they enrolled.
    pub fn adopt_key(&self, key: Fingerprint) -> Result<(), OpenStoreError> {
        let deployment = self.db.block_on(registry::adopt_key(&self.db, key))?;
        if deployment != key {
            return Err(OpenStoreError::OtherKey {
                ours: key,
                deployment,
            });
        }
        Ok(())
    }

    /// Connections of running relays to the database.
    pub fn relays_connected(&self) -> Result<i64, DbError> {
        self.db.block_on(registry::relays_connected(&self.db))
    }

    fn run<T>(&self, work: impl Future<Output = Result<T, DbError>>) -> Result<T, RegistryError> {
        Ok(self.db.block_on(work)?)
    }
}

impl RelayStore for PgStore {
    fn state(&self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        self.journals.state(&self.db, journal)
    }

    fn contains_all(&self, journal: Uuid, hashes: &[ChangeHash]) -> Result<bool, StorageFailure> {
        self.journals.contains_all(&self.db, journal, hashes)
    }

    fn missing(
        &self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.journals
            .missing(&self.db, journal, epoch, known, limit)
    }

    fn batch(
        &self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        self.journals.batch(&self.db, journal, epoch, plan)
    }

    fn apply_durably(
        &self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        let (count, started) = (changes.len(), std::time::Instant::now());
        let stored =
            self.journals
                .apply_durably(&self.db, self.instance, (journal, epoch), changes)?;
        if stored.is_some() {
            crate::telemetry::stored(count, started.elapsed());
        }
        Ok(stored)
    }

    fn erase(&self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        let erased = self.journals.erase_activity(
            &self.db,
            self.instance,
            ActivityId(activity),
            Utc::now(),
        )?;
        if let Some((journal, epoch)) = erased {
            tracing::info!(%activity, %journal, epoch, "erased");
        }
        Ok(erased)
    }

    fn maintain(&self, journal: Uuid) {
        self.journals.maintain(&self.db, journal);
    }

    fn maintain_all(&self) -> usize {
        self.journals.compact_those_due(&self.db)
    }

    fn follow_other_relays(&self, news: broadcast::Sender<(Uuid, u64)>) {
        let (db, instance) = (self.db.clone(), self.instance);
        self.db.runtime().spawn(news::listen(db, instance, news));
    }

    fn attachment_bytes(
        &self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure> {
        self.journals
            .attachment_bytes(&self.db, journal, activity, file)
    }

    fn held_file(
        &self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure> {
        self.db
            .block_on(journals::held_file(&self.db, journal, hash))
            .map_err(DbError::failure)
    }

    fn file_bytes(&self, journal: Uuid) -> Result<u64, StorageFailure> {
        self.db
            .block_on(journals::file_bytes(&self.db, journal))
            .map_err(DbError::failure)
    }

    fn receive_file_chunk(
        &self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure> {
        self.db
            .block_on(journals::receive_file_chunk(
                &self.db, journal, file, number, chunk,
            ))
            .map_err(DbError::failure)
    }

    fn file_chunk(
        &self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure> {
        self.db
            .block_on(journals::file_chunk(&self.db, journal, hash, number))
            .map_err(DbError::failure)
    }

    fn device_by_cert(&self, cert: &Fingerprint) -> Result<Option<Device>, RegistryError> {
        self.run(registry::device_by_cert(&self.db, cert))
    }

    fn grants_for(&self, device: &Device) -> Result<Vec<JournalGrant>, RegistryError> {
        let centres = RegistryAdmin::centres(self)?;
        Ok(crate::registry::grants_of(device, centres))
    }

    fn enrol(&self, request: EnrolRequest<'_>) -> Result<(Device, Centre), RegistryError> {
        self.db.block_on(registry::enrol(&self.db, request))
    }

    fn enrolled_with(
        &self,
        secret: &[u8; 32],
        device: Uuid,
    ) -> Result<Option<(Device, Centre)>, RegistryError> {
        self.db
            .block_on(registry::enrolled_with(&self.db, secret, device))
    }

    fn health(&self) -> Result<Vec<DeviceHealth>, RegistryError> {
        let devices = RegistryAdmin::devices(self)?;
        let mut health: Vec<DeviceHealth> = devices.into_iter().map(Device::health).collect();
        self.notes.overlay(&mut health);
        Ok(health)
    }

    fn note_contact(&self, device: Uuid, at: DateTime<Utc>) {
        self.notes.contact(device, at);
    }

    fn note_unsent(&self, device: Uuid, unsent: Option<u32>) {
        self.notes.unsent(device, unsent);
    }

    fn note_synced(&self, device: Uuid, at: DateTime<Utc>) {
        self.notes.synced(device, at);
    }

    fn flush_notes(&self) -> Result<(), RegistryError> {
        self.notes
            .flush(|notes| self.run(registry::apply_notes(&self.db, notes)))
    }
}

impl super::copy::StoreCopy for PgStore {
    fn registry_rows(&self) -> Result<RegistryRows, CopyError> {
        Ok(self.run(registry::rows(&self.db, self.office_centre))?)
    }

    fn put_registry_rows(&self, rows: &RegistryRows) -> Result<(), CopyError> {
        Ok(self.db.block_on(registry::put_rows(&self.db, rows))?)
    }

    fn journal_ids(&self) -> Result<Vec<Uuid>, CopyError> {
        Ok(self
            .db
            .block_on(journals::journal_ids(&self.db))
            .map_err(DbError::failure)?)
    }

    fn journal_copy(&self, journal: Uuid) -> Result<(u32, sync_core::Journal), CopyError> {
        Ok(self.journals.copy_of(&self.db, journal)?)
    }

    fn put_journal_copy(
        &self,
        journal: Uuid,
        epoch: u32,
        copy: &sync_core::Journal,
    ) -> Result<(), CopyError> {
        Ok(self
            .db
            .block_on(journals::put_copy(&self.db, journal, epoch, copy))
            .map_err(DbError::failure)?)
    }

    fn files_of(&self, journal: Uuid) -> Result<Vec<StoredFile>, CopyError> {
        Ok(self
            .db
            .block_on(journals::files_of(&self.db, journal))
            .map_err(DbError::failure)?)
    }

    fn is_empty(&self) -> Result<bool, CopyError> {
        Ok(self
            .db
            .block_on(registry::is_empty(&self.db, self.office_centre))
            .map_err(DbError::failure)?)
    }
}

impl RegistryAdmin for PgStore {
    fn office_centre(&self) -> Uuid {
        self.office_centre
    }

    fn add_centre(&self, name: &str, now: DateTime<Utc>) -> Result<Centre, RegistryError> {
        self.db.block_on(registry::add_centre(&self.db, name, now))
    }

    fn set_municipality(
        &self,
        id: Uuid,
        municipality: Option<&str>,
    ) -> Result<Centre, RegistryError> {
        self.db
            .block_on(registry::set_municipality(&self.db, id, municipality))
    }

    fn centres(&self) -> Result<Vec<Centre>, RegistryError> {
        self.run(registry::centres(&self.db))
    }

    fn centre(&self, id: Uuid) -> Result<Centre, RegistryError> {
        self.run(registry::centre(&self.db, id))?
            .ok_or(RegistryError::UnknownCentre(id))
    }

    fn new_enrol_secret(
        &self,
        centre: Option<Uuid>,
        valid_until: DateTime<Utc>,
    ) -> Result<[u8; 32], RegistryError> {
        let (centre, office) = match centre {
            Some(id) => (RegistryAdmin::centre(self, id)?.id, false),
            None => (self.office_centre, true),
        };
        let secret = crate::registry::new_secret()?;
        self.run(registry::add_code(
            &self.db,
            &secret,
            (centre, office),
            valid_until,
        ))?;
        Ok(secret)
    }

    fn devices(&self) -> Result<Vec<Device>, RegistryError> {
        self.run(registry::devices(&self.db))
    }

    fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> Result<Device, RegistryError> {
        self.run(registry::revoke(&self.db, id, now))?
            .ok_or(RegistryError::UnknownDevice(id))
    }
}
