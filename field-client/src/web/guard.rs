//! Who may use the app: requests for this loopback address only (against DNS
//! rebinding), and writes only from the app's own pages (against cross-site
//! requests from other pages open in the same browser).

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::App;

/// What the checks need of a server: the addresses it answers to and its
/// run's form token. The app and the first-run setup pages are both guarded.
pub(super) trait Guarded {
    fn allowed_hosts(&self) -> &[String];
    fn csrf_token(&self) -> &str;
}

impl Guarded for App {
    fn allowed_hosts(&self) -> &[String] {
        &self.inner.allowed_hosts
    }
    fn csrf_token(&self) -> &str {
        App::csrf_token(self)
    }
}

/// The form field holding the run's secret token.
pub const CSRF_FIELD: &str = "csrf";

/// A fresh secret: 244 random bits from the system's generator.
pub(crate) fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The `Host` values a browser sends for `addr`: the address itself and
/// `localhost` with its port.
pub(super) fn hosts_for(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
    if addr.ip().is_loopback() && addr.is_ipv4() {
        hosts.push(format!("[::1]:{port}"));
    }
    hosts
}

/// Refuses a request addressed to another host name (a page on the internet
/// whose name was made to point at 127.0.0.1), and a write whose `Origin` or
/// `Sec-Fetch-Site` says it came from another site.
pub(super) async fn check_request<S: Guarded + Clone + Send + Sync + 'static>(
    State(app): State<S>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !host_allowed(&app, headers) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This address is not served here.",
        );
    }
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && !same_origin(&app, headers)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "Only the app's own pages may save here; nothing was saved.",
        );
    }
    let mut response = next.run(request).await;
    add_page_headers(response.headers_mut());
    response
}

/// Nothing on these pages may load from, or send to, anywhere but this app;
/// no other site may frame them; pages are not cached (they show live data).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'; object-src 'none'";

fn add_page_headers(headers: &mut HeaderMap) {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // `no-referrer` would make the browser send `Origin: null` on its own forms.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

fn host_allowed(app: &dyn Guarded, headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| app.allowed_hosts().iter().any(|a| a == host))
}

/// Browsers send `Origin` on every form post and `Sec-Fetch-Site` on every
/// request; either, when present, must say this app's own origin. (Absent
/// both, the form's token still has to match.)
fn same_origin(app: &dyn Guarded, headers: &HeaderMap) -> bool {
    let origin_ok = match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => app
            .allowed_hosts()
            .iter()
            .any(|host| origin == format!("http://{host}")),
        Some(Err(_)) => false,
    };
    let site_ok = match headers.get("sec-fetch-site").map(|s| s.to_str()) {
        None => true,
        Some(Ok(site)) => site == "same-origin" || site == "none",
        Some(Err(_)) => false,
    };
    origin_ok && site_ok
}

/// Whether the browser says the request comes from a page of this app: an
/// `Origin` that is this app's (browsers send it with every form they post),
/// and no `Sec-Fetch-Site` saying otherwise. Unlike [`same_origin`], absent
/// headers prove nothing.
pub(super) fn from_own_page(app: &dyn Guarded, headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN) && same_origin(app, headers)
}

/// Whether a posted token is this run's, compared in constant time.
pub(super) fn token_matches(app: &dyn Guarded, posted: Option<&str>) -> bool {
    let expected = app.csrf_token().as_bytes();
    let Some(posted) = posted.map(str::as_bytes) else {
        return false;
    };
    posted.len() == expected.len()
        && posted
            .iter()
            .zip(expected)
            .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}
