//! Moving sync-core frames over QUIC: endpoints, connecting, and reading/writing bytes on
//! a bidirectional stream. The bytes are handed to (and taken from) the sync session state
//! machine, which does all framing and limit checks.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use quinn::{
    ClientConfig, Connection, Endpoint, EndpointConfig, RecvStream, SendStream, ServerConfig,
};

use crate::tls::{BULK_WINDOW, RELAY_KEY_MISMATCH, RELAY_SERVER_NAME, is_relay_key_mismatch};

/// Most bytes returned by one [`read_chunk`]. Small, because the relay checks after each
/// read whether a frame is large (and must wait for its share of the large-transfer budget
/// before it reads on), so one read is what a session may hold beyond small frames; copying
/// 8 KiB at a time costs nothing next to the network.
pub const READ_CHUNK_BYTES: usize = 8 * 1024;

/// Most bytes [`read_ready`] takes at once: what a connection's receive window lets in
/// ([`BULK_WINDOW`] while a session moves large frames) while its session stores a batch.
/// Handed over together, the frames that came in meanwhile are handled together, the
/// next batch unpacked on a second core beside the one being stored (`sync_core`'s
/// `sync::ahead`); a relay session reads ahead only while it holds a share of the
/// large-transfer budget, which counts these bytes (`limits::LARGE_TRANSFER_BYTES`).
pub const MAX_READ_AHEAD_BYTES: usize = BULK_WINDOW as usize;

/// Why moving bytes over QUIC failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The UDP socket could not be opened.
    #[error("could not open a UDP socket on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },

    /// The connection attempt could not even start (bad configuration or address).
    #[error("could not start connecting to {addr}: {source}")]
    Connect {
        /// The relay's address.
        addr: SocketAddr,
        /// The cause.
        source: quinn::ConnectError,
    },

    /// The relay presented a key other than the one this device was enrolled with.
    #[error(
        "{RELAY_KEY_MISMATCH}: the address points to a different relay, or someone is \
         intercepting the connection"
    )]
    RelayKeyMismatch(#[source] quinn::ConnectionError),

    /// The connection failed or was closed, including a refused handshake (missing or
    /// unknown device certificate, unsupported protocol).
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),

    /// Reading from a stream failed.
    #[error("could not receive: {0}")]
    Read(#[from] quinn::ReadError),

    /// Writing to a stream failed.
    #[error("could not send: {0}")]
    Write(#[from] quinn::WriteError),
}

/// Kernel buffer asked for each UDP socket, each way. The kernel's default
/// (about 200 KB on Linux) overflows when hundreds of devices connect at once
/// (measured: a quarter of a million packets dropped while 2,000 devices
/// connected, each drop a retransmission a second later); 4 MiB holds a burst
/// of a few thousand full packets. Linux grants at most `net.core.rmem_max` /
/// `wmem_max`: the relay says so at start when that is less.
pub const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// A UDP socket bound to `addr`, with [`UDP_BUFFER_BYTES`] asked for.
fn udp_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Also IPv4 on an IPv6 socket, as `std` binds do.
        let _ = socket.set_only_v6(false);
    }
    // Best effort: a smaller buffer works, just drops more in a burst.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The receive buffer the kernel granted the socket of `endpoint`'s kind, if
/// smaller than asked for (to tell the administrator).
pub fn granted_receive_buffer(addr: SocketAddr) -> Option<usize> {
    let probe = udp_socket(SocketAddr::new(addr.ip(), 0)).ok()?;
    let granted = socket2::SockRef::from(&probe).recv_buffer_size().ok()?;
    // Linux reports twice the size it keeps for the data (bookkeeping).
    (granted / 2 < UDP_BUFFER_BYTES).then_some(granted / 2)
}

/// A client endpoint bound to `bind` (usually `0.0.0.0:0` or `[::]:0`).
pub fn client_endpoint(bind: SocketAddr) -> Result<Endpoint, TransportError> {
    let error = |source| TransportError::Bind { addr: bind, source };
    let socket = udp_socket(bind).map_err(error)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| error(io::Error::other("no async runtime is running")))?;
    Endpoint::new(EndpointConfig::default(), None, socket, runtime).map_err(error)
}

/// A server endpoint listening on `listen` with `config` (see [`crate::tls::server_config`]).
pub fn server_endpoint(
    config: ServerConfig,
    listen: SocketAddr,
) -> Result<Endpoint, TransportError> {
    Endpoint::server(config, listen).map_err(|source| TransportError::Bind {
        addr: listen,
        source,
    })
}

/// A server endpoint like [`server_endpoint`], whose stateless-reset key and connection-id
/// key are derived from `restart_secret` instead of being random per process.
///
/// After the relay restarts (a crash, an upgrade, a reboot), devices still hold connections
/// to the previous process. With the same keys, the new process recognises their connection
/// ids and answers with a QUIC stateless reset that the devices can verify, so they drop the
/// dead connection at once and reconnect; with random keys it would ignore their packets and
/// each device would wait out the idle timeout (minutes) first.
pub fn restartable_server_endpoint(
    config: ServerConfig,
    listen: SocketAddr,
    restart_secret: &[u8; 32],
) -> Result<Endpoint, TransportError> {
    let bind = |source| TransportError::Bind {
        addr: listen,
        source,
    };
    let derive = |label: &[u8]| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, restart_secret);
        ring::hmac::sign(&key, label)
    };
    let reset_key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        derive(b"quic stateless reset").as_ref(),
    );
    let mut cid_key = [0_u8; 8];
    cid_key.copy_from_slice(&derive(b"quic connection id").as_ref()[..8]);
    let cid_key = u64::from_le_bytes(cid_key);
    let mut endpoint_config = EndpointConfig::new(Arc::new(reset_key));
    endpoint_config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    let socket = udp_socket(listen).map_err(bind)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| bind(io::Error::other("no async runtime is running")))?;
    Endpoint::new(endpoint_config, Some(config), socket, runtime).map_err(bind)
}

/// Connects to the relay at `addr` with `config` (see [`crate::tls::client_config`]) and
/// waits for the handshake to complete. A relay whose key is not the pinned one gives
/// [`TransportError::RelayKeyMismatch`].
pub async fn connect(
    endpoint: &Endpoint,
    config: ClientConfig,
    addr: SocketAddr,
) -> Result<Connection, TransportError> {
    let connecting = endpoint
        .connect_with(config, addr, RELAY_SERVER_NAME)
        .map_err(|source| TransportError::Connect { addr, source })?;
    connecting.await.map_err(|e| {
        if is_relay_key_mismatch(&e) {
            TransportError::RelayKeyMismatch(e)
        } else {
            TransportError::Connection(e)
        }
    })
}

/// Waits for bytes on `recv` and returns what arrived (at most [`READ_CHUNK_BYTES`], never
/// empty), or `None` once the peer has finished the stream.
pub async fn read_chunk(recv: &mut RecvStream) -> Result<Option<Vec<u8>>, TransportError> {
    loop {
        match recv.read_chunk(READ_CHUNK_BYTES, true).await? {
            None => return Ok(None),
            Some(chunk) if chunk.bytes.is_empty() => continue,
            Some(chunk) => return Ok(Some(chunk.bytes.to_vec())),
        }
    }
}

/// `first`, then what `recv` already holds after it, without waiting, up to
/// [`MAX_READ_AHEAD_BYTES`] in all; and whether the stream ended meanwhile (its end comes
/// after these bytes).
pub async fn read_ready(
    recv: &mut RecvStream,
    mut bytes: Vec<u8>,
) -> Result<(Vec<u8>, bool), TransportError> {
    while bytes.len() < MAX_READ_AHEAD_BYTES {
        let most = READ_CHUNK_BYTES.min(MAX_READ_AHEAD_BYTES - bytes.len());
        // Polled once: `read_chunk` is cancel-safe, so a chunk not here yet
        // stays for the next read.
        let ready = tokio::select! {
            biased;
            chunk = recv.read_chunk(most, true) => chunk?,
            () = std::future::ready(()) => break,
        };
        match ready {
            Some(chunk) => bytes.extend_from_slice(&chunk.bytes),
            None => return Ok((bytes, true)),
        }
    }
    Ok((bytes, false))
}

/// Writes all of `bytes` to `send`, waiting while the peer's flow-control window is full.
pub async fn write_all(send: &mut SendStream, bytes: &[u8]) -> Result<(), TransportError> {
    Ok(send.write_all(bytes).await?)
}
