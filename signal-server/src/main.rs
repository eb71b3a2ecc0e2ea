//! rumor-signal: the signaling server for Rumor.
//!
//! It will relay WebRTC signaling over WebSocket within rooms, serve the demo page and
//! the npm package, and run a native seed peer per room. That server arrives with a
//! later issue; for now this binary only parses its arguments and says so.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Command line of `rumor-signal`.
#[derive(Parser)]
#[command(name = "rumor-signal", version, about = "Rumor signaling server")]
struct Args {
    /// Address to listen on for HTTP and WebSocket connections.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    eprintln!(
        "rumor-signal {} (rumor-core {}): the signaling server arrives with a later issue; \
         not listening on {}.",
        env!("CARGO_PKG_VERSION"),
        rumor_core::VERSION,
        args.listen
    );
    Ok(ExitCode::from(2))
}
