//! [`Node`]: the whole protocol as one state machine. Inputs come in through `handle_*`
//! and commands; outputs are drained with [`Node::poll_output`]. No I/O, clock or entropy.
//!
//! The logic is spread over modules by concept: `overlay` (HyParView), `liveness`
//! (pings, suspicion, refutation) and `sync` (anti-entropy and push).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use litemap::LiteMap;

use crate::broadcast::Broadcast;
use crate::config::Config;
use crate::direct::Direct;
use crate::event::{Event, Output};
use crate::identity::{Ed25519, Identity, PeerId, Verify};
use crate::membership::{Member, Members, SuspicionTimes};
use crate::random::Random;
use crate::record::{Claim, Entry, MetaEntry, Record, SignedRecord};
use crate::sorted::SortedSet;
use crate::state_sync::StateSync;
use crate::stats::Stats;
use crate::sync::SyncPace;
use crate::time::Instant;
use crate::wire::{self, DecodeError, Intent, Message};

/// Why `handle_message` refused its input. In every case the node's state is untouched
/// (apart from the counter in [`Stats`] that records the refusal).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The bytes did not decode; state untouched.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The sender has no connection known to this node; message ignored, state untouched.
    #[error("message from {0}, which has no connection to this node (ignored, state untouched)")]
    UnknownPeer(PeerId),
    /// The node has left the group and takes no more input; state untouched.
    #[error("this node has left the group (input ignored, state untouched)")]
    Left,
    /// Bytes given to [`Node::handle_farewell`] that decode but are not one signed leaving
    /// record; ignored, state untouched.
    #[error("not a farewell (one signed record of a member leaving); ignored, state untouched")]
    NotAFarewell,
    /// A farewell whose signature does not verify for the member it names; ignored, state
    /// untouched.
    #[error("farewell with a bad signature; ignored, state untouched")]
    BadSignature,
    /// Bytes given to [`Node::handle_member_snapshot`] that decode but are not a list of
    /// member records; ignored, state untouched.
    #[error("not a member snapshot (a list of member records); ignored, state untouched")]
    NotASnapshot,
}

/// Why a command was refused. In every case the node's state is untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The node has left; create a new one to rejoin.
    #[error("this node has left the group; create a new node to join again (nothing changed)")]
    Left,
    /// The metadata would break a limit in [`crate::Limits`].
    #[error("metadata refused: {0} (nothing changed)")]
    MetaLimit(&'static str),
    /// The payload is larger than `BroadcastConfig::max_payload`; nothing was sent.
    #[error("payload of {size} bytes exceeds the maximum of {max} bytes; nothing was sent")]
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The topic name is empty, too long, or one too many.
    #[error("topic refused: {0} (nothing changed)")]
    TopicInvalid(&'static str),
    /// No live member with this id is known; nothing was sent.
    #[error("no live member {0} is known; nothing was sent")]
    UnknownMember(PeerId),
    /// A direct message or request to this node itself; nothing was sent.
    #[error("a direct message needs another member as its target; nothing was sent")]
    NotToSelf,
    /// Too many sends and requests are waiting for an answer; nothing was sent.
    #[error(
        "{0} direct messages are already waiting for an answer; nothing was sent, retry later"
    )]
    TooManyPending(usize),
}

/// The state of one connection this node knows about.
#[derive(Debug, Clone)]
pub(crate) enum Link {
    /// We asked the driver to dial. `probe` dials check a member nobody else watches:
    /// their failure is evidence that the member is dead.
    Dialing {
        intent: Intent,
        deadline: Instant,
        probe: bool,
    },
    /// Inbound connection; waiting for the dialer's `Hello`.
    AwaitHello { deadline: Instant },
    /// We dialed, sent `Hello`, and wait for `Welcome`.
    AwaitWelcome { intent: Intent, deadline: Instant },
    /// An active-view neighbor.
    Active(Neighbor),
    /// Closed on purpose: its close must not be taken as a failure.
    Closing { deadline: Instant },
}

/// Book-keeping for one active neighbor.
#[derive(Debug, Clone)]
pub(crate) struct Neighbor {
    pub last_heard: Instant,
    /// The longest silence this neighbor kept lately before it was heard again (decays;
    /// see `MembershipConfig::neighbor_timeout_max`).
    pub slowest: Duration,
    pub last_ping: Option<Instant>,
    pub view: Vec<PeerId>,
}

/// Periodic timers; suspicion deadlines live in the member table.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    pub tick: Instant,
    pub sync: Instant,
    pub shuffle: Instant,
    pub heal: Instant,
    pub state_sync: Instant,
    pub join_retry: Option<Instant>,
    pub ticks: u64,
    /// No low-priority Neighbor request before this (see `OverlayConfig::fill_backoff_min`).
    pub fill: Instant,
    /// The pause after the next refused Neighbor request.
    pub fill_wait: Duration,
    /// Neighbor requests refused in a row since the active view last changed.
    pub fill_refusals: u32,
    /// The last low-priority filling attempt was a `FindSlot` walk (the next one dials).
    pub fill_walked: bool,
    /// Our last lost neighbor evicted us, or our last Neighbor request was refused (and no
    /// neighbor or dial failed since): filling starts with `FindSlot` walks.
    pub crowded: bool,
    /// No low-priority Neighbor request before this: our Join was just accepted, and the
    /// walks it started are still bringing neighbors (`OverlayConfig::join_fill_delay`).
    pub join_fill: Instant,
}

/// One member of a Rumor group: overlay, membership and failure detection in one
/// deterministic, sans-IO state machine.
///
/// Feed it bytes, connection events and timeouts; after every call drain
/// [`Node::poll_output`] until it returns [`Output::Timeout`] (or `None` once left).
pub struct Node {
    pub(crate) identity: Identity,
    pub(crate) me: PeerId,
    pub(crate) config: Config,
    pub(crate) rng: Box<dyn Random>,
    pub(crate) verifier: Box<dyn Verify>,
    pub(crate) own: Record,
    pub(crate) members: Members,
    pub(crate) links: LiteMap<PeerId, Link>,
    pub(crate) passive: SortedSet<PeerId>,
    pub(crate) repair: VecDeque<PeerId>,
    pub(crate) seeds: Vec<PeerId>,
    pub(crate) next_seed: usize,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) push: Vec<(Entry, Option<PeerId>)>,
    pub(crate) timers: Timers,
    pub(crate) sync_pace: SyncPace,
    pub(crate) views_dirty: bool,
    pub(crate) nonce: u32,
    pub(crate) left: bool,
    pub(crate) stats: Stats,
    pub(crate) broadcast: Broadcast,
    pub(crate) direct: Direct,
    pub(crate) state_sync: Option<Box<dyn StateSync>>,
    pub(crate) candidates: SortedSet<PeerId>,
    pub(crate) leader: Option<PeerId>,
    /// The record version of the last farewell [`Node::poll_will`] handed out, and when.
    pub(crate) will: Option<((u64, u64), Instant)>,
}

impl Node {
    /// A node with `identity`, tuned by `config`, whose random choices come from `seed`.
    /// It knows only itself until [`Node::join`] or an inbound connection.
    pub fn new(identity: Identity, config: Config, seed: u64, now: Instant) -> Self {
        Self::with_random(
            identity,
            config,
            Box::new(ChaCha8Rng::seed_from_u64(seed)),
            now,
        )
    }

    /// A node like [`Node::new`] whose random choices come from `rng` instead of a
    /// generator seeded here.
    pub fn with_random(
        identity: Identity,
        config: Config,
        mut rng: Box<dyn Random>,
        now: Instant,
    ) -> Self {
        let me = identity.id();
        let own = Record {
            id: me,
            incarnation: 0,
            version: 1,
            meta: crate::record::MetaMap::new(),
            topics: crate::record::TopicSet::new(),
            leaving: false,
        };
        let jitter = |rng: &mut Box<dyn Random>, d: Duration| {
            Duration::from_millis(rng.next_u64() % (d.as_millis() as u64).max(1))
        };
        let m = &config.membership;
        let o = &config.overlay;
        let timers = Timers {
            tick: now + m.tick_interval,
            sync: now + jitter(&mut rng, m.sync_interval),
            shuffle: now + o.shuffle_interval + jitter(&mut rng, o.shuffle_interval),
            heal: now + o.heal_interval + jitter(&mut rng, o.heal_interval),
            state_sync: now + jitter(&mut rng, config.state_sync.interval),
            join_retry: None,
            ticks: 0,
            fill: now,
            fill_wait: o.fill_backoff_min,
            fill_refusals: 0,
            fill_walked: false,
            crowded: false,
            join_fill: Instant::ZERO,
        };
        let mut node = Node {
            me,
            config,
            rng,
            verifier: Box::new(Ed25519),
            own,
            members: Members::default(),
            links: LiteMap::new(),
            passive: SortedSet::new(),
            repair: VecDeque::new(),
            seeds: Vec::new(),
            next_seed: 0,
            outputs: VecDeque::new(),
            push: Vec::new(),
            timers,
            sync_pace: SyncPace::default(),
            views_dirty: false,
            nonce: 0,
            left: false,
            stats: Stats::default(),
            broadcast: Broadcast::default(),
            direct: Direct::default(),
            state_sync: None,
            candidates: SortedSet::new(),
            leader: None,
            will: None,
            identity,
        };
        // Sequence numbers start at a random point, so that a restarted node with the same
        // identity does not reuse ids its peers still remember as seen.
        let start = node.rng.next_u64() >> 20;
        node.broadcast.start_seq(start);
        let start = node.rng.next_u64();
        node.direct.start_ids(start);
        node.broadcast
            .subscriptions
            .insert(String::from(crate::broadcast::DEFAULT_TOPIC), None);
        let pull = node.config.broadcast.pull_interval;
        let j = jitter(&mut node.rng, pull);
        node.broadcast.pull_at = Some(now + pull + j);
        let entry = node.own_entry();
        node.members.set_own(entry, now);
        node
    }

    /// Replaces the signature checker (the default is strict ed25519).
    pub fn set_verifier(&mut self, verifier: Box<dyn Verify>) {
        self.verifier = verifier;
    }

    /// This node's id.
    pub fn id(&self) -> PeerId {
        self.me
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of what the node did and refused.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// True once [`Node::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// Every member this node knows, itself included, with failed and left ones until
    /// their tombstones are collected.
    pub fn members(&self) -> Vec<Member> {
        self.members.members().collect()
    }

    /// One member, if known.
    pub fn member(&self, id: &PeerId) -> Option<Member> {
        self.members.member(id)
    }

    /// The active view: peers this node holds a connection to as neighbors.
    pub fn neighbors(&self) -> Vec<PeerId> {
        self.links
            .iter()
            .filter(|(_, l)| matches!(l, Link::Active(_)))
            .map(|(p, _)| *p)
            .collect()
    }

    /// The passive view: known peers kept as replacements for failed neighbors.
    pub fn passive_view(&self) -> Vec<PeerId> {
        self.passive.iter().copied().collect()
    }

    // ---- commands ----

    /// Enters the group through `seeds` (tried in order, retried while there is no neighbor).
    /// With no seeds the node waits for others to connect to it (it is the first member).
    pub fn join(&mut self, seeds: Vec<PeerId>, now: Instant) {
        if self.left {
            return;
        }
        self.seeds = seeds.into_iter().filter(|s| *s != self.me).collect();
        self.next_seed = 0;
        self.try_seed(now);
    }

    /// Sets one metadata key on this node's record and spreads it.
    pub fn set_meta(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        now: Instant,
    ) -> Result<(), CommandError> {
        let (key, value) = (key.into(), value.into());
        if self.left {
            return Err(CommandError::Left);
        }
        let l = &self.config.limits;
        if key.len() > l.max_meta_key_len {
            return Err(CommandError::MetaLimit("key too long"));
        }
        if value.len() > l.max_meta_value_len {
            return Err(CommandError::MetaLimit("value too long"));
        }
        if !self.own.meta.contains_key(&key) && self.own.meta.len() >= l.max_meta_keys {
            return Err(CommandError::MetaLimit("too many keys"));
        }
        if self.own.meta.get(&key).is_some_and(|m| m.value == value) {
            return Ok(());
        }
        let mut next = self.own.clone();
        next.version = next.version.saturating_add(1);
        let version = next.version;
        next.meta.insert(key, MetaEntry { value, version });
        if postcard::to_allocvec(&next).map_or(usize::MAX, |b| b.len()) > l.max_record_size {
            return Err(CommandError::MetaLimit(
                "record would exceed max_record_size",
            ));
        }
        self.own = next;
        self.publish_own(now);
        self.leader_refresh();
        self.flush_push();
        Ok(())
    }

    /// Leaves gracefully: tells the neighbors, hangs up, and stops. Other members see
    /// `MemberLeft`. The node takes no input afterwards.
    pub fn leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.own.leaving = true;
        self.own.version = self.own.version.saturating_add(1);
        self.publish_own(now);
        self.flush_push();
        for peer in self.neighbors() {
            self.transmit(peer, &Message::Disconnect { leaving: true });
        }
        let peers: Vec<PeerId> = self.links.keys().copied().collect();
        for peer in peers {
            self.outputs.push_back(Output::Hangup(peer));
        }
        self.links.clear();
        self.left = true;
    }

    // ---- inputs ----

    /// Bytes arrived from `from` over its connection. `Err` means nothing changed.
    pub fn handle_message(
        &mut self,
        from: PeerId,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), HandleError> {
        if self.left {
            return Err(HandleError::Left);
        }
        if !self.links.contains_key(&from) {
            self.stats.unknown_peer += 1;
            return Err(HandleError::UnknownPeer(from));
        }
        let msg = match wire::decode(bytes, self.config.limits.max_message_size) {
            Ok(m) => m,
            Err(e) => {
                self.stats.decode_errors += 1;
                return Err(e.into());
            }
        };
        self.stats.messages_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        self.on_message(from, msg, now);
        self.flush_push();
        Ok(())
    }

    /// The connection to `peer` is open (whichever side dialed).
    pub fn handle_connected(&mut self, peer: PeerId, now: Instant) {
        if !self.left {
            self.on_connected(peer, now);
            self.flush_push();
        }
    }

    /// The connection to `peer` closed or failed.
    pub fn handle_disconnected(&mut self, peer: PeerId, now: Instant) {
        if !self.left {
            self.on_disconnected(peer, now);
            self.flush_push();
        }
    }

    /// `peer` opened a new connection that replaced the open one the driver held (it
    /// restarted, or gave up on the old one): the old link is dropped as after a graceful
    /// `Disconnect`, without suspecting the peer, which has just shown it is alive. The new
    /// connection is reported with [`Node::handle_connected`] when it opens.
    pub fn handle_replaced(&mut self, peer: PeerId, now: Instant) {
        if !self.left {
            self.on_replaced(peer, now);
            self.flush_push();
        }
    }

    /// A dial to `peer` could not be completed.
    pub fn handle_dial_failed(&mut self, peer: PeerId, now: Instant) {
        if !self.left {
            self.on_dial_failed(peer, now);
            self.flush_push();
        }
    }

    /// The timer armed from [`Output::Timeout`] fired. Early or spurious calls are harmless;
    /// a very late call makes the node doubt itself rather than accuse its neighbors.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.left {
            return;
        }
        if now >= self.timers.tick {
            let late = now.saturating_since(self.timers.tick);
            if late >= self.config.membership.stall_threshold {
                self.on_stall(late, now);
            }
            self.timers.tick =
                next_period(self.timers.tick, self.config.membership.tick_interval, now);
            self.timers.ticks += 1;
            self.on_tick(now);
        }
        if now >= self.timers.sync {
            self.timers.sync =
                next_period(self.timers.sync, self.config.membership.sync_interval, now);
            self.start_sync(now);
        }
        if now >= self.timers.shuffle {
            self.timers.shuffle = next_period(
                self.timers.shuffle,
                self.config.overlay.shuffle_interval,
                now,
            );
            self.start_shuffle();
        }
        if now >= self.timers.heal {
            self.timers.heal =
                next_period(self.timers.heal, self.config.overlay.heal_interval, now);
            self.try_heal(now);
        }
        if self.timers.join_retry.is_some_and(|t| now >= t) {
            self.timers.join_retry = None;
            self.try_seed(now);
        }
        if self.broadcast.pull_at.is_some_and(|t| now >= t) {
            self.pull(now);
        }
        if now >= self.timers.state_sync {
            self.timers.state_sync =
                next_period(self.timers.state_sync, self.config.state_sync.interval, now);
            self.state_sync_tick();
        }
        self.expire_direct(now);
        self.expire_held(now);
        self.expire_grafts(now);
        self.expire_suspicions(now);
        self.flush_push();
    }

    /// The next output: transmissions, dials, hangups and events in order, then one
    /// [`Output::Timeout`]. Returns `None` only after [`Node::leave`], once drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.outputs.pop_front() {
            return Some(o);
        }
        if self.left {
            return None;
        }
        Some(Output::Timeout(self.next_deadline()))
    }

    fn next_deadline(&self) -> Instant {
        let t = &self.timers;
        let mut d = t
            .tick
            .min(t.sync)
            .min(t.shuffle)
            .min(t.heal)
            .min(t.state_sync);
        if let Some(j) = t.join_retry {
            d = d.min(j);
        }
        if let Some(s) = self.members.next_deadline() {
            d = d.min(s);
        }
        if let Some(b) = self.broadcast.next_deadline() {
            d = d.min(b);
        }
        if let Some(r) = self.direct.next_deadline() {
            d = d.min(r);
        }
        d
    }

    // ---- shared helpers for the protocol modules ----

    fn on_message(&mut self, from: PeerId, msg: Message, now: Instant) {
        if let Some(Link::Active(n)) = self.links.get_mut(&from) {
            n.slowest = n.slowest.max(now.saturating_since(n.last_heard));
            n.last_heard = now;
        }
        match msg {
            Message::Hello { intent } => self.on_hello(from, intent, now),
            Message::Welcome { accepted } => self.on_welcome(from, accepted, now),
            other => {
                if !matches!(self.links.get(&from), Some(Link::Active(_))) {
                    self.stats.unexpected_messages += 1;
                    return;
                }
                match other {
                    Message::ForwardJoin { joiner, ttl } => {
                        self.on_forward_join(from, joiner, ttl, now)
                    }
                    Message::Disconnect { leaving } => self.on_disconnect(from, leaving, now),
                    Message::Shuffle { path, ttl, peers } => {
                        self.on_shuffle(from, path, ttl, peers)
                    }
                    Message::ShuffleReply { route, peers } => self.on_shuffle_reply(route, peers),
                    Message::Views { active } => self.on_views(from, active),
                    Message::Ping { nonce } => self.transmit(from, &Message::Pong { nonce }),
                    Message::Pong { .. } => {}
                    Message::Update { entries } => {
                        for e in entries {
                            self.ingest(e, Some(from), now);
                        }
                    }
                    Message::SyncRoot { hash, count } => self.on_sync_root(from, hash, count),
                    Message::SyncBuckets { hashes } => self.on_sync_buckets(from, hashes),
                    Message::SyncDigest { buckets, digests } => {
                        self.on_sync_digest(from, buckets, digests)
                    }
                    Message::SyncDelta { entries, want } => {
                        self.on_sync_delta(from, entries, want, now)
                    }
                    Message::Gossip(g) => self.on_gossip(from, g, now),
                    Message::IHave { ids } => self.on_ihave(from, ids, now),
                    Message::Graft { ids } => self.on_graft(from, ids),
                    Message::Prune { origin } => self.on_prune(from, origin),
                    Message::Adopt { origin } => self.on_adopt(from, origin),
                    Message::HistoryRequest { topic, max_age_ms } => {
                        self.on_history_request(from, topic, max_age_ms, now)
                    }
                    Message::History { messages } => self.on_history(messages, now),
                    Message::Routed(r) => self.on_routed(from, r, now),
                    Message::StatePull { data } => self.on_state_pull(from, data),
                    Message::StatePush { data } => self.on_state_push(from, data, now),
                    Message::FindSlot { seeker, ttl } => self.on_find_slot(from, seeker, ttl, now),
                    Message::Evict { successor } => self.on_evict(from, successor, now),
                    Message::Hello { .. } | Message::Welcome { .. } => {
                        unreachable!("handled above")
                    }
                }
            }
        }
    }

    /// Queues one message for `to`.
    pub(crate) fn transmit(&mut self, to: PeerId, msg: &Message) {
        let bytes = wire::encode(msg);
        if self.outputs.len() >= self.config.limits.max_queued_outputs {
            self.stats.dropped_outputs += 1;
            return;
        }
        self.stats.messages_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        self.outputs.push_back(Output::Transmit { to, bytes });
    }

    /// `peer` stopped being an active neighbor (its link is already updated).
    pub(crate) fn neighbor_gone(&mut self, peer: PeerId) {
        self.views_dirty = true;
        self.reset_fill_backoff();
        self.broadcast_neighbor_down(&peer);
        self.emit(Event::NeighborDown(peer));
    }

    /// Queues an event for the application.
    pub(crate) fn emit(&mut self, event: Event) {
        let member_event = matches!(
            event,
            Event::MemberJoined(_)
                | Event::MemberUpdated { .. }
                | Event::MemberLeft(_)
                | Event::MemberFailed(_)
        );
        if member_event {
            self.leader_track(&event);
            // The leader change is reported after the member event that caused it.
            if let Some(Output::Event(Event::LeaderChanged(_))) = self.outputs.back() {
                let change = self.outputs.pop_back();
                self.outputs.push_back(Output::Event(event));
                self.outputs.extend(change);
                return;
            }
        }
        self.outputs.push_back(Output::Event(event));
    }

    /// A uniformly random index below `n` (`n > 0`).
    pub(crate) fn random_index(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    /// A uniformly random element of `items`.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.random_index(items.len())])
        }
    }

    /// This node's current entry, freshly signed.
    pub(crate) fn own_entry(&self) -> Entry {
        Entry {
            signed: Arc::new(SignedRecord::sign(self.own.clone(), &self.identity)),
            claim: Claim::Alive,
        }
    }

    /// Re-signs this node's record, stores it, and pushes it to every neighbor.
    pub(crate) fn publish_own(&mut self, now: Instant) {
        let entry = self.own_entry();
        self.members.set_own(entry.clone(), now);
        self.push.push((entry, None));
    }

    pub(crate) fn suspicion_times(&self) -> SuspicionTimes {
        let m = &self.config.membership;
        SuspicionTimes {
            min: m.suspicion_min,
            max: m.suspicion_max,
            confirmations: m.suspicion_confirmations,
        }
    }
}

/// The next deadline of a periodic timer: one period after the last, or after `now`
/// when the timer fell behind (missed periods are skipped, not replayed).
fn next_period(last: Instant, period: Duration, now: Instant) -> Instant {
    let next = last + period;
    if next > now {
        next
    } else {
        now + period
    }
}

/// For unit tests: a node with the identity made from `secret` (also its seed), default
/// config, joined at time zero with no seeds (the first member of its own group).
#[cfg(test)]
pub(crate) fn joined_test_node(secret: u8) -> Node {
    let mut n = Node::new(
        crate::Identity::from_secret([secret; 32]),
        Config::default(),
        secret.into(),
        Instant::ZERO,
    );
    n.join(alloc::vec![], Instant::ZERO);
    n
}
