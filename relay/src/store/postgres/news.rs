//! News between relays: a relay that stored changes into a journal says so
//! with `NOTIFY krc_journal_changed, '<journal> <relay>'` in the storing
//! transaction (PostgreSQL delivers it on commit, never before), and every
//! relay `LISTEN`s on one connection of its own, telling its sessions that
//! follow the journal, as it tells them of its own stores. No polling: the
//! listening connection waits for the server. When it drops, the relay
//! connects again (waits doubling from `NEWS_RETRY_FIRST` to
//! `NEWS_RETRY_MAX`) and then tells its sessions that every journal may
//! have changed, since news could have been missed meanwhile.

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use super::{Db, DbError, DbTls, connect_one};
use crate::limits::{NEWS_RETRY_FIRST, NEWS_RETRY_MAX};

/// The channel relays notify and listen on.
const CHANNEL: &str = "krc_journal_changed";

/// Who a session's news comes from when another relay stored the change:
/// no session of this relay has this number (theirs start at 1 << 16).
pub const FROM_ANOTHER_RELAY: u64 = 0;

/// Says, within the storing transaction, that `journal` changed.
pub(super) async fn notify(
    client: &impl GenericClient,
    journal: Uuid,
    instance: Uuid,
) -> Result<(), tokio_postgres::Error> {
    let statement = client.prepare_cached("SELECT pg_notify($1, $2)").await?;
    let payload = format!("{journal} {instance}");
    client.execute(&statement, &[&CHANNEL, &payload]).await?;
    Ok(())
}

/// Listens for other relays' news until the store is dropped.
pub(super) async fn listen(db: Arc<Db>, instance: Uuid, news: broadcast::Sender<(Uuid, u64)>) {
    let mut wait = NEWS_RETRY_FIRST;
    let mut first = true;
    loop {
        let listened = match db.tls.clone() {
            DbTls::Plain => listen_once(&db, NoTls, instance, &news, first).await,
            DbTls::Rustls(tls) => listen_once(&db, tls, instance, &news, first).await,
        };
        match listened {
            // It listened: the next failure starts from the first wait.
            Ok(()) => wait = NEWS_RETRY_FIRST,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?wait, "not listening for other relays' changes");
            }
        }
        first = false;
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(NEWS_RETRY_MAX);
    }
}

/// One listening connection, until it drops.
async fn listen_once<T>(
    db: &Db,
    tls: T,
    instance: Uuid,
    news: &broadcast::Sender<(Uuid, u64)>,
    first: bool,
) -> Result<(), DbError>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
{
    let (client, mut connection) = connect_one(&db.config, tls).await?;
    let messages = async {
        loop {
            let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
            match message {
                Some(Ok(AsyncMessage::Notification(n))) => tell(news, n.payload(), instance),
                Some(Ok(_)) => {}
                Some(Err(e)) => return DbError::from(e),
                None => return DbError::Unreachable("the server closed the connection".into()),
            }
        }
    };
    let listening = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        tracing::info!("listening for other relays' changes");
        if !first {
            tell_every_journal(db, news).await?;
        }
        std::future::pending::<Result<(), DbError>>().await
    };
    tokio::select! {
        e = messages => {
            tracing::warn!(error = %e, "the connection listening for other relays' changes dropped");
            Ok(())
        }
        failed = listening => failed,
    }
}

/// Tells this relay's sessions of another relay's store.
fn tell(news: &broadcast::Sender<(Uuid, u64)>, payload: &str, instance: Uuid) {
    let mut words = payload.split(' ');
    let (Some(journal), Some(from)) = (words.next(), words.next()) else {
        return;
    };
    let (Ok(journal), Ok(from)) = (journal.parse::<Uuid>(), from.parse::<Uuid>()) else {
        return;
    };
    if from != instance {
        // No session listening is not an error.
        let _ = news.send((journal, FROM_ANOTHER_RELAY));
    }
}

/// After listening again: any journal may have changed meanwhile.
async fn tell_every_journal(db: &Db, news: &broadcast::Sender<(Uuid, u64)>) -> Result<(), DbError> {
    let client = db.client().await?;
    for row in client.query("SELECT id FROM krc_journal", &[]).await? {
        let _ = news.send((row.try_get(0)?, FROM_ANOTHER_RELAY));
    }
    Ok(())
}
