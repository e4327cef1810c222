//! Who may read. With `readAuth: token` the page and every read API need the same token as the
//! mutating calls: a bearer header (scripts, `curl`), or a session cookie a browser gets once
//! from `/login`. The cookie is a session signed with a key derived from the token, never the
//! token itself: it expires on the server after 12 h, logout revokes it, and it is void once
//! the token changes (`session.rs`). Probes (`/healthz`, `/readyz`), `/metrics` (scraped like Argo CD's
//! and Flux's, without credentials; keep it off the public network), webhooks (signed on their
//! own), the leader proof (other replicas ask it, and it reveals nothing), the OpenAPI document
//! and the static assets stay open, as a kubelet and Prometheus expect.
//!
//! Container logs always need the token when one is configured, and are off without one: an
//! app's log can carry what its authors never meant for a status page.

use axum::Form;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use super::ServerState;
use super::api::same_secret;
use super::error::ApiError;
use super::page::login_page;
use super::session::SESSION_SECONDS;
pub use super::session::Sessions;

/// The cookie a browser carries after `/login`.
pub const SESSION_COOKIE: &str = "ordo_session";

/// `/login` and `/logout`: pages for browsers, not API.
pub fn login_routes() -> axum::Router<ServerState> {
    axum::Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The values of the session cookies the request carries.
fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Whether the request carries the token (bearer) or a live session made with it (cookie).
pub fn presents_token(headers: &HeaderMap, token: &str, sessions: &Sessions, now: u64) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::api::bearer);
    if let Some(presented) = bearer {
        return same_secret(presented.as_bytes(), token.as_bytes());
    }
    session_cookies(headers).any(|value| sessions.valid(token, value, now))
}

/// Paths open whatever `readAuth` says.
fn open_path(path: &str) -> bool {
    matches!(
        path,
        "/healthz"
            | "/readyz"
            | "/metrics"
            | "/login"
            | "/logout"
            | "/api/v1/webhook"
            | "/api/v1/leader/proof"
    ) || path == "/api/v1/openapi.json"
        || path.starts_with("/assets/")
}

/// With `readAuth: token`, refuses reads without the token: 401 for the API, a redirect to
/// `/login` for pages.
pub async fn read_guard(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    // A request a standby signed (`forward.rs`): the standby checked the caller's token.
    let from_standby = request
        .extensions()
        .get::<super::forward::FromStandby>()
        .is_some();
    if !state.read_needs_token || open_path(path) || from_standby {
        return next.run(request).await;
    }
    let Some(token) = state.api_token.as_deref() else {
        // Config validation refuses readAuth: token without a token; never fall open.
        return ApiError::forbidden("reads need a token, and the agent has no apiTokenFile")
            .into_response();
    };
    if presents_token(request.headers(), token, &state.sessions, unix_now()) {
        return next.run(request).await;
    }
    if super::is_api(request.uri()) {
        return ApiError::unauthorized(
            "reads need the API token (readAuth: token): send Authorization: Bearer <token>",
        )
        .into_response();
    }
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    see_other(&format!("/login?next={}", percent_encode(&target)))
}

/// `303 See Other` to `location`, which must be a path of this server; anything that cannot be
/// a header value goes to `/` (axum's `Redirect::to` panics on it).
fn see_other(location: &str) -> Response {
    let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()
}

/// `text` as a query value: unreserved characters and `/` kept, every other byte `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A request carrying the token, for reads that always need it (container logs).
pub struct TokenHolder;

impl FromRequestParts<ServerState> for TokenHolder {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = state.api_token.as_deref() else {
            return Err(ApiError::forbidden(
                "container logs are off: set apiTokenFile in the config (logs always need the token)",
            ));
        };
        if presents_token(&parts.headers, token, &state.sessions, unix_now()) {
            Ok(TokenHolder)
        } else {
            Err(ApiError::unauthorized(
                "container logs need the API token: send Authorization: Bearer <token>, or log in at /login",
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub token: String,
    pub next: Option<String>,
}

/// Where to go after logging in: a path on this server, never another site. Browsers drop
/// tabs and newlines from a URL and read `\\` as `/`, so `/\t/evil.example` would become
/// `//evil.example`, another host: only a single leading `/`, no `//`, no backslash and no
/// control character pass; anything else goes to `/`.
fn local(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n
        }
        _ => "/",
    }
}

async fn login_form(State(state): State<ServerState>, Query(q): Query<LoginQuery>) -> Response {
    let next = local(q.next.as_deref());
    page(StatusCode::OK, state.api_token.is_some(), next, None)
}

async fn login(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local(form.next.as_deref()).to_owned();
    let Some(token) = state.api_token.as_deref() else {
        return page(StatusCode::FORBIDDEN, false, &next, None);
    };
    if !same_secret(form.token.trim().as_bytes(), token.as_bytes()) {
        return page(
            StatusCode::UNAUTHORIZED,
            true,
            &next,
            Some("That is not the agent's token."),
        );
    }
    // Secure when the browser reached us over TLS (directly or through a proxy saying so).
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let Some(session) = state.sessions.issue(token, unix_now()) else {
        return ApiError::unavailable("cannot start a session: no randomness; retry", 1)
            .into_response();
    };
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}",
        if secure { "; Secure" } else { "" }
    );
    let mut response = see_other(&next);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Ends the session on the server too: a copy of the cookie stops working.
async fn logout(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if let Some(token) = state.api_token.as_deref() {
        let now = unix_now();
        for value in session_cookies(&headers) {
            state.sessions.revoke(token, value, now);
        }
    }
    let mut response = see_other("/login");
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn page(status: StatusCode, enabled: bool, next: &str, error: Option<&str>) -> Response {
    let form = html! {
        @if let Some(error) = error { p.err role="alert" { (error) } }
        @if enabled {
            form.login method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="login-token" { "API token" }
                input #login-token type="password" name="token" autocomplete="current-password" required autofocus;
                button.btn.primary type="submit" { "Log in" }
            }
        } @else {
            p { "This agent has no API token configured, so there is nothing to log in with." }
        }
    };
    (status, login_page(form)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_asked_for_is_kept_through_the_login() {
        assert_eq!(percent_encode("/apps/a?b=c d&e"), "/apps/a%3Fb%3Dc%20d%26e");
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        let cases = [
            (Some("/apps/travel"), "/apps/travel"),
            (Some("/apps/x?y=1"), "/apps/x?y=1"),
            (Some("//evil.example/"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/\\evil"), "/"),
            // Browsers strip tabs and newlines: these would become //evil.example.
            (Some("/\t/evil.example"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("/\r\n/evil.example"), "/"),
            (Some("/apps//x"), "/"),
            (Some("/apps/x\u{7f}"), "/"),
            (Some("evil.example"), "/"),
            (Some(""), "/"),
            (None, "/"),
        ];
        for (next, expected) in cases {
            assert_eq!(local(next), expected, "{next:?}");
        }
    }

    #[test]
    fn the_token_is_accepted_as_bearer_or_session_cookie() {
        let with = |name: header::HeaderName, value: String| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(&value).expect("header"));
            h
        };
        let sessions = Sessions::default();
        let session = sessions.issue("s3cret", 1000).expect("randomness");
        assert!(!session.contains("s3cret"));
        let cases = [
            (with(header::AUTHORIZATION, "Bearer s3cret".into()), true),
            (with(header::AUTHORIZATION, "Bearer wrong".into()), false),
            (
                with(header::COOKIE, format!("a=b; {SESSION_COOKIE}={session}")),
                true,
            ),
            (
                with(header::COOKIE, format!("{SESSION_COOKIE}=s3cret")),
                false,
            ),
            (with(header::COOKIE, format!("other={session}")), false),
            (HeaderMap::new(), false),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                presents_token(&headers, "s3cret", &sessions, 1000),
                expected,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn probes_metrics_webhooks_and_assets_stay_open() {
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/v1/webhook",
            "/assets/ordo.1.css",
            "/login",
            "/api/v1/leader/proof",
        ] {
            assert!(open_path(path), "{path}");
        }
        for path in [
            "/",
            "/apps/x",
            "/api/v1/apps",
            "/api/v1/events",
            "/api/v1/apps/x/logs",
        ] {
            assert!(!open_path(path), "{path}");
        }
    }
}
