//! Moving sync-core frames over QUIC: endpoints, connecting, and reading/writing bytes on
//! a bidirectional stream. The bytes are handed to (and taken from) the sync session state
//! machine, which does all framing and limit checks.

use std::io;
use std::net::SocketAddr;

use quinn::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, ServerConfig};

use crate::tls::{RELAY_KEY_MISMATCH, RELAY_SERVER_NAME, is_relay_key_mismatch};

/// Most bytes returned by one [`read_chunk`]. Large enough that a full 2 MiB frame arrives
/// in a few dozen reads, small enough that one read never holds much memory beyond the
/// session's own frame buffer.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

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

/// A client endpoint bound to `bind` (usually `0.0.0.0:0` or `[::]:0`).
pub fn client_endpoint(bind: SocketAddr) -> Result<Endpoint, TransportError> {
    Endpoint::client(bind).map_err(|source| TransportError::Bind { addr: bind, source })
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

/// Writes all of `bytes` to `send`, waiting while the peer's flow-control window is full.
pub async fn write_all(send: &mut SendStream, bytes: &[u8]) -> Result<(), TransportError> {
    Ok(send.write_all(bytes).await?)
}
