//! The tokio driver of a rumor-core [`Node`] over WebRTC ([`crate::rtc`]): used by the
//! server's seed peers and by native peers ([`crate::peer`]).
//!
//! One task owns the node. It `select!`s over signals from the signaling server, events from
//! the WebRTC connections, application commands and one timer; after every `handle_*` call
//! or command it drains [`Node::poll_output`] until [`Output::Timeout`], and arms one
//! `sleep_until` for it.
//!
//! Connections: a `Dial` starts an offering [`Conn`]; an offer from a peer starts an
//! answering one. Glare (both sides offer at once) is resolved by `PeerId` order: the offer
//! of the higher id wins, the lower id drops its own attempt and answers. An open data
//! channel is `handle_connected`; a connection that ends is `handle_disconnected` if it had
//! opened, `handle_dial_failed` if the node had dialed it and it never opened, and
//! `handle_replaced` if the peer's new offer replaced it while open.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use rumor_core::{Config as NodeConfig, Event, Identity, Instant, Member, Node, Output, PeerId};
use rumor_signal_proto::{PeerSignal, MEMBERS_MAX_SIGNALS};
use tokio::sync::{mpsc, oneshot, watch};

use crate::rtc::{Conn, ConnEvent, RtcConfig, Tagged};

/// Something from the signaling server for this peer.
#[derive(Debug, Clone)]
pub enum SignalIn {
    /// A relayed signal (`from` stamped by the server).
    Signal {
        /// The sender.
        from: PeerId,
        /// What it sent (a [`PeerSignal`] when the sender is a Rumor driver).
        data: serde_json::Value,
    },
    /// The server could not deliver our signal to this peer (it is not in the room).
    Undeliverable(PeerId),
    /// A client just joined the room (told to seed peers only, after its `joined`).
    Arrived(PeerId),
}

/// Where the driver sends its signals. Implemented by the WebSocket client and, for seed
/// peers, by the server's room table.
pub trait SignalSink: Send + 'static {
    /// Sends `data` to `to` through the signaling server. `Err(())` when it is known at once
    /// that `to` cannot be reached.
    #[allow(clippy::result_unit_err)]
    fn send(&self, to: PeerId, data: serde_json::Value) -> Result<(), ()>;

    /// Leaves `data` (a [`PeerSignal::Farewell`]) with the server as this peer's will,
    /// relayed for it when its connection ends without a goodbye. The default keeps none:
    /// seed peers end with the server.
    fn will(&self, data: serde_json::Value) {
        let _ = data;
    }
}

/// A closure run on the node inside the driver (any node command).
pub type NodeCall = Box<dyn FnOnce(&mut rumor_core::Node, rumor_core::Instant) + Send>;

/// Commands from the application to the driver.
pub enum Command {
    /// Set one metadata key; the answer says whether the node accepted it.
    SetMeta(
        String,
        String,
        oneshot::Sender<Result<(), rumor_core::CommandError>>,
    ),
    /// Leave the group gracefully, then stop; answered once the goodbyes were flushed.
    Leave(oneshot::Sender<()>),
    /// Run a closure on the node (it answers through its own channel, if it needs to).
    Call(NodeCall),
}

/// What the driver publishes after every drain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every member the node knows (itself included, tombstones too).
    pub members: Vec<Member>,
    /// The node's active view.
    pub neighbors: Vec<PeerId>,
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The node's configuration.
    pub node: NodeConfig,
    /// WebRTC settings.
    pub rtc: RtcConfig,
    /// Metadata set before joining.
    pub meta: Vec<(String, String)>,
    /// Peers to join through, in order (empty for the first member, e.g. a seed).
    pub seeds: Vec<PeerId>,
    /// WebRTC connections held at most (offers beyond it are ignored).
    pub max_conns: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            node: NodeConfig::default(),
            rtc: RtcConfig::default(),
            meta: Vec::new(),
            seeds: Vec::new(),
            max_conns: 64,
        }
    }
}

struct ConnState {
    id: u64,
    conn: Conn,
    offerer: bool,
    open: bool,
    /// The node asked to dial this peer and has not been told the outcome.
    dialed: bool,
}

/// What needs feeding back into the node after an output was handled.
enum Followup {
    Connected(PeerId),
    DialFailed(PeerId),
    Disconnected(PeerId),
    /// The peer replaced its open connection with a new one.
    Replaced(PeerId),
}

/// The running driver; see the module docs.
pub struct Driver<S: SignalSink> {
    node: Node,
    epoch: tokio::time::Instant,
    config: DriverConfig,
    sink: S,
    conns: HashMap<PeerId, ConnState>,
    next_conn: u64,
    conn_tx: mpsc::UnboundedSender<Tagged>,
    conn_rx: mpsc::UnboundedReceiver<Tagged>,
    events: Option<mpsc::UnboundedSender<Event>>,
    snapshot: watch::Sender<Snapshot>,
    deadline: tokio::time::Instant,
    followups: VecDeque<Followup>,
    closing: HashSet<u64>,
    dirty: bool,
    /// The first member joined through (the seed peer): told of a leave through the server.
    contact: Option<PeerId>,
    /// Newcomers sent the member table on arrival, oldest first: their offer, which follows,
    /// does not get it again. Bounded by [`GREETED_MAX`].
    greeted: VecDeque<PeerId>,
}

/// Newcomers remembered as sent the member table (a newcomer offers within seconds).
const GREETED_MAX: usize = 256;

impl<S: SignalSink> Driver<S> {
    /// A driver for a new node with `identity`. Application events go to `events` (if any);
    /// the returned receiver sees a [`Snapshot`] after every drain.
    pub fn new(
        identity: Identity,
        config: DriverConfig,
        sink: S,
        events: Option<mpsc::UnboundedSender<Event>>,
    ) -> (Self, watch::Receiver<Snapshot>) {
        let epoch = tokio::time::Instant::now();
        let node = Node::new(identity, config.node.clone(), random_u64(), Instant::ZERO);
        let (conn_tx, conn_rx) = mpsc::unbounded_channel();
        let (snapshot, snapshot_rx) = watch::channel(Snapshot::default());
        let driver = Driver {
            node,
            epoch,
            config,
            sink,
            conns: HashMap::new(),
            next_conn: 0,
            conn_tx,
            conn_rx,
            events,
            snapshot,
            deadline: epoch,
            followups: VecDeque::new(),
            closing: HashSet::new(),
            dirty: true,
            contact: None,
            greeted: VecDeque::new(),
        };
        (driver, snapshot_rx)
    }

    /// This node's id.
    pub fn id(&self) -> PeerId {
        self.node.id()
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    /// Runs until `signals` and `commands` are both closed, or after a `Leave`.
    pub async fn run(
        mut self,
        mut signals: mpsc::UnboundedReceiver<SignalIn>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let now = self.now();
        for (k, v) in std::mem::take(&mut self.config.meta) {
            if let Err(err) = self.node.set_meta(k, v, now) {
                tracing::warn!("metadata refused: {err}");
            }
        }
        let seeds = std::mem::take(&mut self.config.seeds);
        self.contact = seeds.first().copied();
        self.node.join(seeds, now);
        self.drain();
        let (mut signals_open, mut commands_open) = (true, true);
        while signals_open || commands_open {
            tokio::select! {
                sig = signals.recv(), if signals_open => match sig {
                    Some(sig) => self.on_signal(sig),
                    None => signals_open = false,
                },
                Some(ev) = self.conn_rx.recv() => self.on_conn_event(ev),
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::SetMeta(k, v, reply)) => {
                        let now = self.now();
                        let _ = reply.send(self.node.set_meta(k, v, now));
                    }
                    Some(Command::Call(f)) => {
                        let now = self.now();
                        f(&mut self.node, now);
                    }
                    Some(Command::Leave(reply)) => {
                        self.leave().await;
                        let _ = reply.send(());
                        return;
                    }
                    None => commands_open = false,
                },
                _ = tokio::time::sleep_until(self.deadline) => {
                    let now = self.now();
                    self.node.handle_timeout(now);
                    self.dirty = true;
                }
            }
            self.drain();
        }
        self.stop();
    }

    /// Graceful leave: the node says goodbye, connections flush and close.
    async fn leave(&mut self) {
        let now = self.now();
        let mut to = self.node.neighbors();
        self.node.leave(now);
        // The farewell also goes through the server, in case the connections do not flush.
        to.extend(self.contact.filter(|c| !to.contains(c)));
        let data = serde_json::to_value(PeerSignal::farewell(&self.node.farewell()))
            .expect("PeerSignal serializes");
        for peer in to {
            let _ = self.sink.send(peer, data.clone());
        }
        self.drain();
        // Whatever the node did not hang up (nothing, normally) is closed gracefully too.
        let peers: Vec<PeerId> = self.conns.keys().copied().collect();
        for peer in peers {
            self.close_conn(peer);
        }
        // Give the connection tasks time to flush the goodbyes (they close on their own).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !self.closing.is_empty() {
            match tokio::time::timeout_at(deadline, self.conn_rx.recv()).await {
                Ok(Some(Tagged {
                    conn,
                    event: ConnEvent::Closed,
                    ..
                })) => {
                    self.closing.remove(&conn);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Abrupt stop: every connection is dropped (closed at once).
    fn stop(&mut self) {
        self.conns.clear();
    }

    fn on_signal(&mut self, sig: SignalIn) {
        let (from, data) = match sig {
            SignalIn::Signal { from, data } => (from, data),
            SignalIn::Undeliverable(peer) => {
                if self.conns.get(&peer).is_some_and(|c| !c.open) {
                    self.drop_conn(peer);
                }
                return;
            }
            SignalIn::Arrived(peer) => {
                self.greet(peer);
                return;
            }
        };
        let signal: PeerSignal = match serde_json::from_value(data) {
            Ok(s) => s,
            Err(err) => {
                tracing::debug!(%from, "ignored signal that is not a PeerSignal: {err}");
                return;
            }
        };
        match signal {
            PeerSignal::Offer { session, sdp } => self.on_offer(from, session, sdp),
            PeerSignal::Answer { session, .. } | PeerSignal::Candidate { session, .. } => {
                if let Some(c) = self.conns.get(&from) {
                    if c.conn.session == session {
                        c.conn.remote(signal);
                    }
                }
            }
            PeerSignal::Farewell { .. } => {
                let now = self.now();
                let taken = signal
                    .farewell_bytes()
                    .ok_or("bad hex".to_string())
                    .and_then(|b| {
                        self.node
                            .handle_farewell(&b, now)
                            .map_err(|e| e.to_string())
                    });
                if let Err(err) = taken {
                    tracing::debug!(%from, "farewell refused: {err}");
                }
                self.dirty = true;
            }
            PeerSignal::Members { .. } => {
                let now = self.now();
                let taken = signal
                    .members_bytes()
                    .ok_or("bad hex".to_string())
                    .and_then(|b| {
                        self.node
                            .handle_member_snapshot(&b, now)
                            .map_err(|e| e.to_string())
                    });
                if let Err(err) = taken {
                    tracing::debug!(%from, "member snapshot refused: {err}");
                }
                self.dirty = true;
            }
        }
    }

    /// Sends `peer` the member table through the server, ahead of any connection: a
    /// client that just joined the room (seed peers are told), or one that offers without
    /// a connection and was not greeted so.
    fn greet(&mut self, peer: PeerId) {
        if self.conns.contains_key(&peer) || self.greeted.contains(&peer) {
            return;
        }
        for bytes in self.node.member_snapshot(&peer, MEMBERS_MAX_SIGNALS) {
            let data =
                serde_json::to_value(PeerSignal::members(&bytes)).expect("PeerSignal serializes");
            let _ = self.sink.send(peer, data);
        }
        if self.greeted.len() >= GREETED_MAX {
            self.greeted.pop_front();
        }
        self.greeted.push_back(peer);
    }

    fn on_offer(&mut self, from: PeerId, session: u64, sdp: String) {
        tracing::debug!(me = %self.node.id(), %from, session, "offer");
        // A newcomer (no connection yet, not a live member) gets the member table through
        // the server at once, ahead of the connection being set up, unless it got it when
        // it joined.
        self.greet(from);
        self.greeted.retain(|p| *p != from);
        let mut dialed = false;
        if let Some(c) = self.conns.get(&from) {
            if c.conn.session == session {
                return; // duplicate
            }
            if c.offerer && !c.open {
                if self.node.id() > from {
                    return; // glare: our offer wins; they will answer it
                }
                dialed = c.dialed; // glare: theirs wins and satisfies our dial
                self.conns.remove(&from);
            } else if c.open {
                // The peer dialed again over an open connection (it restarted, or gave up
                // on this one): it has just shown it is alive, so the node hears that the
                // connection was replaced, not lost (which would make it suspect the peer).
                self.conns.remove(&from);
                self.followups.push_back(Followup::Replaced(from));
            } else {
                // A new connection replaces one that never opened.
                self.drop_conn(from);
            }
        } else if self.conns.len() >= self.config.max_conns {
            tracing::debug!(%from, "offer ignored: {} connections held", self.conns.len());
            return;
        }
        let id = self.next_id();
        let conn = Conn::answer(
            &self.config.rtc,
            from,
            id,
            session,
            sdp,
            self.conn_tx.clone(),
        );
        self.conns.insert(
            from,
            ConnState {
                id,
                conn,
                offerer: false,
                open: false,
                dialed,
            },
        );
    }

    fn next_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    /// Forgets the connection to `peer` and tells the node what that means.
    fn drop_conn(&mut self, peer: PeerId) {
        if let Some(c) = self.conns.remove(&peer) {
            if c.open {
                self.followups.push_back(Followup::Disconnected(peer));
            } else if c.dialed {
                self.followups.push_back(Followup::DialFailed(peer));
            }
        }
    }

    /// Closes the connection to `peer` gracefully (after what was sent to it left).
    fn close_conn(&mut self, peer: PeerId) {
        if let Some(c) = self.conns.remove(&peer) {
            self.closing.insert(c.id);
            c.conn.close();
        }
    }

    fn on_conn_event(&mut self, ev: Tagged) {
        if matches!(ev.event, ConnEvent::Closed) {
            self.closing.remove(&ev.conn);
        }
        let Some(c) = self.conns.get_mut(&ev.peer) else {
            return;
        };
        if c.id != ev.conn {
            return; // a replaced connection
        }
        match ev.event {
            ConnEvent::Signal(sig) => {
                let data = serde_json::to_value(&sig).expect("PeerSignal serializes");
                if self.sink.send(ev.peer, data).is_err() {
                    self.drop_conn(ev.peer);
                }
            }
            ConnEvent::Open => {
                tracing::debug!(me = %self.node.id(), peer = %ev.peer, "data channel open");
                c.open = true;
                c.dialed = false;
                self.followups.push_back(Followup::Connected(ev.peer));
            }
            ConnEvent::Message(bytes) => {
                let now = self.now();
                if let Err(err) = self.node.handle_message(ev.peer, &bytes, now) {
                    tracing::debug!(peer = %ev.peer, "message refused: {err}");
                }
            }
            ConnEvent::Closed => {
                tracing::debug!(me = %self.node.id(), peer = %ev.peer, "connection closed");
                self.drop_conn(ev.peer)
            }
        }
    }

    /// Drains the node's outputs (and whatever they feed back) until the next timeout.
    fn drain(&mut self) {
        loop {
            while let Some(out) = self.node.poll_output() {
                match out {
                    Output::Transmit { to, bytes } => match self.conns.get(&to) {
                        Some(c) if c.open => c.conn.send(bytes),
                        _ => tracing::trace!(%to, "transmit without an open connection dropped"),
                    },
                    Output::Dial(peer) => self.dial(peer),
                    Output::Hangup(peer) => {
                        tracing::debug!(me = %self.node.id(), %peer, "hangup");
                        self.close_conn(peer)
                    }
                    Output::Event(event) => {
                        tracing::debug!(me = %self.node.id(), "{event:?}");
                        self.dirty = true;
                        if let Some(events) = &self.events {
                            let _ = events.send(event);
                        }
                    }
                    Output::Timeout(at) => {
                        let ms = at.as_millis().min(self.now().as_millis() + 3_600_000);
                        self.deadline = self.epoch + Duration::from_millis(ms);
                        break;
                    }
                }
            }
            let Some(f) = self.followups.pop_front() else {
                break;
            };
            let now = self.now();
            match f {
                Followup::Connected(p) => self.node.handle_connected(p, now),
                Followup::DialFailed(p) => self.node.handle_dial_failed(p, now),
                Followup::Disconnected(p) => self.node.handle_disconnected(p, now),
                Followup::Replaced(p) => self.node.handle_replaced(p, now),
            }
        }
        self.renew_will();
        self.publish();
    }

    /// Hands the sink a new will when the node has one due ([`Node::poll_will`]: on a
    /// record change, at most once a second; the node's periodic tick brings the driver
    /// back here for one held back).
    fn renew_will(&mut self) {
        let now = self.now();
        let Some(farewell) = self.node.poll_will(now) else {
            return;
        };
        tracing::debug!(me = %self.node.id(), version = ?self.node.record_version(), "will renewed");
        let data =
            serde_json::to_value(PeerSignal::farewell(&farewell)).expect("PeerSignal serializes");
        self.sink.will(data);
    }

    fn dial(&mut self, peer: PeerId) {
        tracing::debug!(me = %self.node.id(), %peer, "dial");
        if let Some(c) = self.conns.get_mut(&peer) {
            if c.open {
                self.followups.push_back(Followup::Connected(peer));
            } else {
                c.dialed = true; // an inbound attempt in progress will do
            }
            return;
        }
        if self.conns.len() >= self.config.max_conns {
            self.followups.push_back(Followup::DialFailed(peer));
            return;
        }
        let id = self.next_id();
        // Below 2^53 so JavaScript peers keep it exact.
        let session = random_u64() >> 11;
        let conn = Conn::offer(&self.config.rtc, peer, id, session, self.conn_tx.clone());
        self.conns.insert(
            peer,
            ConnState {
                id,
                conn,
                offerer: true,
                open: false,
                dialed: true,
            },
        );
    }

    /// Publishes a [`Snapshot`] when events happened or a timer fired since the last one.
    fn publish(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let members = self.node.members();
        let neighbors = self.node.neighbors();
        self.snapshot.send_if_modified(|s| {
            if s.members == members && s.neighbors == neighbors {
                false
            } else {
                s.members = members;
                s.neighbors = neighbors;
                true
            }
        });
    }
}

/// 64 random bits from the OS.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS has a random source");
    u64::from_le_bytes(b)
}

/// 32 random bytes from the OS.
pub fn random_bytes32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS has a random source");
    b
}
