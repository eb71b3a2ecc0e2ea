//! Drives [iroh-gossip](https://docs.rs/iroh-gossip)'s IO-less `proto` state machine
//! (HyParView membership + Plumtree broadcast) in the simulator, so that Rumor's broadcast
//! scenarios can be run side by side with it.
//!
//! # Mapping
//! - **Peers.** `proto::State` is generic over its peer identity: the node index ([`Idx`])
//!   is the identity, so no mapping table is needed. Peers carry no [`PeerData`] (iroh puts
//!   its addressing information there).
//! - **Topic.** Everything runs in one topic, [`IrohPeer::TOPIC`].
//! - **Messages.** iroh's `proto::Message` is serde-serializable and iroh encodes it with
//!   postcard, so does this adapter. iroh's network layer sends the topic once per stream
//!   and then bare per-topic messages; here the 32 topic bytes postcard puts in front are
//!   cut off before sending and put back on receipt, so that the bytes on the simulated
//!   wire are what iroh's frames carry (without iroh's 4-byte length prefix). A message of
//!   [`Config::max_message_size`] bytes or more is refused like iroh's `write_frame` does
//!   (counted in [`IrohPeer::too_large`], not sent).
//! - **Transport.** See [`Transport`]: plain datagrams by default (the protocol state
//!   machine alone), or connections opened and closed the way iroh's network layer does,
//!   which is what lets iroh notice crashed neighbors.
//! - **Time.** One `Instant` is taken when the peer is created and stands for simulated
//!   time 0; iroh is handed that instant plus the simulated milliseconds and nothing else.
//!   Its timers (`ScheduleTimer(Duration, Timer)`) wait in a map keyed by (deadline in ms,
//!   submission order), deadlines rounded up to the next millisecond, and are fired on
//!   [`Input::Timeout`].
//! - **Randomness.** A [`ChaCha8Rng`] seeded from the seed and index, behind the rand 0.10
//!   traits iroh-gossip expects ([`IrohRng`]).
//! - **Configuration.** iroh-gossip's default [`Config`], unchanged (see
//!   [`IrohPeer::config`]).
//!
//! # Observations
//! - [`Seen::Delivered`] when iroh emits `Event::Received` for a message: the subject
//!   (origin) and `seq` come from the first 16 bytes of the payload, which
//!   [`IrohPeer::broadcast`] fills in (iroh identifies messages by the blake3 hash of their
//!   content, so the payload must differ per message anyway). `hops` is iroh's delivery
//!   round plus one: iroh's round counts forwards *after* the origin (a direct neighbor of
//!   the origin receives round 0), while `hops` counts overlay hops (a direct neighbor is
//!   1 hop away). iroh's own "last delivery hop" statistic is the round, so it reads one
//!   less than the `hops` reported here.
//! - [`Seen::PayloadReceived`] for every payload-carrying message that arrives (Plumtree's
//!   `Gossip` message, duplicates included, whether pushed eagerly or sent in answer to a
//!   `Graft`). iroh keeps its message types crate-private, so the adapter recognizes them
//!   with `proto::Message::kind()` (public: `Data` is exactly Plumtree's `Gossip`) and reads
//!   the payload's origin from the postcard bytes with a mirror of iroh's wire layout
//!   ([`GossipFrame`]). A payload message whose layout does not match is counted in
//!   [`IrohPeer::unparsed`] (the tests check that this stays 0).
//! - Nothing about membership: iroh-gossip has no membership list, only neighbors
//!   ([`IrohPeer::neighbors`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use iroh_gossip::proto::state::MessageKind;
use iroh_gossip::proto::{
    Command, Config, DeliveryScope, Event, InEvent, Message, OutEvent, PeerData, Scope, State,
    Timer, TopicId,
};
use serde::Deserialize;

use crate::sim::{Act, Idx, Input, Peer, Seen};

/// iroh-gossip's random source (a topic's state is seeded from the node's generator).
pub type IrohRng = crate::rng::SimRng;

/// The iroh-gossip state machine an [`IrohPeer`] drives.
pub type IrohState = State<Idx, IrohRng>;

/// How iroh's messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Every message is an [`Act::Datagram`]; iroh's `DisconnectPeer` is ignored and iroh is
    /// never told that a peer disconnected. This is the protocol state machine alone: a
    /// crashed neighbor is never detected (it leaves the active view only if evicted for
    /// another reason, and it is never replaced), so this mode does not suit failure
    /// scenarios.
    #[default]
    Datagram,
    /// Messages travel over simulated connections the way iroh's network layer
    /// (`iroh_gossip::net`) handles them: the first message to a peer without a connection
    /// dials it and waits in a queue until the connection opens; `DisconnectPeer` hangs the
    /// connection up (already-sent messages still arrive); a connection closed by the other
    /// side or a failed dial is reported to iroh as `PeerDisconnected`. The simulator's dial
    /// takes `NetConfig::dial_round_trips` round trips (WebRTC-like; a QUIC handshake would
    /// take about one) and a crashed peer's connection closes after
    /// `NetConfig::silent_close_after` (iroh relies on QUIC's idle timeout for that).
    /// Unlike iroh's network layer, a failed dial also forgets the messages queued for
    /// that peer, so that a later message dials again.
    Connections,
}

/// A connection in [`Transport::Connections`] mode.
#[derive(Debug)]
enum Link {
    /// Dialing; messages wait here.
    Dialing(Vec<Vec<u8>>),
    /// Open.
    Open,
}

/// Timers iroh asked for, by (deadline in ms, submission order).
type Timers = BTreeMap<(u64, u64), Timer<Idx>>;

/// The head of a postcard-encoded `proto::Message` carrying a payload: iroh's wire layout of
/// `Message { topic, message: topic::Message::Gossip(plumtree::Message::Gossip(Gossip { id,
/// content, scope })) }` as of 0.101, up to the scope's variant (for
/// `DeliveryScope::Swarm(Round)` a varint `u16` follows). Enum variants are varint `u32`s
/// in postcard, byte arrays are raw and `Bytes` is length-prefixed.
#[derive(Deserialize)]
struct GossipFrame<'a> {
    _topic: [u8; 32],
    /// `topic::Message`: 0 = Swarm, 1 = Gossip.
    layer: u32,
    /// `plumtree::Message`: 0 = Gossip, 1 = Prune, 2 = Graft, 3 = IHave.
    kind: u32,
    _id: [u8; 32],
    #[serde(borrow)]
    content: &'a [u8],
    /// `DeliveryScope`: 0 = Swarm(Round), 1 = Neighbors.
    _scope: u32,
}

/// Length of the payload prefix [`IrohPeer::broadcast`] writes: origin index and sequence
/// number, both little-endian `u64`.
pub const PREFIX_LEN: usize = 16;

/// Reads the (origin, seq) prefix of a payload.
fn parse_prefix(content: &[u8]) -> Option<(Idx, u64)> {
    let origin = u64::from_le_bytes(content.get(..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(content.get(8..PREFIX_LEN)?.try_into().ok()?);
    Some((Idx::try_from(origin).ok()?, seq))
}

/// Bytes of a postcard varint for `n`.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// An iroh-gossip node in the simulator.
pub struct IrohPeer {
    /// The protocol state machine.
    pub state: IrohState,
    idx: Idx,
    transport: Transport,
    max_message_size: usize,
    /// The instant that stands for simulated time 0.
    base: Instant,
    timers: Timers,
    timer_seq: u64,
    neighbors: BTreeSet<Idx>,
    links: BTreeMap<Idx, Link>,
    /// Messages from peers that did not decode; they are dropped.
    pub errors: u64,
    /// Payload messages (received, or delivered to the application) whose payload or
    /// layout the adapter could not read, so went unobserved.
    pub unparsed: u64,
    /// Outgoing messages of `max_message_size` bytes or more, refused as iroh's network
    /// layer refuses them.
    pub too_large: u64,
}

impl IrohPeer {
    /// The one topic every node joins.
    pub const TOPIC: TopicId = TopicId::from_bytes(*b"rumor-bench/iroh-gossip-topic-00");

    /// The configuration nodes use: iroh-gossip's default, unchanged.
    ///
    /// HyParView: active view 5, passive view 30, random walks of 6 (active) and 3
    /// (passive) hops, a shuffle every 60 s, 500 ms for a neighbor request to be answered.
    /// Plumtree: graft after 80 ms without the payload of an announced message (then 40 ms
    /// per further graft), lazy announcements batched for 5 ms, tree optimization at 7
    /// rounds, payloads kept 30 s and message ids 90 s. Messages up to 4096 bytes.
    /// Kept as iroh's users get them, even where they are tight for the simulated links
    /// (10–50 ms one way by default): an eager push that crosses several slow hops can
    /// arrive more than 80 ms after a lazy announcement of it, and then costs a graft and
    /// a duplicate payload. iroh's own source calls these timeouts guesses.
    pub fn config() -> Config {
        Config::default()
    }

    /// A node for index `idx` created at `now` (ms), with [`IrohPeer::config`] and
    /// [`Transport::Datagram`].
    pub fn new(idx: Idx, seed: u64, now: u64) -> Self {
        Self::with_config(idx, seed, now, Self::config(), Transport::default())
    }

    /// Like [`IrohPeer::new`] with a given transport.
    pub fn with_transport(idx: Idx, seed: u64, now: u64, transport: Transport) -> Self {
        Self::with_config(idx, seed, now, Self::config(), transport)
    }

    /// Like [`IrohPeer::new`] with a given iroh configuration and transport.
    pub fn with_config(
        idx: Idx,
        seed: u64,
        now: u64,
        config: Config,
        transport: Transport,
    ) -> Self {
        let rng_seed = seed
            .wrapping_mul(31)
            .wrapping_add(idx as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ now;
        let rng = IrohRng::seed_from_u64(rng_seed);
        let max_message_size = config.max_message_size;
        IrohPeer {
            state: State::new(idx, PeerData::default(), config, rng),
            idx,
            transport,
            max_message_size,
            // Only a reference point: iroh sees it plus simulated time, never the clock.
            base: Instant::now(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            neighbors: BTreeSet::new(),
            links: BTreeMap::new(),
            errors: 0,
            unparsed: 0,
            too_large: 0,
        }
    }

    /// This node's index.
    pub fn idx(&self) -> Idx {
        self.idx
    }

    /// The largest payload [`IrohPeer::broadcast`] accepts: the encoded message (1 + 1
    /// variant bytes, 32-byte id, length-prefixed payload, scope and a round of up to 3
    /// bytes) must stay under `max_message_size`.
    pub fn max_payload_len(&self) -> usize {
        let overhead = |len: usize| 1 + 1 + 32 + varint_len(len) + 1 + 3;
        let mut len = self.max_message_size.saturating_sub(1 + overhead(0));
        while len > 0 && len + overhead(len) >= self.max_message_size {
            len -= 1;
        }
        len
    }

    /// Joins the topic through `bootstrap` (iroh's `Command::Join`). A node that joins with
    /// no bootstrap peers only waits for others to join through it; a node must join
    /// before it takes part at all (iroh drops messages for topics it has not joined).
    pub fn join(
        &mut self,
        bootstrap: Vec<Idx>,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        self.input(
            InEvent::Command(Self::TOPIC, Command::Join(bootstrap)),
            now,
            acts,
            seen,
        );
    }

    /// Broadcasts message `seq` to the whole topic (`Scope::Swarm`): a payload of
    /// `payload_len` bytes whose first 16 are this node's index and `seq`. The origin does
    /// not deliver its own message.
    ///
    /// # Panics
    /// If `payload_len` is under 16 or over [`IrohPeer::max_payload_len`].
    pub fn broadcast(
        &mut self,
        seq: u64,
        payload_len: usize,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        assert!(
            payload_len >= PREFIX_LEN,
            "payload_len {payload_len} < {PREFIX_LEN}: the payload carries origin and seq"
        );
        let max = self.max_payload_len();
        assert!(
            payload_len <= max,
            "payload_len {payload_len} > {max}: iroh-gossip would refuse to send it"
        );
        let mut payload = vec![0u8; payload_len];
        payload[..8].copy_from_slice(&(self.idx as u64).to_le_bytes());
        payload[8..PREFIX_LEN].copy_from_slice(&seq.to_le_bytes());
        self.input(
            InEvent::Command(
                Self::TOPIC,
                Command::Broadcast(payload.into(), Scope::Swarm),
            ),
            now,
            acts,
            seen,
        );
    }

    /// The node's neighbors in the topic (HyParView's active view, as reported by iroh's
    /// `NeighborUp` / `NeighborDown` events), sorted.
    pub fn neighbors(&self) -> Vec<Idx> {
        self.neighbors.iter().copied().collect()
    }

    /// Feeds one event to iroh at `now` and carries out what it asks.
    fn input(
        &mut self,
        event: InEvent<Idx>,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        let at = self.base + Duration::from_millis(now);
        let out: Vec<OutEvent<Idx>> = self.state.handle(event, at.into(), None).collect();
        for event in out {
            match event {
                OutEvent::SendMessage(to, message) => self.send(to, &message, acts),
                OutEvent::EmitEvent(_, Event::NeighborUp(peer)) => {
                    self.neighbors.insert(peer);
                }
                OutEvent::EmitEvent(_, Event::NeighborDown(peer)) => {
                    self.neighbors.remove(&peer);
                }
                OutEvent::EmitEvent(_, Event::Received(msg)) => {
                    let round = match msg.scope {
                        DeliveryScope::Swarm(round) => round_number(round),
                        DeliveryScope::Neighbors => Some(0),
                    };
                    match (parse_prefix(&msg.content), round) {
                        (Some((origin, seq)), Some(round)) => seen.push((
                            origin,
                            Seen::Delivered {
                                seq,
                                hops: round.saturating_add(1),
                            },
                        )),
                        _ => self.unparsed += 1,
                    }
                }
                OutEvent::ScheduleTimer(delay, timer) => {
                    // Round up: a timer must not fire before its delay has passed.
                    let ms =
                        u64::try_from(delay.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
                    self.timer_seq += 1;
                    self.timers
                        .insert((now.saturating_add(ms), self.timer_seq), timer);
                }
                OutEvent::DisconnectPeer(peer) => {
                    if self.links.remove(&peer).is_some() {
                        acts.push(Act::Hangup(peer));
                    }
                }
                // Peer data carries addresses in iroh; the simulator needs none.
                OutEvent::PeerData(..) => {}
            }
        }
    }

    /// Encodes and sends one message.
    fn send(&mut self, to: Idx, message: &Message<Idx>, acts: &mut Vec<Act>) {
        let encoded = postcard::to_allocvec(message).expect("iroh messages encode");
        assert_eq!(
            encoded.get(..32),
            Some(&Self::TOPIC.as_bytes()[..]),
            "iroh-gossip's message layout changed: the topic is no longer in front"
        );
        let bytes = encoded[32..].to_vec();
        if bytes.len() >= self.max_message_size {
            self.too_large += 1;
            return;
        }
        match self.transport {
            Transport::Datagram => acts.push(Act::Datagram { to, bytes }),
            Transport::Connections => match self.links.get_mut(&to) {
                Some(Link::Open) => acts.push(Act::Send { to, bytes }),
                Some(Link::Dialing(queue)) => queue.push(bytes),
                None => {
                    self.links.insert(to, Link::Dialing(vec![bytes]));
                    acts.push(Act::Dial(to));
                }
            },
        }
    }

    /// Decodes a message from `from`, observes payloads, and hands it to iroh.
    fn receive(
        &mut self,
        from: Idx,
        bytes: &[u8],
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        let mut framed = Vec::with_capacity(32 + bytes.len());
        framed.extend_from_slice(Self::TOPIC.as_bytes());
        framed.extend_from_slice(bytes);
        let Ok(message) = postcard::from_bytes::<Message<Idx>>(&framed) else {
            self.errors += 1;
            return;
        };
        if matches!(message.kind(), MessageKind::Data) {
            let origin = postcard::take_from_bytes::<GossipFrame<'_>>(&framed)
                .ok()
                .filter(|(f, _)| f.layer == 1 && f.kind == 0)
                .and_then(|(f, _)| parse_prefix(f.content));
            match origin {
                Some((origin, _)) => seen.push((origin, Seen::PayloadReceived)),
                None => self.unparsed += 1,
            }
        }
        self.input(InEvent::RecvMessage(from, message), now, acts, seen);
    }

    /// Fires every timer due at `now`, including ones those timers set for `now`.
    fn fire_timers(&mut self, now: u64, acts: &mut Vec<Act>, seen: &mut Vec<(Idx, Seen)>) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                return;
            }
            let timer = entry.remove();
            self.input(InEvent::TimerExpired(timer), now, acts, seen);
        }
    }
}

/// The number in iroh's `Round` (its field is private; it serializes as a bare `u16`).
fn round_number<T: serde::Serialize>(round: T) -> Option<u16> {
    let bytes = postcard::to_allocvec(&round).ok()?;
    postcard::from_bytes::<u16>(&bytes).ok()
}

impl Peer for IrohPeer {
    fn handle(
        &mut self,
        input: Input<'_>,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        match input {
            Input::Message { from, bytes } => self.receive(from, bytes, now, acts, seen),
            Input::Timeout => self.fire_timers(now, acts, seen),
            Input::Connected(peer) => {
                if self.transport != Transport::Connections {
                    return;
                }
                match self.links.insert(peer, Link::Open) {
                    Some(Link::Dialing(queue)) => {
                        acts.extend(queue.into_iter().map(|bytes| Act::Send { to: peer, bytes }))
                    }
                    Some(Link::Open) | None => {}
                }
            }
            Input::Disconnected(peer) => {
                // A close while dialing belongs to an older connection: the dial's own
                // outcome follows.
                if matches!(self.links.get(&peer), Some(Link::Open)) {
                    self.links.remove(&peer);
                    self.input(InEvent::PeerDisconnected(peer), now, acts, seen);
                }
            }
            Input::DialFailed(peer) => {
                if matches!(self.links.get(&peer), Some(Link::Dialing(_))) {
                    self.links.remove(&peer);
                    self.input(InEvent::PeerDisconnected(peer), now, acts, seen);
                }
            }
        }
    }

    fn next_timeout(&self) -> Option<u64> {
        self.timers.keys().next().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{NetConfig, Sim};

    const SEED: u64 = 0x1205;
    const N: usize = 50;
    const ORIGIN: Idx = 7;
    const MESSAGES: u64 = 10;

    /// `n` nodes: node 0 first, then one every 20 ms joining through node 0.
    fn swarm(n: usize, transport: Transport) -> Sim<IrohPeer> {
        let mut sim = Sim::new(SEED, NetConfig::default());
        for _ in 0..n {
            let idx = sim.reserve();
            let peer = IrohPeer::with_transport(idx, SEED, sim.now(), transport);
            let bootstrap = if idx == 0 { vec![] } else { vec![0] };
            sim.start(idx, peer, |p, now, acts, seen| {
                p.join(bootstrap, now, acts, seen)
            });
            sim.run_for(20);
        }
        sim
    }

    /// Forms the swarm, lets it settle for 20 s, then node 7 broadcasts 10 messages 100 ms
    /// apart and the network runs 10 s more.
    fn broadcast_run(transport: Transport) -> Sim<IrohPeer> {
        let mut sim = swarm(N, transport);
        sim.run_until(20_000);
        for seq in 0..MESSAGES {
            sim.with(ORIGIN, |p, now, acts, seen| {
                p.broadcast(seq, 64, now, acts, seen)
            });
            sim.run_for(100);
        }
        sim.run_for(10_000);
        sim
    }

    /// (observer, seq) → hops for every delivery of a message from node 7.
    fn deliveries(sim: &Sim<IrohPeer>) -> BTreeMap<(Idx, u64), u16> {
        let mut d = BTreeMap::new();
        for o in &sim.observations {
            if let Seen::Delivered { seq, hops } = o.seen {
                assert_eq!(o.subject, ORIGIN, "only node 7 broadcasts");
                let dup = d.insert((o.observer, seq), hops);
                assert!(dup.is_none(), "node {} delivered {seq} twice", o.observer);
            }
        }
        d
    }

    fn check_everyone_delivers(transport: Transport) {
        let sim = broadcast_run(transport);
        for i in 0..N {
            let p = sim.peer(i).expect("up");
            assert_eq!(
                (p.errors, p.unparsed, p.too_large),
                (0, 0, 0),
                "node {i} ({transport:?})"
            );
            assert!(!p.neighbors().is_empty(), "node {i} has no neighbors");
        }
        let d = deliveries(&sim);
        for i in (0..N).filter(|i| *i != ORIGIN) {
            for seq in 0..MESSAGES {
                assert!(
                    d.contains_key(&(i, seq)),
                    "node {i} never delivered message {seq} ({transport:?})"
                );
            }
        }
        assert_eq!(d.len(), (N - 1) * MESSAGES as usize);
        assert!(d.values().all(|h| *h >= 1));
        // Every delivery came with a payload; duplicates make the rest.
        let received = sim
            .observations
            .iter()
            .filter(|o| o.seen == Seen::PayloadReceived)
            .inspect(|o| assert_eq!(o.subject, ORIGIN))
            .count();
        assert!(
            received >= d.len(),
            "{received} payloads for {} deliveries",
            d.len()
        );
        let ldh = d.values().max().copied().unwrap_or(0);
        let rmr = received as f64 / d.len() as f64 - 1.0;
        eprintln!("iroh-gossip {transport:?}: {N} nodes, LDH {ldh}, RMR {rmr:.3}");
    }

    #[test]
    fn iroh_every_node_delivers_every_message() {
        check_everyone_delivers(Transport::Datagram);
    }

    #[test]
    fn iroh_every_node_delivers_every_message_over_connections() {
        check_everyone_delivers(Transport::Connections);
    }

    #[test]
    fn iroh_connections_notice_crashed_neighbors() {
        let mut sim = swarm(20, Transport::Connections);
        sim.run_until(20_000);
        let crashed = [3, 11];
        for c in crashed {
            let had = sim
                .up()
                .into_iter()
                .filter(|i| sim.peer(*i).expect("up").neighbors().contains(&c));
            assert!(had.count() > 0, "node {c} was nobody's neighbor");
        }
        for c in crashed {
            sim.crash(c);
        }
        // The simulator closes a crashed peer's connections after 30 s.
        sim.run_for(40_000);
        for i in sim.up() {
            let n = sim.peer(i).expect("up").neighbors();
            assert!(crashed.iter().all(|c| !n.contains(c)), "node {i}: {n:?}");
            assert!(!n.is_empty(), "node {i} lost all neighbors");
        }
    }

    #[test]
    fn iroh_payload_prefix_and_limits() {
        let p = IrohPeer::new(0, SEED, 0);
        // 4096-byte frames: 4096 - 41 bytes of framing at most.
        assert_eq!(p.max_payload_len(), 4055);
        assert_eq!(parse_prefix(&[0; 15]), None);
        let mut b = vec![0u8; 16];
        b[..8].copy_from_slice(&9u64.to_le_bytes());
        b[8..].copy_from_slice(&42u64.to_le_bytes());
        assert_eq!(parse_prefix(&b), Some((9, 42)));
    }

    #[test]
    fn iroh_largest_payload_is_sent() {
        let mut sim = swarm(5, Transport::Datagram);
        sim.run_until(5_000);
        let max = sim.peer(1).expect("up").max_payload_len();
        sim.with(1, |p, now, acts, seen| p.broadcast(0, max, now, acts, seen));
        sim.run_for(5_000);
        for i in [0, 2, 3, 4] {
            let p = sim.peer(i).expect("up");
            assert_eq!((p.too_large, p.unparsed, p.errors), (0, 0, 0));
            assert!(sim.observations.iter().any(|o| o.observer == i
                && o.subject == 1
                && matches!(o.seen, Seen::Delivered { seq: 0, .. })));
        }
        assert_eq!(sim.peer(1).expect("up").too_large, 0);
    }

    #[test]
    #[should_panic(expected = "iroh-gossip would refuse to send it")]
    fn iroh_oversized_payload_is_refused() {
        let mut p = IrohPeer::new(0, SEED, 0);
        let max = p.max_payload_len();
        p.broadcast(0, max + 1, 0, &mut Vec::new(), &mut Vec::new());
    }

    #[test]
    fn iroh_runs_are_deterministic() {
        for transport in [Transport::Datagram, Transport::Connections] {
            let run = || {
                let sim = broadcast_run(transport);
                let obs: Vec<_> = sim
                    .observations
                    .iter()
                    .map(|o| (o.time, o.observer, o.subject, o.seen))
                    .collect();
                let traffic: Vec<_> = sim
                    .traffic
                    .iter()
                    .map(|t| (t.msgs_out, t.bytes_out))
                    .collect();
                (obs, traffic)
            };
            let (a, b) = (run(), run());
            assert!(!a.0.is_empty());
            assert!(a == b, "two identical {transport:?} runs differ");
        }
    }
}
