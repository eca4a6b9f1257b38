//! The office's sync-health page: each centre and its devices, when they last
//! synced successfully, what they said was not sent yet, and a warning for a
//! centre silent longer than `--silent-days` (see [`crate::health`]).

use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use sync_core::sync::DeviceHealth;

use super::i18n::{self, Lang, t};
use super::routes::{Reply, UiLang, fail, page};
use super::status::SyncFacts;
use super::{App, WebError};
use crate::health::{self, CentreHealth, Silence, SyncHealth};

pub(super) async fn health_page(State(app): State<App>, UiLang(lang): UiLang, uri: Uri) -> Reply {
    let (facts, report, journals) = app
        .read(|view| {
            let store = view.store();
            Ok((
                SyncFacts::read(view)?,
                health::load(store)?,
                store.journals()?,
            ))
        })
        .await
        .map_err(fail(lang))?;
    if !facts.office {
        return Err(fail(lang)(WebError::PageNotFound));
    }
    let silent_days = app.silent_days();
    let title = t(lang, "health-heading");
    let content = match report {
        None => html! {
            h1 { (title) }
            p.notice { (t(lang, "health-none-yet")) }
        },
        Some(report) => {
            let now = Utc::now();
            let rows = health::by_centre(&journals, &report, now, silent_days);
            html! {
                h1 { (title) }
                (summary(lang, &report, &rows, silent_days))
                (table(lang, &rows, now))
            }
        }
    };
    Ok(page(&app, lang, &facts, &uri, &title, content).into_response())
}

fn summary(lang: Lang, report: &SyncHealth, rows: &[CentreHealth], silent_days: u32) -> Markup {
    let silent = rows.iter().filter(|r| r.silence.is_silent()).count() as u64;
    let without = rows
        .iter()
        .filter(|r| r.silence == Silence::NoDevice)
        .count() as u64;
    html! {
        p.meta {
            (i18n::text(lang, "health-as-of", &[
                ("when", i18n::moment(lang, report.received_at).into()),
                ("days", u64::from(silent_days).into()),
            ]))
        }
        @if silent > 0 {
            p.headline.warning role="alert" {
                (i18n::text(lang, "health-silent-count", &[("count", silent.into())]))
            }
        }
        @if without > 0 {
            p.headline.warning.no-device {
                (i18n::text(lang, "health-no-device-count", &[("count", without.into())]))
            }
        }
        @if silent == 0 && without == 0 {
            p.headline { (t(lang, "health-all-fine")) }
        }
    }
}

fn table(lang: Lang, rows: &[CentreHealth], now: DateTime<Utc>) -> Markup {
    html! {
        div.scroll {
            table.report.health {
                thead {
                    tr {
                        th scope="col" { (t(lang, "health-centre")) }
                        th scope="col" { (t(lang, "health-last-sync")) }
                        th scope="col" { (t(lang, "health-unsent")) }
                        th scope="col" { (t(lang, "health-state")) }
                    }
                }
                tbody {
                    @for row in rows {
                        tr.centre.silent[row.silence.is_warning()] data-centre=(row.centre) {
                            th scope="row" { (row.centre) }
                            td data-label=(t(lang, "health-last-sync")) { (when(lang, row.last_synced, now)) }
                            td.num data-label=(t(lang, "health-unsent")) { (unsent(lang, row.unsent)) }
                            td.state data-label=(t(lang, "health-state")) {
                                (state(lang, row.silence))
                                @if row.silence == Silence::NoDevice {
                                    " " code { "relay enrol-code --centre " (row.journal) }
                                }
                            }
                        }
                        @for device in &row.devices {
                            (device_row(lang, device, now))
                        }
                    }
                }
            }
        }
    }
}

fn device_row(lang: Lang, d: &DeviceHealth, now: DateTime<Utc>) -> Markup {
    html! {
        tr.device {
            td { span.device-name { (d.name) } @if d.revoked { " (" (t(lang, "health-revoked")) ")" } }
            td data-label=(t(lang, "health-last-sync")) { (when(lang, d.last_synced, now)) }
            td.num data-label=(t(lang, "health-unsent")) { (unsent(lang, d.unsent.map(u64::from))) }
            td.meta {
                @if let Some(contact) = d.last_contact {
                    (i18n::text(lang, "health-last-contact", &[("ago", i18n::ago(lang, contact, now).into())]))
                }
            }
        }
    }
}

fn when(lang: Lang, at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match at {
        Some(at) => {
            html! { (i18n::moment(lang, at)) " " span.meta { "(" (i18n::ago(lang, at, now)) ")" } }
        }
        None => html! { (t(lang, "health-never")) },
    }
}

fn unsent(lang: Lang, n: Option<u64>) -> String {
    n.map_or_else(|| t(lang, "health-unknown"), |n| i18n::number(lang, n))
}

fn state(lang: Lang, silence: Silence) -> String {
    match silence {
        Silence::Fine => t(lang, "health-fine"),
        Silence::Silent { days } => i18n::text(
            lang,
            "health-silent-days",
            &[("count", u64::try_from(days).unwrap_or(0).into())],
        ),
        Silence::NeverSynced => t(lang, "health-never-synced"),
        Silence::Office => t(lang, "health-office"),
        Silence::NoDevice => t(lang, "health-no-device"),
    }
}
