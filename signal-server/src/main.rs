//! `rumor-signal`: the signaling server for Rumor. Relays WebRTC signaling over WebSocket
//! within rooms, serves the demo page and the npm package, and runs a native seed peer per
//! room. `rumor-signal --help` lists every flag with its default.

use anyhow::Context;
use clap::Parser;
use rumor_signal::{Config, Server};
use tracing_subscriber::EnvFilter;

/// Command line of `rumor-signal`.
#[derive(Parser)]
#[command(
    name = "rumor-signal",
    version,
    about = "Rumor signaling server and seed peer"
)]
struct Args {
    /// Log level: error, warn, info, debug or trace (or a tracing filter such as
    /// `rumor_signal=debug,webrtc=warn`); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    log: String,

    #[command(flatten)]
    config: Config,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.log))
        .with_context(|| format!("invalid --log filter {:?}", args.log))?;
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let server = Server::bind(args.config).await?;
        tracing::info!(
            "rumor-signal {} on http://{} (WebSocket at /ws)",
            rumor_signal::VERSION,
            server.local_addr()
        );
        server
            .serve(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}
