//! The volunteers' app with a 10,000-activity journal: time to answer the
//! list page (open the store, read every activity, filter, total, render
//! HTML), and time from "save" to the durable write (the form's POST: parse,
//! validate, open the journal, commit with `Durability::Immediate`, redirect).
//!
//! `cargo bench -p field-client --bench web_app`
//!
//! Measured in-process through the app's router (what the browser adds is its
//! own rendering, and a loopback round trip well under a millisecond).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use field_client::web::{App, router};
use http_body_util::BodyExt;
use sync_core::{ActivityId, ActivityInput, ActivityPatch, NewStore, Replica};
use tower::ServiceExt;

const ACTIVITIES: usize = 10_000;
/// Timed requests per row; the median and the slowest are reported.
const RUNS: usize = 21;
const ADDR: &str = "127.0.0.1:7373";

fn activity(i: usize) -> ActivityPatch {
    ActivityInput {
        title: Some(format!(
            "Skolotāja loma vietējās kopienas attīstībā, nr. {i}"
        )),
        kind: Some(["seminar", "workshop", "training", "event"][i % 4].into()),
        date: Some(format!(
            "20{:02}-{:02}-{:02}",
            20 + i % 7,
            1 + i % 12,
            1 + i % 28
        )),
        start: Some("14:00".into()),
        hours: Some(format!("{}", 1 + i % 6)),
        place: Some("Daugavpils, Smilšu iela 92".into()),
        organisers: Some(vec!["Inese Kalniņa".into()]),
        institutions: Some(vec![format!("{}.PII", i % 30), format!("{}.vsk", i % 17)]),
        counts: vec![
            ("teachers".into(), format!("{}", i % 30)),
            ("parents".into(), format!("{}", i % 11)),
        ],
        description: Some("Dalībnieki apsprieda skolas un ģimenes sadarbību.".into()),
        notes: Some("Atsauksmes pozitīvas.".into()),
    }
    .parse()
    .expect("valid")
}

async fn request(app: &App, request: Request<Body>) -> (StatusCode, usize) {
    let response = router(app.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body.len())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, ADDR)
        .body(Body::empty())
        .expect("request")
}

fn report(what: &str, mut times: Vec<Duration>, detail: &str) {
    times.sort();
    println!(
        "{what:<44} median {:>7.1} ms   slowest {:>7.1} ms   {detail}",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

async fn time_get(app: &App, path: &str, what: &str) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, n) = request(app, get(path)).await;
        times.push(started.elapsed());
        assert_eq!(status, StatusCode::OK);
        bytes = n;
    }
    report(what, times, &format!("{bytes} B of HTML"));
}

async fn time_save(app: &App, token: &str) {
    let mut times = Vec::new();
    for i in 0..RUNS {
        let id = ActivityId::new_random().to_string();
        let title = format!("Jauna aktivitāte {i}");
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("csrf", token),
                ("id", id.as_str()),
                ("title", title.as_str()),
                ("kind", "workshop"),
                ("date", "2026-11-23"),
                ("count-teachers", "12"),
                ("count-parents", "4"),
            ])
            .finish();
        let post = Request::post("/activities")
            .header(header::HOST, ADDR)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let started = Instant::now();
        let (status, _) = request(app, post).await;
        times.push(started.elapsed());
        assert_eq!(status, StatusCode::SEE_OTHER, "saved");
    }
    report("save → durable write → redirect", times, "");
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = dir.path().join("journal.redb");
    let mut replica = Replica::create(
        &store,
        NewStore {
            centre: "Daugavpils KRC",
            device_name: "bench",
        },
    )
    .expect("store");
    let items = (0..ACTIVITIES)
        .map(|i| (ActivityId::new_random(), activity(i)))
        .collect();
    replica.import(items, Utc::now()).expect("import");
    replica.compact().expect("compact");
    drop(replica);

    let addr: SocketAddr = ADDR.parse().expect("addr");
    let app = App::new(
        field_client::owner::StoreOwner::open(&store).expect("open the store"),
        addr,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("The app with {ACTIVITIES} activities in the journal ({RUNS} runs each):");
        time_get(&app, "/", "list page (newest 50 shown, totals of all)").await;
        time_get(
            &app,
            "/?q=skolotaja&kind=seminar",
            "list page, folded search + kind filter",
        )
        .await;
        let token = {
            let response = router(app.clone())
                .oneshot(get("/new"))
                .await
                .expect("infallible");
            let html = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let html = String::from_utf8(html.to_vec()).expect("utf-8");
            let at = html.find("name=\"csrf\" value=\"").expect("token") + 19;
            html[at..at + 64].to_owned()
        };
        time_get(&app, "/new", "new activity form").await;
        time_save(&app, &token).await;
    });
}
