//! Every tunable of the server, as command-line flags with defaults and help text.
//!
//! [`Config`] derives `clap::Args`, so `main.rs` flattens it into its command line and tests
//! build it with [`Config::default`] (the same defaults) and change what they need.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Server configuration: address, files served, limits, timeouts and the seed peer.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on for HTTP and WebSocket connections (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory served at `/` (the demo page).
    #[arg(long, default_value = "www")]
    pub www_dir: PathBuf,

    /// Directory served at `/pkg/` (the npm package built by `cargo xtask wasm`).
    #[arg(long, default_value = "wasm/pkg")]
    pub pkg_dir: PathBuf,

    /// Largest WebSocket text frame accepted, in bytes; larger frames get `frame_too_large`.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// WebSocket connections held at once; more get `server_full`.
    #[arg(long, default_value_t = 20_000)]
    pub max_connections: usize,

    /// Rooms at once; a join that would create one more gets `too_many_rooms`.
    #[arg(long, default_value_t = 1_000)]
    pub max_rooms: usize,

    /// Clients per room (the seed peer not counted); more get `room_full`.
    #[arg(long, default_value_t = 10_000)]
    pub max_peers_per_room: usize,

    /// Average messages per second a connection may send; past it (and the burst) it gets
    /// `rate_limited`.
    #[arg(long, default_value_t = 50)]
    pub max_msgs_per_sec: u32,

    /// Messages a connection may send in a burst above the average rate.
    #[arg(long, default_value_t = 200)]
    pub burst: u32,

    /// Frames queued per connection toward its client; a client that lets the queue fill
    /// (does not read) is disconnected with `slow_reader`.
    #[arg(long, default_value_t = 256)]
    pub send_queue: usize,

    /// Milliseconds from connecting to a successful join; past it: `handshake_timeout`.
    #[arg(long, default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,

    /// Milliseconds without any frame from the client (pongs included) before `idle_timeout`.
    #[arg(long, default_value_t = 30_000)]
    pub idle_timeout_ms: u64,

    /// Milliseconds between WebSocket pings the server sends to every client.
    #[arg(long, default_value_t = 10_000)]
    pub ping_interval_ms: u64,

    /// Members listed to a joining client as contacts (the seed peer included).
    #[arg(long, default_value_t = 8)]
    pub contacts: usize,

    /// Do not run a seed peer in each room.
    #[arg(long)]
    pub no_seed: bool,

    /// Addresses the seed peer's WebRTC may use: it binds one UDP socket on each and accepts
    /// remote ICE candidates only with one of these addresses (repeat the flag for several).
    #[arg(long = "rtc-ip", default_value = "127.0.0.1")]
    pub rtc_ips: Vec<IpAddr>,

    /// STUN server URLs for the seed peer (e.g. `stun:stun.example.org:3478`); none by default.
    #[arg(long = "stun")]
    pub stun: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("wasm/pkg"),
            max_frame_bytes: 64 * 1024,
            max_connections: 20_000,
            max_rooms: 1_000,
            max_peers_per_room: 10_000,
            max_msgs_per_sec: 50,
            burst: 200,
            send_queue: 256,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            ping_interval_ms: 10_000,
            contacts: 8,
            no_seed: false,
            rtc_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            stun: Vec::new(),
        }
    }
}

impl Config {
    /// The handshake timeout as a [`Duration`].
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The idle timeout as a [`Duration`].
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// The ping interval as a [`Duration`].
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.max(1))
    }

    /// The limits announced to clients in `hello`.
    pub fn server_limits(&self) -> rumor_signal_proto::ServerLimits {
        rumor_signal_proto::ServerLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_msgs_per_sec: self.max_msgs_per_sec,
            burst: self.burst,
            handshake_timeout_ms: self.handshake_timeout_ms,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn clap_defaults_match_default() {
        let parsed = Cli::parse_from(["x"]).config;
        let default = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }
}
