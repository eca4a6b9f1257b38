//! QUIC transport with pinned keys: mutual authentication, pinning failures, identity files.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, ConnectionError, Endpoint};
use relay::tls::{
    self, Fingerprint, FingerprintParseError, Identity, PinnedServerVerifier, SYNC_ALPN, TlsError,
};
use relay::transport::{self, TransportError};

const LOCALHOST: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

fn relay_endpoint(identity: &Identity) -> Endpoint {
    let config = tls::server_config(identity).expect("server config");
    transport::server_endpoint(config, LOCALHOST).expect("server endpoint")
}

fn addr(endpoint: &Endpoint) -> SocketAddr {
    endpoint.local_addr().expect("local address")
}

/// Accepts the next incoming connection and waits for its handshake.
async fn accept_one(endpoint: &Endpoint) -> Result<Connection, ConnectionError> {
    let incoming = endpoint.accept().await.expect("endpoint still open");
    incoming.await
}

/// Reads the stream to its end with `transport::read_chunk`.
async fn read_to_end(recv: &mut quinn::RecvStream) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(chunk) = transport::read_chunk(recv).await.expect("read") {
        assert!(!chunk.is_empty());
        assert!(chunk.len() <= transport::READ_CHUNK_BYTES);
        all.extend_from_slice(&chunk);
    }
    all
}

#[tokio::test]
async fn pinned_client_and_relay_authenticate_each_other_and_exchange_bytes() {
    let relay_id = Identity::generate("relay").expect("relay identity");
    let device_id = Identity::generate("device").expect("device identity");
    let server = relay_endpoint(&relay_id);
    let relay_addr = addr(&server);

    // Larger than one read chunk and than quinn's initial windows, to exercise flow control.
    let request: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected_request = request.clone();

    let server_task = tokio::spawn(async move {
        let conn = accept_one(&server).await.expect("relay accepts the device");
        let device_fp = tls::peer_fingerprint(&conn);
        let (mut send, mut recv) = conn.accept_bi().await.expect("accept stream");
        let received = read_to_end(&mut recv).await;
        assert_eq!(received, expected_request);
        transport::write_all(&mut send, b"welcome")
            .await
            .expect("reply");
        send.finish().expect("finish");
        // Wait for the device to close, so the reply is surely delivered.
        let closed = conn.closed().await;
        assert!(
            matches!(closed, ConnectionError::ApplicationClosed(_)),
            "{closed}"
        );
        device_fp
    });

    let client = transport::client_endpoint(LOCALHOST).expect("client endpoint");
    let config = tls::client_config(&device_id, relay_id.fingerprint()).expect("client config");
    let conn = transport::connect(&client, config, relay_addr)
        .await
        .expect("device connects to the pinned relay");
    assert_eq!(tls::peer_fingerprint(&conn), Some(relay_id.fingerprint()));

    let (mut send, mut recv) = conn.open_bi().await.expect("open stream");
    transport::write_all(&mut send, &request)
        .await
        .expect("send");
    send.finish().expect("finish");
    assert_eq!(read_to_end(&mut recv).await, b"welcome");
    conn.close(0u32.into(), b"done");

    let seen_by_relay = server_task.await.expect("server task");
    assert_eq!(seen_by_relay, Some(device_id.fingerprint()));
    client.wait_idle().await;
}

#[tokio::test]
async fn client_pinned_to_another_key_refuses_the_relay() {
    let relay_id = Identity::generate("relay").expect("relay identity");
    let other_relay = Identity::generate("impostor").expect("other identity");
    let device_id = Identity::generate("device").expect("device identity");
    let server = relay_endpoint(&relay_id);
    let relay_addr = addr(&server);

    let server_task = tokio::spawn(async move { accept_one(&server).await.err() });

    let client = transport::client_endpoint(LOCALHOST).expect("client endpoint");
    let config = tls::client_config(&device_id, other_relay.fingerprint()).expect("client config");
    let err = transport::connect(&client, config, relay_addr)
        .await
        .expect_err("a relay with another key must be refused");
    let message = err.to_string();
    assert!(
        message.contains("relay's key does not match"),
        "message should explain the key mismatch: {message}"
    );
    let TransportError::RelayKeyMismatch(cause) = &err else {
        panic!("expected a key mismatch, got {err:?}");
    };
    assert!(tls::is_relay_key_mismatch(cause));
    // The details name both keys in full, expected first, for whoever investigates.
    let detail = cause.to_string();
    assert!(
        detail.contains(&format!(
            "expected {}, got {}",
            other_relay.fingerprint().grouped(),
            relay_id.fingerprint().grouped()
        )),
        "{detail}"
    );

    let server_err = server_task.await.expect("server task");
    assert!(server_err.is_some(), "the relay must not see a connection");
}

#[tokio::test]
async fn relay_refuses_a_client_without_a_certificate() {
    let relay_id = Identity::generate("relay").expect("relay identity");
    let server = relay_endpoint(&relay_id);
    let relay_addr = addr(&server);

    let server_task = tokio::spawn(async move { accept_one(&server).await });

    // Everything as a real device does, except that no client certificate is presented.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedServerVerifier::new(
        relay_id.fingerprint(),
        provider.signature_verification_algorithms,
    ));
    let mut tls_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls_config.alpn_protocols = vec![SYNC_ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(Arc::new(tls_config)).expect("QUIC client config");
    let config = quinn::ClientConfig::new(Arc::new(quic));

    let client = transport::client_endpoint(LOCALHOST).expect("client endpoint");
    // In TLS 1.3 the client may finish its side of the handshake before the relay has
    // checked it, so the refusal arrives either as a failed connect or as the connection
    // being closed by the relay right after.
    let client_outcome = match transport::connect(&client, config, relay_addr).await {
        Err(TransportError::Connection(e)) => e,
        Err(TransportError::RelayKeyMismatch(e)) => {
            panic!("the relay's key is the pinned one: {e}")
        }
        Err(other) => panic!("unexpected error: {other:?}"),
        Ok(conn) => conn.closed().await,
    };
    assert!(
        !matches!(
            client_outcome,
            ConnectionError::LocallyClosed | ConnectionError::ApplicationClosed(_)
        ),
        "the relay must close the connection with a handshake error: {client_outcome:?}"
    );
    assert!(!tls::is_relay_key_mismatch(&client_outcome));

    let server_result = server_task.await.expect("server task");
    let server_err = server_result.expect_err("the relay must refuse the device");
    assert!(
        server_err.to_string().contains("no certificates"),
        "{server_err}"
    );
}

#[test]
fn load_or_create_creates_once_then_loads_the_same_identity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let identity_dir = dir.path().join("keys");

    let (first, created) =
        Identity::load_or_create(&identity_dir, "relay", "relay").expect("create identity");
    assert!(created);
    let (second, created_again) =
        Identity::load_or_create(&identity_dir, "relay", "relay").expect("load identity");
    assert!(!created_again);
    assert_eq!(first.fingerprint(), second.fingerprint());
    assert_eq!(first.cert_der(), second.cert_der());

    let loaded = Identity::load(&identity_dir, "relay").expect("load");
    assert_eq!(loaded.fingerprint(), first.fingerprint());

    let key_path = identity_dir.join("relay.key.der");
    let cert_path = identity_dir.join("relay.cert.der");
    assert!(cert_path.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path)
            .expect("key metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode is {mode:o}");
    }
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&identity_dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // A different stem is a different identity.
    let (device, created) =
        Identity::load_or_create(&identity_dir, "device", "device").expect("device identity");
    assert!(created);
    assert_ne!(device.fingerprint(), first.fingerprint());
}

#[test]
fn a_half_missing_identity_is_refused_not_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (original, _) = Identity::load_or_create(dir.path(), "relay", "relay").expect("create");
    let cert_path = dir.path().join("relay.cert.der");
    let cert = std::fs::read(&cert_path).expect("read cert");
    std::fs::remove_file(&cert_path).expect("remove cert");

    let err = Identity::load_or_create(dir.path(), "relay", "relay")
        .expect_err("a lone key must not be replaced");
    assert!(matches!(err, TlsError::Incomplete { .. }), "{err:?}");
    assert!(!cert_path.exists(), "nothing new may be written");

    // Restored from backup, it loads again.
    std::fs::write(&cert_path, &cert).expect("restore cert");
    let (restored, created) = Identity::load_or_create(dir.path(), "relay", "relay").expect("load");
    assert!(!created);
    assert_eq!(restored.fingerprint(), original.fingerprint());
}

#[test]
fn mismatched_or_missing_identity_files_are_typed_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(matches!(
        Identity::load(dir.path(), "relay"),
        Err(TlsError::Missing { .. })
    ));

    Identity::load_or_create(dir.path(), "a", "a").expect("a");
    Identity::load_or_create(dir.path(), "b", "b").expect("b");
    // b's certificate with a's key.
    std::fs::copy(dir.path().join("b.cert.der"), dir.path().join("a.cert.der")).expect("copy");
    let err = Identity::load(dir.path(), "a").expect_err("key and certificate do not match");
    assert!(matches!(err, TlsError::Invalid { .. }), "{err:?}");

    std::fs::write(dir.path().join("b.key.der"), b"not a key").expect("damage key");
    let err = Identity::load(dir.path(), "b").expect_err("damaged key");
    assert!(matches!(err, TlsError::Invalid { .. }), "{err:?}");
}

#[test]
fn fingerprint_display_and_parse_round_trip() {
    let identity = Identity::generate("device").expect("identity");
    let fp = identity.fingerprint();
    let hex = fp.to_string();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(hex.parse::<Fingerprint>(), Ok(fp));
    assert_eq!(fp.short(), hex[..16]);

    let with_colons = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).expect("ascii").to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(with_colons.parse::<Fingerprint>(), Ok(fp));
    assert_eq!(format!("  {hex}\n").parse::<Fingerprint>(), Ok(fp));

    assert_eq!(
        Fingerprint::of_cert_der(identity.cert_der()),
        fp,
        "fingerprint is SHA-256 of the certificate"
    );

    assert_eq!(
        hex[..62].parse::<Fingerprint>(),
        Err(FingerprintParseError::Length(62))
    );
    assert_eq!(
        format!("{hex}00").parse::<Fingerprint>(),
        Err(FingerprintParseError::Length(66))
    );
    assert_eq!(
        format!("{}zz", &hex[..62]).parse::<Fingerprint>(),
        Err(FingerprintParseError::Character)
    );
    assert_eq!(
        format!("{}:{}", &hex[..3], &hex[3..]).parse::<Fingerprint>(),
        Err(FingerprintParseError::Character)
    );
}
