//! The web app's handlers without a browser: host and cross-site checks,
//! validation shown next to the fields, durable saves, edits that meet a
//! change made elsewhere, and the language switch.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use field_client::owner::StoreOwner;
use field_client::web::{App, i18n, router};
use http_body_util::BodyExt;
use sync_core::{ActivityId, NewStore, Replica};
use tower::ServiceExt;

const ADDR: &str = "127.0.0.1:7373";

struct Fixture {
    _dir: tempfile::TempDir,
    owner: Arc<StoreOwner>,
    app: App,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("journal.redb");
        Replica::create(
            &store,
            NewStore {
                centre: "Daugavpils KRC",
                device_name: "Mezgls laptop",
            },
        )
        .expect("store");
        let addr: SocketAddr = ADDR.parse().expect("addr");
        let owner = StoreOwner::open(&store).expect("open the store");
        let app = App::new(owner.clone(), addr);
        Fixture {
            _dir: dir,
            owner,
            app,
        }
    }

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        router(self.app.clone())
            .oneshot(request)
            .await
            .expect("infallible")
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.send(get(path)).await;
        (response.status(), body_text(response).await)
    }

    /// The form token, as a page of the app carries it.
    async fn token(&self) -> String {
        let (_, html) = self.get("/new").await;
        field_value(&html, "csrf").expect("the form carries a token")
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response<Body> {
        self.send(post(path, fields)).await
    }

    /// The activities, read from the store the app holds.
    async fn activities(&self) -> Vec<sync_core::Activity> {
        self.owner
            .hold()
            .await
            .expect("the store")
            .activities()
            .expect("activities")
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, ADDR)
        .body(Body::empty())
        .expect("request")
}

fn post(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    Request::post(path)
        .header(header::HOST, ADDR)
        .header(header::ORIGIN, format!("http://{ADDR}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

async fn body_text(response: Response<Body>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// The value of the (first) input named `name` in `html`.
fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = rest[value..].find('"')?;
    Some(
        rest[value..value + end]
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

fn location(response: &Response<Body>) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .expect("a redirect")
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn seminar<'a>(token: &'a str, title: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", token),
        ("title", title),
        ("kind", "seminar"),
        ("date", "2026-05-14"),
        ("start", "14:00"),
        ("hours", "3"),
        ("place", "Smilšu iela 92"),
        ("organiser", "Inese Kalniņa"),
        ("organiser", ""),
        ("institution", "20.PII"),
        ("count-teachers", "18"),
        ("count-municipal_staff", "2"),
        ("description", "Ievadseminārs pedagogiem"),
    ]
}

#[tokio::test]
async fn a_request_for_another_host_name_is_refused() {
    let f = Fixture::new();
    let request = Request::get("/")
        .header(header::HOST, "evil.example")
        .body(Body::empty())
        .expect("request");
    let response = f.send(request).await;
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    for host in [ADDR, "localhost:7373"] {
        let request = Request::get("/")
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("request");
        assert_eq!(f.send(request).await.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn a_form_without_this_runs_token_or_from_another_site_saves_nothing() {
    let f = Fixture::new();
    let token = f.token().await;
    let mut fields = seminar(&token, "Skolotāja loma");

    // Without a browser's word that it comes from this app's page (a form
    // from before a restart is shown again: see below).
    let without_origin = |fields: &[(&str, &str)]| {
        let mut request = post("/activities", fields);
        request.headers_mut().remove(header::ORIGIN);
        request
    };
    fields[0] = ("csrf", "0123456789abcdef");
    assert_eq!(
        f.send(without_origin(&fields)).await.status(),
        StatusCode::FORBIDDEN
    );
    fields.remove(0);
    assert_eq!(
        f.send(without_origin(&fields)).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut request = post("/activities", &fields);
    request.headers_mut().insert(
        header::ORIGIN,
        "http://evil.example".parse().expect("header"),
    );
    assert_eq!(f.send(request).await.status(), StatusCode::FORBIDDEN);

    let with_token = seminar(&token, "Skolotāja loma");
    let mut request = post("/activities", &with_token);
    request.headers_mut().insert(
        header::ORIGIN,
        "http://evil.example".parse().expect("header"),
    );
    assert_eq!(f.send(request).await.status(), StatusCode::FORBIDDEN);
    let mut request = post("/activities", &with_token);
    request.headers_mut().remove(header::ORIGIN);
    request
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().expect("header"));
    assert_eq!(f.send(request).await.status(), StatusCode::FORBIDDEN);

    assert!(f.activities().await.is_empty(), "nothing was saved");
}

/// The settings page of a device not enrolled yet offers the code box; a
/// mistyped code is told in plain words and changes nothing; a form from
/// another site or without this run's token enrols nothing.
#[tokio::test]
async fn enrolling_from_the_settings_page_checks_the_code_first() {
    let f = Fixture::new();
    let (status, html) = f.get("/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("action=\"/settings/enrol\""), "{html}");
    let token = f.token().await;
    for (code, words) in [
        ("sveiki", "Tas nav pievienošanās kods"),
        ("KRC2-AAAA", "nepilnīgs vai bojāts"),
        ("KRC1-ABCDEFGH", "vecā formātā"),
    ] {
        let response = f
            .post("/settings/enrol", &[("csrf", &token), ("code", code)])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{code}"
        );
        let html = body_text(response).await;
        assert!(html.contains(words), "{code}: {html}");
        assert!(
            html.contains(&format!(">{code}</textarea>")),
            "kept: {code}"
        );
    }
    let response = f.post("/settings/enrol", &[("code", "KRC2-AAAA")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let held = f.owner.hold().await.expect("the store");
    assert_eq!(
        field_client::net::enrolment(held.store()).expect("reads"),
        None
    );
}

/// The people who record on this computer: named once on the settings page
/// (the list page asks until then), switched in the header; the one chosen
/// is written with each change. On the office's device the name is marked
/// as the office's, shown in the reader's language.
#[tokio::test]
async fn the_person_recording_is_written_with_each_change() {
    let f = Fixture::new();
    let token = f.token().await;
    let (_, list) = f.get("/").await;
    assert!(list.contains("Kas ieraksta šajā datorā?"), "asks: {list}");
    let saved = f
        .post(
            "/settings/people",
            &[("csrf", &token), ("names", " Anna \n\nJānis\nAnna")],
        )
        .await;
    assert_eq!(location(&saved), "/settings#people");
    let (_, list) = f.get("/").await;
    assert!(!list.contains("Kas ieraksta šajā datorā?"), "asked once");
    assert!(
        list.contains("<option value=\"Anna\" selected>Anna</option>"),
        "{list}"
    );
    assert!(
        list.contains("<option value=\"Jānis\">Jānis</option>"),
        "{list}"
    );

    let created = f.post("/activities", &seminar(&token, "Seminārs")).await;
    let path = location(&created)
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    let switched = f
        .post(
            "/recorder",
            &[("csrf", &token), ("name", "Jānis"), ("back", &path)],
        )
        .await;
    assert_eq!(location(&switched), path);
    let (_, form) = f.get(&format!("{path}/edit")).await;
    let base = field_value(&form, "base").expect("base");
    let mut fields = seminar(&token, "Seminārs pedagogiem");
    fields.push(("base", &base));
    f.post(&path, &fields).await;
    let a = &f.activities().await[0];
    assert_eq!(
        (a.recorded_by.as_str(), a.updated_by.as_str()),
        ("Anna", "Jānis")
    );

    // Nobody else can be chosen; a name too long is told.
    let refused = f
        .post(
            "/recorder",
            &[("csrf", &token), ("name", "Svešais"), ("back", "/")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let long = "x".repeat(sync_core::limits::MAX_NAME_CHARS + 1);
    let response = f
        .post("/settings/people", &[("csrf", &token), ("names", &long)])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body_text(response).await.contains("ne garāks par"));

    // The office's device: its changes are marked as the office's.
    {
        let held = f.owner.hold().await.expect("the store");
        let office = field_client::net::Enrolment {
            relay: "127.0.0.1:1".into(),
            fingerprint: String::new(),
            office: true,
            centre: "Birojs".into(),
            journal: uuid::Uuid::new_v4(),
            enrolled_at: chrono::Utc::now(),
        };
        field_client::net::keep_enrolment(held.store(), &office).expect("kept");
        field_client::people::refresh_author(&held).expect("author");
    }
    let mut fields = seminar(&token, "Labots birojā");
    let (_, form) = f.get(&format!("{path}/edit")).await;
    let base = field_value(&form, "base").expect("base");
    fields.push(("base", &base));
    f.post(&path, &fields).await;
    let (_, page) = f.get(&path).await;
    assert!(page.contains("Jānis (birojs)"), "{page}");
    let request = Request::get(path.as_str())
        .header(header::HOST, ADDR)
        .header(header::COOKIE, "lang=en")
        .body(Body::empty())
        .expect("request");
    let page = body_text(f.send(request).await).await;
    assert!(page.contains("Jānis (office)"), "{page}");
}

/// A form opened before the app restarted carries the old run's token: it
/// is not saved, but shown again with what was typed, a fresh token and one
/// line saying why; saving that saves it. Nothing else gets this far.
#[tokio::test]
async fn a_form_from_before_a_restart_is_shown_again_with_what_was_typed() {
    let f = Fixture::new();
    let before_restart = Fixture::new().token().await;
    let token = f.token().await;
    assert_ne!(before_restart, token);

    let id = "5b1b6a55-0b0e-4c1a-9d6e-2f8a3c4d5e6f";
    let mut fields = seminar(&before_restart, "Restartēšanas tests: rokdarbu vakars");
    fields.push(("id", id));
    let response = f.post("/activities", &fields).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = body_text(response).await;
    assert!(html.contains("programma tika restartēta"), "{html}");
    assert_eq!(field_value(&html, "csrf").as_deref(), Some(token.as_str()));
    assert_eq!(
        field_value(&html, "title").as_deref(),
        Some("Restartēšanas tests: rokdarbu vakars")
    );
    assert_eq!(field_value(&html, "id").as_deref(), Some(id));
    assert_eq!(field_value(&html, "count-teachers").as_deref(), Some("18"));
    assert!(f.activities().await.is_empty(), "nothing was saved yet");

    // Saved from the page shown again.
    fields[0] = ("csrf", &token);
    let saved = f.post("/activities", &fields).await;
    assert_eq!(location(&saved), format!("/activities/{id}?done=saved-new"));
    assert_eq!(f.activities().await.len(), 1);

    // An edit: the same, with the base it was opened with kept.
    let path = format!("/activities/{id}");
    let (_, form) = f.get(&format!("{path}/edit")).await;
    let base = field_value(&form, "base").expect("base");
    let mut edit = seminar(&before_restart, "Rokdarbu vakars");
    edit.push(("base", &base));
    let response = f.post(&path, &edit).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = body_text(response).await;
    assert!(html.contains("programma tika restartēta"));
    assert_eq!(
        field_value(&html, "title").as_deref(),
        Some("Rokdarbu vakars")
    );
    assert_eq!(field_value(&html, "base").as_deref(), Some(base.as_str()));
    assert_eq!(
        f.activities().await[0].title,
        "Restartēšanas tests: rokdarbu vakars"
    );
    edit[0] = ("csrf", &token);
    let saved = f.post(&path, &edit).await;
    assert_eq!(location(&saved), format!("{path}?done=saved-edit"));
    assert_eq!(f.activities().await[0].title, "Rokdarbu vakars");
}

#[tokio::test]
async fn a_valid_form_is_saved_durably_before_the_redirect_and_only_once() {
    let f = Fixture::new();
    let (_, html) = f.get("/new").await;
    let token = field_value(&html, "csrf").expect("token");
    let id = field_value(&html, "id").expect("the new form carries the activity's id");
    let mut fields = seminar(&token, "Skolotāja loma vietējās kopienas attīstībā");
    fields.push(("id", &id));

    let response = f.post("/activities", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        format!("/activities/{id}?done=saved-new")
    );
    // The redirect came after the commit: a fresh open of the store sees it.
    let saved = f.activities().await;
    assert_eq!(saved.len(), 1);
    let a = &saved[0];
    assert_eq!(a.id, id.parse::<ActivityId>().expect("id"));
    assert_eq!(a.title, "Skolotāja loma vietējās kopienas attīstībā");
    assert_eq!(a.organisers, ["Inese Kalniņa"]);
    assert_eq!(a.counts.total(), 20);

    // The same form sent again (a double click, a resent request) adds nothing.
    let again = f.post("/activities", &fields).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(f.activities().await.len(), 1);

    let (status, page) = f.get(&location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Saglabāts: “Skolotāja loma"), "{page}");
}

#[tokio::test]
async fn errors_are_shown_next_to_their_fields_and_nothing_typed_is_lost() {
    let f = Fixture::new();
    let token = f.token().await;
    let fields = [
        ("csrf", token.as_str()),
        ("title", "  "),
        ("kind", ""),
        ("date", "2026-05-14"),
        ("count-teachers", "-3"),
        ("count-parents", "7"),
        ("description", "Garš apraksts, ko nedrīkst pazaudēt"),
    ];
    let response = f.post("/activities", &fields).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body_text(response).await;
    assert!(
        html.contains(r#"<p class="error" id="title-error">Šis lauks nedrīkst būt tukšs.</p>"#),
        "{html}"
    );
    assert!(html.contains(r#"id="kind-error">Izvēlieties veidu no saraksta."#));
    assert!(html.contains(r#"id="count-teachers-error">Skaits nevar būt negatīvs."#));
    assert!(html.contains(r#"aria-describedby="title-error""#));
    assert!(html.contains("Garš apraksts, ko nedrīkst pazaudēt"));
    assert_eq!(field_value(&html, "count-parents").as_deref(), Some("7"));
    assert!(f.activities().await.is_empty());
}

#[tokio::test]
async fn an_edit_changes_only_what_was_changed_in_the_form() {
    let f = Fixture::new();
    let token = f.token().await;
    let created = f.post("/activities", &seminar(&token, "Seminārs")).await;
    let path = location(&created)
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    let (_, form) = f.get(&format!("{path}/edit")).await;
    let base = field_value(&form, "base").expect("the edit form carries its base");

    let mut fields = seminar(&token, "Seminārs");
    fields.push(("base", &base));
    fields.retain(|(k, _)| *k != "count-teachers");
    fields.push(("count-teachers", "19"));
    let response = f.post(&path, &fields).await;
    assert_eq!(location(&response), format!("{path}?done=saved-edit"));
    let a = &f.activities().await[0];
    assert_eq!(a.counts.get(sync_core::Group::Teachers), 19);
    assert_eq!(a.title, "Seminārs");
}

#[tokio::test]
async fn an_edit_meeting_a_change_made_elsewhere_shows_the_change_and_saves_nothing() {
    let f = Fixture::new();
    let token = f.token().await;
    let created = f.post("/activities", &seminar(&token, "Seminārs")).await;
    let path = location(&created)
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    let (_, form) = f.get(&format!("{path}/edit")).await;
    let base = field_value(&form, "base").expect("base");

    // The office corrects the title meanwhile (arriving by sync, or here).
    let id: ActivityId = path.rsplit('/').next().expect("id").parse().expect("id");
    {
        let mut replica = f.owner.hold().await.expect("the store");
        let patch = sync_core::ActivityPatch {
            title: Some("Seminārs pedagogiem".into()),
            ..Default::default()
        };
        replica.edit(id, &patch, chrono::Utc::now()).expect("edit");
    }

    let mut fields = seminar(&token, "Seminārs");
    fields.push(("base", &base));
    fields.retain(|(k, _)| *k != "place");
    fields.push(("place", "Mezgls"));
    let response = f.post(&path, &fields).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = body_text(response).await;
    assert!(html.contains("Kāds cits mainīja šo aktivitāti"), "{html}");
    assert!(
        html.contains("Nosaukums: “Seminārs” → “Seminārs pedagogiem”"),
        "{html}"
    );
    assert_eq!(
        field_value(&html, "title").as_deref(),
        Some("Seminārs pedagogiem")
    );
    assert_eq!(
        field_value(&html, "place").as_deref(),
        Some("Mezgls"),
        "my change is kept"
    );
    let a = &f.activities().await[0];
    assert_eq!(a.place, "Smilšu iela 92", "nothing saved yet");
}

#[tokio::test]
async fn delete_then_undo_from_the_list() {
    let f = Fixture::new();
    let token = f.token().await;
    let created = f.post("/activities", &seminar(&token, "Darbnīca")).await;
    let path = location(&created)
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    let response = f.post(&format!("{path}/delete"), &[("csrf", &token)]).await;
    let list = location(&response);
    assert!(f.activities().await[0].deleted);
    let (_, html) = f.get(&list).await;
    assert!(
        html.contains("Aktivitāte “Darbnīca” ir izdzēsta."),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"action="{path}/restore""#)),
        "an undo button"
    );
    let response = f
        .post(&format!("{path}/restore"), &[("csrf", &token)])
        .await;
    assert_eq!(location(&response), format!("{path}?done=restored"));
    assert!(!f.activities().await[0].deleted);
}

#[tokio::test]
async fn the_language_switch_sets_a_cookie_and_goes_back() {
    let f = Fixture::new();
    let token = f.token().await;
    let response = f
        .post(
            "/language",
            &[("csrf", &token), ("lang", "en"), ("back", "/new")],
        )
        .await;
    assert_eq!(location(&response), "/new");
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("cookie")
        .to_str()
        .expect("ascii");
    assert!(cookie.starts_with("lang=en;"), "{cookie}");
    let request = Request::get("/new")
        .header(header::HOST, ADDR)
        .header(header::COOKIE, "lang=en")
        .body(Body::empty())
        .expect("request");
    let html = body_text(f.send(request).await).await;
    assert!(html.contains("Record an activity"));
    assert!(html.contains(r#"<html lang="en">"#));

    let away = f
        .post(
            "/language",
            &[
                ("csrf", &token),
                ("lang", "en"),
                ("back", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&away), "/", "never a redirect to another site");
}

/// Every page in both languages, with data in every state, shows no message
/// id in place of a text.
#[tokio::test]
async fn every_page_is_translated_in_both_languages() {
    let f = Fixture::new();
    let token = f.token().await;
    let created = f.post("/activities", &seminar(&token, "Seminārs")).await;
    let path = location(&created)
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    let pages = [
        "/".to_owned(),
        "/?q=seminars&kind=seminar&month=2026-05".to_owned(),
        "/new".to_owned(),
        format!("{path}?done=saved-new"),
        format!("{path}/edit"),
        format!("{path}/delete"),
        format!("{path}/history"),
        "/?deleted=true".to_owned(),
        "/status".to_owned(),
        "/reports".to_owned(),
        "/reports?period=custom&from=2026-01-01&to=2026-12-31".to_owned(),
        "/settings".to_owned(),
        "/no-such-page".to_owned(),
    ];
    for lang in ["lv", "en"] {
        for page in &pages {
            let request = Request::get(page.as_str())
                .header(header::HOST, ADDR)
                .header(header::COOKIE, format!("lang={lang}"))
                .body(Body::empty())
                .expect("request");
            let html = body_text(f.send(request).await).await;
            let missing = html
                .match_indices('[')
                .filter_map(|(i, _)| html[i + 1..].split(']').next())
                .find(|id| id.len() > 3 && id.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(missing, None, "{lang} {page}");
        }
    }
}

#[test]
fn no_message_is_left_untranslated() {
    use fluent_syntax::ast::Entry;
    // Language-neutral on purpose: a pattern of arguments, a dash, "ID".
    const SAME_IN_BOTH: [&str; 4] = [
        "conflict-change",
        "detail-none",
        "file-col-id",
        "cli-show-id",
    ];
    let messages = |source: &'static str| -> std::collections::BTreeMap<String, String> {
        let resource = fluent_syntax::parser::parse(source).expect("parses");
        resource
            .body
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Message(m) => Some((m.id.name.to_owned(), format!("{:?}", m.value))),
                _ => None,
            })
            .collect()
    };
    let lv = messages(include_str!("../src/web/locales/lv.ftl"));
    let en = messages(include_str!("../src/web/locales/en.ftl"));
    let same: Vec<&String> = lv
        .iter()
        .filter(|(id, text)| en.get(*id) == Some(text) && !SAME_IN_BOTH.contains(&id.as_str()))
        .map(|(id, _)| id)
        .collect();
    assert!(
        same.is_empty(),
        "the same text in Latvian and English: {same:?}"
    );
}

/// Every message formats in both languages without an error (a variable it
/// names but is not given, a message or function that does not exist), for
/// every plural form, given the variables it names; and it names the same
/// variables in both, since the program passes the same arguments whatever
/// the language.
#[test]
fn every_message_formats_in_both_languages() {
    let lv = variables_of(i18n::Lang::Lv);
    let en = variables_of(i18n::Lang::En);
    let mut problems = Vec::new();
    for (id, names) in &lv {
        // The command line's help is Latvian only: English is in the source.
        if let Some(english) = en.get(id)
            && english != names
        {
            problems.push(format!(
                "{id}: Latvian names {names:?}, English {english:?}"
            ));
        }
    }
    // Numbers that pick each Latvian and English plural form (zero, one,
    // other; 21 is "one" in Latvian), and a fraction.
    const SAMPLES: [f64; 6] = [0.0, 1.0, 2.0, 5.0, 21.0, 1.5];
    for (lang, messages) in [(i18n::Lang::Lv, &lv), (i18n::Lang::En, &en)] {
        for (id, names) in messages {
            for sample in SAMPLES {
                let args: Vec<(&str, fluent_bundle::FluentValue<'_>)> =
                    names.iter().map(|n| (n.as_str(), sample.into())).collect();
                let (text, errors) =
                    i18n::formatted(lang, id, &args).expect("every message read is in the bundle");
                if !errors.is_empty() || text.trim().is_empty() {
                    problems.push(format!(
                        "{id} in {} with {sample}: {text:?} {errors:?}",
                        lang.code()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What a message's text names: variables, and other messages (whose
/// variables it needs too).
#[derive(Default)]
struct Named {
    variables: BTreeSet<String>,
    messages: BTreeSet<String>,
}

/// Each message of `lang` and the variables its text names, itself or
/// through the messages it refers to.
fn variables_of(lang: i18n::Lang) -> BTreeMap<String, BTreeSet<String>> {
    use fluent_syntax::ast::{Entry, Pattern};
    let mut direct: BTreeMap<String, Named> = BTreeMap::new();
    for source in i18n::sources(lang) {
        let resource = fluent_syntax::parser::parse(*source).expect("parses");
        for entry in resource.body {
            if let Entry::Message(message) = entry
                && let Some(Pattern { elements }) = &message.value
            {
                let mut named = Named::default();
                names_in(elements, &mut named);
                direct.insert(message.id.name.to_owned(), named);
            }
        }
    }
    let through_references = |id: &String| {
        let mut variables = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![id.clone()];
        while let Some(next) = todo.pop() {
            if let Some(named) = direct.get(&next)
                && seen.insert(next)
            {
                variables.extend(named.variables.iter().cloned());
                todo.extend(named.messages.iter().cloned());
            }
        }
        variables
    };
    direct
        .keys()
        .map(|id| (id.clone(), through_references(id)))
        .collect()
}

fn names_in(elements: &[fluent_syntax::ast::PatternElement<&str>], named: &mut Named) {
    use fluent_syntax::ast::PatternElement;
    for element in elements {
        if let PatternElement::Placeable { expression } = element {
            expression_names(expression, named);
        }
    }
}

fn expression_names(expression: &fluent_syntax::ast::Expression<&str>, named: &mut Named) {
    use fluent_syntax::ast::Expression;
    match expression {
        Expression::Inline(inline) => inline_names(inline, named),
        Expression::Select { selector, variants } => {
            inline_names(selector, named);
            for variant in variants {
                names_in(&variant.value.elements, named);
            }
        }
    }
}

fn inline_names(inline: &fluent_syntax::ast::InlineExpression<&str>, named: &mut Named) {
    use fluent_syntax::ast::InlineExpression;
    match inline {
        InlineExpression::VariableReference { id } => {
            named.variables.insert(id.name.to_owned());
        }
        InlineExpression::MessageReference { id, .. } => {
            named.messages.insert(id.name.to_owned());
        }
        InlineExpression::FunctionReference { arguments, .. } => {
            for argument in &arguments.positional {
                inline_names(argument, named);
            }
            for argument in &arguments.named {
                inline_names(&argument.value, named);
            }
        }
        InlineExpression::Placeable { expression } => expression_names(expression, named),
        InlineExpression::StringLiteral { .. }
        | InlineExpression::NumberLiteral { .. }
        | InlineExpression::TermReference { .. } => {}
    }
}

#[test]
fn both_languages_have_exactly_the_same_messages() {
    let mut lv = i18n::message_ids(i18n::Lang::Lv);
    let mut en = i18n::message_ids(i18n::Lang::En);
    lv.sort();
    en.sort();
    assert!(lv.len() > 100, "{}", lv.len());
    assert_eq!(lv, en);
}

#[test]
fn latvian_numbers_dates_and_plurals() {
    use i18n::Lang::{En, Lv};
    assert_eq!(i18n::number(Lv, 10_000), "10\u{a0}000");
    assert_eq!(i18n::number(En, 10_000), "10,000");
    assert_eq!(i18n::hours(Lv, 1.5), "1,5");
    assert_eq!(i18n::hours(En, 2.0), "2");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 5, 14).expect("date");
    assert_eq!(i18n::date(Lv, day), "14.05.2026.");
    assert_eq!(i18n::date(En, day), "14 May 2026");
    assert_eq!(i18n::month(Lv, 2026, 5), "2026. gada maijs");
    let waiting = |lang, n: u64| {
        i18n::text(
            lang,
            "status-waiting",
            &[("count", n.into()), ("n", i18n::number(lang, n).into())],
        )
    };
    assert_eq!(waiting(Lv, 1), "Izmaiņas 1 aktivitātē gaida nosūtīšanu.");
    assert_eq!(waiting(Lv, 21), "Izmaiņas 21 aktivitātē gaida nosūtīšanu.");
    assert_eq!(waiting(Lv, 3), "Izmaiņas 3 aktivitātēs gaida nosūtīšanu.");
    assert_eq!(waiting(Lv, 11), "Izmaiņas 11 aktivitātēs gaida nosūtīšanu.");
    assert_eq!(
        waiting(En, 3),
        "Changes to 3 activities are waiting to be sent."
    );
}

#[tokio::test]
async fn only_the_office_may_erase_and_it_asks_once_with_a_box_to_tick() {
    let f = Fixture::new();
    let token = f.token().await;
    let created = f
        .post("/activities", &seminar(&token, "Konsultācija"))
        .await;
    let path = location(&created)
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    let erase = format!("{path}/erase");
    async fn requests(f: &Fixture) -> Vec<sync_core::store::ErasureRequest> {
        let replica = f.owner.hold().await.expect("the store");
        replica.store().erasure_requests().expect("requests")
    }

    // A centre's device: no button, and the page and the form are refused.
    let (_, html) = f.get(&path).await;
    assert!(!html.contains(&erase), "{html}");
    assert_eq!(f.get(&erase).await.0, StatusCode::FORBIDDEN);
    let ticked = [("csrf", token.as_str()), ("understood", "yes")];
    let response = f.post(&erase, &ticked).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(requests(&f).await.is_empty() && !f.activities().await[0].deleted);

    // The office: the button, a page that asks once, the box must be ticked.
    let office = field_client::net::Enrolment {
        relay: "relay.example.lv:4433".into(),
        fingerprint: String::new(),
        office: true,
        centre: "IIC birojs".into(),
        journal: uuid::Uuid::new_v4(),
        enrolled_at: chrono::Utc::now(),
    };
    let replica = f.owner.hold().await.expect("the store");
    field_client::net::keep_enrolment(replica.store(), &office).expect("saved");
    drop(replica);
    let (_, html) = f.get(&path).await;
    assert!(html.contains(&format!(r#"href="{erase}""#)), "{html}");
    let (status, html) = f.get(&erase).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("To nevar atsaukt"), "{html}");
    let response = f.post(&erase, &[("csrf", &token)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "box not ticked");
    let response = f.post(&erase, &[("understood", "yes")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no token");
    assert!(requests(&f).await.is_empty());

    let response = f.post(&erase, &ticked).await;
    assert_eq!(location(&response), "/?done=erase-requested");
    let waiting = requests(&f).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(path, format!("/activities/{}", waiting[0].activity));
    assert!(waiting[0].answer.is_none());
    assert!(f.activities().await[0].deleted, "hidden until erased");
    let (_, html) = f.get("/?done=erase-requested").await;
    assert!(html.contains("Dzēšana pieprasīta"), "{html}");
    let (_, html) = f.get(&path).await;
    assert!(html.contains("Ir lūgts šo aktivitāti neatgriezeniski dzēst"));
    assert!(!html.contains(&format!(r#"href="{erase}""#)), "asked once");
}

/// A multipart upload of `files` (name, bytes) with `token`, as the
/// activity page's form sends it.
fn upload(path: &str, token: &str, files: &[(&str, &[u8])]) -> Request<Body> {
    const BOUNDARY: &str = "----krc-upload-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n")
            .as_bytes(),
    );
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Request::post(path)
        .header(header::HOST, ADDR)
        .header(header::ORIGIN, format!("http://{ADDR}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .expect("request")
}

/// A seminar saved through the form: this run's token and its page.
async fn a_seminar_page(f: &Fixture) -> (String, String) {
    let (_, html) = f.get("/new").await;
    let token = field_value(&html, "csrf").expect("token");
    let id = field_value(&html, "id").expect("id");
    let mut fields = seminar(&token, "Seminārs");
    fields.push(("id", &id));
    f.post("/activities", &fields).await;
    (token, format!("/activities/{id}"))
}

fn photo() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
    bytes.extend_from_slice(b"JFIF\0");
    bytes.extend(std::iter::repeat_n(7, 200_000));
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

#[tokio::test]
async fn files_added_on_an_activitys_page_are_shown_opened_and_removed() {
    let f = Fixture::new();
    let (_, html) = f.get("/new").await;
    let token = field_value(&html, "csrf").expect("token");
    let id = field_value(&html, "id").expect("id");
    let mut fields = seminar(&token, "Seminārs ar foto");
    fields.push(("id", &id));
    f.post("/activities", &fields).await;
    let page = format!("/activities/{id}");
    let (_, html) = f.get(&page).await;
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");

    let bytes = photo();
    let sheet = b"%PDF-1.4\nsaraksts\n%%EOF\n".to_vec();
    let files: [(&str, &[u8]); 2] = [("foto.jpg", &bytes), ("saraksts.pdf", &sheet)];
    let response = f
        .send(upload(&format!("{page}/files"), &token, &files))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("{page}?done=files-added"));
    let saved = f.activities().await;
    let attached = &saved[0].attachments;
    assert_eq!(attached.len(), 2);
    let (_, html) = f.get(&format!("{page}?done=files-added")).await;
    let photo_url = format!("/files/{}", attached[0].file);
    assert!(html.contains(&format!("src=\"{photo_url}\"")), "{html}");
    assert!(html.contains("PDF · saraksts.pdf"), "{html}");
    let response = f.send(get(&photo_url)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/jpeg");
    let served = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(served.as_ref(), bytes.as_slice());

    // A zip named like a photo is refused with its reason; nothing changes.
    let fake: [(&str, &[u8]); 2] = [("labs.jpg", &bytes), ("viltots.jpg", b"PK\x03\x04zip")];
    let response = f
        .send(upload(&format!("{page}/files"), &token, &fake))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = body_text(response).await;
    assert!(text.contains("viltots.jpg nevar pievienot"), "{text}");
    assert_eq!(f.activities().await[0].attachments.len(), 2);
    // Without this run's token: refused, nothing stored.
    let response = f
        .send(upload(&format!("{page}/files"), "stale", &files))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let remove = format!("{page}/files/{}/remove", attached[0].file);
    let response = f.post(&remove, &[("csrf", &token)]).await;
    assert_eq!(location(&response), format!("{page}?done=file-removed"));
    let left = &f.activities().await[0].attachments;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "saraksts.pdf");
}

#[tokio::test]
async fn asking_for_a_file_keeps_it_for_the_sync_to_fetch() {
    let f = Fixture::new();
    let (token, page) = a_seminar_page(&f).await;
    let bytes = photo();
    let files: [(&str, &[u8]); 1] = [("foto.jpg", &bytes)];
    f.send(upload(&format!("{page}/files"), &token, &files))
        .await;
    let hash = f.activities().await[0].attachments[0].file;
    let response = f
        .post(&format!("{page}/files/{hash}/fetch"), &[("csrf", &token)])
        .await;
    assert_eq!(location(&response), format!("{page}?done=file-fetching"));
    let held = f.owner.hold().await.expect("the store");
    let wanted = field_client::file_link::wanted(held.store()).expect("wanted");
    assert_eq!(wanted.len(), 1);
    assert_eq!(wanted[0].file.hash, hash);
}

#[tokio::test]
async fn a_photos_thumbnail_shows_and_one_this_computer_lacks_is_asked_for() {
    let f = Fixture::new();
    let (token, page) = a_seminar_page(&f).await;
    let bytes = tests::sample_files::photo(1200, 900);
    let files: [(&str, &[u8]); 1] = [("foto.jpg", &bytes)];
    f.send(upload(&format!("{page}/files"), &token, &files))
        .await;
    let attached = f.activities().await[0].attachments[0].clone();
    let thumbnail = attached.thumbnail.expect("made as it was attached");
    // Held: the page shows the thumbnail, which opens the photo.
    let (_, html) = f.get(&page).await;
    let shown = format!(
        "<a href=\"/files/{}\" target=\"_blank\" rel=\"noopener\"><img class=\"thumb\" src=\"/files/{}\"",
        attached.file, thumbnail.file
    );
    assert!(html.contains(&shown), "{html}");
    let response = f.send(get(&format!("/files/{}", thumbnail.file))).await;
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/jpeg");

    // As on an office computer that has the record but neither file: the
    // page asks the sync for the thumbnail only, and offers the photo.
    let small = {
        let held = f.owner.hold().await.expect("the store");
        let mut small = Vec::new();
        held.store()
            .read_file(thumbnail.file, &mut small)
            .expect("thumbnail");
        held.store().remove_file(attached.file).expect("remove");
        held.store().remove_file(thumbnail.file).expect("remove");
        small
    };
    let (_, html) = f.get(&page).await;
    assert!(
        html.contains(&format!("/files/{}/fetch", attached.file)),
        "{html}"
    );
    assert!(!html.contains(&format!("src=\"/files/{}\"", thumbnail.file)));
    let wanted: Vec<_> = {
        let held = f.owner.hold().await.expect("the store");
        field_client::file_link::wanted(held.store()).expect("wanted")
    };
    let hashes: Vec<_> = wanted.iter().map(|w| w.file.hash).collect();
    assert_eq!(hashes, [thumbnail.file], "the thumbnail, not the photo");
    // Once the sync brought it, the thumbnail shows beside the button.
    {
        let held = f.owner.hold().await.expect("the store");
        held.store()
            .put_file(std::io::Cursor::new(&small))
            .expect("stored");
    }
    let (_, html) = f.get(&page).await;
    assert!(
        html.contains(&format!("src=\"/files/{}\"", thumbnail.file)),
        "{html}"
    );
    assert!(
        html.contains(&format!("/files/{}/fetch", attached.file)),
        "{html}"
    );
}
