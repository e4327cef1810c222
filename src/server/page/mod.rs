//! The status page: `/` and `/apps/{name}`, server-rendered from the agent's snapshots, with
//! its CSS and JavaScript served from the binary (no CDN: clusters without internet must still
//! see it). Each page carries the same JSON the API serves; the script starts from it and then
//! follows `/api/v1/events`, so live updates and a reload show the same thing.

mod app;
mod assets;
mod index;
mod layout;
mod listing;
mod notices;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};

use super::ServerState;
use crate::agent::AppState;
use layout::Page;
use listing::{Filter, RawQuery};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/", get(index_page))
        .route("/apps/{name}", get(app_page))
        .route("/assets/{file}", get(assets::serve))
        .layer(Extension(Arc::new(Rendered::default())))
}

/// Pages already rendered, by path and query: reused while the snapshots they show are unchanged and
/// within the same second (relative times), so a thousand readers cost one render a second,
/// not a thousand, and leave the CPU to the reconcile loops.
#[derive(Default)]
struct Rendered(Mutex<HashMap<String, Cached>>);

/// One rendered page: the snapshot versions it shows, the second it was rendered in, the HTML.
struct Cached {
    versions: Vec<u64>,
    second: u64,
    body: Bytes,
}

/// Most pages kept: a search is part of the key, so the number of keys is the readers' to
/// choose, and must not be the agent's memory.
const MAX_RENDERED: usize = 512;

impl Rendered {
    fn get_or_render(
        &self,
        path: &str,
        versions: Vec<u64>,
        render: impl FnOnce() -> Markup,
    ) -> Bytes {
        let second = now() as u64;
        if let Ok(pages) = self.0.lock()
            && let Some(page) = pages.get(path)
            && page.versions == versions
            && page.second == second
        {
            return page.body.clone();
        }
        let body = Bytes::from(render().into_string());
        if let Ok(mut pages) = self.0.lock() {
            if pages.len() >= MAX_RENDERED && !pages.contains_key(path) {
                // Pages from an earlier second are never served again: drop them first.
                pages.retain(|_, page| page.second == second);
                if pages.len() >= MAX_RENDERED {
                    return body;
                }
            }
            pages.insert(
                path.to_owned(),
                Cached {
                    versions,
                    second,
                    body: body.clone(),
                },
            );
        }
        body
    }
}

/// `/?q=&sync=&health=&only=&page=`: an unknown value is a 400 page naming the accepted
/// ones, not an error and not a silently unfiltered list.
async fn index_page(
    State(server): State<ServerState>,
    Extension(rendered): Extension<Arc<Rendered>>,
    query: Result<Query<RawQuery>, QueryRejection>,
) -> Response {
    let filter = match query {
        Ok(Query(raw)) => Filter::parse(&raw),
        Err(e) => Err(e.body_text()),
    };
    let filter = match filter {
        Ok(filter) => filter,
        Err(message) => {
            let page = render_bad_query(&message).into_string();
            return html_response(StatusCode::BAD_REQUEST, Bytes::from(page));
        }
    };
    let apps = snapshots(&server);
    let board = server.notifications.snapshot();
    let mut versions: Vec<u64> = apps.iter().map(|a| a.version).collect();
    versions.push(board.version);
    let body = rendered.get_or_render(&filter.href(), versions, || {
        let refs: Vec<&AppState> = apps.iter().map(|a| a.as_ref()).collect();
        render_index_with(&refs, &filter, now(), actions(&server), &board)
    });
    html_response(StatusCode::OK, body)
}

async fn app_page(
    State(server): State<ServerState>,
    Extension(rendered): Extension<Arc<Rendered>>,
    Path(name): Path<String>,
) -> Response {
    let Some(handle) = server.apps.get(&name) else {
        return html_response(
            StatusCode::NOT_FOUND,
            Bytes::from(
                render_not_found(&name, server.apps.keys().map(String::as_str)).into_string(),
            ),
        );
    };
    let state = handle.state.borrow().clone();
    let body = rendered.get_or_render(&format!("/apps/{name}"), vec![state.version], || {
        render_app(&state, now(), actions(&server))
    });
    html_response(StatusCode::OK, body)
}

fn snapshots(server: &ServerState) -> Vec<Arc<AppState>> {
    server
        .apps
        .values()
        .map(|h| h.state.borrow().clone())
        .collect()
}

fn actions(server: &ServerState) -> bool {
    server.api_token.is_some()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn render_index(apps: &[&AppState], now: f64, actions: bool) -> Markup {
    render_index_for(apps, &Filter::default(), now, actions)
}

/// The index narrowed and paged by `filter`.
fn render_index_for(apps: &[&AppState], filter: &Filter, now: f64, actions: bool) -> Markup {
    render_index_with(apps, filter, now, actions, &crate::notify::Board::default())
}

/// The index with the receivers that could not deliver everything.
fn render_index_with(
    apps: &[&AppState],
    filter: &Filter,
    now: f64,
    actions: bool,
    board: &crate::notify::Board,
) -> Markup {
    let (main, data) = index::content(apps, filter, now);
    let main = html! { (main) (notices::section(board, now)) };
    layout::document(Page {
        title: "Applications",
        kind: "index",
        app: None,
        actions,
        main,
        data: Some(data),
    })
}

pub fn render_app(app: &AppState, now: f64, actions: bool) -> Markup {
    let (main, data) = app::content(app, now, actions);
    layout::document(Page {
        title: &app.name,
        kind: "app",
        app: Some(&app.name),
        actions,
        main,
        data: Some(data),
    })
}

pub fn render_not_found<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Markup {
    let known: Vec<&str> = known.collect();
    let main = html! {
        section.not-found {
            h1 { "No app named “" (name) "”" }
            p { "This agent does not manage an app by that name." }
            @if known.is_empty() {
                p { "It has no apps configured." }
            } @else {
                p { "Its apps:" }
                ul { @for k in &known { li { a href=(format!("/apps/{k}")) { (k) } } } }
            }
            p { a href="/" { "← All applications" } }
        }
    };
    layout::document(Page {
        title: "Not found",
        kind: "missing",
        app: None,
        actions: false,
        main,
        data: None,
    })
}

/// What `/` answers a query it cannot read: what was wrong, and the way back.
fn render_bad_query(message: &str) -> Markup {
    let main = html! {
        section.not-found {
            h1 { "Cannot show that list" }
            p.err { (message) }
            p { a href="/" { "← All applications" } }
        }
    };
    layout::document(Page {
        title: "Bad request",
        kind: "missing",
        app: None,
        actions: false,
        main,
        data: None,
    })
}

/// The login page of `readAuth: token` around `form`.
pub fn login_page(form: Markup) -> Response {
    let main = html! {
        section.login {
            h1 { "Log in" }
            p { "This agent shows its apps to holders of its API token (the file named by "
                code { "apiTokenFile" } "). The browser keeps a session cookie, not the token." }
            (form)
        }
    };
    let page = layout::document(Page {
        title: "Log in",
        kind: "login",
        app: None,
        actions: false,
        main,
        data: None,
    });
    html_response(StatusCode::OK, Bytes::from(page.into_string()))
}

/// Everything the page loads comes from this server: scripts, styles, and API calls alike.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html_response(status: StatusCode, page: Bytes) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // Snapshots change every second during a sync: never show a stale one.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
        ],
        page,
    )
        .into_response()
}
