//! A headless-browser harness for the web app's end-to-end tests: each test
//! gets its own headless Chromium or Firefox ([`Engine`]), driven over
//! WebDriver (chromedriver or geckodriver, plus the `fantoccini` client), with
//! a fresh temporary profile and a folder for its screenshots.
//!
//! The tests need Debian's `chromium`, `chromium-driver` and `firefox-esr`
//! packages and geckodriver, which Debian does not package but crates.io does
//! (`cargo install --locked geckodriver@0.37.1`; `.ci/run` installs them all).
//! `CHROMIUM`, `CHROMEDRIVER`, `FIREFOX` and `GECKODRIVER` point at other
//! binaries. Run them like any other test, e.g. `cargo test -p tests --test <name>`.
//!
//! - At most one browser runs at a time in a test binary: [`Browser::start`]
//!   waits for the previous test's browser to be closed or dropped, since two
//!   browsers on a 2-core machine make every test slow and flaky.
//! - Screenshots go to `target/test-artefacts/screenshots/<test>/NN-<name>.png`
//!   (under `CARGO_TARGET_DIR` if set); a test's folder is emptied when it starts.
//! - Every wait is bounded ([`ELEMENT_TIMEOUT`]) and panics with what it saw.
//! - A test that panics midway still ends its browser and its driver.
//!
//! ```no_run
//! # async fn example() {
//! let mut browser = tests::browser::Browser::start("adds_an_activity").await;
//! browser.goto("http://127.0.0.1:8080/").await;
//! browser.fill("input[name=title]", "Skolotāja loma").await;
//! browser.click("button[type=submit]").await;
//! browser.wait_for_text("h1", "Skolotāja loma").await;
//! browser.screenshot("saved").await;
//! browser.close().await;
//! # }
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};

/// What to do when a browser binary is missing.
const INSTALL_HINT: &str = "the browser tests need Chromium, Firefox and their WebDriver \
     servers: sudo apt-get install -y chromium chromium-driver firefox-esr, and \
     cargo install --locked geckodriver@0.37.1 (or set CHROMIUM, CHROMEDRIVER, FIREFOX, GECKODRIVER)";

/// How long the driver may take to answer `/status` as ready. It takes well
/// under a second here; a cold start (nothing in the page cache) on a busy
/// 2-core CI machine takes a few seconds, and 20 s still fails quickly when it
/// cannot start at all.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the helpers wait for an element or a text. The web app answers in
/// milliseconds; 10 s leaves room for a debug build on a busy CI machine and
/// only runs out when something is really wrong.
pub const ELEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a best-effort clean-up request to the driver may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause between two looks at a condition that is not true yet.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Chromium's flags. Without the networking ones Chromium keeps trying to
/// reach Google's hosts, which a closed network refuses (slowly). With
/// `--remote-debugging-pipe` chromedriver talks to Chromium over a pipe instead
/// of a port, so Chromium exits when chromedriver dies; over a port it would
/// outlive a killed chromedriver.
const CHROMIUM_ARGS: [&str; 11] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
];

/// Firefox's flags: headless, the same window as Chromium's.
const FIREFOX_ARGS: [&str; 5] = ["-headless", "-width", "1280", "-height", "900"];

/// Held by the one running [`Browser`] of this test binary. A tokio mutex is
/// never poisoned: a test that panics releases it while unwinding.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// Which browser a test drives: the product promises both work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
}

impl Engine {
    /// Lower-case name, for screenshot folders and messages.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
        }
    }
}

/// A headless browser for one test; see the module documentation.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    /// Set by [`Browser::close`]; otherwise `Drop` ends the session itself.
    closed: bool,
    // Dropped in this order: the driver is killed before the profile is deleted
    // and before the next test may start a browser.
    driver: Driver,
    _profile: tempfile::TempDir,
    screenshots: PathBuf,
    shots: u32,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; see [`Browser::start_in`].
    pub async fn start(test_name: &str) -> Browser {
        Browser::start_in(Engine::Chromium, test_name).await
    }

    /// Starts the engine's driver and headless browser with a fresh profile,
    /// after the previous browser of this test binary is gone. `test_name`
    /// names the screenshots folder, which is emptied.
    pub async fn start_in(engine: Engine, test_name: &str) -> Browser {
        let guard = ONE_BROWSER.lock().await;
        let screenshots = empty_screenshots_dir(test_name);
        let profile = tempfile::Builder::new()
            .prefix("browser-profile-")
            .tempdir()
            .expect("cannot create a temporary browser profile");
        let (mut driver, capabilities) = match engine {
            Engine::Chromium => (
                Driver::start(&chromedriver_path(), &[]).await,
                chromium_capabilities(&chromium_path(), profile.path()),
            ),
            Engine::Firefox => {
                // geckodriver makes a fresh profile per session; it goes in
                // this test's folder, deleted even if geckodriver is killed.
                let root = format!("--profile-root={}", profile.path().display());
                (
                    Driver::start(&geckodriver_path(), &[root]).await,
                    firefox_capabilities(&firefox_path()),
                )
            }
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("the driver could not start {}: {e}", engine.name()));
        driver.session = client.session_id().await.ok().flatten();
        Browser {
            client,
            closed: false,
            driver,
            _profile: profile,
            screenshots,
            shots: 0,
            _one_at_a_time: guard,
        }
    }

    /// The WebDriver client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Sets the size of the page's viewport (what a screenshot shows), e.g.
    /// 390×844 for a phone. The window is larger by the browser's own bars
    /// (about 140 px of height in headless Chromium). Firefox makes no window
    /// narrower than about 500 px: there a "phone" is 500 px wide.
    pub async fn resize(&self, width: u32, height: u32) {
        let bars = "return [outerWidth - innerWidth, outerHeight - innerHeight]";
        let bars = self.client.execute(bars, Vec::new()).await;
        let bar = |i: usize| bars.as_ref().ok().and_then(|b| b[i].as_u64()).unwrap_or(0);
        let (width, height) = (width + bar(0) as u32, height + bar(1) as u32);
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("cannot resize the window to {width}×{height}: {e}"));
    }

    /// The first element matching `css`, waiting up to [`ELEMENT_TIMEOUT`] for
    /// it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(ELEMENT_TIMEOUT)
            .every(POLL_INTERVAL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?} within {ELEMENT_TIMEOUT:?}: {e}"))
    }

    /// Waits until the text of the first element matching `css` contains
    /// `text`; panics after [`ELEMENT_TIMEOUT`] with the text it last saw.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        let deadline = Instant::now() + ELEMENT_TIMEOUT;
        let mut last = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(seen) = element.text().await
            {
                if seen.contains(text) {
                    return;
                }
                last = Some(seen);
            }
            if Instant::now() >= deadline {
                let last = last.map_or("no such element".to_owned(), |t| format!("{t:?}"));
                panic!(
                    "{css:?} did not contain {text:?} within {ELEMENT_TIMEOUT:?}; last saw {last}"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits until `script` (run in the page with `args`) returns `true`;
    /// panics after [`ELEMENT_TIMEOUT`] saying `what` was awaited and what
    /// the script last returned.
    pub async fn wait_until(&self, what: &str, script: &str, args: Vec<serde_json::Value>) {
        let deadline = Instant::now() + ELEMENT_TIMEOUT;
        loop {
            let seen = self.client.execute(script, args.clone()).await;
            if matches!(seen, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("not within {ELEMENT_TIMEOUT:?}: {what} (last: {seen:?})");
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Replaces the value of the input matching `css` by typing `value`.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear {css:?}: {e}"));
        input
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("cannot type {value:?} into {css:?}: {e}"));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css:?}: {e}"));
    }

    /// Saves a screenshot of the viewport as `NN-<name>.png` in this test's
    /// screenshots folder and returns its path.
    /// Keeps `bytes` (a printed PDF…) as `name.extension` beside this
    /// test's screenshots.
    pub fn keep_artefact(&self, name: &str, extension: &str, bytes: &[u8]) -> PathBuf {
        let path = self
            .screenshots
            .join(format!("{}.{extension}", file_name(name)));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
        path
    }

    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("cannot take screenshot {name:?}: {e}"));
        self.shots += 1;
        let path = self
            .screenshots
            .join(format!("{:02}-{}.png", self.shots, file_name(name)));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
        path
    }

    /// Ends the session (which closes the browser), then stops the driver.
    pub async fn close(mut self) {
        if let Err(e) = self.client.clone().close().await {
            panic!("cannot end the browser session: {e}");
        }
        self.closed = true;
    }
}

impl Drop for Browser {
    /// Without [`Browser::close`] (a test panicked), asks the driver to end
    /// the session, so the browser exits cleanly before the driver is killed
    /// (Chromium would die with it anyway, see [`CHROMIUM_ARGS`]).
    fn drop(&mut self) {
        if !self.closed {
            self.driver.end_session();
        }
    }
}

/// The WebDriver server (chromedriver or geckodriver); killed when dropped.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
    /// The one session, once it has started.
    session: Option<String>,
}

impl Driver {
    /// Starts the driver at `path` on a free loopback port, with `args`, and
    /// waits until it is ready.
    async fn start(path: &Path, args: &[String]) -> Driver {
        let port = free_port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {path:?}: {e}"));
        let mut driver = Driver {
            child,
            port,
            session: None,
        };
        driver.wait_until_ready().await;
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the driver exited ({status}) before it was ready");
            }
            let port = self.port;
            let status = tokio::task::spawn_blocking(move || get(port, "/status"));
            if status.await.is_ok_and(|body| is_ready(&body)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the driver was not ready within {DRIVER_START_TIMEOUT:?}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Best effort: ends the session, if one started.
    fn end_session(&self) {
        if let Some(id) = &self.session {
            request(self.port, "DELETE", &format!("/session/{id}"));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a `/status` answer says the driver accepts sessions.
fn is_ready(body: &str) -> bool {
    let body: String = body.split_whitespace().collect();
    body.contains(r#""ready":true"#)
}

/// The body of a plain `GET` to the driver, or "" if it does not answer.
fn get(port: u16, path: &str) -> String {
    request(port, "GET", path)
}

/// A minimal blocking HTTP/1.1 request to the driver (also usable in `Drop`,
/// outside any async context); returns the body, or "" on any failure.
/// chromedriver ignores HTTP/1.0 and keeps connections open, so the body is
/// read by its `Content-Length`; it also refuses other `Host` headers.
fn request(port: u16, method: &str, path: &str) -> String {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(CLEANUP_TIMEOUT))?;
        stream.set_write_timeout(Some(CLEANUP_TIMEOUT))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
        )?;
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    exchange().unwrap_or_default()
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("cannot find a free loopback port")
        .port()
}

/// The WebDriver capabilities: headless Chromium with the profile `profile`.
fn chromium_capabilities(chromium: &Path, profile: &Path) -> Capabilities {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&a| a.to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let options = json!({ "binary": chromium, "args": args });
    let mut capabilities = Capabilities::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    capabilities
}

/// The WebDriver capabilities: headless Firefox.
fn firefox_capabilities(firefox: &Path) -> Capabilities {
    let options = json!({ "binary": firefox, "args": FIREFOX_ARGS });
    let mut capabilities = Capabilities::new();
    capabilities.insert("moz:firefoxOptions".to_owned(), options);
    capabilities
}

/// `GECKODRIVER`, else `geckodriver` on `PATH` or in cargo's install folder.
fn geckodriver_path() -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .map(|home| home.join("bin").join("geckodriver"));
    from_env("GECKODRIVER")
        .or_else(|| on_path("geckodriver"))
        .or_else(|| cargo_bin.and_then(existing))
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

/// `FIREFOX`, else Debian's path, else `firefox` on `PATH`.
fn firefox_path() -> PathBuf {
    from_env("FIREFOX")
        .or_else(|| existing("/usr/bin/firefox-esr"))
        .or_else(|| on_path("firefox"))
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

/// `CHROMEDRIVER`, else `chromedriver` on `PATH`, else Debian's path.
fn chromedriver_path() -> PathBuf {
    from_env("CHROMEDRIVER")
        .or_else(|| on_path("chromedriver"))
        .or_else(|| existing("/usr/bin/chromedriver"))
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

/// `CHROMIUM`, else Debian's path, else `chromium` on `PATH`.
fn chromium_path() -> PathBuf {
    from_env("CHROMIUM")
        .or_else(|| existing("/usr/bin/chromium"))
        .or_else(|| on_path("chromium"))
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

/// The file the environment variable `var` names; panics if it is missing.
fn from_env(var: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(var).filter(|v| !v.is_empty())?);
    assert!(
        path.is_file(),
        "{var}={path:?} does not exist; {INSTALL_HINT}"
    );
    Some(path)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| existing(dir.join(name)))
}

fn existing(path: impl Into<PathBuf>) -> Option<PathBuf> {
    Some(path.into()).filter(|p| p.is_file())
}

/// `<target>/test-artefacts/screenshots/<test_name>`, created empty.
fn empty_screenshots_dir(test_name: &str) -> PathBuf {
    let dir = target_dir()
        .join("test-artefacts")
        .join("screenshots")
        .join(file_name(test_name));
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot empty {dir:?}: {e}"),
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
    dir
}

/// `CARGO_TARGET_DIR` (relative to the workspace root), else `<workspace>/target`.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// `name` with anything but letters, digits, `-` and `_` replaced by `_`.
fn file_name(name: &str) -> String {
    let keep = |c: char| c.is_alphanumeric() || c == '-';
    name.chars()
        .map(|c| if keep(c) { c } else { '_' })
        .collect()
}
