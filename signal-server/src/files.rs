//! Static files: the demo page at `/` and the npm package at `/pkg/`, read from disk on
//! each request (content types from the file extension, `.wasm` as `application/wasm`).
//! A missing directory or file answers a plain 404.
//!
//! Every file is sent with `Cache-Control: no-cache` and its `Last-Modified` time: a
//! browser keeps it but asks again each time (answered `304 Not Modified` while the file is
//! unchanged), so a rebuilt package shows on the next reload, and the tabs of one browser
//! share one download of the package.

use std::path::Path;

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Routes `/pkg/*` to `pkg_dir` and everything not matched elsewhere to `www_dir`.
pub fn router<S: Clone + Send + Sync + 'static>(www_dir: &Path, pkg_dir: &Path) -> Router<S> {
    Router::new()
        .nest_service("/pkg", ServeDir::new(pkg_dir))
        .fallback_service(ServeDir::new(www_dir))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
}
