//! The status page: `/` and `/apps/{name}`, server-rendered from the agent's snapshots, with
//! its CSS and JavaScript served from the binary (no CDN: clusters without internet must still
//! see it). Each page carries the same JSON the API serves; the script starts from it and then
//! follows `/api/v1/events`, so live updates and a reload show the same thing.

mod app;
mod assets;
mod index;
mod layout;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::ServerState;
use crate::agent::AppState;
use layout::Page;

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/", get(index_page))
        .route("/apps/{name}", get(app_page))
        .route("/assets/{file}", get(assets::serve))
}

async fn index_page(State(server): State<ServerState>) -> Response {
    let apps = snapshots(&server);
    let refs: Vec<&AppState> = apps.iter().map(|a| a.as_ref()).collect();
    html_response(StatusCode::OK, render_index(&refs, now(), actions(&server)))
}

async fn app_page(State(server): State<ServerState>, Path(name): Path<String>) -> Response {
    let Some(handle) = server.apps.get(&name) else {
        return html_response(
            StatusCode::NOT_FOUND,
            render_not_found(&name, server.apps.keys().map(String::as_str)),
        );
    };
    let state = handle.state.borrow().clone();
    html_response(StatusCode::OK, render_app(&state, now(), actions(&server)))
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
    let (main, data) = index::content(apps, now);
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

/// Everything the page loads comes from this server: scripts, styles, and API calls alike.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html_response(status: StatusCode, page: Markup) -> Response {
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
        page.into_string(),
    )
        .into_response()
}
