//! The office's "erase for privacy" (docs/ERASURE.md): a page that says what
//! erasing means and asks once, with a box to tick, then a durable request
//! that the daemon carries to the office server at its next sync.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use maud::{Markup, html};
use sync_core::Activity;

use super::i18n::{self, Lang, t};
use super::routes::{Failure, Reply, UiLang, facts_and_activity, fail, page, parse_id, posted};
use super::{App, CSRF_FIELD, WebError};

/// Name of the box that must be ticked: erasing cannot be undone.
const UNDERSTOOD_FIELD: &str = "understood";

pub(super) async fn confirm_erase(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    Path(id): Path<String>,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let (facts, a) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    if !facts.office {
        return Err(Failure(lang, WebError::OfficeOnly));
    }
    let title = t(lang, "erase-heading");
    let content = confirm_page(lang, &a, app.csrf_token());
    Ok(page(&app, lang, &facts, &uri, &title, content).into_response())
}

pub(super) async fn erase(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let data = posted(&app, lang, &body)?;
    let (facts, _) = facts_and_activity(&app, id).await.map_err(fail(lang))?;
    if !facts.office {
        return Err(Failure(lang, WebError::OfficeOnly));
    }
    if data.get(UNDERSTOOD_FIELD).is_none() {
        return Err(Failure(lang, WebError::BadForm));
    }
    app.with_journal(move |replica| replica.request_erasure(id, Utc::now()))
        .await
        .map_err(fail(lang))?;
    Ok(Redirect::to("/?done=erase-requested").into_response())
}

fn confirm_page(lang: Lang, a: &Activity, csrf: &str) -> Markup {
    html! {
        h1 { (t(lang, "erase-heading")) }
        p { (i18n::text(lang, "erase-explain", &[("title", a.title.clone().into())])) }
        p.alert { (t(lang, "erase-warning")) }
        form method="post" action=(format!("/activities/{}/erase", a.id)) {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            p {
                label {
                    input type="checkbox" name=(UNDERSTOOD_FIELD) value="yes" required;
                    " " (t(lang, "erase-understood"))
                }
            }
            div.actions {
                button.button.danger type="submit" { (t(lang, "erase-confirm")) }
                a.button.secondary href=(format!("/activities/{}", a.id)) autofocus { (t(lang, "delete-cancel")) }
            }
        }
    }
}
