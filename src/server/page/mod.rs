//! The status page: `/` and `/apps/{name}`, server-rendered, with its CSS and JavaScript
//! served from the binary (no CDN: clusters without internet must still see it).

use axum::Router;

use super::ServerState;

pub fn routes() -> Router<ServerState> {
    Router::new()
}
