//! The seed peer: for each room in use, the server runs an ordinary Rumor member (metadata
//! `role=seed`) so that a room always has someone to join through. It is a
//! [`Driver`] whose signals go straight into the room table instead of over a WebSocket.
//!
//! The seed lives as long as its [`SeedHandle`]: the room table drops the handle when the
//! room's last client leaves, which closes the seed's inbox and stops it.

use std::sync::Weak;

use rumor_core::{Identity, MemberState, PeerId};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::driver::{random_bytes32, Driver, DriverConfig, SignalIn, SignalSink};
use crate::metrics as m;
use crate::rooms::Rooms;
use crate::rtc::RtcConfig;

/// The room table's handle on a running seed peer.
#[derive(Debug)]
pub struct SeedHandle {
    id: PeerId,
    inbox: mpsc::UnboundedSender<SignalIn>,
    // Dropping this closes the driver's command channel; with the inbox closed too, it stops.
    _commands: mpsc::Sender<crate::driver::Command>,
}

impl SeedHandle {
    /// The seed's `PeerId` in its room.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// Where the room table delivers signals addressed to the seed.
    pub fn inbox(&self) -> mpsc::UnboundedSender<SignalIn> {
        self.inbox.clone()
    }
}

/// Sends the seed's signals through the room table, `from` = the seed.
struct RoomSink {
    rooms: Weak<Rooms>,
    room: String,
    me: PeerId,
}

impl SignalSink for RoomSink {
    fn send(&self, to: PeerId, data: serde_json::Value) -> Result<(), ()> {
        let rooms = self.rooms.upgrade().ok_or(())?;
        rooms.relay(&self.room, self.me, to, data).map_err(|_| ())
    }
}

/// Starts the seed peer of `room` (on the current tokio runtime).
pub fn spawn(room: String, rooms: Weak<Rooms>, config: &Config) -> SeedHandle {
    let identity = Identity::from_secret(random_bytes32());
    let id = identity.id();
    let driver_config = DriverConfig {
        rtc: RtcConfig {
            ips: config.rtc_ips.clone(),
            stun: config.stun.clone(),
        },
        meta: vec![("role".into(), "seed".into())],
        seeds: Vec::new(),
        max_conns: 256,
        ..DriverConfig::default()
    };
    let sink = RoomSink {
        rooms,
        room: room.clone(),
        me: id,
    };
    let (driver, mut snapshots) = Driver::new(identity, driver_config, sink, None);
    let (inbox, inbox_rx) = mpsc::unbounded_channel();
    let (commands, commands_rx) = mpsc::channel(1);
    tracing::info!(%room, seed = %id, "seed peer started");
    tokio::spawn(async move {
        // Reports this seed's share of the neighbor and membership gauges.
        let gauges = tokio::spawn(async move {
            let (mut neighbors, mut members) = (0.0, 0.0);
            while snapshots.changed().await.is_ok() {
                let s = snapshots.borrow_and_update().clone();
                let n = s.neighbors.len() as f64;
                let a = s
                    .members
                    .iter()
                    .filter(|m| m.state == MemberState::Alive)
                    .count() as f64;
                metrics::gauge!(m::SEED_NEIGHBORS).increment(n - neighbors);
                metrics::gauge!(m::SEED_MEMBERS).increment(a - members);
                (neighbors, members) = (n, a);
            }
            metrics::gauge!(m::SEED_NEIGHBORS).decrement(neighbors);
            metrics::gauge!(m::SEED_MEMBERS).decrement(members);
        });
        driver.run(inbox_rx, commands_rx).await;
        let _ = gauges.await;
        tracing::info!(%room, seed = %id, "seed peer stopped");
    });
    SeedHandle {
        id,
        inbox,
        _commands: commands,
    }
}
