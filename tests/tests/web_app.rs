//! The volunteers' app end to end: a real headless Chromium against a real
//! `field-client run`, with screenshots of every page under
//! `target/test-artefacts/screenshots/<test>/` for a reviewer to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver` (README; `.ci/run`
//! installs them).

// Unix only: the stand-in browser of the first-run tests is a shell script,
// and the relay is stopped with SIGTERM.
#![cfg(unix)]

mod common;

use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{Relay, enrol, follow_lines, wait_for_line};
use serde_json::json;
use tests::Cli;
use tests::browser::{Browser, Engine};

/// Longest wait for the daemon to sync after the relay came back: its retry
/// backoff (2, 4, 8, 16 s …) plus the status line's 5 s refresh, with room
/// for a slow machine.
const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

/// Between reloads of a page waiting for data from another device.
const RELOAD_EVERY: Duration = Duration::from_millis(500);

const TITLE: &str = "Skolotāja loma vietējās kopienas attīstībā";

/// A running `field-client run` and the address of its app.
struct App {
    child: Child,
    url: String,
    /// What the daemon prints (its sync log), line by line.
    stderr: Receiver<String>,
}

impl App {
    fn start(cli: &Cli) -> App {
        App::start_on(cli, 0)
    }

    /// `field-client run` serving its app on `port` (0: any free one).
    fn start_on(cli: &Cli, port: u16) -> App {
        let mut command = cli.command(["run", "--web-port", &port.to_string()]);
        App::spawn(&mut command)
    }

    /// `field-client run` with the browser it opens by itself replaced by a
    /// script that writes the address it was asked to open into `asked`.
    fn start_opening_browser(cli: &Cli, asked: &std::path::Path) -> App {
        let script = stand_in_browser(&cli.data_dir().with_extension("browser.sh"), asked);
        let mut command = cli.command(["run", "--web-port", "0"]);
        command.env("BROWSER", &script);
        App::spawn(&mut command)
    }

    fn spawn(command: &mut std::process::Command) -> App {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start field-client run");
        let stdout = follow_lines(child.stdout.take().expect("stdout"), |_| {});
        let stderr = follow_lines(child.stderr.take().expect("stderr"), |line| {
            eprintln!("[field-client run] {line}");
        });
        let url = common::app_url(&stdout);
        App { child, url, stderr }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Stops the app and starts it again on the same address, as a
    /// restart of the computer or of the program does.
    fn restart(mut self, cli: &Cli) -> App {
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the app's port");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let again = App::start_on(cli, port);
        assert_eq!(again.url, self.url);
        again
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fills the record form with a seminar in Latvian (the form must be open).
async fn fill_seminar(browser: &Browser) {
    browser.fill("#title", TITLE).await;
    browser
        .find("#kind")
        .await
        .select_by_value("seminar")
        .await
        .expect("kind");
    set_value(browser, "#date", "2026-05-14").await;
    set_value(browser, "#start", "14:00").await;
    browser.fill("#hours", "3").await;
    browser.fill("#place", "Smilšu iela 92").await;
    browser.fill("#organiser", "Inese Kalniņa").await;
    browser.fill("#count-teachers", "18").await;
    browser.fill("#count-parents", "3").await;
    browser
        .fill("#description", "Ievadseminārs pedagogiem")
        .await;
}

/// Sets a date or time input's value (typing into them depends on the
/// browser's locale).
async fn set_value(browser: &Browser, css: &str, value: &str) {
    browser
        .client()
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .expect("set a value");
}

/// Takes a screenshot of the page as it is now and checks what every page
/// owes its users: it loaded nothing from anywhere but the app itself (no
/// font, script or image from the internet, which a centre offline would not
/// get; Chromium lists even a request that failed, as every request to the
/// internet does here, Firefox only those that loaded), and each field a
/// person fills in has a name a screen reader says (a `<label>`, `aria-label`
/// or `aria-labelledby`).
async fn look(browser: &mut Browser, name: &str) {
    browser.screenshot(name).await;
    let elsewhere = browser
        .client()
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)
                .concat([location.href])
                .filter(url => !url.startsWith(location.origin + '/'));",
            Vec::new(),
        )
        .await
        .expect("list what the page loaded");
    assert_eq!(elsewhere, json!([]), "{name}: loaded from elsewhere");
    let unlabelled = browser
        .client()
        .execute(
            "return Array.from(document.querySelectorAll('input, select, textarea'))
                .filter(e => e.type !== 'hidden' && e.labels.length === 0
                    && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
                .map(e => e.outerHTML);",
            Vec::new(),
        )
        .await
        .expect("list the page's fields");
    assert_eq!(unlabelled, json!([]), "{name}: fields without a label");
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser.find(css).await.text().await.expect("text")
}

/// Reloads `url` until its `css` element contains `text` (data arriving from
/// another device does not push a page), at most `timeout`.
async fn reload_until(browser: &Browser, url: &str, css: &str, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        browser.goto(url).await;
        let seen = text_of(browser, css).await;
        if seen.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url}: {css} did not show {text:?} within {timeout:?}; last saw {seen:?}"
        );
        tokio::time::sleep(RELOAD_EVERY).await;
    }
}

/// The activity's page after saving, as the browser shows it.
async fn current_path(browser: &Browser) -> String {
    let url = browser.client().current_url().await.expect("url");
    url.path().to_owned()
}

#[tokio::test]
async fn a_volunteer_records_finds_edits_deletes_and_undoes_in_latvian_and_english() {
    volunteer_flow(Engine::Chromium).await;
}

#[tokio::test]
async fn the_volunteers_whole_flow_works_the_same_in_firefox() {
    volunteer_flow(Engine::Firefox).await;
}

async fn volunteer_flow(engine: Engine) {
    let cli = Cli::init("Daugavpils KRC");
    let app = App::start(&cli);
    let shots = format!("volunteer_flow_{}", engine.name());
    let mut browser = Browser::start_in(engine, &shots).await;

    browser.goto(&app.at("/")).await;
    browser.wait_for_text("h1", "Aktivitātes").await;
    browser.wait_for_text("#status", "Viss ir nosūtīts").await;
    look(&mut browser, "empty-list").await;

    // A mistake first: the error is next to its field and nothing typed is lost.
    browser.click("a.button.primary[href='/new']").await;
    browser.fill("#description", "Nedrīkst pazust").await;
    browser.fill("#count-teachers", "-2").await;
    browser.click("#activity-form button[type=submit]").await;
    browser
        .wait_for_text("#title-error", "Šis lauks nedrīkst būt tukšs.")
        .await;
    browser
        .wait_for_text("#count-teachers-error", "Skaits nevar būt negatīvs.")
        .await;
    let kept = browser
        .find("#description")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some("Nedrīkst pazust"));
    // The first field to correct has the focus.
    assert_eq!(focused(&browser).await, "title");
    look(&mut browser, "form-with-errors").await;

    // Record it properly; the total adds up as counts are typed.
    browser
        .client()
        .execute("localStorage.clear();", Vec::new())
        .await
        .expect("forget the mistaken draft");
    browser.goto(&app.at("/new")).await;
    fill_seminar(&browser).await;
    browser.wait_for_text("#form-total", "21").await;
    look(&mut browser, "form-filled").await;
    browser.click("#activity-form button[type=submit]").await;
    browser
        .wait_for_text(".flash", &format!("Saglabāts: “{TITLE}”"))
        .await;
    look(&mut browser, "saved").await;
    let activity = current_path(&browser).await;
    let saved = cli.list_json(&[]);
    assert_eq!(saved.len(), 1, "saved in the journal");
    assert_eq!(saved[0]["title"], TITLE);
    assert_eq!(saved[0]["counts"]["teachers"], 18);

    // Found by a search without Latvian letters.
    browser.goto(&app.at("/")).await;
    browser.fill("#q", "skolotaja loma").await;
    browser.click("form.search button[type=submit]").await;
    browser.wait_for_text("table.activities", TITLE).await;
    browser.wait_for_text("#total-participants", "21").await;
    look(&mut browser, "found-by-folded-search").await;
    browser.fill("#q", "vecaki").await;
    browser.click("form.search button[type=submit]").await;
    browser
        .wait_for_text("main", "Neviena aktivitāte neatbilst.")
        .await;

    // Edit one field. The form shows what the page shows: hours with a
    // decimal comma, no empty box after the organisers.
    browser.goto(&app.at(&format!("{activity}/edit"))).await;
    assert_eq!(value_of(&browser, "#hours").await, "3");
    // Dates as a Latvian writes them, whatever the browser's language.
    assert_eq!(value_of(&browser, "#date").await, "14.05.2026.");
    assert_eq!(
        run_js(&browser, "return document.querySelector('#date').type;").await,
        json!("text")
    );
    let organiser_boxes = browser
        .client()
        .execute(
            "return document.querySelectorAll('input[name=organiser]').length;",
            Vec::new(),
        )
        .await
        .expect("count");
    assert_eq!(
        organiser_boxes,
        json!(1),
        "no empty box after the one organiser"
    );
    browser.fill("#place", "BJC “Mezgls”, Smilšu iela 92").await;
    look(&mut browser, "editing").await;
    browser.click("#activity-form button[type=submit]").await;
    browser.wait_for_text(".flash", "ir saglabātas").await;
    browser.wait_for_text("dl.detail", "BJC “Mezgls”").await;
    assert_eq!(
        cli.list_json(&[])[0]["place"],
        "BJC “Mezgls”, Smilšu iela 92"
    );
    // Hours typed with a decimal comma come back in the form the same way.
    browser.goto(&app.at(&format!("{activity}/edit"))).await;
    browser.fill("#hours", "1,5").await;
    browser.fill("#date", "14.05.2026").await;
    browser.click("#activity-form button[type=submit]").await;
    browser.wait_for_text(".flash", "ir saglabātas").await;
    assert_eq!(cli.list_json(&[])[0]["hours"], 1.5);
    assert_eq!(cli.list_json(&[])[0]["date"], "2026-05-14");
    browser.goto(&app.at(&format!("{activity}/edit"))).await;
    assert_eq!(value_of(&browser, "#hours").await, "1,5");
    browser.goto(&app.at(&activity)).await;

    // Delete (asked once), then undo from the list.
    browser.click("a.button.danger").await;
    browser.wait_for_text("h1", "Dzēst šo aktivitāti?").await;
    assert_eq!(
        focused(&browser).await,
        "Paturēt",
        "the safe choice has the focus"
    );
    look(&mut browser, "confirm-delete").await;
    browser.click("form.actions button.danger").await;
    browser.wait_for_text(".flash", "ir izdzēsta").await;
    browser
        .wait_for_text("main", "Vēl nav ierakstīta neviena aktivitāte.")
        .await;
    look(&mut browser, "deleted-with-undo").await;
    assert!(cli.list_json(&[]).is_empty(), "deleted in the journal");
    browser.click(".flash button.link").await;
    browser.wait_for_text(".flash", "ir atjaunota").await;
    assert_eq!(cli.list_json(&[]).len(), 1, "restored in the journal");

    // English, kept across pages.
    browser.click("form.language button[value=en]").await;
    browser.wait_for_text(".flash", "is back").await;
    browser.goto(&app.at("/")).await;
    browser.wait_for_text("h1", "Activities").await;
    browser.wait_for_text("table.activities", "Seminar").await;
    browser
        .wait_for_text("table.activities", "14 May 2026")
        .await;
    look(&mut browser, "list-in-english").await;
    browser.resize(390, 844).await;
    // On a phone the search and totals fold away: the first activity is on
    // the first screen.
    browser.goto(&app.at("/")).await;
    browser.wait_for_text("table.activities", "May 2026").await;
    let first_row = run_js(
        &browser,
        "return document.querySelector('table.activities tbody tr').getBoundingClientRect().top < innerHeight;",
    )
    .await;
    assert_eq!(
        first_row,
        json!(true),
        "the first activity is below the first screen"
    );
    look(&mut browser, "list-on-a-phone").await;
    browser.close().await;
}

#[tokio::test]
async fn a_draft_survives_leaving_the_page_and_is_gone_once_saved() {
    draft_flow(Engine::Chromium).await;
}

#[tokio::test]
async fn a_draft_survives_and_goes_once_saved_in_firefox_too() {
    draft_flow(Engine::Firefox).await;
}

async fn draft_flow(engine: Engine) {
    let cli = Cli::init("Rēzeknes KRC");
    let app = App::start(&cli);
    let mut browser = Browser::start_in(engine, &format!("draft_{}", engine.name())).await;
    browser.goto(&app.at("/new")).await;
    browser
        .fill("#title", "Kopienas iniciatīva “Es savai kopienai”")
        .await;
    browser.fill("#count-volunteers", "7").await;
    // Leave without saving (the tab's page is gone), then come back.
    browser.goto(&app.at("/")).await;
    browser.goto(&app.at("/new")).await;
    browser
        .wait_for_text("[data-draft-note]", "atjaunoti")
        .await;
    let title = browser
        .find("#title")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        title.as_deref(),
        Some("Kopienas iniciatīva “Es savai kopienai”")
    );
    browser.wait_for_text("#form-total", "7").await;
    look(&mut browser, "draft-restored").await;
    look_on_a_phone(&mut browser, "draft-restored-phone").await;
    browser
        .find("#kind")
        .await
        .select_by_value("community_initiative")
        .await
        .expect("kind");
    browser.click("#activity-form button[type=submit]").await;
    browser.wait_for_text(".flash", "Saglabāts").await;
    browser.goto(&app.at("/new")).await;
    let title = browser
        .find("#title")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        title.as_deref(),
        Some(""),
        "the saved draft is not offered again"
    );
    discard_and_cancel(&browser, &app).await;
    browser.close().await;
}

#[tokio::test]
async fn a_form_open_while_the_app_restarts_is_saved_after_one_more_click() {
    form_across_a_restart(Engine::Chromium).await;
}

#[tokio::test]
async fn a_form_open_while_the_app_restarts_is_kept_in_firefox_too() {
    form_across_a_restart(Engine::Firefox).await;
}

/// The volunteer fills the form, the app restarts, the volunteer presses
/// "Saglabāt": the same form comes back with what was typed and one line
/// saying why it is not saved yet; pressing it again saves.
async fn form_across_a_restart(engine: Engine) {
    let cli = Cli::init("Rēzeknes KRC");
    let app = App::start(&cli);
    let mut browser = Browser::start_in(engine, &format!("restart_{}", engine.name())).await;
    browser.goto(&app.at("/new")).await;
    fill_seminar(&browser).await;
    let app = app.restart(&cli);
    browser.click("#activity-form button[type=submit]").await;
    browser
        .wait_for_text(".alert", "programma tika restartēta")
        .await;
    assert_eq!(value_of(&browser, "#title").await, TITLE);
    look(&mut browser, "form-after-restart").await;
    look_on_a_phone(&mut browser, "form-after-restart-phone").await;
    browser.click("#activity-form button[type=submit]").await;
    browser
        .wait_for_text(".flash", &format!("Saglabāts: “{TITLE}”"))
        .await;
    assert_eq!(cli.list_json(&[]).len(), 1, "saved once");
    drop(app);
    browser.close().await;
}

#[tokio::test]
async fn a_new_computer_is_set_up_in_the_app_offline_first_then_enrolled_in_settings() {
    set_up_offline_then_enrol(Engine::Chromium).await;
}

#[tokio::test]
async fn a_new_computer_is_set_up_offline_first_then_enrolled_in_firefox() {
    set_up_offline_then_enrol(Engine::Firefox).await;
}

#[tokio::test]
async fn a_new_computer_is_set_up_in_the_app_with_the_offices_code() {
    set_up_with_a_code(Engine::Chromium).await;
}

#[tokio::test]
async fn a_new_computer_is_set_up_with_the_offices_code_in_firefox() {
    set_up_with_a_code(Engine::Firefox).await;
}

/// A computer with no journal: `run` opens the browser on the setup page by
/// itself. Without a code: a centre's name, and recording starts; the code,
/// pasted later on the settings page, enrols it and what was recorded is
/// sent.
async fn set_up_offline_then_enrol(engine: Engine) {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let cli = Cli::new();
    let asked = cli.data_dir().with_extension("asked");
    let app = App::start_opening_browser(&cli, &asked);
    assert_eq!(
        browser_was_asked(&asked),
        app.url,
        "the browser opens by itself"
    );
    assert!(
        !cli.store_path().exists(),
        "nothing is made before the setup"
    );
    // Another web page open in the same browser cannot set the computer up
    // (enrolling it with its own server, say): without the page's token, or
    // from another site, nothing is made.
    let code = relay.centre_code(centre);
    for origin in [app.url.clone(), "http://evil.example".to_owned()] {
        let status = post_form(&app.at("/setup/enrol"), &origin, &format!("code={code}"));
        assert!(status.contains(" 403 "), "{origin}: {status}");
        let status = post_form(&app.at("/setup/offline"), &origin, "centre=Svešs");
        assert!(status.contains(" 403 "), "{origin}: {status}");
    }
    assert!(!cli.store_path().exists(), "a forged setup made nothing");

    let mut browser = Browser::start_in(engine, &format!("setup_{}", engine.name())).await;
    browser.goto(&app.at("/")).await;
    browser.wait_for_text("h1", "Sveicināti").await;
    look(&mut browser, "setup").await;
    look_on_a_phone(&mut browser, "setup-phone").await;
    // A mistyped code is told in plain words, and nothing is made.
    browser.fill("#code", &mistype(&code)).await;
    browser
        .click("form[action='/setup/enrol'] button[type=submit]")
        .await;
    browser
        .wait_for_text(".error", "pārrakstīšanās kļūda")
        .await;
    assert!(!cli.store_path().exists(), "a mistyped code makes nothing");
    // Start offline.
    browser.fill("#centre", "Ludzas KRC").await;
    browser
        .click("form[action='/setup/offline'] button[type=submit]")
        .await;
    browser.wait_for_text(".brand .centre", "Ludzas KRC").await;
    // The app asks who records here; the one chosen in the header is
    // written with the record.
    browser
        .wait_for_text(".notice", "Kas ieraksta šajā datorā?")
        .await;
    browser.click(".notice a").await;
    browser.fill("#names", "Anna Bērziņa\nJānis Ozoliņš").await;
    browser
        .click("form[action='/settings/people'] button[type=submit]")
        .await;
    browser.wait_for_text("form.recorder", "Ieraksta").await;
    browser
        .find("#recorder")
        .await
        .select_by_value("Jānis Ozoliņš")
        .await
        .expect("choose");
    browser.click("form.recorder button[type=submit]").await;
    look(&mut browser, "people").await;
    look_on_a_phone(&mut browser, "people-phone").await;
    browser.goto(&app.at("/new")).await;
    fill_seminar(&browser).await;
    browser.click("#activity-form button[type=submit]").await;
    browser.wait_for_text(".flash", "Saglabāts").await;
    browser
        .wait_for_text("main", "Ierakstīja Jānis Ozoliņš")
        .await;
    // Enrol from the settings page: the seminar reaches the office server.
    browser.goto(&app.at("/settings")).await;
    browser.fill("#code", &code).await;
    browser
        .click("form[action='/settings/enrol'] button[type=submit]")
        .await;
    browser
        .wait_for_text("main", "ir pievienots biroja serverim")
        .await;
    look(&mut browser, "settings-enrolled").await;
    wait_for_line(&app.stderr, "stored 1 changes", "field-client run").expect("sent");
    browser.close().await;
}

/// The same first run with the office's code pasted at once: the centre's
/// name and municipality come from the office server.
async fn set_up_with_a_code(engine: Engine) {
    let relay = Relay::start();
    let centre = relay.add_centre_in("Kārsavas KRC", "Ludzas novads");
    let cli = Cli::new();
    let asked = cli.data_dir().with_extension("asked");
    let app = App::start_opening_browser(&cli, &asked);
    let mut browser = Browser::start_in(engine, &format!("setup_code_{}", engine.name())).await;
    browser.goto(&app.at("/")).await;
    browser.fill("#code", &relay.centre_code(centre)).await;
    browser
        .fill("#enrol-device-name", "Bibliotēkas dators")
        .await;
    browser
        .click("form[action='/setup/enrol'] button[type=submit]")
        .await;
    browser
        .wait_for_text(".brand .centre", "Kārsavas KRC")
        .await;
    look(&mut browser, "set-up-with-a-code").await;
    look_on_a_phone(&mut browser, "set-up-with-a-code-phone").await;
    assert_eq!(cli.status_json()["device_name"], "Bibliotēkas dators");
    browser.goto(&app.at("/new")).await;
    fill_seminar(&browser).await;
    browser.click("#activity-form button[type=submit]").await;
    browser.wait_for_text(".flash", "Saglabāts").await;
    wait_for_line(&app.stderr, "stored 1 changes", "field-client run").expect("sent");
    // The municipality came with the journal's grant, at the first sync.
    assert_eq!(cli.status_json()["municipality"], "Ludzas novads");
    browser.goto(&app.at("/settings")).await;
    browser
        .wait_for_text("dl.facts dd.municipality", "Ludzas novads")
        .await;
    look(&mut browser, "settings-with-municipality").await;
    browser.close().await;
}

/// Writes at `script` a stand-in for the browser (for `BROWSER`) that
/// writes the address it is asked to open into `asked`.
fn stand_in_browser(script: &std::path::Path, asked: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(
        script,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", asked.display()),
    )
    .expect("script");
    std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    script.to_owned()
}

/// A form POST as another page would send it, with `origin`; the status line.
fn post_form(url: &str, origin: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the app");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The address the stand-in browser was asked to open, once it has been
/// (it is started in the background; the wait is bounded).
fn browser_was_asked(asked: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(asked)
            && !text.is_empty()
        {
            return text.trim().trim_end_matches('/').to_owned();
        }
        assert!(Instant::now() < deadline, "the browser was never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `code` with one character changed, as a slip of the hand makes it.
fn mistype(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let at = chars.len() / 2;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// "Atmest tos" throws the restored draft away, and stays thrown away when
/// the page is left; "Atcelt" ends a draft too. New typing after either is
/// a draft of its own, not added to the old one.
async fn discard_and_cancel(browser: &Browser, app: &App) {
    browser.goto(&app.at("/new")).await;
    browser
        .fill("#title", "Melnraksts: bibliotēkas stundas")
        .await;
    browser.goto(&app.at("/")).await;
    browser.goto(&app.at("/new")).await;
    browser
        .wait_for_text("[data-draft-note]", "atjaunoti")
        .await;
    browser.click("[data-draft-discard]").await;
    wait_for_value(browser, "#title", "").await;
    browser.goto(&app.at("/")).await;
    browser.goto(&app.at("/new")).await;
    assert_eq!(
        value_of(browser, "#title").await,
        "",
        "the discarded draft came back"
    );
    assert!(
        !browser
            .find("[data-draft-note]")
            .await
            .is_displayed()
            .await
            .expect("visibility"),
        "a discarded draft is not announced"
    );
    // Typed after the discard: a draft of its own.
    browser
        .find("#title")
        .await
        .send_keys("Rokdarbu vakars")
        .await
        .expect("type");
    browser.goto(&app.at("/")).await;
    browser.goto(&app.at("/new")).await;
    wait_for_value(browser, "#title", "Rokdarbu vakars").await;
    // "Atcelt" leaves the form and ends its draft.
    browser.click("[data-draft-cancel]").await;
    browser
        .wait_until(
            "Atcelt leading back to the list",
            "return location.pathname === '/';",
            Vec::new(),
        )
        .await;
    browser.goto(&app.at("/new")).await;
    assert_eq!(
        value_of(browser, "#title").await,
        "",
        "a cancelled draft came back"
    );
}

/// The report page: the table fits a laptop's width (no column behind a
/// scrollbar), every month's bar has its value written on it, the legend's
/// swatches keep their size; on a phone each figure keeps its column's name
/// and the page is no wider than the screen.
async fn report_reads_on_paper_laptop_and_phone(browser: &mut Browser) {
    let table_fits = run_js(
        browser,
        "const s = document.querySelector('#report-table').parentElement;
        return [s.scrollWidth, s.clientWidth];",
    )
    .await;
    assert!(
        table_fits[0].as_u64() <= table_fits[1].as_u64(),
        "the report table scrolls at 1280 px: {table_fits}"
    );
    let bars_and_values = run_js(browser, "return [document.querySelectorAll('#chart-months text.value').length,
        new Set(Array.from(document.querySelectorAll('#chart-months rect')).map(r => r.getAttribute('x'))).size];")
    .await;
    assert_eq!(
        bars_and_values[0], bars_and_values[1],
        "a value on every month's bar"
    );
    let clipped = run_js(
        browser,
        "const box = document.querySelector('#chart-months').viewBox.baseVal;
        return Array.from(document.querySelectorAll('#chart-months text'))
            .map(t => t.getBBox()).filter(b => b.x < 0 || b.x + b.width > box.width)
            .map(b => [b.x, b.width]);",
    )
    .await;
    assert_eq!(clipped, json!([]), "every text is within the chart");
    let swatch = run_js(browser, "const r = document.querySelector('.swatch').getBoundingClientRect(); return [r.width, r.height];").await;
    assert_eq!(swatch, json!([12, 12]), "legend swatches keep their size");
    // Printed (A4 at the browser's default margins, not shrunk to fit): the
    // app around the report is left out and the quarter's figures and charts
    // fill one page.
    let config = fantoccini::wd::PrintConfiguration::builder()
        .shrink_to_fit(false)
        .build()
        .expect("an A4 page");
    let pdf = browser.client().print(config).await.expect("print to PDF");
    browser.keep_artefact("quarter-report", "pdf", &pdf);
    assert_eq!(pdf_pages(&pdf), 1, "the printed report is one A4 page");
    browser.resize(400, 844).await;
    let labelled = run_js(
        browser,
        "return Array.from(document.querySelectorAll('#report-table td'))
        .every(td => getComputedStyle(td, '::before').content.length > 4);",
    )
    .await;
    assert_eq!(
        labelled,
        json!(true),
        "each figure has its column's name on a phone"
    );
    let wide = run_js(
        browser,
        "return [document.documentElement.scrollWidth, innerWidth];",
    )
    .await;
    assert!(
        wide[0].as_u64() <= wide[1].as_u64(),
        "the report is wider than a phone's screen: {wide}"
    );
    look(browser, "quarter-report-phone").await;
    browser.resize(1280, 800).await;
}

/// The pages of a PDF as Chromium and Firefox write it: one `/Type /Page`
/// object each (the page tree is `/Type /Pages`), written plainly
/// (Chromium) or inside DEFLATE-compressed object streams (Firefox).
fn pdf_pages(pdf: &[u8]) -> usize {
    let mut pages = page_objects(pdf);
    let mut rest = pdf;
    while let Some(start) = find(rest, b"stream") {
        let body = &rest[start + b"stream".len()..];
        let body = body
            .strip_prefix(b"\r\n")
            .or_else(|| body.strip_prefix(b"\n"))
            .unwrap_or(body);
        let Some(end) = find(body, b"endstream") else {
            break;
        };
        let mut inflated = Vec::new();
        if std::io::Read::read_to_end(
            &mut flate2::read::ZlibDecoder::new(&body[..end]),
            &mut inflated,
        )
        .is_ok()
        {
            pages += page_objects(&inflated);
        }
        rest = &body[end + b"endstream".len()..];
    }
    pages
}

fn page_objects(bytes: &[u8]) -> usize {
    let mut pages = 0;
    for key in [&b"/Type /Page"[..], &b"/Type/Page"[..]] {
        pages += bytes
            .windows(key.len() + 1)
            .filter(|w| w.starts_with(key) && !w[key.len()].is_ascii_alphanumeric())
            .count();
    }
    pages
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// [`look`] at a phone's width (390 px; Firefox's narrowest is about 500),
/// checking the page is no wider than the screen, then back to the laptop.
async fn look_on_a_phone(browser: &mut Browser, name: &str) {
    browser.resize(390, 844).await;
    let wide = run_js(
        browser,
        "return [document.documentElement.scrollWidth, innerWidth];",
    )
    .await;
    assert!(
        wide[0].as_u64() <= wide[1].as_u64(),
        "{name}: the page is wider than the screen: {wide}"
    );
    look(browser, name).await;
    browser.resize(1280, 800).await;
}

/// The value of `script` run in the page.
async fn run_js(browser: &Browser, script: &str) -> serde_json::Value {
    browser
        .client()
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// The focused element: its id, else its text.
async fn focused(browser: &Browser) -> String {
    let seen = browser
        .client()
        .execute(
            "const e = document.activeElement; return e.id || e.textContent.trim();",
            Vec::new(),
        )
        .await
        .expect("the focused element");
    seen.as_str().unwrap_or_default().to_owned()
}

async fn value_of(browser: &Browser, css: &str) -> String {
    browser
        .find(css)
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

/// Waits until the input matching `css` holds `expected` (a page reloading
/// shows the old value for a moment).
async fn wait_for_value(browser: &Browser, css: &str, expected: &str) {
    browser
        .wait_until(
            &format!("{css} holding {expected:?}"),
            "return document.querySelector(arguments[0])?.value === arguments[1];",
            vec![json!(css), json!(expected)],
        )
        .await;
}

#[tokio::test]
async fn the_status_says_everything_is_sent_once_the_office_server_is_back_and_office_edits_appear()
{
    status_and_office_edit(Engine::Chromium).await;
}

#[tokio::test]
async fn the_status_and_an_office_edit_read_the_same_in_firefox() {
    status_and_office_edit(Engine::Firefox).await;
}

async fn status_and_office_edit(engine: Engine) {
    let mut relay = Relay::start();
    let centre = relay.add_centre("Preiļu KRC");
    let device = common::device("Preiļu KRC", "Preiļi laptop");
    enrol(&device, &relay.centre_code(centre));
    let office = common::device("IIC birojs", "office");
    enrol(&office, &relay.office_code());
    relay.stop();

    let app = App::start(&device);
    let shots = format!("status_and_office_edit_{}", engine.name());
    let mut browser = Browser::start_in(engine, &shots).await;
    browser.goto(&app.at("/new")).await;
    fill_seminar(&browser).await;
    browser.click("#activity-form button[type=submit]").await;
    browser.wait_for_text(".flash", "Saglabāts").await;
    let activity = current_path(&browser).await;
    browser
        .wait_for_text("#status", "Izmaiņas 1 aktivitātē gaida nosūtīšanu.")
        .await;
    look(&mut browser, "waiting-to-be-sent").await;

    relay.restart();
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while !text_of(&browser, "#status")
        .await
        .contains("Viss ir nosūtīts.")
    {
        assert!(
            Instant::now() < deadline,
            "the status did not turn to everything sent within {SYNC_TIMEOUT:?}: {}",
            text_of(&browser, "#status").await
        );
        tokio::time::sleep(RELOAD_EVERY).await;
    }
    browser
        .wait_for_text("#status", "Pēdējoreiz nosūtīts")
        .await;
    look(&mut browser, "everything-sent").await;

    // The office corrects the title; the centre's app shows it after its sync.
    common::sync_ok(&office);
    let id = activity.rsplit('/').next().expect("id");
    let corrected = "Skolotāja loma kopienas attīstībā (labots birojā)";
    office.ok(["edit", id, "--title", corrected]);
    common::sync_ok(&office);
    reload_until(&browser, &app.at(&activity), "h1", corrected, SYNC_TIMEOUT).await;
    // Marked as the office's, in the centre's language (README: "(birojs, …)").
    browser
        .wait_for_text(".meta", "Pēdējās izmaiņas: birojs,")
        .await;
    look(&mut browser, "office-edit-arrived").await;
    browser.close().await;
}

/// `field-client open` hands the running app's address to the default browser
/// (here `$BROWSER`, a script that writes down what it was asked to open).
#[test]
fn open_hands_the_running_apps_address_to_the_browser() {
    // (When none runs, `open` starts one: tests/cli_service.rs.)
    let cli = Cli::init("Ludzas KRC");
    let app = App::start(&cli);
    let asked = cli.file("browser-was-asked-to-open");
    let script = stand_in_browser(&cli.file("browser.sh"), &asked);
    let output = cli
        .command(["open"])
        .env("BROWSER", &script)
        .output()
        .expect("field-client open");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(browser_was_asked(&asked), app.url);
}

/// A plain HTTP GET of the app (for the report downloads): the body's bytes.
fn http_get(url: &str) -> Vec<u8> {
    let (status, body) = common::http_get(url);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    body
}

async fn href(browser: &Browser, css: &str) -> String {
    let link = browser.find(css).await;
    link.attr("href").await.expect("href").expect("a link")
}

/// A number as the Latvian interface writes it ("1 234", "2,5").
fn latvian_number(text: &str) -> f64 {
    text.trim()
        .replace(['\u{a0}', ' '], "")
        .replace(',', ".")
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

#[tokio::test]
async fn the_office_sees_every_centre_and_a_quarter_report_that_matches_the_records() {
    office_flow(Engine::Chromium).await;
}

#[tokio::test]
async fn the_offices_list_report_downloads_and_health_work_the_same_in_firefox() {
    office_flow(Engine::Firefox).await;
}

async fn office_flow(engine: Engine) {
    use common::office::{CENTRES, as_numbers, assert_close, expected, office_with_three_centres};
    let (relay, office, centres) = office_with_three_centres("OFFICE_SEED");
    // A fourth centre whose laptop was enrolled but never synced: silent.
    let silent = relay.add_centre("Viļānu KRC");
    let silent_device = common::device("Viļānu KRC", "Viļānu laptop");
    common::enrol(&silent_device, &relay.centre_code(silent));
    // A fifth, just added at the relay: no computer enrolled yet.
    let waiting = relay.add_centre("Zilupes KRC");
    // A centre corrects a title after the office's first sync.
    let corrected = &centres[2].list_json(&[])[0];
    let corrected_id = corrected["id"].as_str().expect("id").to_owned();
    let old_title = corrected["title"].as_str().expect("title").to_owned();
    centres[2].ok(["edit", &corrected_id, "--title", "Ģimeņu diena Krāslavā"]);
    common::sync_ok(&centres[2]);
    common::sync_ok(&office);
    let raw = office.list_json(&["--all-centres", "--all"]);
    let (from, to) = ("2026-04-01", "2026-06-30");
    let want: std::collections::BTreeMap<String, Vec<f64>> = expected(&raw, from, to)
        .iter()
        .map(|(centre, e)| {
            let name = if centre == "TOTAL" {
                "Kopā"
            } else {
                centre.as_str()
            };
            (name.to_owned(), as_numbers(e))
        })
        .collect();
    let app = App::start(&office);
    let mut browser = Browser::start_in(engine, &format!("office_{}", engine.name())).await;

    // Every centre's activities in one list, with the centre as a column and a filter.
    browser.goto(&app.at("/")).await;
    browser
        .wait_for_text("section.totals h2", "177 aktivitātes")
        .await;
    browser
        .wait_for_text("table.activities thead", "Centrs")
        .await;
    look(&mut browser, "every-centre").await;
    browser
        .find("#centre")
        .await
        .select_by_value(CENTRES[1])
        .await
        .expect("centre");
    browser.click("form.search button[type=submit]").await;
    browser
        .wait_for_text("section.totals h2", "59 aktivitātes")
        .await;

    // The quarter's report: every figure of the table as computed from the records.
    let report = format!("/reports?period=custom&from={from}&to={to}");
    browser.goto(&app.at(&report)).await;
    browser
        .wait_for_text("#report-headline", "No 01.04.2026. līdz 30.06.2026.")
        .await;
    let mut seen = std::collections::BTreeMap::new();
    for row in browser
        .client()
        .find_all(fantoccini::Locator::Css("#report-table tbody tr"))
        .await
        .expect("rows")
    {
        let centre = row
            .find(fantoccini::Locator::Css("th"))
            .await
            .expect("th")
            .text()
            .await
            .expect("text");
        let mut numbers = Vec::new();
        for cell in row
            .find_all(fantoccini::Locator::Css("td"))
            .await
            .expect("cells")
        {
            numbers.push(latvian_number(&cell.text().await.expect("text")));
        }
        seen.insert(centre, numbers);
    }
    assert_close(&seen, &want, "the report page");
    browser.find("#chart-months").await;
    browser.find("#chart-groups").await;
    look(&mut browser, "quarter-report").await;
    report_reads_on_paper_laptop_and_phone(&mut browser).await;

    // The downloads parse back to the same figures.
    let csv_url = href(&browser, "a[href^='/reports/report.csv']").await;
    let xlsx_url = href(&browser, "a[href^='/reports/report.xlsx']").await;
    let csv = String::from_utf8(http_get(&app.at(&csv_url))).expect("UTF-8");
    // In the app's language: Latvian, as Excel with Latvian settings reads
    // it (semicolons, decimal commas).
    let csv = csv.trim_start_matches('\u{feff}');
    assert!(csv.starts_with("Centrs;Aktivitātes;Stundas;"), "{csv}");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(csv.as_bytes());
    let mut from_csv = std::collections::BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("row");
        let name = if &record[0] == "KOPĀ" {
            "Kopā".to_owned()
        } else {
            record[0].to_owned()
        };
        from_csv.insert(
            name,
            record
                .iter()
                .skip(1)
                .map(|c| c.replace(',', ".").parse().expect("number"))
                .collect(),
        );
    }
    assert_close(&from_csv, &want, "the CSV download");
    let xlsx = http_get(&app.at(&xlsx_url));
    let mut book: calamine::Xlsx<_> =
        calamine::Reader::new(std::io::Cursor::new(xlsx)).expect("a real XLSX workbook");
    let sheet =
        calamine::Reader::worksheet_range(&mut book, "Aktivitātes").expect("Aktivitātes sheet");
    let counted = want["Kopā"][0];
    assert_eq!(
        sheet.height() as f64,
        counted + 1.0,
        "a header and one row per activity counted"
    );

    // The record's history shows the centre's edit, in plain words.
    browser
        .goto(&app.at(&format!("/activities/{corrected_id}")))
        .await;
    browser.click("a[href$='/history']").await;
    browser
        .wait_for_text(
            "#history",
            &format!(
                "Nosaukums: “{old_title}” mainīts uz “Ģimeņu diena Krāslavā” (Krāslavas KRC laptop"
            ),
        )
        .await;
    look(&mut browser, "history").await;

    // Sync health: the silent centre is flagged, the others are fine.
    browser.click("nav a[href='/health']").await;
    browser
        .wait_for_text("p.headline.warning", "1 centrs klusē")
        .await;
    browser
        .wait_for_text(
            "tr.centre.silent[data-centre='Viļānu KRC'] td.state",
            "Klusē: nekad nav sinhronizējies",
        )
        .await;
    // The new centre needs an enrolment code, and the page says how to make one.
    browser
        .wait_for_text(
            "p.headline.no-device",
            "1 centram vēl nav pievienota neviena datora",
        )
        .await;
    browser
        .wait_for_text(
            "tr.centre[data-centre='Zilupes KRC'] td.state",
            "Nav pievienota neviena datora: izveidojiet centram pievienošanās kodu serverī:",
        )
        .await;
    browser
        .wait_for_text(
            "tr.centre[data-centre='Zilupes KRC'] td.state code",
            &format!("relay enrol-code --centre {waiting}"),
        )
        .await;
    for centre in CENTRES {
        let row = format!("tr.centre[data-centre='{centre}']");
        browser
            .wait_for_text(&format!("{row} td.state"), "Kārtībā")
            .await;
        browser
            .wait_for_text("table.health", &format!("{centre} laptop"))
            .await;
    }
    look(&mut browser, "sync-health").await;
    // The office's own journal is not among the centres.
    let listed = text_of(&browser, "table.health tbody").await;
    assert!(!listed.contains("Centrālais birojs"), "{listed}");
    // On a phone the table fits the page (its cells wrap).
    browser.resize(400, 844).await;
    let wide = run_js(
        &browser,
        "return [document.documentElement.scrollWidth, innerWidth];",
    )
    .await;
    let widest = run_js(
        &browser,
        "return Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
    )
    .await;
    assert!(
        wide[0].as_u64() <= wide[1].as_u64(),
        "the page is wider than a phone's screen, {wide}: {widest}"
    );
    look(&mut browser, "sync-health-phone").await;
    browser.resize(1280, 800).await;
    erase_from_the_app(&mut browser, &app, &relay, &centres[0]).await;
    browser.close().await;

    // The same table on the command line.
    let health: serde_json::Value =
        serde_json::from_str(&office.ok(["health", "--json"])).expect("JSON");
    let states: std::collections::BTreeMap<&str, &str> = health["centres"]
        .as_array()
        .expect("centres")
        .iter()
        .map(|c| {
            (
                c["centre"].as_str().expect("name"),
                c["silence"]["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(states["Viļānu KRC"], "never_synced", "{health:#}");
    assert_eq!(states["Zilupes KRC"], "no_device", "{health:#}");
    for centre in CENTRES {
        assert_eq!(states[centre], "fine", "{health:#}");
    }
    assert_eq!(health["silent_days"], 7);
    let table = office.ok(["health"]);
    assert!(table.contains("SILENT: never synced"), "{table}");
    assert!(
        table.contains("NO DEVICE: make it an enrolment code"),
        "{table}"
    );
}

/// The office erases a record a centre just sent, from the app: the page
/// asks once with a box to tick, the record is hidden at once, and the
/// running daemon has the relay erase it (no byte of it left in the relay's
/// store).
async fn erase_from_the_app(browser: &mut Browser, app: &App, relay: &common::Relay, centre: &Cli) {
    const PRIVATE: &str = "Konsultācija: Zane Kalniņa, tālr. 2911 2233";
    let id = centre.add([
        "--title",
        PRIVATE,
        "--kind",
        "consultation",
        "--date",
        "2026-10-05",
    ]);
    common::sync_ok(centre);
    let at_relay = || {
        relay
            .journal_files()
            .iter()
            .any(|file| common::file_contains(file, PRIVATE))
    };
    assert!(at_relay(), "the check can fail");
    let page = app.at(&format!("/activities/{id}"));
    reload_until(browser, &page, "h1", PRIVATE, SYNC_TIMEOUT).await;
    browser.click("a[href$='/erase']").await;
    browser.wait_for_text("h1", "Neatgriezeniski dzēst").await;
    look(browser, "erase-confirm").await;
    browser.click("input[name=understood]").await;
    browser.click("form button.danger[type=submit]").await;
    browser
        .wait_for_text("div.flash", "Dzēšana pieprasīta")
        .await;
    look(browser, "erase-requested").await;
    // The relay answers only once the erasure is durable; the daemon says so.
    let erased = format!("the office server erased activity {id}");
    common::wait_for_line(&app.stderr, &erased, "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!at_relay(), "the relay keeps the erased record");
    let status = centre.ok(["status"]);
    assert!(
        !status.contains("Erasure"),
        "only the office asks: {status}"
    );
}

#[tokio::test]
async fn photos_and_scans_are_added_seen_shrunk_on_request_and_removed() {
    files_flow(Engine::Chromium).await;
}

#[tokio::test]
async fn photos_and_scans_work_the_same_in_firefox() {
    files_flow(Engine::Firefox).await;
}

async fn files_flow(engine: Engine) {
    let cli = Cli::init("Rēzeknes KRC");
    let id = cli.add([
        "--title",
        TITLE,
        "--kind",
        "seminar",
        "--date",
        "2026-11-20",
    ]);
    let small = cli.file("maza.png");
    std::fs::write(&small, tests::sample_files::png()).expect("write");
    let sheet = cli.file("saraksts.pdf");
    std::fs::write(&sheet, tests::sample_files::pdf(20_000, 5)).expect("write");
    let big = cli.file("liela.png");
    std::fs::write(&big, tests::sample_files::png_sized(2400, 1200)).expect("write");
    let app = App::start(&cli);
    let mut browser = Browser::start_in(engine, &format!("files_{}", engine.name())).await;
    let page = app.at(&format!("/activities/{id}"));
    browser.goto(&page).await;
    browser.wait_for_text("#files-heading", "Faili").await;

    // Two files at once, as chosen in the file dialog.
    let input = browser.find("#attach-files").await;
    let both = format!("{}\n{}", small.display(), sheet.display());
    input.send_keys(&both).await.expect("choose the files");
    browser.click("form.attach button[type=submit]").await;
    browser.wait_for_text(".flash", "Faili pievienoti").await;
    browser.wait_until(
        "the photo is drawn",
        "const img = document.querySelector('img.thumb'); return !!img && img.complete && img.naturalWidth === 2;",
        vec![],
    )
    .await;
    browser.wait_for_text("a.file-pdf", "saraksts.pdf").await;
    look(&mut browser, "files-added").await;

    // A photo larger than the copy, sent as a smaller copy.
    browser.click("#attach-smaller").await;
    let input = browser.find("#attach-files").await;
    input
        .send_keys(&big.display().to_string())
        .await
        .expect("choose the photo");
    // The page shows the earlier "added" message until the copy, made in
    // the browser, is sent: wait for the copy itself.
    browser.click("form.attach button[type=submit]").await;
    // The page shows the copy's thumbnail (320 px long), which opens it.
    browser.wait_until(
        "the copy named liela.jpg is shown by its thumbnail",
        "const img = [...document.querySelectorAll('img.thumb')].find(i => i.alt === 'liela.jpg'); return !!img && img.complete && img.naturalWidth === 320 && img.naturalHeight === 160 && img.closest('a') !== null;",
        vec![],
    )
    .await;
    let listed = tests::parse_json_array(&cli.ok(["attachments", &id, "--json"]));
    let copy = listed
        .iter()
        .find(|a| a["name"] == "liela.jpg")
        .expect("the copy is attached");
    assert_eq!(copy["media_type"], "image/jpeg");
    assert!(copy["bytes"].as_u64().expect("size") < 1_000_000);
    assert!(copy["thumbnail"]["file"].is_string(), "{copy}");
    // The copy itself is 1600 × 800.
    let saved = cli.file("saved");
    cli.ok([
        "attachments",
        &id,
        "--save",
        saved.to_str().expect("a UTF-8 path"),
    ]);
    let bytes = std::fs::read(saved.join("liela.jpg")).expect("the copy");
    let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    decoder.read_info().expect("a JPEG");
    let info = decoder.info().expect("its size");
    assert_eq!((info.width, info.height), (1600, 800));

    // Removing the PDF leaves the photos.
    browser
        .click("li.file:has(a.file-pdf) form button[type=submit]")
        .await;
    browser.wait_for_text(".flash", "noņemts").await;
    let names: Vec<String> = tests::parse_json_array(&cli.ok(["attachments", &id, "--json"]))
        .iter()
        .map(|a| a["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(names, ["maza.png", "liela.jpg"]);
    browser.close().await;
}
