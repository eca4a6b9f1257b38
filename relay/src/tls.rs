//! TLS identities and QUIC configurations for the relay and its devices.
//!
//! Trust is by **pinned keys**, not by certificate authorities:
//!
//! - the relay and every device each hold one self-signed certificate ([`Identity`]);
//! - a device is enrolled with the relay's certificate [`Fingerprint`] and accepts a relay
//!   only if the certificate it presents has exactly that fingerprint
//!   ([`PinnedServerVerifier`]);
//! - the relay requires every device to present a certificate and to prove, in the TLS 1.3
//!   handshake, that it holds the matching private key ([`DeviceCertVerifier`]); *which*
//!   devices may do what is decided afterwards by the application, by looking up
//!   [`peer_fingerprint`] in the device registry.
//!
//! Certificate validity periods, names and issuers are not checked: a pinned key is either
//! the right key or not, and a revoked device is removed from the registry, not expired.
//!
//! Every configuration is built with the *ring* crypto provider chosen explicitly and TLS 1.3
//! only; nothing depends on a process-wide default provider.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// ALPN protocol name of sync protocol version 1 (docs/PROTOCOL.md). A peer that does not
/// offer it is refused during the handshake, before any frame is read.
pub const SYNC_ALPN: &[u8] = b"krc-sync/1";

/// Server name the client puts in its TLS handshake. The relay is identified by its pinned
/// fingerprint, never by name, so this is a fixed placeholder that is not checked anywhere.
pub const RELAY_SERVER_NAME: &str = "krc-relay";

/// Validity period written into generated certificates, in years. Validity is never checked
/// (keys are pinned, and a lost or stolen device is revoked in the registry), but other
/// tools that inspect the certificate should not see it expire during the life of a
/// deployment.
pub const CERT_VALIDITY_YEARS: i32 = 50;

/// Largest identity file (certificate or key) that is read. A P-256 certificate is about
/// 400 bytes and its PKCS#8 key about 140; anything near this size is not ours, and is
/// refused before it is read into memory.
pub const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;

/// Time without any packet from the peer after which a connection is considered dead.
///
/// 20 seconds: a device notices a relay that died (power cut, crash, a cable pulled) within
/// 30 seconds and reconnects with its backoff, and the relay frees a vanished device's slot as
/// fast. QUIC restarts this timer when it sends the first keep-alive after the last packet it
/// received, so noticing takes up to [`KEEP_ALIVE_INTERVAL`] + this: 28 s. Two keep-alives
/// (and QUIC's own retransmissions of each) must all be lost for a live connection to be
/// dropped; a radio dead zone longer than that costs one new handshake (about 4.5 KB). QUIC
/// uses the smaller of the two peers' values.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Time without sending anything after which a keep-alive (QUIC PING) is sent.
///
/// Rural devices sit behind mobile carrier-grade NAT and cheap routers, many of which forget
/// an idle UDP mapping after 30 seconds; 8 seconds keeps the mapping open and lets
/// [`IDLE_TIMEOUT`] notice a dead peer within 30 seconds. It costs about 7 small packets a
/// minute (~0.5 MB a day each way) while connected; metered mode does not stay connected.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(8);

/// Longest a device takes to notice that the relay is gone (see [`IDLE_TIMEOUT`]).
pub const DEAD_RELAY_NOTICED_WITHIN: Duration =
    Duration::from_secs(KEEP_ALIVE_INTERVAL.as_secs() + IDLE_TIMEOUT.as_secs());
const _: () = assert!(DEAD_RELAY_NOTICED_WITHIN.as_secs() <= 30);

/// Bidirectional streams a device may have open at once on the relay. The protocol needs
/// one stream per sync session, one for files (docs/PROTOCOL.md, "Files"), and one more
/// while the device downloads a journal rewritten by an erasure (a device asking for a
/// fourth, such as a new session while the previous stream is still being torn down,
/// waits). More would only multiply the buffers one device can make the relay hold: each
/// adds to `limits::WORST_CASE_BYTES_PER_CONNECTION`, and the worst case of every slot
/// taken stays under 2 GB only with three.
pub const MAX_CONCURRENT_BIDI_STREAMS: u32 = 3;

/// Bidirectional streams the relay may open toward a device: none, sessions are always
/// started by the device (the relay announces news with `Notify` on an existing session).
pub const MAX_RELAY_OPENED_BIDI_STREAMS: u32 = 0;

/// Unidirectional streams either side may open: none, the protocol does not use them.
pub const MAX_CONCURRENT_UNI_STREAMS: u32 = 0;

/// Bytes a device may send the relay on all its streams together beyond what the relay has
/// read; and bytes the relay keeps written but unacknowledged per connection. The relay's
/// *everyday* windows: twice the bandwidth-delay product of a rural 3G link (384 kbit/s ×
/// 300 ms ≈ 14 KiB), so such a link stays full, and small because the relay may hold them
/// for every connection at once (`limits::WORST_CASE_BYTES_PER_CONNECTION`). A session
/// moving large frames raises its connection's windows to [`BULK_WINDOW`] while it holds a
/// share of the relay's large-transfer budget (`limits::LARGE_TRANSFER_BUDGET_BYTES`), so an
/// office on a fast link downloads at the link's speed, and a device uploads at it.
pub const RELAY_WINDOW: u32 = 32 * 1024;

/// Bytes a device may send the relay on one stream beyond what the relay has read: the
/// connection's window ([`RELAY_WINDOW`], or [`BULK_WINDOW`] while raised) is what bounds
/// the relay's memory, and a stream may use all of it. (QUIC fixes a stream's window when
/// the stream opens; were it [`RELAY_WINDOW`], a raised connection window would never let
/// more than that of an upload in while the relay stores the batch before it.)
pub const RELAY_STREAM_WINDOW: u32 = BULK_WINDOW;

/// A connection's windows on the relay while one of its sessions moves large frames: a
/// 100 Mbit/s link with a 60 ms round trip stays full.
pub const BULK_WINDOW: u32 = 1024 * 1024;

/// A device's receive windows (per stream and per connection) and send window: a device
/// talks to one relay, so it can afford windows that keep any link it has full; the relay's
/// own windows bound what it holds.
pub const DEVICE_WINDOW: u32 = 4 * 1024 * 1024;

const _: () = assert!(KEEP_ALIVE_INTERVAL.as_secs() * 2 <= IDLE_TIMEOUT.as_secs());

/// Why an identity or a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Key or certificate generation failed.
    #[error("could not generate a key and certificate: {0}")]
    Generate(#[from] rcgen::Error),

    /// An identity file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },

    /// An identity file could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        /// The file (or directory).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },

    /// An identity file is far larger than any key or certificate.
    #[error(
        "{path} is larger than {max} bytes, so it is not a key or certificate written by this program"
    )]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, [`MAX_IDENTITY_FILE_BYTES`].
        max: u64,
    },

    /// Only one of the certificate and key files exists.
    #[error(
        "found {present} but not {missing}; restore both from a backup (a new key would \
         not match what devices were enrolled with), or remove {present} to create a new identity"
    )]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// Neither identity file exists.
    #[error("no identity found: {cert} and {key} do not exist")]
    Missing {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },

    /// The files exist but are damaged, or the key does not belong to the certificate.
    #[error(
        "the key and certificate {cert} and {key} are damaged or do not belong together: {source}"
    )]
    Invalid {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls found wrong.
        source: rustls::Error,
    },

    /// rustls refused to build a configuration.
    #[error("could not set up TLS: {0}")]
    Rustls(#[from] rustls::Error),

    /// The crypto provider lacks the cipher suite QUIC uses for its first packets.
    #[error("could not set up QUIC encryption: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),

    /// A transport limit does not fit QUIC's encoding.
    #[error("the connection idle timeout is too large for QUIC: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
}

/// Why a text is not a [`Fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintParseError {
    /// Wrong number of hex digits.
    #[error("a key fingerprint has 64 hex digits, this has {0}")]
    Length(usize),
    /// A character that is not a hex digit (or a ':' between pairs of digits).
    #[error(
        "a key fingerprint is made of hex digits 0-9 and a-f, optionally separated by ':' every two digits"
    )]
    Character,
}

/// SHA-256 of a certificate's DER encoding: what a device is enrolled with (the relay's)
/// and what the relay's registry knows a device by (the device's).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprint of a DER-encoded certificate.
    #[must_use]
    pub fn of_cert_der(cert_der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert_der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// First 16 hex digits, for people comparing keys by eye or in logs. Not unique enough
    /// to authorise anything, nor to tell two keys apart: keys that differ only later
    /// look the same here (see [`Fingerprint::grouped`]).
    #[must_use]
    pub fn short(&self) -> String {
        let mut hex = self.to_string();
        hex.truncate(16);
        hex
    }

    /// All 64 hex digits in groups of four (`3f2a 9c01 …`), for people comparing two keys
    /// digit by digit: every digit is shown, so two different keys always look different.
    #[must_use]
    pub fn grouped(&self) -> String {
        let mut grouped = String::with_capacity(64 + 15);
        for (i, digit) in self.to_string().chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                grouped.push(' ');
            }
            grouped.push(digit);
        }
        grouped
    }

    /// The position (1-based) of the first hex digit in which `self` and `other` differ,
    /// or `None` if they are the same.
    #[must_use]
    pub fn first_different_digit(&self, other: &Fingerprint) -> Option<usize> {
        self.to_string()
            .bytes()
            .zip(other.to_string().bytes())
            .position(|(a, b)| a != b)
            .map(|index| index + 1)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintParseError;

    /// Accepts 64 hex digits in either case, either run together or as 32 pairs separated
    /// by ':' (`ab:cd:…`), with surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let hex: String = if s.contains(':') {
            let mut hex = String::with_capacity(64);
            for pair in s.split(':') {
                if pair.len() != 2 {
                    return Err(FingerprintParseError::Character);
                }
                hex.push_str(pair);
            }
            hex
        } else {
            s.to_owned()
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FingerprintParseError::Character);
        }
        if hex.len() != 64 {
            return Err(FingerprintParseError::Length(hex.len()));
        }
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|_| FingerprintParseError::Character)?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| FingerprintParseError::Length(v.len() * 2))?;
        Ok(Self(array))
    }
}

/// A self-signed certificate and its private key: the relay's or one device's.
#[derive(Clone)]
pub struct Identity {
    cert_der: Vec<u8>,
    /// PKCS#8.
    key_der: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new ECDSA P-256 key and a self-signed certificate for it naming `common_name`
    /// (for people reading the certificate; nothing checks it), valid for
    /// [`CERT_VALIDITY_YEARS`].
    pub fn generate(common_name: &str) -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        // From yesterday, so a peer whose clock is a little behind still sees it as valid.
        let start = chrono::Utc::now().date_naive() - chrono::Days::new(1);
        let month = u8::try_from(start.month()).unwrap_or(1);
        let day = u8::try_from(start.day()).unwrap_or(1);
        params.not_before = rcgen::date_time_ymd(start.year(), month, day);
        // First of the month, so that 29 February never lands in a non-leap year.
        params.not_after = rcgen::date_time_ymd(start.year() + CERT_VALIDITY_YEARS, month, 1);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }

    /// An identity from DER bytes, checked: the key must be PKCS#8 and belong to the
    /// certificate.
    pub fn from_der(cert_der: Vec<u8>, key_der: Vec<u8>) -> Result<Self, rustls::Error> {
        let identity = Self { cert_der, key_der };
        rustls::sign::CertifiedKey::from_der(vec![identity.cert()], identity.key(), &provider())?;
        Ok(identity)
    }

    /// Reads `<file_stem>.cert.der` and `<file_stem>.key.der` from `dir`.
    pub fn load(dir: &Path, file_stem: &str) -> Result<Self, TlsError> {
        let (cert_path, key_path) = paths(dir, file_stem);
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => {}
            (false, false) => {
                return Err(TlsError::Missing {
                    cert: cert_path,
                    key: key_path,
                });
            }
            (true, false) => {
                return Err(TlsError::Incomplete {
                    present: cert_path,
                    missing: key_path,
                });
            }
            (false, true) => {
                return Err(TlsError::Incomplete {
                    present: key_path,
                    missing: cert_path,
                });
            }
        }
        let cert_der = read_bounded(&cert_path)?;
        let key_der = read_bounded(&key_path)?;
        warn_if_key_readable_by_others(&key_path);
        Self::from_der(cert_der, key_der).map_err(|source| TlsError::Invalid {
            cert: cert_path,
            key: key_path,
            source,
        })
    }

    /// Loads the identity stored under `file_stem` in `dir`, or, when neither file exists,
    /// generates one and stores it (creating `dir` if needed). Returns whether it was
    /// created.
    ///
    /// Refuses (rather than replacing) an identity of which only one file is left: a new
    /// key would silently break every device enrolled with the old one.
    ///
    /// Each file is written to a temporary name, flushed to disk, then renamed into place;
    /// the key file is readable only by its owner (mode 0600 on Unix).
    pub fn load_or_create(
        dir: &Path,
        file_stem: &str,
        common_name: &str,
    ) -> Result<(Self, bool), TlsError> {
        let (cert_path, key_path) = paths(dir, file_stem);
        if exists(&cert_path)? || exists(&key_path)? {
            return Ok((Self::load(dir, file_stem)?, false));
        }
        let identity = Self::generate(common_name)?;
        fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.to_owned(),
            source,
        })?;
        // Key first: the certificate appearing is what marks the identity complete.
        write_atomically(&key_path, &identity.key_der, true)?;
        write_atomically(&cert_path, &identity.cert_der, false)?;
        sync_dir(dir)?;
        Ok((identity, true))
    }

    /// The certificate, DER-encoded.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of [`Self::cert_der`].
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_cert_der(&self.cert_der)
    }

    /// A 32-byte secret for `purpose`, derived from the private key (HMAC-SHA256 keyed with
    /// it): the same on every start of the same identity, and revealing nothing about the
    /// key. The relay derives its QUIC stateless-reset and connection-id keys from it.
    #[must_use]
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.key_der);
        let tag = ring::hmac::sign(&key, purpose.as_bytes());
        let mut secret = [0_u8; 32];
        secret.copy_from_slice(tag.as_ref());
        secret
    }

    fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

fn paths(dir: &Path, file_stem: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{file_stem}.cert.der")),
        dir.join(format!("{file_stem}.key.der")),
    )
}

fn exists(path: &Path) -> Result<bool, TlsError> {
    path.try_exists().map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_IDENTITY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_IDENTITY_FILE_BYTES {
        return Err(TlsError::FileTooLarge {
            path: path.to_owned(),
            max: MAX_IDENTITY_FILE_BYTES,
        });
    }
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let write_err = |source| TlsError::Write {
        path: tmp.clone(),
        source,
    };
    // A leftover from an interrupted run; `create_new` below must create the file afresh
    // so that its permissions are the ones asked for.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(write_err(e)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(|source| TlsError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Makes the renames durable (Unix; elsewhere renames are durable once the call returns).
fn sync_dir(dir: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| TlsError::Write {
                path: dir.to_owned(),
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn warn_if_key_readable_by_others(key_path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(key_path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %key_path.display(),
                "the private key file can be read by other users; run `chmod 600` on it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = key_path;
}

/// The crypto provider every configuration here uses.
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Transport limits shared by both sides; `peer_bidi_streams` is how many bidirectional
/// streams the peer may open toward us.
fn transport_config(
    peer_bidi_streams: u32,
    (stream_window, window): (u32, u32),
) -> Result<TransportConfig, TlsError> {
    let mut transport = TransportConfig::default();
    transport
        .max_idle_timeout(Some(IdleTimeout::try_from(IDLE_TIMEOUT)?))
        .keep_alive_interval(Some(KEEP_ALIVE_INTERVAL))
        .max_concurrent_bidi_streams(VarInt::from_u32(peer_bidi_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(MAX_CONCURRENT_UNI_STREAMS))
        .stream_receive_window(VarInt::from_u32(stream_window))
        .receive_window(VarInt::from_u32(window))
        .send_window(u64::from(window))
        // The protocol sends no datagrams; refuse them instead of buffering them.
        .datagram_receive_buffer_size(None)
        // Path-MTU probes are full-size packets sent to learn whether bigger
        // ones fit: on a prepaid link they cost data for little gain, and
        // QUIC's 1,200-byte minimum works on every path.
        .mtu_discovery_config(None)
        // BBR paces by measured bandwidth and round trip instead of halving the
        // window on every lost packet: a rural mobile link loses packets at
        // random, not only when full. Measured through the link emulator at
        // 384 kbit/s, 300 ms and 5 % loss (`cargo bench -p field-client --bench
        // sync_bytes`, median of 5): 1,000 activities 4.4 s, the slowest run 5.8 s,
        // against 4.3 s and 21.9 s with the default (Cubic).
        .congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    Ok(transport)
}

/// The relay's QUIC configuration: presents `identity`, requires a device certificate
/// (checked by [`DeviceCertVerifier`]; authorisation is the caller's, by
/// [`peer_fingerprint`]), speaks only TLS 1.3 with ALPN [`SYNC_ALPN`], and accepts no
/// 0-RTT data and no session resumption (every connection proves possession of its key).
pub fn server_config(identity: &Identity) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(provider());
    let verifier = Arc::new(DeviceCertVerifier::new(
        provider.signature_verification_algorithms,
    ));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert()], identity.key())?;
    tls.alpn_protocols = vec![SYNC_ALPN.to_vec()];
    // 0-RTT data could be replayed by anyone who captured it.
    tls.max_early_data_size = 0;
    tls.send_half_rtt_data = false;
    // No resumption: a resumed session would skip the device's proof of its key, and a full
    // handshake with P-256 certificates costs only about a kilobyte more.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;

    let quic = QuicServerConfig::try_from(Arc::new(tls))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport_config(
        MAX_CONCURRENT_BIDI_STREAMS,
        (RELAY_STREAM_WINDOW, RELAY_WINDOW),
    )?));
    Ok(config)
}

/// A device's QUIC configuration: presents `identity` (client authentication) and accepts
/// the relay only if its certificate's fingerprint is `pinned`. TLS 1.3 only, ALPN
/// [`SYNC_ALPN`], no 0-RTT, no session resumption. Connect with server name
/// [`RELAY_SERVER_NAME`].
pub fn client_config(
    identity: &Identity,
    pinned: Fingerprint,
) -> Result<quinn::ClientConfig, TlsError> {
    let provider = Arc::new(provider());
    let verifier = Arc::new(PinnedServerVerifier::new(
        pinned,
        provider.signature_verification_algorithms,
    ));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![identity.cert()], identity.key())?;
    tls.alpn_protocols = vec![SYNC_ALPN.to_vec()];
    tls.enable_early_data = false;
    tls.resumption = rustls::client::Resumption::disabled();

    let quic = QuicClientConfig::try_from(Arc::new(tls))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config(
        MAX_RELAY_OPENED_BIDI_STREAMS,
        (DEVICE_WINDOW, DEVICE_WINDOW),
    )?));
    Ok(config)
}

/// The fingerprint of the certificate the peer presented, once the handshake is complete.
/// `None` when the peer presented none (the relay never accepts such a device).
#[must_use]
pub fn peer_fingerprint(conn: &quinn::Connection) -> Option<Fingerprint> {
    let identity = conn.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    chain.first().map(|cert| Fingerprint::of_cert_der(cert))
}

/// Start of the message given when the relay's key is not the pinned one; also how
/// [`is_relay_key_mismatch`] recognises that failure after QUIC has turned it into text.
pub const RELAY_KEY_MISMATCH: &str =
    "the relay's key does not match the key this device was enrolled with";

/// The relay presented a certificate other than the one this device was enrolled with.
pub struct RelayKeyMismatch {
    /// The enrolled relay fingerprint.
    pub expected: Fingerprint,
    /// The fingerprint presented.
    pub presented: Fingerprint,
}

// Both keys in full: with only their first 16 digits, keys that differ further on (as a
// mistyped character in a checksum-less KRC1 enrolment code made them) were shown as the
// same value, so the message contradicted itself.
impl fmt::Display for RelayKeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{RELAY_KEY_MISMATCH} (expected {}, got {}",
            self.expected.grouped(),
            self.presented.grouped()
        )?;
        if let Some(digit) = self.expected.first_different_digit(&self.presented) {
            write!(f, "; they first differ at digit {digit}")?;
        }
        write!(
            f,
            "): the address points to a different relay, or someone is intercepting the \
             connection"
        )
    }
}

// rustls shows certificate errors with `{:?}`; make that the plain message.
impl fmt::Debug for RelayKeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for RelayKeyMismatch {}

/// Whether a connection failed because the relay's key is not the pinned one (see
/// [`PinnedServerVerifier`]), as opposed to a network or other handshake failure.
#[must_use]
pub fn is_relay_key_mismatch(err: &quinn::ConnectionError) -> bool {
    // QUIC keeps only the text of a local TLS error; the message is ours.
    matches!(err, quinn::ConnectionError::TransportError(e) if e.reason.contains(RELAY_KEY_MISMATCH))
}

/// A peer sent a certificate chain; keys here are pinned one by one, never chained.
#[derive(thiserror::Error)]
#[error("the peer sent a certificate chain; only a single self-signed certificate is accepted")]
pub struct UnexpectedChain;

impl fmt::Debug for UnexpectedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn cert_error(e: impl std::error::Error + Send + Sync + 'static) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(e))))
}

/// Device side: accepts the relay iff its single certificate has the pinned fingerprint,
/// and checks the relay's TLS 1.3 handshake signature with that certificate's key. The
/// server name is ignored (the pin replaces it).
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pinned: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServerVerifier {
    /// A verifier for the relay whose certificate fingerprint is `pinned`, checking
    /// signatures with `algorithms` (a provider's `signature_verification_algorithms`).
    #[must_use]
    pub fn new(pinned: Fingerprint, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { pinned, algorithms }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(cert_error(UnexpectedChain));
        }
        let presented = Fingerprint::of_cert_der(end_entity);
        if presented != self.pinned {
            return Err(cert_error(RelayKeyMismatch {
                expected: self.pinned,
                presented,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Unreachable (TLS 1.3 only), but if it were reached it must still verify.
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Relay side: requires a client certificate, accepts any single certificate (devices
/// use self-signed ones; which fingerprints are allowed is the application's decision), and
/// checks the device's TLS 1.3 handshake signature, which proves it holds the key.
#[derive(Debug)]
pub struct DeviceCertVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl DeviceCertVerifier {
    /// A verifier checking signatures with `algorithms` (a provider's
    /// `signature_verification_algorithms`).
    #[must_use]
    pub fn new(algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { algorithms }
    }
}

impl ClientCertVerifier for DeviceCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(cert_error(UnexpectedChain));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Unreachable (TLS 1.3 only), but if it were reached it must still verify.
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_mismatch_shows_keys_that_differ_late_as_different() {
        // The same first 31 bytes: the first 62 hex digits agree, as they did for a
        // fingerprint read from a mistyped enrolment code.
        let expected = Fingerprint([0x3f; 32]);
        let mut late = [0x3f; 32];
        late[31] = 0x3e;
        let presented = Fingerprint(late);
        assert_eq!(
            expected.short(),
            presented.short(),
            "the old display hid this"
        );

        let message = RelayKeyMismatch {
            expected,
            presented,
        }
        .to_string();
        assert!(message.starts_with(RELAY_KEY_MISMATCH), "{message}");
        let expected_shown = expected.grouped();
        let presented_shown = presented.grouped();
        assert_ne!(expected_shown, presented_shown);
        assert!(
            message.contains(&format!("expected {expected_shown}, got {presented_shown}")),
            "{message}"
        );
        assert!(presented_shown.ends_with("3f3f 3f3e"), "{presented_shown}");
        assert!(
            message.contains("they first differ at digit 64"),
            "{message}"
        );
        assert!(message.contains("intercepting the connection"), "{message}");
    }

    #[test]
    fn grouped_shows_every_digit_in_fours() {
        let mut bytes = [0; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::try_from(i).expect("small");
        }
        let fingerprint = Fingerprint(bytes);
        let grouped = fingerprint.grouped();
        assert_eq!(grouped.split(' ').count(), 16, "{grouped}");
        assert!(
            grouped.split(' ').all(|group| group.len() == 4),
            "{grouped}"
        );
        assert_eq!(grouped.replace(' ', ""), fingerprint.to_string());
        assert!(grouped.starts_with("0001 0203 "), "{grouped}");
    }

    #[test]
    fn first_different_digit_counts_from_one() {
        let a = Fingerprint([0; 32]);
        let mut high = [0; 32];
        high[0] = 0x10;
        let mut low = [0; 32];
        low[0] = 0x01;
        assert_eq!(a.first_different_digit(&a), None);
        assert_eq!(a.first_different_digit(&Fingerprint(high)), Some(1));
        assert_eq!(a.first_different_digit(&Fingerprint(low)), Some(2));
    }
}
