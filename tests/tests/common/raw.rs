//! A hand-made client: a QUIC connection to the relay with a real enrolled
//! device's key, frame by frame, for what `field-client` never sends (another
//! centre's journal, forged batches, a stream cut mid-session).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use relay::tls::{self, Fingerprint, Identity};
use relay::transport;
use sync_core::sync::wire::FrameBuffer;
use sync_core::sync::{ClientSession, Frame, PROTOCOL_VERSION};
use uuid::Uuid;

/// Longest wait for one answer from the relay in the hand-made client.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// A QUIC connection to the relay with the key and certificate of the
/// enrolled device whose data folder is `device_dir`, pinning the relay's key.
pub(crate) struct RawClient {
    // Kept alive as long as the connection.
    endpoint: quinn::Endpoint,
    pub(crate) conn: quinn::Connection,
}

impl RawClient {
    pub(crate) async fn connect(
        device_dir: &Path,
        relay: SocketAddr,
        fingerprint: &str,
    ) -> RawClient {
        let identity = Identity::load(device_dir, "device").expect("the device's identity files");
        let pinned: Fingerprint = fingerprint.parse().expect("the relay's fingerprint");
        let endpoint = transport::client_endpoint("127.0.0.1:0".parse().expect("an address"))
            .expect("a client endpoint");
        let config = tls::client_config(&identity, pinned).expect("a client config");
        let conn = transport::connect(&endpoint, config, relay)
            .await
            .expect("connect to the relay");
        RawClient { endpoint, conn }
    }

    /// Says goodbye and waits until the relay got it (the connection
    /// closes cleanly, rather than by the relay's idle timeout).
    pub(crate) async fn close(self) {
        self.conn.close(0_u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }

    pub(crate) async fn stream(&self) -> RawStream {
        let (send, recv) = tokio::time::timeout(ANSWER_TIMEOUT, self.conn.open_bi())
            .await
            .expect("the relay lets a stream open in time")
            .expect("open a stream");
        RawStream {
            send,
            recv,
            frames: FrameBuffer::default(),
        }
    }
}

/// One session's stream, frame by frame.
pub(crate) struct RawStream {
    pub(crate) send: quinn::SendStream,
    recv: quinn::RecvStream,
    frames: FrameBuffer,
}

impl RawStream {
    pub(crate) async fn send(&mut self, frame: &Frame) {
        let bytes = frame.encode().expect("encode a frame");
        self.send_bytes(&bytes).await;
    }

    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) {
        transport::write_all(&mut self.send, bytes)
            .await
            .expect("write to the relay");
    }

    /// The next frame from the relay, or `None` once it closed the stream.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.frames.next_frame().expect("a valid frame") {
                return Some(frame);
            }
            let chunk = tokio::time::timeout(ANSWER_TIMEOUT, transport::read_chunk(&mut self.recv))
                .await
                .expect("the relay answered in time");
            match chunk {
                Ok(Some(bytes)) => self.frames.extend(&bytes),
                Ok(None) => return None,
                Err(e) => panic!("reading from the relay failed: {e}"),
            }
        }
    }

    /// Every frame until the relay closes the stream.
    pub(crate) async fn rest(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            frames.push(frame);
        }
        frames
    }

    /// `Hello` for `journals`; returns the relay's `Welcome` grants.
    pub(crate) async fn hello(&mut self, journals: Vec<Uuid>) -> Vec<Uuid> {
        self.send(&hello(journals)).await;
        match self.next().await {
            Some(Frame::Welcome { version, journals }) => {
                assert_eq!(version, PROTOCOL_VERSION);
                journals.iter().map(|g| g.journal).collect()
            }
            other => panic!("expected Welcome, got {other:?}"),
        }
    }
}

/// The `Hello` a real client session sends first.
pub(crate) fn hello(journals: Vec<Uuid>) -> Frame {
    let mut session = ClientSession::new(
        std::time::Instant::now(),
        "raw test client",
        journals,
        &mut sync_core::sync::memory::MemoryJournals::default(),
    );
    let bytes = session
        .poll_transmit()
        .expect("a session starts with Hello");
    let mut buffer = FrameBuffer::default();
    buffer.extend(&bytes);
    let frame = buffer.next_frame().expect("valid").expect("one frame");
    assert!(matches!(frame, Frame::Hello { .. }), "{frame:?}");
    frame
}
