//! `GET /api/v1/openapi.json`: the API described in OpenAPI 3.1, written by hand next to the
//! code (`openapi.json`) and checked against the router by the tests.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};

use super::ServerState;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![("/api/v1/openapi.json", get(document))]
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
