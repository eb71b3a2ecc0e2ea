//! Static files: the demo page at `/` and the npm package at `/pkg/`, read from disk on
//! each request (content types from the file extension, `.wasm` as `application/wasm`).
//! A missing directory or file answers a plain 404.

use std::path::Path;

use axum::Router;
use tower_http::services::ServeDir;

/// Routes `/pkg/*` to `pkg_dir` and everything not matched elsewhere to `www_dir`.
pub fn router<S: Clone + Send + Sync + 'static>(www_dir: &Path, pkg_dir: &Path) -> Router<S> {
    Router::new()
        .nest_service("/pkg", ServeDir::new(pkg_dir))
        .fallback_service(ServeDir::new(www_dir))
}
