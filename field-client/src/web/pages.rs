//! The app's HTML, rendered on the server (maud escapes every value).

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use sync_core::{Activity, Group, Kind};

use super::Listed;

use super::find::{ListQuery, Totals};
use super::form::{ActivityForm, Errors, count_name};
use super::i18n::{self, Lang, t};
use super::{CSRF_FIELD, LIST_PAGE_SIZE};

/// What every page shows around its content.
#[derive(Debug)]
pub(super) struct Chrome<'a> {
    pub(super) lang: Lang,
    pub(super) centre: &'a str,
    /// An office device: the sync-health page is in the menu.
    pub(super) office: bool,
    pub(super) status: &'a [String],
    pub(super) csrf: &'a str,
    /// This page's path and query, to come back to after switching language.
    pub(super) here: &'a str,
    /// The app's menu (not on the first-run setup page, where it leads nowhere).
    pub(super) menu: bool,
    /// Who records on this computer: the header switches between them.
    pub(super) people: Option<&'a crate::people::People>,
}

pub(super) fn layout(chrome: &Chrome<'_>, title: &str, content: Markup) -> Markup {
    let lang = chrome.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t(lang, "app-name")) }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { (t(lang, "skip-to-content")) }
                header.top {
                    a.brand href="/" {
                        span.app { (t(lang, "app-name")) }
                        span.centre { (chrome.centre) }
                    }
                    @if chrome.menu { nav aria-label=(t(lang, "nav-activities")) {
                        a href="/" { (t(lang, "nav-activities")) }
                        a href="/reports" { (t(lang, "nav-reports")) }
                        @if chrome.office {
                            a href="/health" { (t(lang, "nav-health")) }
                        }
                        a href="/settings" { (t(lang, "nav-settings")) }
                        a.button.primary href="/new" { (t(lang, "nav-new")) }
                    } }
                    @if let Some(people) = chrome.people.filter(|p| !p.names.is_empty()) {
                        (recorder_switch(chrome, people))
                    }
                    (language_switch(chrome))
                }
                @if !chrome.status.is_empty() { (status_panel(lang, chrome.status)) }
                main #main { (content) }
                footer { p { (t(lang, "footer-local")) } }
            }
        }
    }
}

/// Who is recording now, and a quick switch to another of this computer's
/// people (their name is written with what they record).
fn recorder_switch(chrome: &Chrome<'_>, people: &crate::people::People) -> Markup {
    let lang = chrome.lang;
    html! {
        form.recorder method="post" action="/recorder" {
            input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
            input type="hidden" name="back" value=(chrome.here);
            label for="recorder" { (t(lang, "people-recording")) }
            select #recorder name="name" {
                @for name in &people.names {
                    option value=(name) selected[people.current.as_deref() == Some(name.as_str())] { (name) }
                }
            }
            button.link type="submit" { (t(lang, "people-switch")) }
        }
    }
}

fn language_switch(chrome: &Chrome<'_>) -> Markup {
    html! {
        form.language method="post" action="/language" {
            input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
            input type="hidden" name="back" value=(chrome.here);
            span.label { (t(chrome.lang, "nav-language")) ": " }
            @for lang in Lang::ALL {
                @if lang == chrome.lang {
                    span.current lang=(lang.code()) aria-current="true" { (lang.own_name()) }
                } @else {
                    button.link type="submit" name="lang" value=(lang.code()) lang=(lang.code()) {
                        (lang.own_name())
                    }
                }
            }
        }
    }
}

/// The status line; the page's script refreshes it from `/status`.
pub(super) fn status_panel(lang: Lang, sentences: &[String]) -> Markup {
    let all_sent = sentences
        .first()
        .is_some_and(|s| *s == t(lang, "status-all-sent"));
    html! {
        section #status .status .ok[all_sent] role="status" aria-live="polite"
            aria-label=(t(lang, "status-heading")) data-refresh="/status" {
            @for sentence in sentences { span { (sentence) } " " }
        }
    }
}

/// A message at the top of a page about what was just done.
pub(super) fn flash(text: &str) -> Markup {
    html! { div.flash role="status" { span { (text) } } }
}

/// The list page's content.
#[derive(Debug)]
pub(super) struct ListPage<'a> {
    pub(super) query: &'a ListQuery,
    pub(super) found: &'a [&'a Listed],
    pub(super) totals: &'a Totals,
    pub(super) months: &'a [String],
    /// Every centre listed; with more than one (the office), a centre
    /// column and filter appear.
    pub(super) centres: &'a [String],
    pub(super) any: bool,
    pub(super) flash: Option<Markup>,
}

pub(super) fn list(lang: Lang, page: &ListPage<'_>) -> Markup {
    let q = page.query;
    let heading = if q.deleted {
        "list-deleted-heading"
    } else {
        "list-heading"
    };
    html! {
        @if let Some(flash) = &page.flash { (flash) }
        h1 { (t(lang, heading)) }
        // On a phone the search and the totals fold away (the script closes
        // them there), so the first activity is on the first screen.
        details.fold open data-searching[!q.q.is_empty() || !q.kind.is_empty() || !q.month.is_empty()] {
            summary { (t(lang, "list-fold-search")) }
            (search_form(lang, page))
        }
        @if page.found.is_empty() {
            p.empty { (t(lang, if page.any { "list-no-match" } else { "list-empty" })) }
        } @else {
            details.fold open {
                summary { (t(lang, "list-fold-totals")) }
                (totals(lang, page.totals))
            }
            (activity_table(lang, page))
            (pager(lang, page))
        }
        p.more {
            @if q.deleted {
                a href="/" { (t(lang, "list-show-current")) }
            } @else {
                a href="/?deleted=true" { (t(lang, "list-show-deleted")) }
            }
        }
    }
}

fn search_form(lang: Lang, page: &ListPage<'_>) -> Markup {
    let q = page.query;
    html! {
        form.search method="get" action="/" role="search" {
            @if q.deleted { input type="hidden" name="deleted" value="true"; }
            div.field.grow {
                label for="q" { (t(lang, "search-label")) }
                input #q type="search" name="q" value=(q.q) aria-describedby="q-hint";
                small #q-hint { (t(lang, "search-hint")) }
            }
            div.field {
                label for="kind" { (t(lang, "filter-kind")) }
                select #kind name="kind" {
                    option value="" { (t(lang, "filter-kind-all")) }
                    @for kind in Kind::ALL {
                        option value=(kind.key()) selected[q.kind == kind.key()] { (i18n::kind_name(lang, kind)) }
                    }
                }
            }
            @if page.centres.len() > 1 {
                div.field {
                    label for="centre" { (t(lang, "filter-centre")) }
                    select #centre name="centre" {
                        option value="" { (t(lang, "filter-centre-all")) }
                        @for c in page.centres {
                            option value=(c) selected[q.centre == *c] { (c) }
                        }
                    }
                }
            }
            div.field {
                label for="month" { (t(lang, "filter-month")) }
                select #month name="month" {
                    option value="" { (t(lang, "filter-month-all")) }
                    @for m in page.months {
                        option value=(m) selected[q.month == *m] { (month_label(lang, m)) }
                    }
                }
            }
            div.actions {
                button.button type="submit" { (t(lang, "filter-apply")) }
                a.button.secondary href=(if q.deleted { "/?deleted=true" } else { "/" }) { (t(lang, "filter-clear")) }
            }
        }
    }
}

fn month_label(lang: Lang, key: &str) -> String {
    let parsed = key
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)));
    match parsed {
        Some((year, month)) if (1..=12).contains(&month) => i18n::month(lang, year, month),
        _ => key.to_owned(),
    }
}

fn totals(lang: Lang, totals: &Totals) -> Markup {
    let n = totals.activities as u64;
    let shown = i18n::text(
        lang,
        "list-shown",
        &[("count", n.into()), ("n", i18n::number(lang, n).into())],
    );
    html! {
        section.totals aria-labelledby="totals-heading" {
            h2 #totals-heading { (shown) " · " (t(lang, "totals-heading")) }
            dl {
                @for (i, group) in Group::ALL.iter().enumerate() {
                    div { dt { (i18n::group_name(lang, *group)) } dd { (i18n::number(lang, totals.per_group[i])) } }
                }
                div.sum { dt { (t(lang, "totals-all")) } dd #total-participants { (i18n::number(lang, totals.participants)) } }
                div { dt { (t(lang, "totals-hours")) } dd { (i18n::hours(lang, totals.hours)) } }
            }
        }
    }
}

fn activity_table(lang: Lang, page: &ListPage<'_>) -> Markup {
    let start = page.query.page * LIST_PAGE_SIZE;
    let with_centre = page.centres.len() > 1;
    html! {
        table.activities {
            thead { tr {
                th scope="col" { (t(lang, "col-date")) }
                @if with_centre { th scope="col" { (t(lang, "col-centre")) } }
                th scope="col" { (t(lang, "col-title")) }
                th scope="col" { (t(lang, "col-kind")) }
                th scope="col" { (t(lang, "col-place")) }
                th scope="col" .num { (t(lang, "col-participants")) }
            } }
            tbody {
                @for listed in page.found.iter().skip(start).take(LIST_PAGE_SIZE) {
                    @let a = &listed.activity;
                    tr {
                        td data-label=(t(lang, "col-date")) { (i18n::date(lang, a.date)) }
                        @if with_centre { td data-label=(t(lang, "col-centre")) { (listed.centre) } }
                        td.title { a href=(format!("/activities/{}", a.id)) { (a.title) } }
                        td data-label=(t(lang, "col-kind")) { (i18n::kind_name(lang, a.kind)) }
                        td data-label=(t(lang, "col-place")) { (a.place) }
                        td.num data-label=(t(lang, "col-participants")) { (i18n::number(lang, a.counts.total())) }
                    }
                }
            }
        }
    }
}

fn pager(lang: Lang, page: &ListPage<'_>) -> Markup {
    let total = page.found.len();
    if total <= LIST_PAGE_SIZE {
        return html! {};
    }
    let q = page.query;
    let from = q.page * LIST_PAGE_SIZE;
    let to = (from + LIST_PAGE_SIZE).min(total);
    let link = |p: usize| {
        let mut url = form_urlencoded::Serializer::new(String::from("/?"));
        url.append_pair("q", &q.q)
            .append_pair("kind", &q.kind)
            .append_pair("month", &q.month)
            .append_pair("centre", &q.centre)
            .append_pair("page", &p.to_string());
        if q.deleted {
            url.append_pair("deleted", "true");
        }
        url.finish()
    };
    let range = i18n::text(
        lang,
        "list-page",
        &[
            ("from", i18n::number(lang, from as u64 + 1).into()),
            ("to", i18n::number(lang, to as u64).into()),
            ("total", i18n::number(lang, total as u64).into()),
        ],
    );
    html! {
        nav.pager aria-label=(range) {
            @if q.page > 0 { a href=(link(q.page - 1)) rel="prev" { (t(lang, "list-newer")) } }
            span { (range) }
            @if to < total { a href=(link(q.page + 1)) rel="next" { (t(lang, "list-older")) } }
        }
    }
}

/// A change made elsewhere while the form was open.
#[derive(Debug)]
pub(super) struct Conflict {
    pub(super) changes: Vec<(String, String, String)>,
    pub(super) by: String,
    pub(super) at: DateTime<Utc>,
}

/// The record form, new or edit.
#[derive(Debug)]
pub(super) struct FormPage<'a> {
    pub(super) values: &'a ActivityForm,
    pub(super) errors: &'a Errors,
    /// `None` for a new activity.
    pub(super) editing: Option<&'a Activity>,
    /// New: the id the activity will get (a second "save" of the same form
    /// finds it saved). Edit: unused.
    pub(super) new_id: &'a str,
    /// Edit: the values the form was opened with, as JSON.
    pub(super) base: &'a str,
    pub(super) again: ShownAgain<'a>,
    pub(super) suggestions: &'a (Vec<String>, Vec<String>),
    pub(super) csrf: &'a str,
}

/// Why a posted form is shown again instead of saved (errors aside).
#[derive(Clone, Copy, Debug)]
pub(super) enum ShownAgain<'a> {
    /// Shown for the first time, or again for its errors.
    No,
    /// The activity changed elsewhere since the form was opened.
    Conflict(&'a Conflict),
    /// The app restarted while the form was open: its token is an old run's,
    /// so it was not saved; shown with what was typed, to be saved again.
    AfterRestart,
}

pub(super) fn form(lang: Lang, page: &FormPage<'_>) -> Markup {
    let (action, heading, draft_key) = match page.editing {
        Some(a) => (
            format!("/activities/{}", a.id),
            "form-edit-heading",
            format!("draft:edit:{}", a.id),
        ),
        None => (
            "/activities".to_owned(),
            "form-new-heading",
            "draft:new".to_owned(),
        ),
    };
    let v = page.values;
    html! {
        h1 { (t(lang, heading)) }
        @if !page.errors.is_empty() {
            p.alert role="alert" { (t(lang, "form-errors")) }
        }
        @match page.again {
            ShownAgain::Conflict(conflict) => (conflict_box(lang, conflict)),
            ShownAgain::AfterRestart => p.alert role="alert" { (t(lang, "form-not-saved-restart")) },
            ShownAgain::No => {},
        }
        div.draft-note hidden data-draft-note {
            span { (t(lang, "draft-restored")) } " "
            button.link type="button" data-draft-discard { (t(lang, "draft-discard")) }
        }
        form #activity-form .activity method="post" action=(action) novalidate
            data-draft-key=(draft_key) data-saving=(t(lang, "form-saving")) {
            input type="hidden" name=(CSRF_FIELD) value=(page.csrf);
            @if page.editing.is_some() {
                input type="hidden" name="base" value=(page.base);
            } @else {
                input type="hidden" name="id" value=(page.new_id);
            }
            (text_input(lang, page, "title", "text", &v.title, true))
            div.row {
                (kind_select(lang, page))
                (date_input(lang, page, &v.date))
                (time_input(lang, page, &v.start))
                (hours_input(lang, page))
            }
            (text_input(lang, page, "place", "text", &v.place, false))
            (names_input(lang, page, "organiser", "field-organisers", &v.organisers, &page.suggestions.0))
            (names_input(lang, page, "institution", "field-institutions", &v.institutions, &page.suggestions.1))
            (counts_input(lang, page))
            (textarea(lang, page, "description", &v.description))
            (textarea(lang, page, "notes", &v.notes))
            div.actions {
                button.button.primary type="submit" { (t(lang, "form-save")) }
                a.button.secondary href=(match page.editing { Some(a) => format!("/activities/{}", a.id), None => "/".into() }) data-draft-cancel {
                    (t(lang, "form-cancel"))
                }
            }
        }
    }
}

fn conflict_box(lang: Lang, conflict: &Conflict) -> Markup {
    html! {
        section.conflict role="alert" aria-labelledby="conflict-heading" {
            h2 #conflict-heading { (t(lang, "conflict-heading")) }
            p { (i18n::text(lang, "conflict-by", &[("who", crate::people::shown(lang, &conflict.by).into()), ("when", i18n::moment(lang, conflict.at).into())])) }
            ul {
                @for (field, before, after) in &conflict.changes {
                    li { (i18n::text(lang, "conflict-change", &[("field", field.clone().into()), ("before", before.clone().into()), ("after", after.clone().into())])) }
                }
            }
            p { (t(lang, "conflict-hint")) }
        }
    }
}

/// A label, the control, and its error (if any) tied to it for screen readers.
fn field_frame(
    lang: Lang,
    page: &FormPage<'_>,
    name: &str,
    label_id: &str,
    required: bool,
    control: Markup,
) -> Markup {
    let error = page.errors.get(name);
    html! {
        div.field .invalid[error.is_some()] {
            label for=(name) {
                (t(lang, label_id))
                @if required { " " abbr title=(t(lang, "form-required")) { "*" } }
            }
            (control)
            @if let Some(message) = error {
                p.error id=(format!("{name}-error")) { (message) }
            }
        }
    }
}

fn described_by(page: &FormPage<'_>, name: &str) -> Option<String> {
    page.errors
        .contains_key(name)
        .then(|| format!("{name}-error"))
}

fn text_input(
    lang: Lang,
    page: &FormPage<'_>,
    name: &str,
    kind: &str,
    value: &str,
    required: bool,
) -> Markup {
    let invalid = page.errors.contains_key(name);
    let control = html! {
        input id=(name) name=(name) type=(kind) value=(value) required[required]
            aria-invalid=[invalid.then_some("true")] aria-describedby=[described_by(page, name)];
    };
    field_frame(
        lang,
        page,
        name,
        &format!("field-{name}"),
        required,
        control,
    )
}

/// The date as a text box in the form people write dates in: the browser's
/// own date picker follows the browser's language ("12/06/2026" on an
/// English system), which a Latvian reads as the 12th of June.
fn date_input(lang: Lang, page: &FormPage<'_>, kept: &str) -> Markup {
    let invalid = page.errors.contains_key("date");
    let control = html! {
        input #date name="date" type="text" inputmode="numeric" autocomplete="off"
            value=(shown_date(lang, kept)) placeholder=(t(lang, "field-date-placeholder")) required
            aria-invalid=[invalid.then_some("true")] aria-describedby=[described_by(page, "date")];
    };
    field_frame(lang, page, "date", "field-date", true, control)
}

/// The start as a 24-hour "14:30" text box, whatever the browser's language
/// (its time picker says "02:30 PM" on an English system).
fn time_input(lang: Lang, page: &FormPage<'_>, kept: &str) -> Markup {
    let invalid = page.errors.contains_key("start");
    let control = html! {
        input #start name="start" type="text" inputmode="numeric" autocomplete="off"
            value=(kept) placeholder="14:30" pattern="[0-9]{1,2}[:.][0-9]{2}"
            aria-invalid=[invalid.then_some("true")] aria-describedby=[described_by(page, "start")];
    };
    field_frame(lang, page, "start", "field-start", false, control)
}

/// A date kept as "2026-05-14", shown as people of `lang` write it.
pub(super) fn shown_date(lang: Lang, kept: &str) -> String {
    match (lang, sync_core::activity::parse_date_text(kept)) {
        (Lang::Lv, Some(day)) => day.format("%d.%m.%Y.").to_string(),
        _ => kept.to_owned(),
    }
}

/// Hours in the form as on the activity's page: "1,5" in Latvian.
fn shown_hours(lang: Lang, kept: &str) -> String {
    match (lang, kept.parse::<f64>()) {
        (Lang::Lv, Ok(_)) => kept.replace('.', ","),
        _ => kept.to_owned(),
    }
}

fn hours_input(lang: Lang, page: &FormPage<'_>) -> Markup {
    let invalid = page.errors.contains_key("hours");
    let control = html! {
        input #hours name="hours" type="text" inputmode="decimal" value=(shown_hours(lang, &page.values.hours))
            aria-invalid=[invalid.then_some("true")] aria-describedby=[described_by(page, "hours")];
    };
    field_frame(lang, page, "hours", "field-hours", false, control)
}

fn kind_select(lang: Lang, page: &FormPage<'_>) -> Markup {
    let invalid = page.errors.contains_key("kind");
    let control = html! {
        select #kind name="kind" required aria-invalid=[invalid.then_some("true")] aria-describedby=[described_by(page, "kind")] {
            option value="" { (t(lang, "field-kind-choose")) }
            @for kind in Kind::ALL {
                option value=(kind.key()) selected[page.values.kind == kind.key()] { (i18n::kind_name(lang, kind)) }
            }
        }
    };
    field_frame(lang, page, "kind", "field-kind", true, control)
}

fn names_input(
    lang: Lang,
    page: &FormPage<'_>,
    name: &str,
    label_id: &str,
    values: &[String],
    suggestions: &[String],
) -> Markup {
    let list_id = format!("{name}-suggestions");
    let error = page.errors.get(name);
    html! {
        fieldset.names .invalid[error.is_some()] data-names=(name) {
            legend { (t(lang, label_id)) }
            small { (t(lang, "field-names-hint")) }
            @for (i, value) in values.iter().enumerate() {
                input id=[(i == 0).then_some(name)] name=(name) type="text" value=(value) list=(list_id)
                    aria-label=(format!("{} {}", t(lang, label_id), i + 1));
            }
            // One empty box to add a name without the script; with it, the
            // "add another" button adds boxes, and this one goes when names
            // are already there.
            input id=[values.is_empty().then_some(name)] name=(name) type="text" value="" list=(list_id)
                data-spare[!values.is_empty()]
                aria-label=(format!("{} {}", t(lang, label_id), values.len() + 1));
            button.link type="button" data-add-name=(name) hidden { "+ " (t(lang, "field-add-another")) }
            @if let Some(message) = error { p.error { (message) } }
            datalist id=(list_id) {
                @for s in suggestions { option value=(s) {} }
            }
        }
    }
}

fn counts_input(lang: Lang, page: &FormPage<'_>) -> Markup {
    html! {
        fieldset.counts {
            legend { (t(lang, "field-counts")) }
            div.grid {
                @for (i, group) in Group::ALL.iter().enumerate() {
                    @let name = count_name(*group);
                    @let error = page.errors.get(&name);
                    div.field .invalid[error.is_some()] {
                        label for=(name) { (i18n::group_name(lang, *group)) }
                        input id=(name) name=(name) type="number" min="0" step="1" inputmode="numeric" data-count
                            value=(page.values.counts.get(i).map(String::as_str).unwrap_or_default())
                            aria-invalid=[error.is_some().then_some("true")] aria-describedby=[described_by(page, &name)];
                        @if let Some(message) = error { p.error id=(format!("{name}-error")) { (message) } }
                    }
                }
            }
            p.total aria-live="polite" {
                output #form-total data-template=(i18n::text(lang, "form-total", &[("n", "{n}".into())])) {
                    (i18n::text(lang, "form-total", &[("n", i18n::number(lang, page.values.total()).into())]))
                }
            }
        }
    }
}

fn textarea(lang: Lang, page: &FormPage<'_>, name: &str, value: &str) -> Markup {
    let invalid = page.errors.contains_key(name);
    let control = html! {
        textarea id=(name) name=(name) rows="4" aria-invalid=[invalid.then_some("true")] aria-describedby=[described_by(page, name)] { (value) }
    };
    field_frame(lang, page, name, &format!("field-{name}"), false, control)
}

/// What the detail page says and offers about erasing the record.
#[derive(Clone, Copy, Debug)]
pub(super) struct Erasure {
    /// This is an office device: it may ask for an erasure.
    pub(super) may_erase: bool,
    /// An erasure of this record waits for the next sync.
    pub(super) waiting: bool,
}

/// Whether this computer holds an attached file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileHere {
    Whole,
    /// Asked for: the running sync fetches it.
    Fetching,
    Absent,
}

/// How an attached file shows: what this computer holds of it, and its
/// thumbnail when held (shown instead of the whole photo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileShown {
    pub(super) full: FileHere,
    pub(super) thumbnail: Option<sync_core::files::FileHash>,
}

/// One activity, every field, and its files (`held`: what this computer
/// holds of each).
pub(super) fn detail(
    lang: Lang,
    (a, held): (&Activity, &[FileShown]),
    csrf: &str,
    flash: Option<Markup>,
    erasure: Erasure,
) -> Markup {
    let none = || t(lang, "detail-none");
    let or_none = |s: &str| if s.is_empty() { none() } else { s.to_owned() };
    html! {
        @if let Some(flash) = flash { (flash) }
        h1 { (a.title) }
        @if erasure.waiting {
            p.alert { (t(lang, "detail-erasure-waiting")) }
        } @else if a.deleted {
            p.alert { (t(lang, "detail-deleted")) }
        }
        dl.detail {
            dt { (t(lang, "field-kind")) } dd { (i18n::kind_name(lang, a.kind)) }
            dt { (t(lang, "field-date")) } dd { (i18n::date(lang, a.date)) }
            dt { (t(lang, "field-start")) } dd { (a.start.map(|s| s.format("%H:%M").to_string()).unwrap_or_else(none)) }
            dt { (t(lang, "field-hours")) } dd { (a.hours.map(|h| i18n::hours(lang, h)).unwrap_or_else(none)) }
            dt { (t(lang, "field-place")) } dd { (or_none(&a.place)) }
            dt { (t(lang, "field-organisers")) } dd { (or_none(&a.organisers.join(", "))) }
            dt { (t(lang, "field-institutions")) } dd { (or_none(&a.institutions.join(", "))) }
            dt { (t(lang, "field-counts")) }
            dd {
                ul.counts {
                    @for (group, n) in a.counts.iter().filter(|(_, n)| *n > 0) {
                        li { (i18n::group_name(lang, group)) ": " (i18n::number(lang, u64::from(n))) }
                    }
                    li.sum { (t(lang, "totals-all")) ": " (i18n::number(lang, a.counts.total())) }
                }
            }
            dt { (t(lang, "field-description")) } dd.text { (or_none(&a.description)) }
            dt { (t(lang, "field-notes")) } dd.text { (or_none(&a.notes)) }
        }
        p.meta {
            (i18n::text(lang, "detail-recorded", &[("who", crate::people::shown(lang, &a.recorded_by).into()), ("when", i18n::moment(lang, a.created_at).into())]))
            " "
            (i18n::text(lang, "detail-updated", &[("who", crate::people::shown(lang, &a.updated_by).into()), ("when", i18n::moment(lang, a.updated_at).into())]))
        }
        (attachments(lang, (a, held), csrf))
        div.actions {
            @if a.deleted {
                form.inline method="post" action=(format!("/activities/{}/restore", a.id)) {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    button.button.primary type="submit" { (t(lang, "action-restore")) }
                }
            } @else {
                a.button.primary href=(format!("/activities/{}/edit", a.id)) { (t(lang, "action-edit")) }
                a.button.secondary href=(format!("/activities/{}/history", a.id)) { (t(lang, "action-history")) }
                a.button.danger href=(format!("/activities/{}/delete", a.id)) { (t(lang, "action-delete")) }
            }
            @if erasure.may_erase && !erasure.waiting {
                a.button.danger href=(format!("/activities/{}/erase", a.id)) { (t(lang, "action-erase")) }
            }
            a.button.secondary href="/" { (t(lang, "back-to-list")) }
        }
    }
}

/// The files attached to an activity: a thumbnail or a PDF's name, each
/// opening the file; remove; and the form that adds files.
fn attachments(lang: Lang, (a, held): (&Activity, &[FileShown]), csrf: &str) -> Markup {
    html! {
        section.attachments aria-labelledby="files-heading" {
            h2 #files-heading { (t(lang, "files-heading")) }
            @if a.attachments.is_empty() {
                p.meta { (t(lang, "files-none")) }
            }
            ul.files {
                @for (file, shown) in a.attachments.iter().zip(held.iter().copied()) {
                    li.file {
                        @let url = format!("/files/{}", file.file);
                        @let held = shown.full;
                        @if held != FileHere::Whole {
                            @if let Some(thumb) = shown.thumbnail {
                                img.thumb src=(format!("/files/{thumb}")) alt=(file.name);
                            }
                        }
                        @if held == FileHere::Fetching {
                            span.file-absent { (file.name) }
                            span.meta { (t(lang, "files-fetching")) }
                        } @else if held == FileHere::Absent {
                            span.file-absent { (file.name) }
                            form.inline method="post" action=(format!("/activities/{}/files/{}/fetch", a.id, file.file)) {
                                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                                button.button.secondary type="submit" { (t(lang, "files-fetch")) }
                            }
                        } @else if file.media_type == sync_core::files::MediaType::Pdf {
                            a.file-pdf href=(url) target="_blank" rel="noopener" { "PDF · " (file.name) }
                        } @else {
                            a href=(url) target="_blank" rel="noopener" {
                                @let shown_url = shown.thumbnail.map_or(url.clone(), |t| format!("/files/{t}"));
                                img.thumb src=(shown_url) alt=(file.name) loading="lazy";
                            }
                            span.file-name { (file.name) }
                        }
                        " "
                        span.meta { (i18n::bytes(lang, file.bytes)) }
                        @if !a.deleted {
                            form.inline method="post" action=(format!("/activities/{}/files/{}/remove", a.id, file.file)) {
                                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                                button.button.secondary.small type="submit" aria-label=(i18n::text(lang, "files-remove-named", &[("name", file.name.clone().into())])) { (t(lang, "files-remove")) }
                            }
                        }
                    }
                }
            }
            @if !a.deleted && a.attachments.len() < sync_core::limits::MAX_FILES_PER_ACTIVITY {
                form.attach method="post" enctype="multipart/form-data" action=(format!("/activities/{}/files", a.id)) {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    label for="attach-files" { (t(lang, "files-choose")) }
                    input #attach-files type="file" name="files" multiple accept="image/jpeg,image/png,application/pdf";
                    p.hint { (i18n::text(lang, "files-hint", &[("max", i18n::bytes(lang, sync_core::limits::MAX_FILE_BYTES).into())])) }
                    label.smaller hidden {
                        input #attach-smaller type="checkbox" name="smaller" value="1" data-pixels=(SMALLER_COPY_PIXELS);
                        " " (i18n::text(lang, "files-smaller", &[("pixels", SMALLER_COPY_PIXELS.into())]))
                    }
                    button.button.primary type="submit" { (t(lang, "files-add")) }
                }
            }
        }
    }
}

/// Long side, in pixels, of the "smaller copy for sending" the app offers
/// to make of a photo in the browser: a sign-in sheet stays readable at a
/// tenth of a phone photo's bytes. The volunteer chooses it; the program
/// never recompresses a file by itself.
const SMALLER_COPY_PIXELS: u32 = 1600;

/// An activity's history: one line per field changed, in plain words.
pub(super) fn history(lang: Lang, a: &Activity, entries: &[sync_core::HistoryEntry]) -> Markup {
    html! {
        h1 { (i18n::text(lang, "history-heading", &[("title", a.title.clone().into())])) }
        ol.history #history {
            @for entry in entries {
                @for line in history_lines(lang, entry) { li { (line) } }
            }
        }
        div.actions {
            a.button.secondary href=(format!("/activities/{}", a.id)) { (t(lang, "history-back")) }
        }
    }
}

fn history_lines(lang: Lang, entry: &sync_core::HistoryEntry) -> Vec<String> {
    let who = || crate::people::shown(lang, &entry.by).into();
    let when = || i18n::moment(lang, entry.at).into();
    if entry.created {
        return vec![i18n::text(
            lang,
            "history-created",
            &[("who", who()), ("when", when())],
        )];
    }
    entry
        .fields
        .iter()
        .map(|(field, before, after)| {
            let id = match (field.as_str(), before.is_empty(), after.is_empty()) {
                ("deleted", _, _) if after == "true" => "history-deleted",
                ("deleted", _, _) => "history-restored",
                (_, true, _) => "history-set",
                (_, _, true) => "history-cleared",
                _ => "history-changed",
            };
            let shown = |value: &str| match (field.as_str(), Kind::parse(value)) {
                ("kind", Some(kind)) => i18n::kind_name(lang, kind),
                _ => value.to_owned(),
            };
            i18n::text(
                lang,
                id,
                &[
                    ("field", history_field(lang, field).into()),
                    ("before", shown(before).into()),
                    ("after", shown(after).into()),
                    ("who", who()),
                    ("when", when()),
                ],
            )
        })
        .collect()
}

/// A history field's label: "Pedagogi" for `counts.teachers`, "Nosaukums" for `title`.
fn history_field(lang: Lang, field: &str) -> String {
    match field.strip_prefix("counts.").and_then(Group::parse) {
        Some(group) => i18n::group_name(lang, group),
        None => t(lang, &format!("field-{field}")),
    }
}

/// "Delete this activity?", asked once.
pub(super) fn confirm_delete(lang: Lang, a: &Activity, csrf: &str) -> Markup {
    html! {
        h1 { (t(lang, "delete-heading")) }
        p { (i18n::text(lang, "delete-explain", &[("title", a.title.clone().into())])) }
        form.actions method="post" action=(format!("/activities/{}/delete", a.id)) {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            button.button.danger type="submit" { (t(lang, "delete-confirm")) }
            // The safe choice has the focus: Enter keeps the record.
            a.button.secondary href=(format!("/activities/{}", a.id)) autofocus { (t(lang, "delete-cancel")) }
        }
    }
}

/// What went wrong, and the way back.
pub(super) fn error(lang: Lang, message: &str) -> Markup {
    html! {
        h1 { (t(lang, "error-heading")) }
        p.alert role="alert" { (message) }
        p { a.button href="/" { (t(lang, "back-to-list")) } }
    }
}

/// A message with an undo button (after a delete).
pub(super) fn flash_with_undo(lang: Lang, text: &str, action: &str, csrf: &str) -> Markup {
    html! {
        div.flash role="status" {
            span { (text) } " "
            form.inline method="post" action=(action) {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                button.link type="submit" { (t(lang, "undo")) }
            }
        }
    }
}
