//! `field-client run`: the app and the background sync in one process,
//! until the process is asked to stop.
//!
//! On SIGTERM or Ctrl-C (a service manager stopping it, a logout) it stops
//! between frames: the frame being handled or sent is finished, the
//! connection is closed with a reason the relay hears at once, and the
//! process exits 0. What the app saved is on disk already (every save is
//! durable before it is answered).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::commands::{create_data_folder, open_with, runtime};
use crate::net;
use crate::words::say;

/// Longest time a stop may take: a frame on a slow link is finished well
/// within it. Past it the process exits anyway (the store is crash-safe;
/// the next start checks it), so a stuck network cannot hold up a shutdown
/// past the service manager's own limit (`service::STOP_TIMEOUT_SECS`).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// How often `run` without an enrolment looks whether `enrol` has run since.
const ENROLMENT_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// `field-client run`: the app on `web_port` (unless `None`) and the
/// background sync, once the device is enrolled; returns when asked to stop.
pub fn run(data_dir: &Path, store: &Path, web: Option<crate::web::Options>) -> Result<()> {
    if !store.exists() && web.is_none() {
        bail!("{}", say("cli-run-no-journal", &[]));
    }
    let result = runtime()?.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            termination_asked().await;
            stop.send_replace(true);
            tokio::time::sleep(STOP_GRACE).await;
            eprintln!("{}", say("cli-stop-too-slow", &[]));
            std::process::exit(1);
        });
        serve_and_sync(data_dir, store, web, stopped).await
    });
    crate::owner::remove_control_file(data_dir);
    result
}

/// The app and the sync loop on the one open store, until a stop is asked
/// through `stopped` (or the sync ends for good without an app to serve).
async fn serve_and_sync(
    data_dir: &Path,
    store: &Path,
    web: Option<crate::web::Options>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut listener = match web {
        Some(options) => Some(bind_app(options.port).await?),
        None => None,
    };
    if let Some(bound) = listener.take_if(|_| !store.exists()) {
        tokio::select! {
            ready = first_run_setup(bound, data_dir, store) => listener = Some(ready?),
            // Nothing to finish before the journal exists.
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
        }
    }
    let owner = open_owner(store)?;
    pass_stop_on(stopped, &owner);
    tokio::spawn(crate::daemon::compact_when_quiet(Arc::clone(&owner)));
    let enrolled = {
        let held = owner.hold().await?;
        // A store from before names were written this way (an office
        // device enrolled earlier) writes them so from now on.
        crate::people::refresh_author(&held)?;
        net::enrolment(held.store())?
    };
    if enrolled.is_none() && web.is_none() {
        // Nothing to serve and nothing to sync: say how to enrol.
        return Err(net::NetError::NotEnrolled.into());
    }
    lend_to_commands(&owner, data_dir).await;
    if let (Some(listener), Some(options)) = (listener, web) {
        serve_app(&owner, data_dir, listener, options)?;
    }
    let enrolment = tokio::select! {
        enrolment = wait_for_enrolment(&owner, enrolled) => enrolment?,
        () = owner.stopping() => return Ok(()),
    };
    eprintln!(
        "{}",
        say(
            "cli-syncing",
            &[
                ("centre", enrolment.centre.as_str().into()),
                ("server", enrolment.relay.to_string().into()),
                ("path", store.display().to_string().into()),
            ]
        )
    );
    sync_until_stopped(data_dir, &owner, web.is_some()).await
}

/// The background sync until a stop is asked; Ok when it was.
async fn sync_until_stopped(
    data_dir: &Path,
    owner: &Arc<crate::owner::StoreOwner>,
    serves_app: bool,
) -> Result<()> {
    let error = crate::daemon::run(data_dir, owner).await;
    if matches!(error, net::NetError::Stopped) {
        return Ok(());
    }
    if serves_app && matches!(error, net::NetError::Revoked) {
        // Recording goes on: the app keeps serving what is on this
        // computer, and its status line says syncing stopped and why.
        eprintln!(
            "{}",
            say(
                "cli-revoked-app-stays",
                &[("why", error.to_string().into())]
            )
        );
        owner.stopping().await;
        return Ok(());
    }
    Err(error).with_context(|| say("cli-sync-stopped", &[]))
}

/// Resolves when the process is asked to stop: SIGTERM (a service manager,
/// a logout) or Ctrl-C. Never, if neither can be listened for.
async fn termination_asked() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => {}
            Ok(()) = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Tells the store's users to stop once a stop is asked.
fn pass_stop_on(
    mut stopped: tokio::sync::watch::Receiver<bool>,
    owner: &Arc<crate::owner::StoreOwner>,
) {
    let owner = Arc::clone(owner);
    tokio::spawn(async move {
        if stopped.wait_for(|stop| *stop).await.is_ok() {
            owner.stop();
        }
    });
}

/// Lends the store to commands run beside this process (crate::owner):
/// listening (and the control file written) before `run` says it runs.
async fn lend_to_commands(owner: &Arc<crate::owner::StoreOwner>, data_dir: &Path) {
    let cannot = |e: std::io::Error| {
        eprintln!(
            "{}",
            say("cli-cannot-lend", &[("why", e.to_string().into())])
        );
    };
    let lending = match crate::owner::listen_for_commands(data_dir).await {
        Ok(lending) => lending,
        Err(e) => return cannot(e),
    };
    let owner = Arc::clone(owner);
    tokio::spawn(async move {
        if let Err(e) = owner.lend_to_commands(lending).await {
            cannot(e);
        }
    });
}

/// Serves the app on `listener` in the background.
fn serve_app(
    owner: &Arc<crate::owner::StoreOwner>,
    data_dir: &Path,
    listener: tokio::net::TcpListener,
    options: crate::web::Options,
) -> Result<()> {
    let url = announce_app(data_dir, &listener)?;
    println!("{}", say("cli-app-at", &[("url", url.into())]));
    let owner = Arc::clone(owner);
    tokio::spawn(async move {
        if let Err(e) = crate::web::serve(listener, owner, options).await {
            eprintln!(
                "{}",
                say("cli-app-stopped", &[("why", e.to_string().into())])
            );
        }
    });
    Ok(())
}

/// Binds the app's address (loopback, `port`; 0 for any free one).
async fn bind_app(port: u16) -> Result<tokio::net::TcpListener> {
    crate::web::bind(port)
        .await
        .with_context(|| say("cli-port-taken", &[("port", port.to_string().into())]))
}

/// Writes the app's address into the data folder (for `field-client open`)
/// and returns it.
fn announce_app(data_dir: &Path, listener: &tokio::net::TcpListener) -> Result<String> {
    let url = crate::web::url(listener.local_addr()?);
    std::fs::write(data_dir.join(crate::web::ADDRESS_FILE), &url)
        .with_context(|| say("cli-cannot-write-address", &[]))?;
    Ok(url)
}

/// The first run on a computer with no journal: serves the setup page on the
/// app's address, opens it in the browser, and returns the same address,
/// still bound, once the journal exists (no moment in which it answers
/// nothing: connections wait in the listening socket between the two).
async fn first_run_setup(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    store: &Path,
) -> Result<tokio::net::TcpListener> {
    create_data_folder(data_dir)?;
    let listening = listener.into_std()?;
    let for_setup = tokio::net::TcpListener::from_std(listening.try_clone()?)?;
    let url = announce_app(data_dir, &for_setup)?;
    println!("{}", say("cli-setup-at", &[("url", url.as_str().into())]));
    let opening = url.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = webbrowser::open(&opening) {
            let why = e.to_string();
            eprintln!(
                "{}",
                say(
                    "cli-no-browser",
                    &[("why", why.into()), ("url", opening.as_str().into())]
                )
            );
        }
    });
    crate::web::serve_setup(for_setup, data_dir, store)
        .await
        .with_context(|| say("cli-setup-stopped", &[]))?;
    eprintln!("{}", say("cli-set-up", &[("url", url.into())]));
    Ok(tokio::net::TcpListener::from_std(listening)?)
}

/// The store, opened once for the whole of `run` (see crate::owner).
fn open_owner(store: &Path) -> Result<Arc<crate::owner::StoreOwner>> {
    open_with(store, crate::owner::StoreOwner::open)
}

/// The enrolment, waiting for `field-client enrol` when there is none yet.
async fn wait_for_enrolment(
    owner: &crate::owner::StoreOwner,
    known: Option<net::Enrolment>,
) -> Result<net::Enrolment> {
    if let Some(enrolment) = known {
        return Ok(enrolment);
    }
    eprintln!("{}", say("cli-waiting-for-enrolment", &[]));
    loop {
        // The app's settings page says so at once; a command run beside
        // `run` is seen at the next look.
        let _ = tokio::time::timeout(ENROLMENT_CHECK_EVERY, owner.local_change()).await;
        let found = net::enrolment(owner.hold().await?.store())?;
        if let Some(enrolment) = found {
            return Ok(enrolment);
        }
    }
}
