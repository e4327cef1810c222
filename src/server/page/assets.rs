//! The page's stylesheet and script, compiled into the binary and served under
//! `/assets/<name>.<hash>.<ext>`: the content hash in the URL lets browsers keep them forever
//! (`immutable`), and a new build changes the URL, so no one runs yesterday's script.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// `ordo.<hash>.css`
    file: String,
    etag: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
        let digest = Sha256::digest(body.as_bytes());
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            file: format!("{stem}.{hash}.{ext}"),
            etag: format!("\"{hash}\""),
            content_type,
            body,
        }
    }
}

static CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "ordo",
        "css",
        "text/css; charset=utf-8",
        include_str!("assets/ordo.css"),
    )
});

static JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "ordo",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("assets/ordo.js"),
    )
});

static LIVE_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "ordo-live",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("assets/ordo-live.js"),
    )
});

/// The script of the live parts: children, events, logs and the tree view.
pub fn live_js_url() -> String {
    format!("/assets/{}", LIVE_JS.file)
}

pub fn css_url() -> String {
    format!("/assets/{}", CSS.file)
}

pub fn js_url() -> String {
    format!("/assets/{}", JS.file)
}

/// `GET /assets/{file}`: only the current build's names exist.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = [&*CSS, &*JS, &*LIVE_JS]
        .into_iter()
        .find(|a| a.file == file)
    else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    let etag = (
        header::ETAG,
        HeaderValue::from_str(&asset.etag).unwrap_or(HeaderValue::from_static("\"\"")),
    );
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    if revalidated {
        return (StatusCode::NOT_MODIFIED, [cache, etag]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            cache,
            etag,
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response()
}
