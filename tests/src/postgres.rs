//! The PostgreSQL server the tests use: a throwaway cluster `.ci/postgres`
//! starts, whose address `.ci/test` exports as `KRC_TEST_POSTGRES`. Each
//! relay a test starts on PostgreSQL gets a new database of its own on it.
//!
//! Tests that need PostgreSQL fail loudly without it: they never skip.

use std::sync::OnceLock;

use uuid::Uuid;

/// The variable holding the server's address (`postgres://…/postgres`).
pub const SERVER_VAR: &str = "KRC_TEST_POSTGRES";

/// The variable that puts every relay of the end-to-end tests on
/// PostgreSQL (`KRC_TEST_RELAY_STORE=postgres`): `.ci/test` runs the sync
/// tests once on each store.
pub const STORE_VAR: &str = "KRC_TEST_RELAY_STORE";

/// The tests' PostgreSQL server; panics, saying how to get one, without it.
pub fn server() -> String {
    std::env::var(SERVER_VAR).unwrap_or_else(|_| {
        panic!(
            "no PostgreSQL server for the tests: run them with .ci/test, which starts a \
             throwaway one, or start one with .ci/postgres and set {SERVER_VAR} to the address \
             it prints (docs/TESTING.md)"
        )
    })
}

/// True when this run puts the end-to-end tests' relays on PostgreSQL.
pub fn relays_on_postgres() -> bool {
    match std::env::var(STORE_VAR).as_deref() {
        Ok("postgres") => true,
        Ok("redb") | Err(_) => false,
        Ok(other) => panic!("{STORE_VAR}={other}: write postgres or redb"),
    }
}

/// The store a new relay of the end-to-end tests gets: a fresh database
/// when they run on PostgreSQL, else none (its data folder).
pub fn store_for_new_relay() -> Option<String> {
    relays_on_postgres().then(fresh_database)
}

/// A new, empty database on the tests' server; its address.
pub fn fresh_database() -> String {
    let server = server();
    let name = format!("krc_test_{}", Uuid::new_v4().simple());
    run(&server, &format!("CREATE DATABASE {name}"));
    with_database(&server, &name)
}

/// Runs `sql` on the database at `url`, to its end.
pub fn run(url: &str, sql: &str) {
    with_client(url, async |client| {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// Runs `work` with a connection to the database at `url`.
fn with_client<T>(url: &str, work: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the tests' PostgreSQL at {url}: {e}"));
        let driving = tokio::spawn(connection);
        let out = work(&client).await;
        drop(client);
        let _ = driving.await;
        out
    })
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (server, _) = url
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{SERVER_VAR}={url} names no database"));
    format!("{server}/{name}")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the tests' database work")
    })
}

/// The bytes of file `hash` of journal `journal` as the relay's database at
/// `url` holds them, if it holds the whole file (its type is known).
pub fn whole_file(url: &str, journal: Uuid, hash: &[u8; 32]) -> Option<Vec<u8>> {
    with_client(url, async |client| {
        let row = client
            .query_opt(
                "SELECT (SELECT string_agg(c.chunk, ''::bytea ORDER BY c.number) \
                 FROM krc_file_chunk c WHERE c.journal = f.journal AND c.hash = f.hash) \
                 FROM krc_file f WHERE f.journal = $1 AND f.hash = $2 \
                 AND f.media_type IS NOT NULL",
                &[&journal, &hash.as_slice()],
            )
            .await
            .unwrap_or_else(|e| panic!("read a file from the relay's database: {e}"));
        row.map(|row| row.get::<_, Vec<u8>>(0))
    })
}

/// True when some row of the relay's database at `url` holds `text` among
/// its bytes: a change, a snapshot or a file's chunk (what an erasure must
/// remove). Rows only: docs/POSTGRES.md says what PostgreSQL keeps
/// elsewhere (its write-ahead log, dead rows before a vacuum, backups).
pub fn rows_hold(url: &str, text: &str) -> bool {
    with_client(url, async |client| {
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM krc_journal_change WHERE position($1 in change) > 0) \
                 OR EXISTS (SELECT 1 FROM krc_journal WHERE position($1 in snapshot) > 0) \
                 OR EXISTS (SELECT 1 FROM krc_file_chunk WHERE position($1 in chunk) > 0)",
                &[&text.as_bytes()],
            )
            .await
            .unwrap_or_else(|e| panic!("search the relay's database: {e}"));
        row.get::<_, bool>(0)
    })
}
