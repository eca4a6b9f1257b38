//! Setting a computer up without a terminal.
//!
//! On a computer with no journal, `field-client run` serves the setup page
//! ([`serve_setup`]) at the app's address instead of the app: paste the code
//! from the office and the device is enrolled (the centre's name comes from
//! the office server), or start recording offline under a centre's name and
//! enrol later from the settings page ([`settings_page`]). Once a journal
//! exists, the setup server stops and the app takes the same address.
//!
//! Both pages are guarded like the app (this address only, this run's form
//! token, the browser's `Origin`), and an enrolment asks the office server
//! without holding the store: recording and syncing go on meanwhile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use sync_core::limits::MAX_NAME_CHARS;
use sync_core::sync::EnrolRefusal;
use sync_core::{NewStore, Replica};
use tokio::sync::watch;

use super::guard::{self, Guarded};
use super::i18n::{self, Lang, t};
use super::pages::{self, Chrome};
use super::routes::{Failure, Reply, UiLang, facts_and_activities, fail, page};
use super::{App, CSRF_FIELD, MAX_FORM_BYTES, WebError, assets};
use crate::net::{self, EnrolRequest, NetError};

/// The first-run server: what it needs to create the journal.
#[derive(Clone, Debug)]
struct Setup {
    inner: Arc<SetupInner>,
}

#[derive(Debug)]
struct SetupInner {
    data_dir: PathBuf,
    store: PathBuf,
    csrf_token: String,
    allowed_hosts: Vec<String>,
    /// Set once the journal exists: the setup server stops, the app starts.
    done: watch::Sender<bool>,
    /// One setup at a time (a double click sends the form twice).
    creating: tokio::sync::Mutex<()>,
}

impl Guarded for Setup {
    fn allowed_hosts(&self) -> &[String] {
        &self.inner.allowed_hosts
    }
    fn csrf_token(&self) -> &str {
        &self.inner.csrf_token
    }
}

/// Serves the setup page on `listener` until a journal exists at `store`
/// (made by one of its forms), then returns; the caller serves the app on
/// the same address.
pub async fn serve_setup(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    store: &Path,
) -> std::io::Result<()> {
    let (done, mut finished) = watch::channel(false);
    let setup = Setup {
        inner: Arc::new(SetupInner {
            data_dir: data_dir.to_owned(),
            store: store.to_owned(),
            csrf_token: guard::new_token(),
            allowed_hosts: guard::hosts_for(listener.local_addr()?),
            done,
            creating: tokio::sync::Mutex::new(()),
        }),
    };
    axum::serve(listener, setup_router(setup))
        .with_graceful_shutdown(async move {
            let _ = finished.wait_for(|done| *done).await;
        })
        .await
}

/// The setup server's routes: the page, its two forms, the language switch.
fn setup_router(setup: Setup) -> Router {
    Router::new()
        .route("/setup/enrol", post(setup_enrol))
        .route("/setup/offline", post(setup_offline))
        .route("/language", post(setup_language))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .fallback(get(setup_page))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn_with_state(
            setup.clone(),
            guard::check_request::<Setup>,
        ))
        .with_state(setup)
}

/// What a setup form was sent with, shown again next to its problem.
#[derive(Debug, Default)]
struct Typed {
    code: String,
    centre: String,
    device_name: String,
    /// The enrolment form's problem, in words.
    code_error: Option<String>,
    /// The offline form's problem, in words.
    centre_error: Option<String>,
}

async fn setup_page(State(setup): State<Setup>, UiLang(lang): UiLang) -> Response {
    let typed = Typed {
        device_name: crate::commands::default_device_name(),
        ..Typed::default()
    };
    setup_response(&setup, lang, StatusCode::OK, &typed)
}

/// The setup page again with what was typed and its problem.
fn setup_refused(setup: &Setup, lang: Lang, typed: &Typed) -> Reply {
    Ok(setup_response(
        setup,
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        typed,
    ))
}

fn setup_response(setup: &Setup, lang: Lang, status: StatusCode, typed: &Typed) -> Response {
    let chrome = Chrome {
        lang,
        centre: "",
        office: false,
        status: &[],
        csrf: setup.csrf_token(),
        here: "/",
        menu: false,
        people: None,
    };
    let title = t(lang, "setup-heading");
    let content = setup_markup(lang, setup.csrf_token(), typed);
    (status, pages::layout(&chrome, &title, content)).into_response()
}

fn setup_markup(lang: Lang, csrf: &str, typed: &Typed) -> Markup {
    html! {
        h1 { (t(lang, "setup-heading")) }
        p { (t(lang, "setup-intro")) }
        section.setup {
            h2 { (t(lang, "setup-with-code")) }
            form method="post" action="/setup/enrol" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                (code_field(lang, &typed.code, typed.code_error.as_deref()))
                (device_field(lang, "enrol-device-name", &typed.device_name))
                button.button.primary type="submit" { (t(lang, "setup-enrol")) }
            }
        }
        section.setup {
            h2 { (t(lang, "setup-offline")) }
            p { (t(lang, "setup-offline-hint")) }
            form method="post" action="/setup/offline" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                div.field {
                    label for="centre" { (t(lang, "setup-centre")) }
                    input #centre type="text" name="centre" value=(typed.centre)
                        maxlength=(MAX_NAME_CHARS)
                        aria-invalid=[typed.centre_error.as_ref().map(|_| "true")];
                    @if let Some(error) = &typed.centre_error {
                        p.error role="alert" { (error) }
                    }
                }
                (device_field(lang, "offline-device-name", &typed.device_name))
                button.button type="submit" { (t(lang, "setup-start-offline")) }
            }
        }
    }
}

/// The enrolment code box, with its problem under it.
fn code_field(lang: Lang, code: &str, error: Option<&str>) -> Markup {
    html! {
        div.field {
            label for="code" { (t(lang, "enrol-code")) }
            textarea #code name="code" rows="3" spellcheck="false" autocomplete="off"
                aria-invalid=[error.map(|_| "true")] { (code) }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
        }
    }
}

fn device_field(lang: Lang, id: &str, name: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { (t(lang, "setup-device-name")) }
            input id=(id) type="text" name="device_name" value=(name) maxlength=(MAX_NAME_CHARS);
        }
    }
}

/// A trimmed name, or `None` when empty or too long.
fn name(value: Option<&str>) -> Option<String> {
    let value = value.unwrap_or("").trim();
    (!value.is_empty() && value.chars().count() <= MAX_NAME_CHARS).then(|| value.to_owned())
}

async fn setup_offline(State(setup): State<Setup>, UiLang(lang): UiLang, body: Bytes) -> Reply {
    let data = super::routes::posted(&setup, lang, &body)?;
    let device_name =
        name(data.get("device_name")).unwrap_or_else(crate::commands::default_device_name);
    let Some(centre) = name(data.get("centre")) else {
        let typed = Typed {
            centre: data.get("centre").unwrap_or("").to_owned(),
            device_name,
            centre_error: Some(t(lang, "setup-centre-missing")),
            ..Typed::default()
        };
        return setup_refused(&setup, lang, &typed);
    };
    let _one_at_a_time = setup.inner.creating.lock().await;
    if !setup.inner.store.exists() {
        create_store(&setup, &centre, &device_name)
            .await
            .map_err(fail(lang))?;
    }
    Ok(finish(&setup))
}

async fn setup_enrol(State(setup): State<Setup>, UiLang(lang): UiLang, body: Bytes) -> Reply {
    let data = super::routes::posted(&setup, lang, &body)?;
    let code = data.get("code").unwrap_or("").trim().to_owned();
    let device_name =
        name(data.get("device_name")).unwrap_or_else(crate::commands::default_device_name);
    let shown_again = |error: String| Typed {
        code: code.clone(),
        device_name: device_name.clone(),
        code_error: Some(error),
        ..Typed::default()
    };
    // A mistyped code is told before anything is made.
    if let Err(e) = relay::enrol_code::EnrolCode::decode(&code) {
        let typed = shown_again(crate::words::enrol_code_problem(lang, &e));
        return setup_refused(&setup, lang, &typed);
    }
    let _one_at_a_time = setup.inner.creating.lock().await;
    if setup.inner.store.exists() {
        return Ok(finish(&setup));
    }
    // The journal is made under a provisional name (the office server names
    // the centre) and removed again if the enrolment fails, so the page can
    // simply be tried again.
    let mut replica = create_store(&setup, &t(lang, "setup-provisional-centre"), &device_name)
        .await
        .map_err(fail(lang))?;
    match enrol_replica(&setup.inner.data_dir, &mut replica, &code).await {
        Ok(_) => {
            drop(replica);
            Ok(finish(&setup))
        }
        Err(e) => {
            drop(replica);
            remove_store(&setup.inner.store);
            let typed = shown_again(enrol_problem(lang, &e));
            setup_refused(&setup, lang, &typed)
        }
    }
}

/// Enrols with the replica held throughout (nothing else uses it yet).
async fn enrol_replica(
    data_dir: &Path,
    replica: &mut Replica,
    code: &str,
) -> Result<net::Enrolment, NetError> {
    net::enrol(data_dir, replica, code).await
}

async fn create_store(setup: &Setup, centre: &str, device_name: &str) -> Result<Replica, WebError> {
    let (data_dir, store) = (setup.inner.data_dir.clone(), setup.inner.store.clone());
    let (centre, device_name) = (centre.to_owned(), device_name.to_owned());
    super::blocking(move || {
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            sync_core::ReplicaError::Open(sync_core::OpenError::Io {
                path: data_dir.clone(),
                source: e,
            })
        })?;
        Replica::create(
            &store,
            NewStore {
                centre: &centre,
                device_name: &device_name,
            },
        )
    })
    .await
}

/// Removes a journal made for an enrolment that failed (it holds nothing),
/// so the setup page can be used again.
fn remove_store(store: &Path) {
    if let Err(e) = sync_core::Store::remove_new(store) {
        eprintln!("warning: could not remove the journal made for the failed enrolment: {e}");
    }
}

/// The journal exists: the setup server stops, and the browser goes to the
/// app, which takes over the same address.
fn finish(setup: &Setup) -> Response {
    setup.inner.done.send_replace(true);
    Redirect::to("/").into_response()
}

async fn setup_language(State(setup): State<Setup>, UiLang(lang): UiLang, body: Bytes) -> Reply {
    let data = super::routes::posted(&setup, lang, &body)?;
    let chosen = data.get("lang").and_then(Lang::from_code).unwrap_or(lang);
    Ok(super::routes::language_cookie(chosen, "/"))
}

/// Why an enrolment did not happen, in plain words.
fn enrol_problem(lang: Lang, e: &NetError) -> String {
    match e {
        NetError::Code(code) => crate::words::enrol_code_problem(lang, code),
        NetError::Unreachable(_) | NetError::Transport(_) | NetError::BadAddress(_) => {
            t(lang, "enrol-unreachable")
        }
        NetError::Refused { message, .. } => match EnrolRefusal::from_text(message) {
            Some(refused) => t(lang, crate::words::enrol_refusal_id(refused)),
            None => i18n::text(
                lang,
                "enrol-refused",
                &[("details", message.clone().into())],
            ),
        },
        other => i18n::text(
            lang,
            "enrol-failed",
            &[("details", crate::words::net_error(lang, other).into())],
        ),
    }
}

/// The settings page of a running app: this computer's names and, until it
/// is enrolled, the form to enrol it with a code from the office.
pub(super) async fn settings_page(State(app): State<App>, UiLang(lang): UiLang, uri: Uri) -> Reply {
    settings_response(&app, lang, &uri, StatusCode::OK, ("", None)).await
}

async fn settings_response(
    app: &App,
    lang: Lang,
    uri: &Uri,
    status: StatusCode,
    (code, problem): (&str, Option<&str>),
) -> Reply {
    let again = SentAgain {
        code,
        code_problem: problem,
        names: None,
    };
    settings_with(app, lang, uri, status, again).await
}

/// What one of the settings page's forms was sent with, shown again with its
/// problem.
#[derive(Clone, Copy, Debug, Default)]
struct SentAgain<'a> {
    code: &'a str,
    code_problem: Option<&'a str>,
    /// The names as typed, and their problem.
    names: Option<(&'a str, &'a str)>,
}

async fn settings_with(
    app: &App,
    lang: Lang,
    uri: &Uri,
    status: StatusCode,
    again: SentAgain<'_>,
) -> Reply {
    let SentAgain {
        code,
        code_problem: problem,
        names: people_problem,
    } = again;
    let (facts, _) = facts_and_activities(app).await.map_err(fail(lang))?;
    let (device_name, municipality, enrolment) = app
        .read(|view| {
            let store = view.store();
            let municipality = view.home()?.municipality;
            let enrolment = net::enrolment(store)?;
            Ok((store.device_name().to_owned(), municipality, enrolment))
        })
        .await
        .map_err(fail(lang))?;
    let content = html! {
        h1 { (t(lang, "settings-heading")) }
        dl.facts {
            dt { (t(lang, "setup-centre")) } dd { (facts.centre) }
            @if let Some(municipality) = &municipality {
                dt { (t(lang, "col-municipality")) } dd.municipality { (municipality) }
            }
            dt { (t(lang, "setup-device-name")) } dd { (device_name) }
        }
        (people_form(lang, app.csrf_token(), &facts.people, people_problem))
        @match &enrolment {
            Some(enrolment) => p {
                (i18n::text(lang, "settings-enrolled", &[
                    ("relay", enrolment.relay.clone().into()),
                    ("when", i18n::moment(lang, enrolment.enrolled_at).into()),
                ]))
            },
            None => section.setup {
                h2 { (t(lang, "settings-enrol-heading")) }
                p { (t(lang, "settings-enrol-hint")) }
                form method="post" action="/settings/enrol" {
                    input type="hidden" name=(CSRF_FIELD) value=(app.csrf_token());
                    (code_field(lang, code, problem))
                    button.button.primary type="submit" { (t(lang, "setup-enrol")) }
                }
            },
        }
    };
    let title = t(lang, "settings-heading");
    Ok((status, page(app, lang, &facts, uri, &title, content)).into_response())
}

/// Enrols the running app's device: the code is checked and the office
/// server asked without holding the store; the journal takes the centre's
/// id and name in one short step after, and syncing starts at once.
pub(super) async fn settings_enrol(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    body: Bytes,
) -> Reply {
    let data = super::routes::posted(&app, lang, &body)?;
    let code = data.get("code").unwrap_or("").trim().to_owned();
    let problem = match enrol_running(&app, &code).await {
        Ok(()) => return Ok(Redirect::to("/settings?done=enrolled").into_response()),
        Err(EnrolFailure::Store(e)) => return Err(Failure(lang, e)),
        Err(EnrolFailure::Net(e)) => enrol_problem(lang, &e),
    };
    settings_response(
        &app,
        lang,
        &uri,
        StatusCode::UNPROCESSABLE_ENTITY,
        (&code, Some(&problem)),
    )
    .await
}

enum EnrolFailure {
    Store(WebError),
    Net(NetError),
}

async fn enrol_running(app: &App, code: &str) -> Result<(), EnrolFailure> {
    let owner = app.owner();
    let request = {
        let held = owner
            .hold()
            .await
            .map_err(|e| EnrolFailure::Store(e.into()))?;
        EnrolRequest::new(&held, code).map_err(EnrolFailure::Net)?
    };
    // The device's key lives beside its journal, in the data folder.
    let data_dir = owner.path().parent().unwrap_or(Path::new("."));
    let granted = request.ask(data_dir).await.map_err(EnrolFailure::Net)?;
    let mut held = owner
        .hold()
        .await
        .map_err(|e| EnrolFailure::Store(e.into()))?;
    request
        .apply(&mut held, granted)
        .map_err(EnrolFailure::Net)?;
    drop(held);
    // The background sync starts now, not at its next look.
    owner.note_local_change();
    Ok(())
}

/// The people who record on this computer: one name per line; the first
/// time the app asks, the list is empty.
fn people_form(
    lang: Lang,
    csrf: &str,
    people: &crate::people::People,
    problem: Option<(&str, &str)>,
) -> Markup {
    let typed = problem.map_or_else(|| people.names.join("\n"), |(typed, _)| typed.to_owned());
    html! {
        section.setup #people {
            h2 { (t(lang, "people-heading")) }
            p { (t(lang, "people-hint")) }
            form method="post" action="/settings/people" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                div.field {
                    label for="names" { (t(lang, "people-names")) }
                    textarea #names name="names" rows="4"
                        aria-invalid=[problem.map(|_| "true")] { (typed) }
                    @if let Some((_, words)) = problem {
                        p.error role="alert" { (words) }
                    }
                }
                button.button type="submit" { (t(lang, "people-save")) }
            }
        }
    }
}

/// Keeps the names of the people who record on this computer.
pub(super) async fn save_people(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    body: Bytes,
) -> Reply {
    let data = super::routes::posted(&app, lang, &body)?;
    let typed = data.get("names").unwrap_or("").to_owned();
    let names = typed.clone();
    let saved = app
        .with_store(move |replica| Ok(crate::people::save_names(replica, &names)))
        .await
        .map_err(fail(lang))?;
    match saved {
        Ok(_) => Ok(Redirect::to("/settings#people").into_response()),
        Err(crate::people::PeopleError::Store(e)) => Err(Failure(lang, e.into())),
        Err(e) => {
            let words = people_problem(lang, &e);
            let again = SentAgain {
                names: Some((&typed, &words)),
                ..SentAgain::default()
            };
            settings_with(&app, lang, &uri, StatusCode::UNPROCESSABLE_ENTITY, again).await
        }
    }
}

fn people_problem(lang: Lang, e: &crate::people::PeopleError) -> String {
    match e {
        crate::people::PeopleError::NameTooLong => i18n::text(
            lang,
            "people-name-too-long",
            &[("limit", MAX_NAME_CHARS.into())],
        ),
        crate::people::PeopleError::TooMany => i18n::text(
            lang,
            "people-too-many",
            &[("limit", crate::people::MAX_PEOPLE.into())],
        ),
        other => other.to_string(),
    }
}

/// The header's switch: `name` records from now on; back to the same page.
pub(super) async fn switch_recorder(
    State(app): State<App>,
    UiLang(lang): UiLang,
    body: Bytes,
) -> Reply {
    let data = super::routes::posted(&app, lang, &body)?;
    let name = data.get("name").unwrap_or("").to_owned();
    let back = data
        .get("back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or("/")
        .to_owned();
    let switched = app
        .with_store(move |replica| Ok(crate::people::switch_to(replica, &name)))
        .await
        .map_err(fail(lang))?;
    match switched {
        Ok(()) => Ok(Redirect::to(&back).into_response()),
        Err(crate::people::PeopleError::Store(e)) => Err(Failure(lang, e.into())),
        Err(_) => Err(Failure(lang, WebError::BadForm)),
    }
}
