//! The HTTP server: binds first ([`Server::bind`], port 0 works), then serves until the
//! shutdown future completes ([`Server::serve`]). Routes: `GET /ws` (signaling),
//! `/health`, `/metrics`, `/pkg/*` and `/` (static files).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::rooms::{Counts, Rooms};
use crate::ws::{self, Shared};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Accepting or serving connections failed.
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A bound, not yet serving, signaling server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    metrics: PrometheusHandle,
}

/// A cheap handle on a server's state, for tests and embedding programs.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Rooms, joined clients and seed peers right now.
    pub fn counts(&self) -> Counts {
        self.shared.rooms.counts()
    }

    /// WebSocket connections open right now.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Server {
    /// Binds `config.listen` (port 0 picks a free port) and prepares the routes.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(ServerError::Serve)?;
        let config = Arc::new(config);
        let (shutdown_tx, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            rooms: Rooms::new(config.clone()),
            config,
            connections: AtomicUsize::new(0),
            shutdown,
        });
        Ok(Server {
            listener,
            addr,
            shared,
            shutdown_tx,
            metrics: crate::metrics::install(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle on the server's state.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves until `shutdown` completes, then closes every WebSocket with a close frame
    /// (`shutting_down`, 1001), stops the seed peers and returns.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let config = self.shared.config.clone();
        let app = Router::new()
            .route("/ws", get(ws::handler))
            .route("/health", get(health))
            .with_state(self.shared.clone())
            .route(
                "/metrics",
                get(move || {
                    let handle = self.metrics.clone();
                    async move {
                        (
                            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                            handle.render(),
                        )
                    }
                }),
            )
            .merge(crate::files::router(&config.www_dir, &config.pkg_dir));
        tracing::info!(addr = %self.addr, "rumor-signal listening");
        let tx = self.shutdown_tx;
        let shared = self.shared;
        // axum's graceful shutdown waits for HTTP connections; upgraded WebSockets are
        // detached from it, so they are closed through the shutdown watch instead.
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down");
                let _ = tx.send(true);
            })
            .await
            .map_err(ServerError::Serve)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while shared.connections.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shared.rooms.clear();
        Ok(())
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let c = shared.rooms.counts();
    Json(serde_json::json!({
        "version": crate::VERSION,
        "protocol": rumor_signal_proto::PROTOCOL_VERSION,
        "rooms": c.rooms,
        "peers": c.peers,
        "seeds": c.seeds,
        "connections": shared.connections.load(Ordering::SeqCst),
    }))
}
