//! # rumor-signal
//!
//! Rumor's signaling server and native peer:
//!
//! - [`server`]: axum server with `GET /ws` (signaling, docs/signaling.md), `/health`,
//!   `/metrics`, the demo page at `/` and the npm package at `/pkg/`. Bind, then serve:
//!
//! ```no_run
//! # async fn demo() -> Result<(), rumor_signal::server::ServerError> {
//! use rumor_signal::{Config, Server};
//! let config = Config { listen: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! - [`seed`]: a seed peer per room, an ordinary member with metadata `role=seed`.
//! - [`peer`]: a native peer that joins a room through the server, over real WebRTC.
//! - [`driver`]: the tokio driver of a rumor-core node that both use; [`rtc`] is the only
//!   module that touches the `webrtc` crate.
//!
//! The messages themselves are in the `rumor-signal-proto` crate, shared with the browser
//! driver.

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod driver;
pub mod files;
pub mod metrics;
pub mod peer;
pub mod rooms;
pub mod rtc;
pub mod seed;
pub mod server;
pub mod ws;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};

/// This crate's version, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
