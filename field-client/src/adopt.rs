//! Adopting a journal rewritten by an erasure (docs/ERASURE.md): when the
//! relay says it holds a newer epoch of a journal, the device downloads the
//! new journal into memory in a session of its own, and only once it has all
//! of it replaces its copy ([`Replica::adopt_epoch`]: what was not sent yet is
//! carried over, the file is rewritten). A lost connection midway leaves the
//! old journal in place; the next sync tries again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use sync_core::Replica;
use sync_core::sync::{ClientEvent, ClientSession, StagingJournal};
use uuid::Uuid;

use crate::net::{NetError, closed, flush, guarded, sleep_until, software};
use relay::transport;

/// Adopts the new epoch (below), then asks the main `session` for the
/// journal's round and sends its `Open` at once, before the caller waits
/// for input.
pub async fn adopt_and_resume(
    (conn, send): (&quinn::Connection, &mut quinn::SendStream),
    replica: &mut Replica,
    session: &mut ClientSession,
    (journal, epoch): (Uuid, u32),
    pay: &impl Fn(&[u8]) -> Result<(), NetError>,
) -> Result<(), NetError> {
    adopt_epoch(conn, replica, (journal, epoch), pay).await?;
    guarded(replica, |r| {
        session.request_sync(Instant::now(), journal, r)
    })?;
    flush(session, send, pay).await
}

/// Downloads epoch `epoch` of `journal` over `conn` and adopts it.
pub async fn adopt_epoch(
    conn: &quinn::Connection,
    replica: &mut Replica,
    (journal, epoch): (Uuid, u32),
    pay: &impl Fn(&[u8]) -> Result<(), NetError>,
) -> Result<(), NetError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(transport::TransportError::from)?;
    let mut staging = StagingJournal::new(journal, epoch);
    // One download: notifications on its stream start no other round.
    let mut session =
        ClientSession::new(Instant::now(), &software(), vec![journal], &mut staging).for_one_sync();
    loop {
        flush(&mut session, &mut send, pay).await?;
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Idle => {
                    let _ = send.finish();
                    // The relay's tags came with the download: kept, so these
                    // changes can go back to a relay that lost them.
                    let (downloaded, attested) = staging.into_parts();
                    replica.adopt_epoch(journal, epoch, (downloaded, &attested))?;
                    let centre = replica
                        .store()
                        .journals()
                        .ok()
                        .and_then(|all| all.into_iter().find(|j| j.id.0 == journal))
                        .map_or_else(|| journal.to_string(), |j| j.centre);
                    eprintln!(
                        "sync: the office erased a record from the journal of \"{centre}\"; \
                         this computer now holds the new journal (nothing unsent was lost)"
                    );
                    return Ok(());
                }
                ClientEvent::Closed { reason } => return Err(closed(reason)),
                ClientEvent::NewEpoch { .. } => {
                    // Rewritten again meanwhile: the next sync starts over.
                    return Err(NetError::JournalChangedMeanwhile);
                }
                _ => {}
            }
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => handle(&mut session, &bytes, &mut staging)?,
                None => session.handle_stream_closed(),
            },
            _ = sleep_until(deadline) => session.handle_timeout(Instant::now()),
        }
    }
}

/// Feeds bytes to the download session; a panic inside Automerge ends this
/// download only (nothing of it was stored).
fn handle(
    session: &mut ClientSession,
    bytes: &[u8],
    staging: &mut StagingJournal,
) -> Result<(), NetError> {
    catch_unwind(AssertUnwindSafe(|| {
        session.handle_bytes(Instant::now(), bytes, staging)
    }))
    .map_err(|_| NetError::Panicked("while downloading a rewritten journal".into()))
}
