//! One owner of the store per process, and lending it to a command.
//!
//! `field-client run` opens the store once ([`StoreOwner`]): its sync loop and
//! its app take turns on that one open store, and the journal stays loaded
//! in memory between them (opening it again for every frame or request would
//! reload it: a fifth of a second at 10,000 activities).
//!
//! A command run beside it (`field-client add`, `list`, `import`…) finds the
//! store in use (redb locks the file) and asks the running process to lend it
//! ([`borrow`]): over a connection to 127.0.0.1 it sends the token the
//! process wrote into the data folder ([`CONTROL_FILE`], readable only by
//! the folder's owner); the process closes the store, answers, and keeps
//! everyone else off it until the connection ends, that is until the
//! command has finished (or died: the operating system closes the
//! connection). The command opens the store itself, as it always does, so
//! every command works the same beside `run` as without it; the store it
//! finds was just closed cleanly, so opening costs a millisecond.
//!
//! The owner keeps its loaded journals in memory meanwhile
//! (`Replica::detach`); afterwards it opens the store again when next
//! needed, catches them up with what the command appended (reading only
//! those changes: `Replica::reattach`), and tells the sync loop that
//! something may have been recorded.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sync_core::replica::Detached;
use sync_core::{OpenError, Replica, ReplicaError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, OwnedMappedMutexGuard, OwnedMutexGuard};

/// The file in the data folder where a running `run` says how to reach it:
/// `<port> <token>`, written at start (owner-only permissions), removed at exit.
pub const CONTROL_FILE: &str = "run-control";

/// How long a connection to the lending port may take to say what it wants:
/// a command sends one short line at once; anything slower is not one of ours.
const LEND_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a command waits for the running process to lend the store: it
/// first finishes the frame or request it is handling (well under a second;
/// an import through the app, a few seconds).
const LEND_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait to open the store again after a lend: the command's process
/// may close its connection a moment before the operating system releases
/// its lock on the file.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

/// Pause between attempts to open a store still locked.
const REOPEN_RETRY: Duration = Duration::from_millis(5);

/// Longest request line accepted on the lending port.
const MAX_REQUEST_BYTES: u64 = 128;

const REQUEST: &str = "KRC-LEND 1";
const ANSWER: &str = "LENT";

/// The store of a `run` process, opened once and shared by the sync loop and
/// the app. `None` inside while lent to a command (or not yet opened).
#[derive(Debug)]
pub struct StoreOwner {
    path: PathBuf,
    slot: Arc<tokio::sync::Mutex<Option<Replica>>>,
    /// The journals kept in memory while the store is lent (taken back by
    /// the next [`StoreOwner::hold`]).
    detached: Mutex<Option<Detached>>,
    local_change: Notify,
    /// Counts what may have been stored: local changes, lends to commands
    /// and finished sync rounds (see [`StoreOwner::stored`]).
    stored: tokio::sync::watch::Sender<u64>,
    /// True once the process was asked to stop (SIGTERM, Ctrl-C).
    stopping: tokio::sync::watch::Sender<bool>,
}

/// Tries again a file rewrite an erasure still owes (at `run`'s start and
/// daily: the store does not retry a failed one at every open), saying what
/// happened. The store is whole either way.
pub fn finish_pending_rewrite(replica: &mut Replica) {
    match replica.finish_pending_rewrite() {
        Ok(true) => eprintln!("Rewrote the store file after an erasure."),
        Ok(false) => {}
        Err(e) => eprintln!(
            "warning: the store file still has to be rewritten after an erasure (until then, \
             the erased record's old bytes may remain in it); tried again at the next start \
             of `field-client run` and daily: {e}"
        ),
    }
}

/// The store, held: nobody else uses it until this is dropped.
pub type Held = OwnedMappedMutexGuard<Option<Replica>, Replica>;

impl StoreOwner {
    /// Opens the store now, with the full integrity check (a damaged store
    /// is refused at start, not found by chance later).
    pub fn open(path: &Path) -> Result<Arc<StoreOwner>, ReplicaError> {
        let mut replica = Replica::open(path)?;
        replica.check_integrity()?;
        finish_pending_rewrite(&mut replica);
        Ok(Arc::new(StoreOwner {
            path: path.to_owned(),
            slot: Arc::new(tokio::sync::Mutex::new(Some(replica))),
            detached: Mutex::new(None),
            local_change: Notify::new(),
            stored: tokio::sync::watch::Sender::new(0),
            stopping: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// The store for as long as the result is kept, opened again if it was lent.
    pub async fn hold(&self) -> Result<Held, ReplicaError> {
        let mut slot = Arc::clone(&self.slot).lock_owned().await;
        let replica = match slot.take() {
            Some(replica) => replica,
            None => {
                let replica = reopen(&self.path).await?;
                let detached = self
                    .detached
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                match detached {
                    Some(detached) => replica.reattach(detached),
                    None => replica,
                }
            }
        };
        Ok(OwnedMutexGuard::map(slot, |slot| slot.insert(replica)))
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Says that something was recorded (the sync loop sends it).
    pub fn note_local_change(&self) {
        self.local_change.notify_one();
        self.note_stored();
    }

    /// Says that something may have been stored: a local change, a command
    /// the store was lent to, or a finished sync round.
    pub fn note_stored(&self) {
        self.stored
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Sees every [`StoreOwner::note_stored`] from now on (what
    /// `crate::daemon::compact_when_quiet` waits on).
    pub fn stored(&self) -> tokio::sync::watch::Receiver<u64> {
        self.stored.subscribe()
    }

    /// Resolves at the next [`StoreOwner::note_local_change`] (or at once if
    /// one came since the last call).
    pub async fn local_change(&self) {
        self.local_change.notified().await;
    }

    /// Asks everything that uses the store to finish what it is doing and stop.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Whether [`StoreOwner::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once [`StoreOwner::stop`] is called (at once if it was).
    pub async fn stopping(&self) {
        let mut stopping = self.stopping.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = stopping.wait_for(|stop| *stop).await;
    }

    /// Lends the store to commands that ask, until the process ends, on a
    /// listener from [`listen_for_commands`].
    pub async fn lend_to_commands(self: Arc<Self>, lending: Lending) -> std::io::Result<()> {
        let Lending { listener, token } = lending;
        loop {
            let (stream, _) = listener.accept().await?;
            // One at a time: a lend holds the store anyway. A connection
            // that is not a command of ours is simply closed.
            let _ = self.lend_once(stream, &token).await;
        }
    }

    async fn lend_once(&self, stream: tokio::net::TcpStream, token: &str) -> std::io::Result<()> {
        let mut stream = tokio::io::BufReader::new(stream);
        let mut line = String::new();
        let mut request = (&mut stream).take(MAX_REQUEST_BYTES);
        tokio::time::timeout(LEND_REQUEST_TIMEOUT, request.read_line(&mut line))
            .await
            .map_err(|_| std::io::Error::other("no request in time"))??;
        if line.trim_end() != format!("{REQUEST} {token}") {
            return Err(std::io::Error::other("not a lend request with our token"));
        }
        let mut slot = self.slot.lock().await;
        // Closing the store releases its lock on the file (and notes a
        // clean close, so the command opens it without the full check); the
        // loaded journals stay in memory and catch up afterwards.
        if let Some(replica) = slot.take() {
            *self.detached.lock().unwrap_or_else(PoisonError::into_inner) = Some(replica.detach());
        }
        stream
            .get_mut()
            .write_all(format!("{ANSWER}\n").as_bytes())
            .await?;
        // Held until the command is done: its end closes the connection.
        let mut rest = [0_u8; 64];
        while stream.read(&mut rest).await? > 0 {}
        drop(slot);
        self.note_local_change();
        Ok(())
    }
}

/// Where commands ask a running `run` to lend its store.
#[derive(Debug)]
pub struct Lending {
    listener: tokio::net::TcpListener,
    token: String,
}

/// Listens on 127.0.0.1 for commands and writes [`CONTROL_FILE`] into
/// `data_dir`, before `run` says it is running: a command started after
/// that finds the file.
pub async fn listen_for_commands(data_dir: &Path) -> std::io::Result<Lending> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let token = crate::web::new_token();
    write_control_file(data_dir, listener.local_addr()?, &token)?;
    Ok(Lending { listener, token })
}

/// Removes [`CONTROL_FILE`] (at the end of `run`; a leftover one is harmless:
/// nobody answers on its port with its token).
pub fn remove_control_file(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(CONTROL_FILE));
}

fn write_control_file(data_dir: &Path, addr: SocketAddr, token: &str) -> std::io::Result<()> {
    let path = data_dir.join(CONTROL_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    writeln!(file, "{} {token}", addr.port())
}

async fn reopen(path: &Path) -> Result<Replica, ReplicaError> {
    let deadline = Instant::now() + REOPEN_WAIT;
    loop {
        match Replica::open(path) {
            Err(ReplicaError::Open(OpenError::InUse(_))) if Instant::now() < deadline => {
                tokio::time::sleep(REOPEN_RETRY).await;
            }
            other => return other,
        }
    }
}

/// A store lent by the running `run`: it stays lent while this lives.
#[derive(Debug)]
pub struct Lease {
    _connection: TcpStream,
}

/// The lease this process holds, kept until [`give_back`] (or the process ends).
static LEASE: Mutex<Option<Lease>> = Mutex::new(None);

/// Asks the `run` process of `data_dir` to lend its store; true once it
/// did (the store is then free for this process until [`give_back`]).
/// False when no `run` answers: the caller waits for the store as before.
pub fn borrow(data_dir: &Path) -> bool {
    match ask_to_lend(data_dir) {
        Ok(lease) => {
            *LEASE.lock().unwrap_or_else(PoisonError::into_inner) = Some(lease);
            true
        }
        // No `run` answering (none running, or a leftover control file).
        Err(_) => false,
    }
}

/// Ends the lease (if any): the `run` process takes its store back. Call
/// after the store is closed.
pub fn give_back() {
    drop(LEASE.lock().unwrap_or_else(PoisonError::into_inner).take());
}

fn ask_to_lend(data_dir: &Path) -> std::io::Result<Lease> {
    let control = std::fs::read_to_string(data_dir.join(CONTROL_FILE))?;
    let (port, token) = control
        .trim()
        .split_once(' ')
        .ok_or_else(|| std::io::Error::other("the control file is not ours"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| std::io::Error::other("the control file names no port"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, LEND_REQUEST_TIMEOUT)?;
    stream.set_read_timeout(Some(LEND_ANSWER_TIMEOUT))?;
    (&stream).write_all(format!("{REQUEST} {token}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_REQUEST_BYTES)).read_line(&mut answer)?;
    if answer.trim_end() != ANSWER {
        return Err(std::io::Error::other("the answer was not a lend"));
    }
    Ok(Lease {
        _connection: stream,
    })
}
