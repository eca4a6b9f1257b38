//! A file stream's shell (docs/PROTOCOL.md, "Files"): moves bytes between a
//! QUIC stream and the sans-IO [`FileService`]. Storage work runs on
//! blocking threads, as for sync sessions. A file chunk is a large frame
//! (`SMALL_FRAME_BYTES` and more), so it is received, or read and sent,
//! only with a share of the relay's large-transfer budget: ten thousand
//! devices sending photos cannot make the relay hold ten thousand chunks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use sync_core::sync::ErrorCode;
use sync_core::sync::files::{FileService, FileServiceEvent};

use crate::registry::Device;
use crate::server::{ConnectionError, Shared, sleep_until};
use crate::session::{ConnectionWindows, Incoming, LargeTransfer, blocking, reserve_share};
use crate::store::SessionStorage;
use crate::transport;

/// Serves one file stream until it ends; `first` are the bytes read to
/// tell the stream's kind.
pub(crate) async fn run_file_stream(
    (shared, windows): (Arc<Shared>, Arc<ConnectionWindows>),
    device: Device,
    (mut send, mut recv): (quinn::SendStream, quinn::RecvStream),
    first: Vec<u8>,
) -> Result<(), ConnectionError> {
    let grants = match blocking({
        let (store, device) = (shared.store.clone(), device.clone());
        move || store.grants_for(&device)
    })
    .await?
    {
        Ok(grants) => grants,
        Err(e) => {
            crate::server::refuse_stream(&mut send, &e).await;
            return Err(e.into());
        }
    };
    let mut service = FileService::new(grants, shared.max_file_bytes_per_centre);
    let mut shutdown = shared.shutdown.clone();
    let mut pending = Some(first);
    // The share held while a file comes in, and until when: the rest of a
    // chunk begun, or the next chunk of the file.
    let mut incoming: Option<Incoming> = None;
    loop {
        if let Some(bytes) = pending.take() {
            service = feed(&shared, service, bytes).await?;
            let arriving = (service.incoming_frame_bytes(), service.taking_a_file());
            incoming = reserve_share(&shared, &windows, arriving, incoming).await;
        }
        while let Some(event) = service.poll_event() {
            on_event(&device, event);
        }
        service = send_ready((&shared, &windows), service, &mut send).await?;
        if service.is_closed() {
            let _ = send.finish();
            return Ok(());
        }
        let deadline = incoming.as_ref().map(Incoming::until);
        let mid_frame = incoming.as_ref().is_some_and(Incoming::mid_frame);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => pending = Some(bytes),
                None => service.handle_stream_closed(),
            },
            _ = sleep_until(deadline), if mid_frame => service.refuse(
                ErrorCode::TooLarge,
                "the rest of a file chunk did not come in time",
            ),
            // Kept for the next chunk and none came: back to others.
            _ = sleep_until(deadline), if deadline.is_some() && !mid_frame => incoming = None,
            _ = shutdown.changed() => service.refuse(
                ErrorCode::Internal,
                "the relay is shutting down; try again shortly",
            ),
        }
    }
}

/// Writes what the service has to say: answers at once, each chunk of a
/// file being given with a share of the budget (and raised windows).
async fn send_ready(
    (shared, windows): (&Arc<Shared>, &Arc<ConnectionWindows>),
    mut service: FileService,
    send: &mut quinn::SendStream,
) -> Result<FileService, ConnectionError> {
    while service.wants_to_send() {
        let _share = match service.next_is_chunk() {
            true => Some(LargeTransfer::start(shared).await.bulk(windows)),
            false => None,
        };
        let store = shared.store.clone();
        let (back, bytes) = blocking(move || {
            let mut service = service;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                service.poll_transmit(&mut SessionStorage(&*store))
            }));
            let bytes = outcome.unwrap_or_else(|_| {
                after_panic(&mut service);
                None
            });
            (service, bytes)
        })
        .await?;
        service = back;
        match bytes {
            Some(bytes) => transport::write_all(send, &bytes).await?,
            None => break,
        }
    }
    Ok(service)
}

/// Feeds received bytes on a blocking thread; a panic closes this stream only.
async fn feed(
    shared: &Arc<Shared>,
    service: FileService,
    bytes: Vec<u8>,
) -> Result<FileService, ConnectionError> {
    let store = shared.store.clone();
    blocking(move || {
        let mut service = service;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            service.handle_bytes(&bytes, &mut SessionStorage(&*store))
        }));
        if outcome.is_err() {
            after_panic(&mut service);
        }
        service
    })
    .await
}

fn after_panic(service: &mut FileService) {
    tracing::error!("a file stream panicked; it is closed");
    service.refuse(
        ErrorCode::Internal,
        "the relay failed on this request; nothing acknowledged was lost",
    );
}

fn on_event(device: &Device, event: FileServiceEvent) {
    match event {
        FileServiceEvent::Stored { journal, hash } => {
            metrics::counter!(crate::telemetry::FILES_STORED).increment(1);
            tracing::info!(device = %device.id, %journal, file = %hash, "file stored whole");
        }
        FileServiceEvent::Refused { hash, why } => {
            tracing::info!(device = %device.id, file = %hash, %why, "file refused");
        }
        FileServiceEvent::Closed { reason } => {
            tracing::info!(device = %device.id, %reason, "file stream closed");
        }
    }
}
