//! The volunteers' app: a small web server inside `field-client run`, on
//! 127.0.0.1 only, the way Syncthing serves its own interface.
//!
//! Everything it shows and saves comes from the local journal store, so it
//! works the same with the network down. Pages are rendered on the server
//! (maud) in Latvian or English (Fluent, [`i18n`]); a little JavaScript adds a
//! live participant total, drafts that survive a closed tab, and a status line
//! that refreshes itself. Forms work without it.
//!
//! Invariants:
//! - It answers only requests whose `Host` is this loopback address (against
//!   DNS rebinding) and saves only forms that carry this run's secret token and
//!   come from its own pages (against cross-site requests).
//! - "Saved" is shown only after the write is durable: the store commits with
//!   `Durability::Immediate` before the handler answers.
//! - The store is opened per request and closed after, as the CLI does, so the
//!   background sync and command-line scripts keep working alongside.

mod assets;
mod enrol;
mod erase;
mod files;
mod find;
mod form;
mod guard;
mod health;
pub mod i18n;
mod pages;
mod reports;
mod routes;
mod status;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use sync_core::replica::ListView;
use sync_core::{Activity, JournalId, Replica, ReplicaError, Store};

use crate::owner::StoreOwner;

/// Reading through the materialized view of the app's open store.
type View<'a> = ListView<&'a Store>;

pub use enrol::serve_setup;
pub use guard::CSRF_FIELD;
pub(crate) use guard::new_token;
pub use routes::router;

/// How `field-client run` serves the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Days without a successful sync after which the office's sync-health
    /// page warns about a centre.
    pub silent_days: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            port: DEFAULT_PORT,
            silent_days: crate::health::DEFAULT_SILENT_DAYS,
        }
    }
}

/// The app's port when none is given: fixed, so that a bookmark keeps working.
pub const DEFAULT_PORT: u16 = 7373;

/// Largest form body accepted: a form with every text at its limit (title,
/// description and notes of 4,000 characters, 50 names of 200) is under
/// 200 KiB even with its base copy; more is not a form of this app.
pub const MAX_FORM_BYTES: usize = 512 * 1024;

/// Activities per list page: a page renders fast and scrolls comfortably;
/// totals always cover every activity found, not just the page.
pub const LIST_PAGE_SIZE: usize = 50;

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<AppInner>,
}

#[derive(Debug)]
struct AppInner {
    /// The process's one open store, shared with the background sync.
    owner: Arc<StoreOwner>,
    /// The activities read last, kept while the store's view is unchanged.
    cache: Mutex<Option<CachedView>>,
    /// The secret every form carries; made fresh at each start.
    csrf_token: String,
    /// `Host` header values this server answers.
    allowed_hosts: Vec<String>,
    options: Options,
}

impl App {
    /// The app for the store `owner` holds, answering on `addr`.
    pub fn new(owner: Arc<StoreOwner>, addr: SocketAddr) -> App {
        App::with_options(owner, addr, Options::default())
    }

    /// The app as `field-client run` was told to serve it.
    pub fn with_options(owner: Arc<StoreOwner>, addr: SocketAddr, options: Options) -> App {
        App {
            inner: Arc::new(AppInner {
                owner,
                cache: Mutex::new(None),
                csrf_token: guard::new_token(),
                allowed_hosts: guard::hosts_for(addr),
                options,
            }),
        }
    }

    fn csrf_token(&self) -> &str {
        &self.inner.csrf_token
    }

    /// The one open store of the process, shared with the sync loop.
    fn owner(&self) -> &Arc<StoreOwner> {
        &self.inner.owner
    }

    fn silent_days(&self) -> u32 {
        self.inner.options.silent_days
    }

    /// Every activity of every journal in the store (a centre's device holds
    /// its own; the office's, every centre's), newest first: the copy read last
    /// time while no journal's view has changed since (a list page then costs
    /// no parsing of 10,000 rows), else read afresh.
    fn listed(&self, view: &View<'_>) -> Result<Arc<Vec<Listed>>, ReplicaError> {
        // Heads first: a write landing between the two reads makes them
        // differ from the stored views' next time, never stale.
        let mut key = Vec::new();
        for info in view.store().journals()? {
            key.push((info.id, view_heads(view, info.id)?));
        }
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = cache.as_ref()
            && cached.key == key
        {
            return Ok(Arc::clone(&cached.activities));
        }
        let activities: Vec<Listed> = view
            .all_activities()?
            .into_iter()
            .map(|(info, activity)| Listed {
                centre: info.centre,
                municipality: info.municipality,
                activity,
            })
            .collect();
        let activities = Arc::new(activities);
        let complete = key.iter().all(|(_, heads)| heads.is_some());
        *cache = complete.then(|| CachedView {
            key,
            activities: Arc::clone(&activities),
        });
        Ok(activities)
    }

    /// Runs `f` on the store's read view, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, ReplicaError> + Send + 'static,
    ) -> Result<T, WebError> {
        let held = self.inner.owner.hold().await?;
        blocking(move || f(&held.list_view())).await
    }

    /// Runs `f` on the store for a setting (no activity changes, so nothing
    /// for the sync to send), off the async threads.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Replica) -> Result<T, ReplicaError> + Send + 'static,
    ) -> Result<T, WebError> {
        let mut held = self.inner.owner.hold().await?;
        blocking(move || f(&mut held)).await
    }

    /// Wakes the background sync (something for it to do: a file to fetch).
    fn note_local_change(&self) {
        self.inner.owner.note_local_change();
    }

    /// Runs `f` on the loaded journals, off the async threads; `f`'s writes
    /// are durable when it returns.
    async fn with_journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Replica) -> Result<T, ReplicaError> + Send + 'static,
    ) -> Result<T, WebError> {
        let mut held = self.inner.owner.hold().await?;
        let result = blocking(move || {
            let result = f(&mut held)?;
            if let Err(e) = held.compact_if_needed() {
                eprintln!("warning: could not compact the journal (your data is safe): {e}");
            }
            Ok(result)
        })
        .await?;
        // The background sync sends what was recorded, now.
        self.inner.owner.note_local_change();
        Ok(result)
    }
}

/// One activity as listed, with its centre.
#[derive(Clone, Debug)]
struct Listed {
    centre: String,
    /// The centre's municipality, when the office server set one.
    municipality: Option<String>,
    activity: Activity,
}

/// Activities as of each journal's view heads.
#[derive(Debug)]
struct CachedView {
    key: Vec<(JournalId, Option<Vec<[u8; 32]>>)>,
    activities: Arc<Vec<Listed>>,
}

fn view_heads(view: &View<'_>, journal: JournalId) -> Result<Option<Vec<[u8; 32]>>, ReplicaError> {
    let heads = view.store().view_heads(journal)?;
    Ok(heads.map(|heads| heads.iter().map(|h| h.0).collect()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReplicaError> + Send + 'static,
) -> Result<T, WebError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(WebError::from),
        Err(e) => Err(WebError::Store(format!("the store task failed: {e}"))),
    }
}

/// Why a request could not be answered as asked.
#[derive(Debug)]
enum WebError {
    NotFound,
    PageNotFound,
    Busy,
    StaleForm,
    BadForm,
    /// Only an office device may do this (erase a record).
    OfficeOnly,
    /// A file that cannot be attached, and why (in the interface language).
    FileRefused(String),
    Store(String),
}

impl From<ReplicaError> for WebError {
    fn from(e: ReplicaError) -> WebError {
        match e {
            ReplicaError::Open(sync_core::OpenError::InUse(_)) => WebError::Busy,
            other => WebError::Store(other.to_string()),
        }
    }
}

/// Serves the app on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    owner: Arc<StoreOwner>,
    options: Options,
) -> std::io::Result<()> {
    let app = App::with_options(owner, listener.local_addr()?, options);
    axum::serve(listener, router(app)).await
}

/// Binds the app's address: loopback only, `port` 0 for any free port.
pub async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await
}

/// The file in the data folder holding the running app's address, for
/// `field-client open`.
pub const ADDRESS_FILE: &str = "web-address";

/// The app's address as a URL.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}
