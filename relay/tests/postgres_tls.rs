#![cfg(unix)]

//! TLS to the relay's database (`?sslmode=require`): the tests' PostgreSQL
//! server is given a certificate signed by an authority made here, and the
//! relay, told that authority (`sslrootcert=`), connects over TLS, as the
//! server itself reports; an authority that did not sign the server's
//! certificate is refused.
//!
//! Needs the tests' PostgreSQL server (`KRC_TEST_POSTGRES`, which `.ci/test`
//! starts): without it this test fails, saying so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use relay::store::PgStore;
use uuid::Uuid;

/// Longest wait for the server to take its new settings (a reload is
/// asynchronous); it takes milliseconds.
const RELOAD_WITHIN: Duration = Duration::from_secs(30);

fn server() -> String {
    std::env::var("KRC_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "no PostgreSQL server for the tests: run them with .ci/test, which starts a \
             throwaway one, or start one with .ci/postgres and set KRC_TEST_POSTGRES \
             (docs/TESTING.md)"
        )
    })
}

/// Runs `work` on a plain connection to `url`.
fn with_client<T>(url: &str, work: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the tests' PostgreSQL: {e}"));
        let driving = tokio::spawn(connection);
        let out = work(&client).await;
        drop(client);
        let _ = driving.await;
        out
    })
}

/// Each statement on its own (ALTER SYSTEM refuses a transaction block).
fn run_each(url: &str, statements: &[String]) {
    with_client(url, async |c| {
        for sql in statements {
            c.batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    });
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = data_encoding::BASE64.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// An authority: its certificate (PEM) and what signs with it.
fn authority(name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params
        .self_signed(&key)
        .expect("the authority's certificate");
    (
        pem("CERTIFICATE", cert.der()),
        rcgen::Issuer::new(params, key),
    )
}

/// Writes `text` to `path`, owned by the database server's user (who must
/// read it) and readable by it alone.
fn write_for_server(path: &Path, text: &str, owner: (u32, u32)) {
    std::fs::write(path, text).expect("write a file for the server");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1)).expect("chown");
}

/// Puts the server on TLS with a certificate for 127.0.0.1 signed by
/// `issuer`, and back off TLS when dropped.
struct ServerTls {
    server: String,
}

impl ServerTls {
    fn on(server: &str, folder: &Path, issuer: &rcgen::Issuer<'static, rcgen::KeyPair>) -> Self {
        let data_dir: String = with_client(server, async |c| {
            c.query_one("SHOW data_directory", &[])
                .await
                .expect("SHOW")
                .get(0)
        });
        let meta = std::fs::metadata(&data_dir).expect("the server's folder");
        let owner = (meta.uid(), meta.gid());
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let key = rcgen::KeyPair::generate().expect("a key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
        let cert = params
            .signed_by(&key, issuer)
            .expect("the server's certificate");
        let (cert_file, key_file) = (folder.join("server.crt"), folder.join("server.key"));
        write_for_server(&cert_file, &pem("CERTIFICATE", cert.der()), owner);
        write_for_server(&key_file, &pem("PRIVATE KEY", &key.serialize_der()), owner);
        let set = [
            format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert_file.display()),
            format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_file.display()),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ];
        run_each(server, &set);
        let started = Instant::now();
        while with_client(server, async |c| {
            let on: String = c.query_one("SHOW ssl", &[]).await.expect("SHOW").get(0);
            on != "on"
        }) {
            assert!(
                started.elapsed() < RELOAD_WITHIN,
                "the server did not take TLS on"
            );
            // The poll interval of a bounded wait: a reload gives no event.
            std::thread::sleep(Duration::from_millis(20));
        }
        ServerTls {
            server: server.to_owned(),
        }
    }
}

impl Drop for ServerTls {
    fn drop(&mut self) {
        let reset = [
            "ALTER SYSTEM RESET ssl",
            "ALTER SYSTEM RESET ssl_cert_file",
            "ALTER SYSTEM RESET ssl_key_file",
            "SELECT pg_reload_conf()",
        ]
        .map(str::to_owned);
        run_each(&self.server, &reset);
    }
}

#[test]
fn the_relay_talks_tls_to_its_database_and_refuses_a_certificate_its_authority_did_not_sign() {
    let server = server();
    let folder = tempfile::tempdir().expect("a folder");
    let (office_ca, issuer) = authority("KRC office database authority");
    let (stranger_ca, _) = authority("Somebody else");
    let _tls = ServerTls::on(&server, folder.path(), &issuer);
    let office_ca_file = folder.path().join("office-ca.pem");
    let stranger_ca_file = folder.path().join("stranger-ca.pem");
    std::fs::write(&office_ca_file, office_ca).expect("write the authority");
    std::fs::write(&stranger_ca_file, stranger_ca).expect("write the other authority");

    let name = format!("krc_tls_{}", Uuid::new_v4().simple());
    with_client(&server, async |c| {
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("a database")
    });
    let (base, _) = server.rsplit_once('/').expect("an address with a database");
    let address = |ca: &Path| format!("{base}/{name}?sslmode=require&sslrootcert={}", ca.display());

    let store = PgStore::connect_tool(&address(&office_ca_file)).expect("connected over TLS");
    let (tls, plain): (i64, i64) = with_client(&server, async |c| {
        let row = c
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = $1 AND a.application_name = 'krc-relay-tool'",
                &[&name],
            )
            .await
            .expect("the server's view of its connections");
        (row.get(0), row.get(1))
    });
    assert!(tls > 0 && plain == 0, "{tls} over TLS, {plain} plain");
    drop(store);

    let refused = PgStore::connect_tool(&address(&stranger_ca_file))
        .expect_err("a certificate the authority did not sign is refused");
    let said = refused.to_string();
    assert!(said.contains("cannot reach the relay's database"), "{said}");
}
