//! The app's pages and form handlers.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use maud::Markup;
use sync_core::journal::JournalError;
use sync_core::{Activity, ActivityId, Kind, ReplicaError};

use super::find::{self, Filter, ListQuery, Totals};
use super::form::{self, ActivityForm, Errors, FormData};
use super::i18n::{self, Lang};
use super::pages::{self, Chrome, Conflict, FormPage, ListPage, ShownAgain};
use super::status::SyncFacts;
use super::{
    App, CSRF_FIELD, LIST_PAGE_SIZE, Listed, MAX_FORM_BYTES, WebError, assets, guard, reports,
};

/// Every route of the app, behind the host and origin checks.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(list))
        .route("/new", get(new_form))
        .route("/activities", post(create))
        .route("/activities/{id}", get(show).post(update))
        .route("/activities/{id}/edit", get(edit_form))
        .route("/activities/{id}/delete", get(confirm_delete).post(delete))
        .route("/activities/{id}/restore", post(restore))
        .route(
            "/activities/{id}/erase",
            get(super::erase::confirm_erase).post(super::erase::erase),
        )
        .route("/activities/{id}/history", get(history))
        .route(
            "/activities/{id}/files",
            post(super::files::upload).layer(DefaultBodyLimit::max(super::files::MAX_UPLOAD_BYTES)),
        )
        .route(
            "/activities/{id}/files/{hash}/remove",
            post(super::files::remove),
        )
        .route(
            "/activities/{id}/files/{hash}/fetch",
            post(super::files::fetch),
        )
        .route("/files/{hash}", get(super::files::serve))
        .route("/language", post(set_language))
        .route("/status", get(status_fragment))
        .route("/reports", get(reports::reports_page))
        .route("/health", get(super::health::health_page))
        .route("/settings", get(super::enrol::settings_page))
        .route("/settings/enrol", post(super::enrol::settings_enrol))
        .route("/settings/people", post(super::enrol::save_people))
        .route("/recorder", post(super::enrol::switch_recorder))
        .route("/reports/{file}", get(reports::report_file))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            guard::check_request::<App>,
        ))
        .with_state(app)
}

/// The interface language, from the `lang` cookie (Latvian without one).
#[derive(Clone, Copy, Debug)]
pub(super) struct UiLang(pub(super) Lang);

impl<S: Send + Sync> FromRequestParts<S> for UiLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<UiLang, Self::Rejection> {
        let lang = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix("lang="))
            .find_map(Lang::from_code)
            .unwrap_or_default();
        Ok(UiLang(lang))
    }
}

/// A failed request, shown as a page in the interface language.
pub(super) struct Failure(pub(super) Lang, pub(super) WebError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let Failure(lang, error) = self;
        let (status, message) = match &error {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                i18n::text(lang, "error-not-found", &[]),
            ),
            WebError::PageNotFound => (
                StatusCode::NOT_FOUND,
                i18n::text(lang, "error-page-not-found", &[]),
            ),
            WebError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                i18n::text(lang, "error-busy", &[]),
            ),
            WebError::StaleForm => (
                StatusCode::FORBIDDEN,
                i18n::text(lang, "error-stale-form", &[]),
            ),
            WebError::BadForm => (
                StatusCode::BAD_REQUEST,
                i18n::text(lang, "error-bad-form", &[]),
            ),
            WebError::OfficeOnly => (
                StatusCode::FORBIDDEN,
                i18n::text(lang, "error-office-only", &[]),
            ),
            WebError::FileRefused(words) => (StatusCode::UNPROCESSABLE_ENTITY, words.clone()),
            WebError::Store(details) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                i18n::text(lang, "error-store", &[("details", details.clone().into())]),
            ),
        };
        // A bare page: the store may be what failed, so no status line.
        let chrome = Chrome {
            lang,
            centre: "",
            office: false,
            status: &[],
            csrf: "",
            here: "/",
            menu: true,
            people: None,
        };
        let title = i18n::text(lang, "error-heading", &[]);
        (
            status,
            pages::layout(&chrome, &title, pages::error(lang, &message)),
        )
            .into_response()
    }
}

pub(super) type Reply = Result<Response, Failure>;

pub(super) fn fail(lang: Lang) -> impl Fn(WebError) -> Failure {
    move |e| Failure(lang, e)
}

/// A full page with the app's header and status line.
pub(super) fn page(
    app: &App,
    lang: Lang,
    facts: &SyncFacts,
    uri: &Uri,
    title: &str,
    content: Markup,
) -> Markup {
    let status = facts.sentences(lang, Utc::now());
    let here = uri.path_and_query().map_or("/", |p| p.as_str());
    let chrome = Chrome {
        lang,
        centre: &facts.centre,
        office: facts.office,
        status: &status,
        csrf: app.csrf_token(),
        here,
        menu: true,
        people: Some(&facts.people),
    };
    pages::layout(&chrome, title, content)
}

/// The status facts and every activity of this device's journal, newest first.
pub(super) async fn facts_and_activities(
    app: &App,
) -> Result<(SyncFacts, Arc<Vec<Listed>>), WebError> {
    let cache = app.clone();
    app.read(move |view| Ok((SyncFacts::read(view)?, cache.listed(view)?)))
        .await
}

pub(super) async fn facts_and_activity(
    app: &App,
    id: ActivityId,
) -> Result<(SyncFacts, Activity), WebError> {
    let (facts, found) = app
        .read(move |view| Ok((SyncFacts::read(view)?, view.get(id)?)))
        .await?;
    let (_, activity) = found.ok_or(WebError::NotFound)?;
    Ok((facts, activity))
}

async fn list(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Reply {
    // A hand-edited address with a bad page number shows the first page.
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let (facts, activities) = facts_and_activities(&app).await.map_err(fail(lang))?;
    let filter = Filter::new(&query);
    let found: Vec<&Listed> = activities
        .iter()
        .filter(|l| filter.matches(&l.centre, &l.activity))
        .collect();
    let totals = Totals::of(found.iter().map(|l| &l.activity));
    let months = find::months(activities.iter().map(|l| &l.activity));
    let centres = find::centres(&activities);
    let mut query = query;
    query.page = query
        .page
        .min(found.len().saturating_sub(1) / LIST_PAGE_SIZE);
    let list_page = ListPage {
        query: &query,
        found: &found,
        totals: &totals,
        months: &months,
        centres: &centres,
        any: activities
            .iter()
            .any(|l| l.activity.deleted == query.deleted),
        flash: list_flash(lang, &query, &activities, app.csrf_token()),
    };
    let title = i18n::text(lang, "list-heading", &[]);
    let content = maud::html! {
        // Asked until this computer's people are named (settings).
        @if facts.people.names.is_empty() {
            p.notice { a href="/settings#people" { (i18n::t(lang, "people-ask")) } }
        }
        (pages::list(lang, &list_page))
    };
    Ok(page(&app, lang, &facts, &uri, &title, content).into_response())
}

/// "… was deleted. Undo" after a delete; what happens next after an
/// erasure was asked for.
fn list_flash(lang: Lang, query: &ListQuery, activities: &[Listed], csrf: &str) -> Option<Markup> {
    if query.done == "erase-requested" {
        return Some(pages::flash(&i18n::text(lang, "erase-requested", &[])));
    }
    let id: ActivityId = query.id.parse().ok()?;
    let a = &activities.iter().find(|l| l.activity.id == id)?.activity;
    (query.done == "deleted" && a.deleted).then(|| {
        let text = i18n::text(lang, "deleted", &[("title", a.title.clone().into())]);
        pages::flash_with_undo(lang, &text, &format!("/activities/{id}/restore"), csrf)
    })
}

#[derive(Debug, Default, serde::Deserialize)]
struct Done {
    #[serde(default)]
    done: String,
}

async fn show(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    Path(id): Path<String>,
    done: Result<Query<Done>, QueryRejection>,
) -> Reply {
    let done = done.map(|Query(d)| d).unwrap_or_default();
    let id = parse_id(&id).map_err(fail(lang))?;
    let (facts, a) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    let message = match done.done.as_str() {
        "saved-new" => Some("saved-new"),
        "saved-edit" => Some("saved-edit"),
        "restored" => Some("restored"),
        "no-changes" => Some("no-changes"),
        "files-added" => Some("files-added"),
        "file-removed" => Some("file-removed"),
        "file-fetching" => Some("file-fetching"),
        "no-files" => Some("no-files"),
        _ => None,
    };
    let flash =
        message.map(|id| pages::flash(&i18n::text(lang, id, &[("title", a.title.clone().into())])));
    let requests = app
        .read(|view| view.store().erasure_requests().map_err(ReplicaError::from))
        .await
        .map_err(fail(lang))?;
    let erasure = pages::Erasure {
        may_erase: facts.office,
        waiting: requests
            .iter()
            .any(|r| r.activity == id && r.answer.is_none()),
    };
    let held = files_shown(&app, &a).await.map_err(fail(lang))?;
    let content = pages::detail(lang, (&a, &held), app.csrf_token(), flash, erasure);
    Ok(page(&app, lang, &facts, &uri, &a.title, content).into_response())
}

/// What this computer holds of each file of `a`, and of its thumbnail.
/// Thumbnails come first (docs/ATTACHMENTS.md): the thumbnail of a photo
/// this computer lacks is asked of the running sync as the page is shown
/// (a few kilobytes), the photo itself only when the office asks for it.
async fn files_shown(app: &App, a: &Activity) -> Result<Vec<pages::FileShown>, WebError> {
    let (id, attachments) = (a.id, a.attachments.clone());
    let (shown, asked) = app
        .with_store(move |replica| {
            let store = replica.store();
            let journal = replica.list_view().get(id)?.map(|(info, _)| info.id.0);
            let wanted = crate::file_link::wanted(store)?;
            let here = |hash| -> Result<pages::FileHere, sync_core::StoreError> {
                Ok(if store.file(hash)?.is_some_and(|f| f.is_whole()) {
                    pages::FileHere::Whole
                } else if wanted.iter().any(|w| w.file.hash == hash) {
                    pages::FileHere::Fetching
                } else {
                    pages::FileHere::Absent
                })
            };
            let (mut shown, mut asked) = (Vec::new(), false);
            for file in &attachments {
                let full = here(file.file)?;
                let thumbnail = match file.thumbnail {
                    Some(t) => match here(t.file)? {
                        pages::FileHere::Whole => Some(t.file),
                        pages::FileHere::Absent if full != pages::FileHere::Whole => {
                            if let Some(journal) = journal {
                                let thumb = sync_core::sync::files::FileWanted::thumbnail_of(
                                    journal, id, t,
                                );
                                asked |= crate::file_link::want(store, thumb)?;
                            }
                            None
                        }
                        _ => None,
                    },
                    None => None,
                };
                shown.push(pages::FileShown { full, thumbnail });
            }
            Ok((shown, asked))
        })
        .await?;
    if asked {
        app.note_local_change();
    }
    Ok(shown)
}

/// What the form page needs besides its values.
struct FormContext {
    facts: SyncFacts,
    suggestions: (Vec<String>, Vec<String>),
}

async fn form_context(app: &App) -> Result<FormContext, WebError> {
    let (facts, activities) = facts_and_activities(app).await?;
    Ok(FormContext {
        facts,
        suggestions: find::used_names(activities.iter().map(|l| &l.activity)),
    })
}

async fn new_form(State(app): State<App>, UiLang(lang): UiLang, uri: Uri) -> Reply {
    let context = form_context(&app).await.map_err(fail(lang))?;
    let values = ActivityForm {
        date: chrono::Local::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
        ..ActivityForm::default()
    };
    let id = ActivityId::new_random().to_string();
    Ok(render_form(
        &app,
        lang,
        &uri,
        &context,
        &values,
        &Errors::new(),
        None,
        &id,
        ShownAgain::No,
    )
    .into_response())
}

#[allow(clippy::too_many_arguments)]
fn render_form(
    app: &App,
    lang: Lang,
    uri: &Uri,
    context: &FormContext,
    values: &ActivityForm,
    errors: &Errors,
    editing: Option<(&Activity, &str)>,
    new_id: &str,
    again: ShownAgain<'_>,
) -> Markup {
    let form_page = FormPage {
        values,
        errors,
        editing: editing.map(|(a, _)| a),
        new_id,
        base: editing.map_or("", |(_, base)| base),
        again,
        suggestions: &context.suggestions,
        csrf: app.csrf_token(),
    };
    let heading = if editing.is_some() {
        "form-edit-heading"
    } else {
        "form-new-heading"
    };
    let title = i18n::text(lang, heading, &[]);
    page(
        app,
        lang,
        &context.facts,
        uri,
        &title,
        pages::form(lang, &form_page),
    )
}

/// A posted form shown again instead of saved: what was typed, with its
/// errors or the reason (`why`); for a new activity (`new_id`) or an edit
/// (`editing`: the activity and the base the form was opened with).
struct FormAgain<'a> {
    values: &'a ActivityForm,
    errors: Errors,
    editing: Option<(&'a Activity, &'a str)>,
    new_id: &'a str,
    why: ShownAgain<'a>,
}

async fn form_again(
    app: &App,
    lang: Lang,
    uri: &Uri,
    shown: FormAgain<'_>,
    status: StatusCode,
) -> Reply {
    let context = form_context(app).await.map_err(fail(lang))?;
    let FormAgain {
        values,
        errors,
        editing,
        new_id,
        why,
    } = shown;
    let markup = render_form(
        app, lang, uri, &context, values, &errors, editing, new_id, why,
    );
    Ok((status, markup).into_response())
}

/// A posted activity form and whether it is this run's.
struct ActivityPost {
    data: FormData,
    /// Posted from a page of this app made before it restarted (its token
    /// is an old run's): shown again with what was typed, never saved as is.
    before_restart: bool,
}

/// The posted activity form: this run's (its token matches), or one the
/// browser says comes from this app's own page but from before a restart.
/// Anything else is refused, as every other form is ([`posted`]).
fn activity_post(
    app: &App,
    lang: Lang,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ActivityPost, Failure> {
    let data = FormData::parse(body);
    let current = guard::token_matches(app, data.get(CSRF_FIELD));
    if !current && !guard::from_own_page(app, headers) {
        return Err(Failure(lang, WebError::StaleForm));
    }
    Ok(ActivityPost {
        data,
        before_restart: !current,
    })
}

/// The posted form, once its token proved it came from this app's page.
pub(super) fn posted(
    app: &dyn guard::Guarded,
    lang: Lang,
    body: &[u8],
) -> Result<FormData, Failure> {
    let data = FormData::parse(body);
    if !guard::token_matches(app, data.get(CSRF_FIELD)) {
        return Err(Failure(lang, WebError::StaleForm));
    }
    Ok(data)
}

async fn create(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let post = activity_post(&app, lang, &headers, &body)?;
    let data = post.data;
    let values = ActivityForm::from_posted(&data);
    // The form carries the new activity's id: sending it twice saves it once.
    let id = data
        .get("id")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(ActivityId::new_random);
    let new_id = id.to_string();
    let again = |errors, why| FormAgain {
        values: &values,
        errors,
        editing: None,
        new_id: &new_id,
        why,
    };
    if post.before_restart {
        let shown = again(Errors::new(), ShownAgain::AfterRestart);
        return form_again(&app, lang, &uri, shown, StatusCode::CONFLICT).await;
    }
    let patch = values
        .to_input()
        .parse()
        .and_then(|p| p.check_complete().map(|()| p));
    let patch = match patch {
        Ok(patch) => patch,
        Err(errors) => {
            let shown = again(form::messages(lang, &errors), ShownAgain::No);
            return form_again(&app, lang, &uri, shown, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    app.with_journal(move |replica| match replica.add(id, &patch, Utc::now()) {
        Ok(_) | Err(ReplicaError::Journal(JournalError::AlreadyExists(_))) => Ok(()),
        Err(e) => Err(e),
    })
    .await
    .map_err(fail(lang))?;
    Ok(Redirect::to(&format!("/activities/{id}?done=saved-new")).into_response())
}

async fn edit_form(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    Path(id): Path<String>,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let context = form_context(&app).await.map_err(fail(lang))?;
    let (_, a) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    let values = ActivityForm::from_activity(&a);
    let base = serde_json::to_string(&values).expect("forms serialize");
    let markup = render_form(
        &app,
        lang,
        &uri,
        &context,
        &values,
        &Errors::new(),
        Some((&a, &base)),
        "",
        ShownAgain::No,
    );
    Ok(markup.into_response())
}

async fn update(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let post = activity_post(&app, lang, &headers, &body)?;
    let data = post.data;
    let mine = ActivityForm::from_posted(&data);
    // The base the form was opened with, shown again as it came: saving
    // the form again then meets any change made elsewhere meanwhile.
    let posted_base = data.get("base").unwrap_or_default();
    let base: ActivityForm =
        serde_json::from_str(posted_base).map_err(|_| Failure(lang, WebError::BadForm))?;
    let (_, current) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    let again = |errors, why| FormAgain {
        values: &mine,
        errors,
        editing: Some((&current, posted_base)),
        new_id: "",
        why,
    };
    if post.before_restart {
        let shown = again(Errors::new(), ShownAgain::AfterRestart);
        return form_again(&app, lang, &uri, shown, StatusCode::CONFLICT).await;
    }
    let now = ActivityForm::from_activity(&current);
    let changed_elsewhere = now.changed_from(Some(&base));
    let changed_here = mine.changed_from(Some(&base));
    if !changed_elsewhere.is_empty() {
        return show_conflict(
            &app,
            lang,
            &uri,
            (&current, &now, &base, &mine),
            &changed_elsewhere,
            &changed_here,
        )
        .await;
    }
    let patch = match mine.input_of(&changed_here).parse() {
        Ok(patch) => patch,
        Err(errors) => {
            let shown = again(form::messages(lang, &errors), ShownAgain::No);
            return form_again(&app, lang, &uri, shown, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    if patch.is_empty() {
        return Ok(Redirect::to(&format!("/activities/{id}?done=no-changes")).into_response());
    }
    app.with_journal(move |replica| replica.edit(id, &patch, Utc::now()))
        .await
        .map_err(fail(lang))?;
    Ok(Redirect::to(&format!("/activities/{id}?done=saved-edit")).into_response())
}

/// The activity changed since the form was opened: show what changed and the
/// form again, with this person's changes kept and the others' taken in.
async fn show_conflict(
    app: &App,
    lang: Lang,
    uri: &Uri,
    (current, now, base, mine): (&Activity, &ActivityForm, &ActivityForm, &ActivityForm),
    changed_elsewhere: &[&str],
    changed_here: &[&str],
) -> Reply {
    let mut values = now.clone();
    values.take_fields(mine, changed_here);
    let conflict = Conflict {
        changes: changed_elsewhere
            .iter()
            .map(|name| {
                (
                    form::label(lang, name),
                    shown_value(lang, name, &base.value(name)),
                    shown_value(lang, name, &now.value(name)),
                )
            })
            .collect(),
        by: current.updated_by.clone(),
        at: current.updated_at,
    };
    let context = form_context(app).await.map_err(fail(lang))?;
    let new_base = serde_json::to_string(now).expect("forms serialize");
    let markup = render_form(
        app,
        lang,
        uri,
        &context,
        &values,
        &Errors::new(),
        Some((current, &new_base)),
        "",
        ShownAgain::Conflict(&conflict),
    );
    Ok((StatusCode::CONFLICT, markup).into_response())
}

/// A field's value for people: kinds by name, nothing as a dash.
fn shown_value(lang: Lang, name: &str, value: &str) -> String {
    match (name, Kind::parse(value)) {
        _ if value.is_empty() => i18n::text(lang, "detail-none", &[]),
        ("kind", Some(kind)) => i18n::kind_name(lang, kind),
        _ => value.to_owned(),
    }
}

/// Who changed which field, and when, in plain words.
async fn history(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    Path(id): Path<String>,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let (facts, a) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    let entries = app
        .with_journal(move |replica| replica.history(id))
        .await
        .map_err(fail(lang))?;
    let title = i18n::text(
        lang,
        "history-heading",
        &[("title", a.title.clone().into())],
    );
    let content = pages::history(lang, &a, &entries);
    Ok(page(&app, lang, &facts, &uri, &title, content).into_response())
}

async fn confirm_delete(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    Path(id): Path<String>,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let (facts, a) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    let title = i18n::text(lang, "delete-heading", &[]);
    let content = pages::confirm_delete(lang, &a, app.csrf_token());
    Ok(page(&app, lang, &facts, &uri, &title, content).into_response())
}

async fn delete(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    posted(&app, lang, &body)?;
    set_deleted(&app, lang, id, true).await?;
    Ok(Redirect::to(&format!("/?done=deleted&id={id}")).into_response())
}

async fn restore(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    posted(&app, lang, &body)?;
    set_deleted(&app, lang, id, false).await?;
    Ok(Redirect::to(&format!("/activities/{id}?done=restored")).into_response())
}

async fn set_deleted(app: &App, lang: Lang, id: ActivityId, deleted: bool) -> Result<(), Failure> {
    app.with_journal(move |replica| replica.set_deleted(id, deleted, Utc::now()))
        .await
        .map_err(fail(lang))?;
    Ok(())
}

/// Chooses the interface language (a cookie for a year) and goes back.
async fn set_language(State(app): State<App>, UiLang(lang): UiLang, body: Bytes) -> Reply {
    let data = posted(&app, lang, &body)?;
    let chosen = data.get("lang").and_then(Lang::from_code).unwrap_or(lang);
    // Only a path of this app: never a redirect to another site.
    let back = data
        .get("back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or("/");
    Ok(language_cookie(chosen, back))
}

/// Remembers the chosen language (a cookie) and sends the browser to `back`.
pub(super) fn language_cookie(chosen: Lang, back: &str) -> Response {
    let cookie = format!(
        "lang={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly",
        chosen.code()
    );
    let mut response = Redirect::to(back).into_response();
    let cookie = HeaderValue::from_str(&cookie).expect("a cookie of ASCII letters");
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// The status line alone, for the page's script to refresh it.
async fn status_fragment(State(app): State<App>, UiLang(lang): UiLang) -> Reply {
    let facts = app.read(SyncFacts::read).await.map_err(fail(lang))?;
    let sentences = facts.sentences(lang, Utc::now());
    Ok(pages::status_panel(lang, &sentences).into_response())
}

async fn not_found(UiLang(lang): UiLang) -> Failure {
    Failure(lang, WebError::PageNotFound)
}

pub(super) fn parse_id(text: &str) -> Result<ActivityId, WebError> {
    text.parse().map_err(|_| WebError::NotFound)
}
