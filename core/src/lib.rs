//! # rumor-core
//!
//! The sans-IO protocol core of Rumor: a group of peers (browser tabs, native processes)
//! that keep, by gossip over connections the driver provides, a shared view of who is in
//! the group and what each member says about itself.
//!
//! The core does no I/O, reads no clock, draws no entropy and spawns nothing. A driver
//! feeds it bytes, connection events and timeouts through `handle_*` methods and commands,
//! and drains [`Output`]s with [`Node::poll_output`] after every call:
//!
//! ```
//! use rumor_core::{Config, Identity, Instant, Node, Output};
//!
//! let mut node = Node::new(Identity::from_secret([7; 32]), Config::default(), 42, Instant::ZERO);
//! node.set_meta("name", "alice", Instant::ZERO).unwrap();
//! node.join(vec![], Instant::ZERO); // the first member has no one to join through
//! while let Some(out) = node.poll_output() {
//!     match out {
//!         Output::Transmit { to, bytes } => { /* send bytes over the connection to `to` */ }
//!         Output::Dial(_peer) | Output::Hangup(_peer) => { /* open or close a connection */ }
//!         Output::Event(event) => println!("{event:?}"),
//!         Output::Timeout(at) => { /* arm one timer for `at`, then call handle_timeout */ break }
//!     }
//! }
//! ```
//!
//! The protocol stack: ed25519 [`identity`] and signed member [`record`]s; the HyParView
//! overlay (`overlay`); SWIM-style failure detection with Lifeguard's dynamic suspicion
//! (`liveness`); membership spread by push and bucketed anti-entropy (`sync`);
//! Plumtree broadcast with topics and history ([`broadcast`]); direct messages and
//! request/response routed over the overlay (`direct`); application state sync
//! ([`StateSync`]); leader election from member records (`leader`);
//! and the [`wire`] format. docs/protocol.md describes the messages.

#![forbid(unsafe_code)]

extern crate alloc;

pub mod broadcast;
pub mod config;
mod direct;
pub mod event;
mod farewell;
pub mod identity;
pub mod keys;
mod leader;
mod liveness;
pub mod membership;
mod node;
mod overlay;
mod random;
pub mod record;
mod snapshot;
mod sorted;
mod state_sync;
pub mod stats;
mod sync;
pub mod time;
mod walks;
pub mod wire;

pub use broadcast::BroadcastSizes;
pub use broadcast::DEFAULT_TOPIC;
pub use config::{
    BroadcastConfig, Config, DirectConfig, Limits, MembershipConfig, OverlayConfig, StateSyncConfig,
};
pub use event::{Event, Output};
pub use identity::{Ed25519, Identity, PeerId, Signature, Verify};
pub use keys::KeyListeners;
pub use leader::CANDIDATE_KEY;
/// The sorted-`Vec` map of [`Member::meta`], re-exported so users need not depend on it.
pub use litemap::LiteMap;
pub use membership::{Member, MemberState};
pub use node::{CommandError, HandleError, Node};
pub use random::Random;
pub use state_sync::StateSync;
pub use stats::Stats;
pub use time::Instant;
pub use wire::MsgId;

/// The version of this crate, for `/health` endpoints and diagnostics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
