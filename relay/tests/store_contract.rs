//! One suite, two stores: what sessions rely on from the relay's storage
//! boundary (`RelayStore`), run against the redb store and the PostgreSQL
//! store alike. Registry rules, stored changes by epoch, file chunks in
//! order and checked whole, erasure, sync health.
//!
//! The PostgreSQL half needs the tests' server (`KRC_TEST_POSTGRES`, which
//! `.ci/test` starts): without it these tests fail, saying so.

mod common;

use chrono::{Duration, Utc};
use relay::registry::{RegistryAdmin, RegistryError};
use relay::store::{EnrolRequest, PgStore, RedbStore, RelayStore};
use relay::tls::Fingerprint;
use sha2::{Digest, Sha256};
use sync_core::files::FileHash;
use sync_core::limits::FILE_CHUNK_BYTES;
use sync_core::store::{FileDescription, ReceiveChunkError};
use sync_core::{ActivityId, Journal};
use uuid::Uuid;

/// A store of each kind, with its registry as the admin commands see it.
enum Backend {
    Redb {
        dir: tempfile::TempDir,
        store: RedbStore,
    },
    Postgres {
        url: String,
        store: PgStore,
    },
}

impl Backend {
    fn redb() -> Backend {
        let dir = tempfile::tempdir().expect("a folder");
        let store = RedbStore::open(dir.path()).expect("the store");
        Backend::Redb { dir, store }
    }

    fn postgres() -> Backend {
        let url = fresh_database();
        let store = PgStore::connect(&url).expect("the PostgreSQL store");
        Backend::Postgres { url, store }
    }

    fn both() -> [Backend; 2] {
        [Backend::redb(), Backend::postgres()]
    }

    fn store(&self) -> &dyn RelayStore {
        match self {
            Backend::Redb { store, .. } => store,
            Backend::Postgres { store, .. } => store,
        }
    }

    /// The same store opened afresh, as after a restart (nothing in memory).
    fn reopened(self) -> Backend {
        match self {
            Backend::Redb { dir, store } => {
                drop(store);
                let store = RedbStore::open(dir.path()).expect("the store again");
                Backend::Redb { dir, store }
            }
            Backend::Postgres { url, store } => {
                drop(store);
                let store = PgStore::connect(&url).expect("the PostgreSQL store again");
                Backend::Postgres { url, store }
            }
        }
    }

    fn admin(&self) -> &dyn RegistryAdmin {
        match self {
            Backend::Redb { store, .. } => store.registry(),
            Backend::Postgres { store, .. } => store,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Redb { .. } => "redb",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

/// A new database on the tests' PostgreSQL server; its address.
fn fresh_database() -> String {
    let server = std::env::var("KRC_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "no PostgreSQL server for the tests: run them with .ci/test, which starts a \
             throwaway one, or start one with .ci/postgres and set KRC_TEST_POSTGRES \
             (docs/TESTING.md)"
        )
    });
    let name = format!("krc_contract_{}", Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the tests' PostgreSQL: {e}"));
        let driving = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("a new database");
        drop(client);
        let _ = driving.await;
    });
    let (base, _) = server.rsplit_once('/').expect("an address with a database");
    format!("{base}/{name}")
}

fn enrol(backend: &Backend, centre: Option<Uuid>, cert: u8) -> Result<Uuid, RegistryError> {
    let secret = backend
        .admin()
        .new_enrol_secret(centre, Utc::now() + Duration::hours(1))?;
    let device = Uuid::new_v4();
    let request = EnrolRequest {
        secret: &secret,
        device,
        name: "  Zāles dators  ",
        cert: Fingerprint([cert; 32]),
        now: Utc::now(),
    };
    backend.store().enrol(request).map(|(d, _)| d.id)
}

/// The journal as the store holds it, rebuilt from what it would send.
fn held(store: &dyn RelayStore, centre: Uuid) -> Journal {
    let (epoch, _) = store.state(centre).expect("state");
    let plan = store
        .missing(centre, epoch, &[], usize::MAX)
        .expect("missing")
        .expect("the same epoch");
    let mut doc = sync_core::journal::genesis();
    let mut left = plan.as_slice();
    while !left.is_empty() {
        let batch = store
            .batch(centre, epoch, left)
            .expect("batch")
            .expect("the same epoch");
        match (batch.listed, batch.bundle) {
            (Some(changes), _) => doc.apply_changes(changes).expect("apply"),
            (None, Some(bundle)) => {
                doc.load_incremental(&bundle).expect("load");
            }
            (None, None) => panic!("an empty batch"),
        }
        left = &left[batch.changes.len()..];
    }
    Journal::from_doc(doc).expect("a journal")
}

#[test]
fn the_registry_keeps_its_rules_on_both_stores() {
    for backend in Backend::both() {
        let name = backend.name();
        let admin = backend.admin();
        let centre = admin.add_centre(" Rēzeknes KRC ", Utc::now()).expect(name);
        assert_eq!(centre.name, "Rēzeknes KRC", "{name}");
        assert!(
            matches!(
                admin.add_centre("rēzeknes krc", Utc::now()),
                Err(RegistryError::DuplicateCentre(_))
            ),
            "{name}: ASCII case aside, a name is taken once"
        );
        assert!(matches!(
            admin.add_centre("  ", Utc::now()),
            Err(RegistryError::EmptyName)
        ));
        let with = admin
            .set_municipality(centre.id, Some(" Rēzeknes novads "))
            .expect(name);
        assert_eq!(
            with.municipality.as_deref(),
            Some("Rēzeknes novads"),
            "{name}"
        );

        let device = enrol(&backend, Some(centre.id), 1).expect(name);
        let found = backend
            .store()
            .device_by_cert(&Fingerprint([1; 32]))
            .expect(name)
            .expect("enrolled");
        assert_eq!(
            (found.id, found.centre, found.office),
            (device, centre.id, false)
        );
        assert_eq!(found.name, "Zāles dators", "{name}: trimmed");
        let grants = backend.store().grants_for(&found).expect(name);
        assert_eq!(
            grants.len(),
            1,
            "{name}: a centre's device syncs its own journal only"
        );
        assert_eq!(grants[0].municipality, "Rēzeknes novads");

        enrol(&backend, None, 2).expect(name);
        let office = backend
            .store()
            .device_by_cert(&Fingerprint([2; 32]))
            .expect(name)
            .expect("enrolled");
        assert!(office.office);
        assert_eq!(
            backend.store().grants_for(&office).expect(name).len(),
            admin.centres().expect(name).len(),
            "{name}: the office syncs every centre's journal"
        );

        // A code once; an expired one never; a certificate once.
        let secret = admin
            .new_enrol_secret(Some(centre.id), Utc::now() + Duration::hours(1))
            .expect(name);
        let request = |device, cert| EnrolRequest {
            secret: &secret,
            device,
            name: "x",
            cert: Fingerprint([cert; 32]),
            now: Utc::now(),
        };
        let third = Uuid::new_v4();
        backend.store().enrol(request(third, 3)).expect(name);
        assert!(matches!(
            backend.store().enrol(request(Uuid::new_v4(), 4)),
            Err(RegistryError::UsedCode)
        ));
        let again = backend
            .store()
            .enrolled_with(&secret, third)
            .expect(name)
            .expect("its own enrolment");
        assert_eq!(again.0.id, third);
        assert!(
            backend
                .store()
                .enrolled_with(&secret, device)
                .expect(name)
                .is_none()
        );
        let expired = admin
            .new_enrol_secret(Some(centre.id), Utc::now() - Duration::seconds(1))
            .expect(name);
        let late = EnrolRequest {
            secret: &expired,
            device: Uuid::new_v4(),
            name: "x",
            cert: Fingerprint([5; 32]),
            now: Utc::now(),
        };
        assert!(matches!(
            backend.store().enrol(late),
            Err(RegistryError::ExpiredCode)
        ));
        assert!(matches!(
            enrol(&backend, Some(centre.id), 1),
            Err(RegistryError::AlreadyEnrolled)
        ));

        // Revoked, and its health noted and written.
        admin.revoke(device, Utc::now()).expect(name);
        let revoked = backend
            .store()
            .device_by_cert(&Fingerprint([1; 32]))
            .expect(name)
            .expect("still listed");
        assert!(revoked.revoked_at.is_some(), "{name}");
        let seen = Utc::now();
        backend.store().note_synced(office.id, seen);
        backend.store().flush_notes().expect(name);
        let health = backend.store().health().expect(name);
        let office_health = health.iter().find(|h| h.device == office.id).expect(name);
        assert_eq!(office_health.unsent, Some(0), "{name}");
        assert!(office_health.last_synced.is_some(), "{name}");
        assert!(
            health.iter().any(|h| h.device == device && h.revoked),
            "{name}"
        );
    }
}

#[test]
fn changes_are_stored_by_epoch_and_an_erasure_starts_the_next() {
    for backend in Backend::both() {
        let name = backend.name();
        let store = backend.store();
        let centre = backend
            .admin()
            .add_centre("Ludzas KRC", Utc::now())
            .expect(name)
            .id;
        let (epoch, heads) = store.state(centre).expect(name);
        assert_eq!(epoch, 0, "{name}");
        let ids = common::record(store, centre);
        let (_, after) = store.state(centre).expect(name);
        assert_ne!(after, heads, "{name}: the heads moved");
        assert!(store.contains_all(centre, &after).expect(name), "{name}");
        assert!(
            store.missing(centre, 7, &[], 10).expect(name).is_none(),
            "{name}: another epoch is not this journal"
        );
        let journal = held(store, centre);
        for id in &ids {
            assert!(
                journal.contains(*id).expect("read"),
                "{name}: {id:?} stored"
            );
        }

        let (erased_from, new_epoch) = store
            .erase(ids[0].0)
            .expect(name)
            .expect("a journal holds it");
        assert_eq!((erased_from, new_epoch), (centre, 1), "{name}");
        assert_eq!(store.state(centre).expect(name).0, 1, "{name}");
        let journal = held(store, centre);
        assert!(!journal.contains(ids[0]).expect("read"), "{name}: erased");
        assert!(
            journal.contains(ids[1]).expect("read"),
            "{name}: the others kept"
        );
        assert!(
            store.erase(ids[0].0).expect(name).is_none(),
            "{name}: no journal holds it any more"
        );
        let unknown = ActivityId::new_random();
        assert!(store.erase(unknown.0).expect(name).is_none(), "{name}");
        assert!(
            store
                .apply_durably(centre, 0, Vec::new().into())
                .expect(name)
                .is_none(),
            "{name}: a batch of the old epoch is not stored"
        );
    }
}

/// A minimal PDF of `len` bytes (a file that may be attached).
fn pdf(len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.resize(len - 7, b' ');
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

#[test]
fn file_chunks_come_in_order_at_their_size_and_the_whole_file_is_checked() {
    for backend in Backend::both() {
        let name = backend.name();
        let store = backend.store();
        let centre = backend
            .admin()
            .add_centre("Balvu KRC", Utc::now())
            .expect(name)
            .id;
        store.state(centre).expect(name);
        let bytes = pdf(FILE_CHUNK_BYTES + 1000);
        let file = FileDescription {
            hash: FileHash(Sha256::digest(&bytes).into()),
            bytes: bytes.len() as u64,
        };
        let (first, second) = bytes.split_at(FILE_CHUNK_BYTES);
        let receive = |number, chunk: &[u8]| {
            store
                .receive_file_chunk(centre, file, number, chunk)
                .expect(name)
        };
        assert!(matches!(
            receive(1, second),
            Err(ReceiveChunkError::OutOfOrder { .. })
        ));
        assert!(matches!(
            receive(0, second),
            Err(ReceiveChunkError::WrongSize { .. })
        ));
        assert!(
            store.held_file(centre, file.hash).expect(name).is_none(),
            "{name}: a refused chunk keeps nothing"
        );
        let part = receive(0, first).expect("the first chunk");
        assert_eq!(part.chunks_held, 1);
        assert_eq!(receive(0, first).expect("again").chunks_held, 1, "{name}");
        let whole = receive(1, second).expect("the last chunk");
        assert!(whole.is_whole() && whole.media_type.is_some(), "{name}");
        assert_eq!(store.file_bytes(centre).expect(name), file.bytes);
        let mut read = store
            .file_chunk(centre, file.hash, 0)
            .expect(name)
            .expect("held");
        read.extend(
            store
                .file_chunk(centre, file.hash, 1)
                .expect(name)
                .expect("held"),
        );
        assert_eq!(read, bytes, "{name}");
        assert!(
            store
                .file_chunk(centre, file.hash, 2)
                .expect(name)
                .is_none()
        );

        // Bytes that are not the file named: nothing of them is kept.
        let liar = FileDescription {
            hash: FileHash([9; 32]),
            bytes: 1000,
        };
        let refused = store
            .receive_file_chunk(centre, liar, 0, &pdf(1000))
            .expect(name);
        assert!(
            matches!(refused, Err(ReceiveChunkError::NotTheFile(_))),
            "{name}"
        );
        assert!(
            store.held_file(centre, liar.hash).expect(name).is_none(),
            "{name}"
        );
        let too_large = FileDescription {
            hash: FileHash([8; 32]),
            bytes: u64::MAX,
        };
        assert!(matches!(
            store
                .receive_file_chunk(centre, too_large, 0, b"x")
                .expect(name),
            Err(ReceiveChunkError::TooLarge { .. })
        ));
    }
}

#[test]
fn a_journal_compacted_as_the_store_starts_keeps_every_change() {
    for backend in Backend::both() {
        let name = backend.name();
        let centre = backend
            .admin()
            .add_centre("Preiļu KRC", Utc::now())
            .expect(name)
            .id;
        // Enough stored changes for a compaction to be due.
        let batches = sync_core::limits::COMPACT_AFTER_CHANGES as usize / common::PER_CENTRE + 1;
        let mut ids = Vec::new();
        for _ in 0..batches {
            ids.extend(common::record(backend.store(), centre));
        }
        let heads = backend.store().state(centre).expect(name).1;
        let backend = backend.reopened();
        assert_eq!(
            backend.store().maintain_all(),
            1,
            "{name}: one journal was due"
        );
        assert_eq!(backend.store().maintain_all(), 0, "{name}: and is no more");
        let backend = backend.reopened();
        assert_eq!(
            backend.store().state(centre).expect(name).1,
            heads,
            "{name}"
        );
        let journal = held(backend.store(), centre);
        assert_eq!(
            journal.activities().expect("read").len(),
            ids.len(),
            "{name}"
        );
    }
}

/// Batches each of two relays stores into one journal at once.
const BATCHES_EACH: usize = 100;

#[test]
fn two_relays_storing_into_one_journal_at_once_while_one_compacts_lose_nothing() {
    let url = fresh_database();
    let first = PgStore::connect(&url).expect("the first relay's store");
    let second = PgStore::connect(&url).expect("the second relay's store");
    let centre = RegistryAdmin::add_centre(&first, "Dagdas KRC", Utc::now())
        .expect("a centre")
        .id;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (ids, compactions) = std::thread::scope(|scope| {
        let storing = [&first, &second].map(|store| {
            scope.spawn(move || {
                (0..BATCHES_EACH)
                    .flat_map(|_| common::record(store, centre))
                    .collect::<Vec<_>>()
            })
        });
        // The first relay compacts whenever due, while both store.
        let compacting = scope.spawn(|| {
            let mut compactions = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                compactions += first.maintain_all();
            }
            compactions
        });
        let stored: Vec<_> = storing.into_iter().map(|s| s.join()).collect();
        // Told before a failure is reported, or the compacting loop waits on.
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let compactions = compacting.join().expect("compactions");
        let ids: Vec<ActivityId> = stored
            .into_iter()
            .flat_map(|s| s.expect("a relay stored"))
            .collect();
        (ids, compactions)
    });
    assert!(compactions > 0, "a compaction ran while both stored");
    // Each relay, and one started afresh, hold every change of both.
    let fresh = PgStore::connect(&url).expect("a third relay's store");
    let heads = fresh.state(centre).expect("state").1;
    for store in [&first, &second, &fresh] {
        assert_eq!(store.state(centre).expect("state").1, heads);
        let journal = held(store, centre);
        assert_eq!(journal.activities().expect("read").len(), ids.len());
        for id in &ids {
            assert!(journal.contains(*id).expect("read"), "{id:?} kept");
        }
    }
}
