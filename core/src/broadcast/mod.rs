//! Plumtree broadcast over the active view, with topics, chunking, pull repair and history.
//!
//! Eager push along a spanning tree, lazy IHave announcements to the other neighbors,
//! Graft when an announced message does not arrive in time, Prune on duplicates. A
//! periodic pull offers a neighbor the recent ids it is not known to hold, so messages lost
//! to churn, loss or a partition are recovered. Messages are kept in a bounded cache that
//! also serves history requests. Payloads larger than one frame travel as chunks, each an
//! ordinary broadcast message, and are reassembled before delivery.

mod cache;
mod stagger;
mod store;
mod topics;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use litemap::LiteMap;

use crate::identity::PeerId;
use crate::node::{Link, Node};
use crate::sorted::{insert_all, SortedSet};
use crate::time::Instant;
use crate::wire::{Gossip, Message, MsgId};

/// Room left in a frame for the message header and topic.
/// The topic every node is subscribed to from the start, without listing it in its record:
/// [`Node::broadcast`] publishes on it, so every other member gets the payload as an
/// `Event::Message`. `unsubscribe(DEFAULT_TOPIC)` opts out.
pub const DEFAULT_TOPIC: &str = "_all";

const CHUNK_OVERHEAD: usize = 512;
/// Ids accepted in one IHave or Graft.
const MAX_IDS_PER_MESSAGE: usize = 1024;
/// Encoded size of one announced id at most (32-byte origin, varint seq, varint round).
const ID_SIZE: usize = 32 + 10 + 3;

struct Cached {
    gossip: Gossip,
    at: Instant,
    /// The tree parent it came from (`None` when published here or recovered from history).
    parent: Option<PeerId>,
    /// Handed to the application (false while this node was not subscribed to its topic).
    delivered: bool,
}

struct Missing {
    announcers: VecDeque<PeerId>,
    /// The announcer offering the fewest hops, and that hop count: if the message then
    /// arrives over a longer tree path, the tree is rewired through it.
    nearest: (PeerId, u16),
    deadline: Instant,
    /// Grafts still allowed for it (`graft_attempts` at first).
    grafts_left: u32,
}

struct Partial {
    topic: String,
    count: u16,
    parts: LiteMap<u16, Vec<u8>>,
    hops: u16,
    started: Instant,
}

/// Which neighbors get messages eagerly (tree links) and which only announcements.
#[derive(Default, Clone)]
struct PushSets {
    eager: SortedSet<PeerId>,
    lazy: SortedSet<PeerId>,
    last_used: u64,
    /// The neighbor the latest message came by first, or the one switched to: the tree's
    /// current parent (`None` at the origin or after that neighbor went down).
    parent: Option<PeerId>,
    /// The old parent while a switch to `parent` is under way. The old parent is already
    /// pruned; the switch ends with the new parent's first copy.
    switched_from: Option<PeerId>,
    /// The round the latest message by `parent` came with (or the round `parent`
    /// announced when we switched to it): how long the current path is. An older message's
    /// round can be longer, if the path has shortened since.
    depth: Option<u16>,
    /// When this node got the tree's first message (`None` for a tree started otherwise,
    /// e.g. by a Prune): for `fresh_tree_window` after it the tree counts as young.
    born: Option<Instant>,
}

impl PushSets {
    fn make_eager(&mut self, p: PeerId) {
        self.lazy.remove(&p);
        self.eager.insert(p);
    }
    fn make_lazy(&mut self, p: PeerId) {
        self.eager.remove(&p);
        self.lazy.insert(p);
    }
    /// The new parent while a switch is under way.
    fn switching_to(&self) -> Option<PeerId> {
        self.switched_from.and(self.parent)
    }
}

/// Origins with a tree of their own, at most; the least recently used is dropped and
/// starts afresh when its origin sends again.
const MAX_ORIGIN_TREES: usize = 256;
/// Copies held back at once, at most (see [`Node::goes_first`]); past it they go at once.
const MAX_HELD: usize = 4_096;

/// Sizes of the broadcast layer's bounded stores, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BroadcastSizes {
    /// Message ids remembered for deduplication.
    pub seen: usize,
    /// Messages cached for grafts, pulls and history.
    pub cached: usize,
    /// Payload bytes in that cache.
    pub cached_bytes: usize,
    /// Announced messages being waited for.
    pub missing: usize,
    /// Ids tracked as held by neighbors (for pull), summed over neighbors.
    pub known_ids: usize,
    /// Chunked payloads being reassembled.
    pub reassemblies: usize,
    /// Origins with a tree of their own.
    pub trees: usize,
    /// Copies held back while trees are young (staggered forwarding).
    pub held: usize,
}

/// Plumtree state.
///
/// Each origin has a tree of its own. A new origin's tree starts with
/// `fresh_tree_fanout` random neighbors eager and the others lazy (by default all eager,
/// so its first message floods; with fewer it spreads as a bounded-fanout epidemic whose
/// gaps announcements and grafts fill); duplicates prune it to a spanning tree and the
/// optimization step shortens its paths. Separate trees keep shortening paths for one
/// sender from lengthening them for another.
#[derive(Default)]
pub(crate) struct Broadcast {
    seq: u64,
    /// The active neighbors, kept in step with the overlay.
    neighbors: SortedSet<PeerId>,
    trees: LiteMap<PeerId, PushSets>,
    uses: u64,
    seen: BTreeMap<MsgId, Instant>,
    seen_order: VecDeque<(Instant, MsgId)>,
    cache: cache::Cache,
    cache_order: VecDeque<MsgId>,
    cache_bytes: usize,
    by_topic: LiteMap<String, VecDeque<MsgId>>,
    missing: LiteMap<MsgId, Missing>,
    graft_timers: SortedSet<(Instant, MsgId)>,
    ihave_queue: LiteMap<PeerId, Vec<(MsgId, u16)>>,
    /// Per neighbor, the cached ids it is known to hold (at most `cache_capacity` each). A
    /// sorted vector: at the default 4,096 an insert and a removal cost about 2.7 µs
    /// natively against a B-tree's 0.2 µs (docs/benchmarks.md), for 2.3 KB (gzip) less
    /// code in the browser package.
    known: LiteMap<PeerId, SortedSet<MsgId>>,
    partials: LiteMap<(PeerId, u64), Partial>,
    /// Copies held back from a neighbor while a tree is young (see [`Node::goes_first`]),
    /// in deadline order: each is sent when due unless the neighbor's own copy or
    /// announcement comes first.
    held: VecDeque<(Instant, PeerId, MsgId)>,
    pub(crate) subscriptions: LiteMap<String, Option<Instant>>,
    pub(crate) pull_at: Option<Instant>,
}

impl Broadcast {
    /// Sets where this node's sequence numbers start.
    pub(crate) fn start_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let graft = self.graft_timers.first().map(|(t, _)| *t);
        let held = self.held.front().map(|(t, _, _)| *t);
        [graft, self.pull_at, held].into_iter().flatten().min()
    }
}

impl Node {
    /// Ids that fit in one IHave or Graft frame.
    fn ids_per_frame(&self) -> usize {
        (self.config.limits.max_message_size.saturating_sub(16) / ID_SIZE)
            .clamp(1, MAX_IDS_PER_MESSAGE)
    }

    // ---- tree maintenance ----

    /// The push sets for messages from `origin`; a new origin's tree is started with
    /// `parent` (the neighbor its first message came from, if any) and
    /// `fresh_tree_fanout` random other neighbors (by default all) eager.
    fn tree(&mut self, origin: PeerId, parent: Option<PeerId>) -> &mut PushSets {
        self.broadcast.uses += 1;
        let uses = self.broadcast.uses;
        if !self.broadcast.trees.contains_key(&origin) {
            let fresh = self.fresh_tree(parent);
            let trees = &mut self.broadcast.trees;
            if trees.len() >= MAX_ORIGIN_TREES {
                let oldest = trees
                    .iter()
                    .min_by_key(|(_, t)| t.last_used)
                    .map(|(o, _)| *o);
                if let Some(o) = oldest {
                    trees.remove(&o);
                }
            }
            trees.insert(origin, fresh);
        }
        let t = self
            .broadcast
            .trees
            .get_mut(&origin)
            .expect("inserted above");
        t.last_used = uses;
        t
    }

    /// Push sets for a new origin: `parent` and `fresh_tree_fanout` random other neighbors
    /// eager, the rest lazy.
    fn fresh_tree(&mut self, parent: Option<PeerId>) -> PushSets {
        let mut others: Vec<PeerId> = self
            .broadcast
            .neighbors
            .iter()
            .copied()
            .filter(|p| Some(*p) != parent)
            .collect();
        let fanout = self.config.broadcast.fresh_tree_fanout.min(others.len());
        // A partial Fisher-Yates shuffle: the first `fanout` entries are the sample.
        for i in 0..fanout {
            let j = i + self.random_index(others.len() - i);
            others.swap(i, j);
        }
        let mut sets = PushSets {
            eager: insert_all(others[..fanout].iter().copied()),
            lazy: insert_all(others[fanout..].iter().copied()),
            last_used: 0,
            parent: None,
            switched_from: None,
            depth: None,
            born: None,
        };
        if let Some(p) = parent {
            sets.make_eager(p);
        }
        sets
    }

    pub(crate) fn broadcast_neighbor_up(&mut self, peer: PeerId) {
        let b = &mut self.broadcast;
        b.neighbors.insert(peer);
        for (_, sets) in b.trees.iter_mut() {
            sets.make_eager(peer);
        }
    }

    pub(crate) fn broadcast_neighbor_down(&mut self, peer: &PeerId) {
        let b = &mut self.broadcast;
        b.neighbors.remove(peer);
        for (_, sets) in b.trees.iter_mut() {
            sets.eager.remove(peer);
            sets.lazy.remove(peer);
            // A switch ends when either end of it goes down.
            if sets.parent == Some(*peer) {
                sets.parent = None;
                sets.switched_from = None;
                sets.depth = None;
            }
            if sets.switched_from == Some(*peer) {
                sets.switched_from = None;
            }
        }
        b.known.remove(peer);
        b.ihave_queue.remove(peer);
        b.held.retain(|(_, p, _)| p != peer);
        for (_, m) in b.missing.iter_mut() {
            m.announcers.retain(|p| p != peer);
        }
    }

    /// Sends `gossip` on along the tree: eagerly to eager peers, as an IHave to lazy ones.
    /// `young` is the time now when the tree is young (see [`Node::goes_first`]): eager
    /// copies to the neighbors for which this end does not go first are then held back.
    fn forward(&mut self, gossip: Gossip, from: Option<PeerId>, young: Option<Instant>) {
        let sets = self.tree(gossip.id.origin, from);
        // Not to a parent being switched to: the copy would be a duplicate there and it
        // would prune us just as we prune the old parent.
        let switching_to = sets.switching_to();
        let eager: Vec<PeerId> = sets
            .eager
            .iter()
            .copied()
            .filter(|p| Some(*p) != from && Some(*p) != switching_to)
            .collect();
        let lazy: Vec<PeerId> = sets
            .lazy
            .iter()
            .copied()
            .filter(|p| Some(*p) != from)
            .collect();
        let next = Gossip {
            round: gossip.round.saturating_add(1),
            ..gossip
        };
        // Sending is no evidence that the peer holds the message (the copy may be lost);
        // only what the peer itself says is. Pull repair offers the rest once.
        for p in &lazy {
            self.broadcast
                .ihave_queue
                .entry(*p)
                .or_default()
                .push((next.id, next.round));
        }
        let stagger = self.config.broadcast.fresh_tree_stagger;
        for p in eager {
            match young {
                Some(now)
                    if !stagger.is_zero()
                        && self.broadcast.held.len() < MAX_HELD
                        && !self.goes_first(next.id.origin, p) =>
                {
                    self.broadcast.held.push_back((now + stagger, p, next.id));
                }
                _ => self.transmit(p, &Message::Gossip(next.clone())),
            }
        }
    }

    /// Records that `peer` holds `id`. Only ids in our cache are tracked (the only ones
    /// pull could offer), so announcements of unknown ids cannot grow this without bound.
    fn know(&mut self, peer: PeerId, id: MsgId) {
        if self.broadcast.cache.contains_key(&id)
            && matches!(self.links.get(&peer), Some(Link::Active(_)))
        {
            self.broadcast.known.entry(peer).or_default().insert(id);
        }
    }

    /// Sends the IHave announcements queued during this call.
    pub(crate) fn flush_ihave(&mut self) {
        let queue = core::mem::take(&mut self.broadcast.ihave_queue);
        let per_frame = self.ids_per_frame();
        for (peer, ids) in queue {
            for chunk in ids.chunks(per_frame) {
                self.transmit(
                    peer,
                    &Message::IHave {
                        ids: chunk.to_vec(),
                    },
                );
            }
        }
    }

    // ---- inputs ----

    pub(crate) fn on_gossip(&mut self, from: PeerId, gossip: Gossip, now: Instant) {
        if !self.valid_gossip(&gossip) {
            self.stats.bad_broadcast_messages += 1;
            return;
        }
        self.stats.gossip_received += 1;
        // Our own message coming back is just a duplicate.
        if gossip.id.origin == self.me || self.broadcast.seen.contains_key(&gossip.id) {
            self.know(from, gossip.id);
            self.drop_held(from, gossip.id);
            self.stats.gossip_duplicates += 1;
            // The first copy from a parent being switched to completes the switch; this
            // message's path now runs through it too (it came first from the old parent).
            if self.finish_switch(gossip.id.origin, from, gossip.round) {
                if let Some(c) = self.broadcast.cache.get_mut(&gossip.id) {
                    c.parent = Some(from);
                    c.gossip.round = gossip.round;
                }
                return;
            }
            let origin = gossip.id.origin;
            self.tree(origin, None).make_lazy(from);
            self.transmit(from, &Message::Prune { origin });
            return;
        }
        let window = self.config.broadcast.fresh_tree_window;
        let young = match self.broadcast.trees.get(&gossip.id.origin) {
            None => true,
            Some(t) => t.born.is_some_and(|b| now < b + window),
        };
        // The link that delivered first belongs to the tree (but not a parent just pruned
        // for a shorter path: its copy was already under way).
        let tree = self.tree(gossip.id.origin, Some(from));
        if tree.born.is_none() && young {
            tree.born = Some(now);
        }
        if tree.switched_from != Some(from) {
            tree.make_eager(from);
        }
        if tree.switched_from.is_none() {
            tree.parent = Some(from);
        }
        if tree.parent == Some(from) {
            tree.depth = Some(gossip.round);
        }
        self.finish_switch(gossip.id.origin, from, gossip.round);
        let announced = self.broadcast.missing.get(&gossip.id).map(|m| m.nearest);
        let id = gossip.id;
        self.accept(gossip.clone(), Some(from), now);
        self.know(from, id);
        self.forward(gossip, Some(from), young.then_some(now));
        // An announcement that came before the copy may show a shorter path (a lazy
        // neighbor near the origin often announces before the tree delivers).
        if let Some((peer, round)) = announced {
            self.rewire(peer, id, round);
        }
    }

    fn valid_gossip(&self, g: &Gossip) -> bool {
        let max_parts = self
            .config
            .broadcast
            .max_payload
            .div_ceil(self.chunk_size())
            + 1;
        g.topic.len() <= self.config.limits.max_topic_len
            && !g.topic.is_empty()
            && g.data.len() <= self.chunk_size().max(self.config.limits.max_message_size)
            && g.part.is_none_or(|p| {
                p.count >= 2
                    && (p.count as usize) <= max_parts
                    && p.index < p.count
                    && p.first.checked_add(p.index as u64) == Some(g.id.seq)
            })
    }

    /// A message seen for the first time: remember it, cache it, deliver it if subscribed.
    fn accept(&mut self, gossip: Gossip, parent: Option<PeerId>, now: Instant) {
        self.mark_seen(gossip.id, now);
        if let Some(m) = self.broadcast.missing.remove(&gossip.id) {
            self.broadcast.graft_timers.remove(&(m.deadline, gossip.id));
        }
        self.cache_insert(gossip.clone(), parent, now);
        self.deliver(gossip, now);
    }

    pub(crate) fn on_ihave(&mut self, from: PeerId, ids: Vec<(MsgId, u16)>, now: Instant) {
        if ids.len() > MAX_IDS_PER_MESSAGE {
            self.stats.bad_broadcast_messages += 1;
            return;
        }
        let timeout = self.config.broadcast.graft_timeout;
        for (id, round) in ids {
            self.know(from, id);
            if self.broadcast.seen.contains_key(&id) || id.origin == self.me {
                // An announcement: `from` holds it and has this link lazy.
                if self.drop_held(from, id) {
                    self.tree(id.origin, None).make_lazy(from);
                }
                self.rewire(from, id, round);
                continue;
            }
            let max_missing = self.config.broadcast.max_missing;
            let max_grafts = self.config.broadcast.graft_attempts;
            let b = &mut self.broadcast;
            // The parent being switched to announced it rather than pushing it (it
            // forwarded before our Adopt came), and the old parent is pruned: no copy is
            // on its way, so graft it from the new parent at once.
            let from_new_parent = b
                .trees
                .get(&id.origin)
                .and_then(PushSets::switching_to)
                .is_some_and(|new| new == from);
            let tracked = b.missing.len();
            match b.missing.get_mut(&id) {
                Some(m) => {
                    if from_new_parent {
                        m.announcers.retain(|p| *p != from);
                        m.announcers.push_front(from);
                        b.graft_timers.remove(&(m.deadline, id));
                        m.deadline = now;
                        b.graft_timers.insert((now, id));
                    } else if !m.announcers.contains(&from) && m.announcers.len() < 8 {
                        m.announcers.push_back(from);
                    }
                    if round < m.nearest.1 {
                        m.nearest = (from, round);
                    }
                }
                None if tracked < max_missing => {
                    let deadline = if from_new_parent { now } else { now + timeout };
                    b.missing.insert(
                        id,
                        Missing {
                            announcers: VecDeque::from([from]),
                            nearest: (from, round),
                            deadline,
                            grafts_left: max_grafts,
                        },
                    );
                    b.graft_timers.insert((deadline, id));
                }
                None => self.stats.ihave_dropped += 1,
            }
        }
    }

    /// Grafts messages that were announced but did not arrive in time.
    pub(crate) fn expire_grafts(&mut self, now: Instant) {
        let mut grafts: LiteMap<PeerId, Vec<MsgId>> = LiteMap::new();
        while let Some(&(t, id)) = self.broadcast.graft_timers.first() {
            if t > now {
                break;
            }
            self.broadcast.graft_timers.pop_first();
            let retry = self.config.broadcast.graft_retry;
            let Some(m) = self.broadcast.missing.get_mut(&id) else {
                continue;
            };
            match m.announcers.pop_front() {
                Some(p) if m.grafts_left > 0 => {
                    m.grafts_left -= 1;
                    m.announcers.push_back(p);
                    grafts.entry(p).or_default().push(id);
                    m.deadline = now + retry;
                    self.broadcast.graft_timers.insert((m.deadline, id));
                }
                _ => {
                    self.broadcast.missing.remove(&id);
                }
            }
        }
        for (peer, ids) in grafts {
            if !matches!(self.links.get(&peer), Some(Link::Active(_))) {
                continue;
            }
            self.stats.grafts += ids.len() as u64;
            for id in &ids {
                self.tree(id.origin, None).make_eager(peer);
            }
            for chunk in ids.chunks(self.ids_per_frame()) {
                let ids = chunk.to_vec();
                self.transmit(peer, &Message::Graft { ids });
            }
        }
    }

    /// Plumtree's optimization: `from` announces message `id` over a path of `round` hops,
    /// at least `optimization_threshold` fewer than the tree path it came by. Ask `from` to
    /// push to us (Adopt) and prune the old parent at once. Until `from`'s first copy
    /// arrives (see [`Node::finish_switch`]) nothing is pushed to `from`, and a copy the
    /// old parent had already sent does not make it eager again. A message already past
    /// `from` but not yet past the old parent (`from` forwarded it before the Adopt came)
    /// is announced by `from`, and [`Node::on_ihave`] grafts it from `from` at once.
    fn rewire(&mut self, from: PeerId, id: MsgId, round: u16) {
        let threshold = self.config.broadcast.optimization_threshold;
        let Some(c) = self.broadcast.cache.get_mut(&id) else {
            return;
        };
        let Some(parent) = c.parent else { return };
        // Only a message that came by the tree's current parent is compared: not one from
        // before the last switch (pull offers announce older messages), nor one during a
        // switch (it may have come by the old parent). And it is compared with the
        // current path's length, the round of the parent's latest message: an older
        // message came by a longer path if the parent has moved closer since.
        let depth = match self.broadcast.trees.get(&id.origin) {
            Some(t) if t.switched_from.is_none() && t.parent == Some(parent) => {
                t.depth.unwrap_or(c.gossip.round)
            }
            _ => return,
        };
        if parent == from
            || depth < round.saturating_add(threshold)
            || !matches!(self.links.get(&from), Some(Link::Active(_)))
        {
            return;
        }
        c.parent = Some(from);
        c.gossip.round = round;
        self.stats.tree_optimizations += 1;
        let origin = id.origin;
        let tree = self.tree(origin, Some(from));
        tree.make_eager(from);
        tree.make_lazy(parent);
        tree.switched_from = Some(parent);
        tree.parent = Some(from);
        tree.depth = Some(round);
        self.transmit(from, &Message::Adopt { origin });
        if matches!(self.links.get(&parent), Some(Link::Active(_))) {
            self.transmit(parent, &Message::Prune { origin });
        }
    }

    /// A copy of a message from `origin` came from `from` with `round`: if `from` is the
    /// parent being switched to, the switch is complete and `round` is the new path's
    /// length. Returns whether it was.
    fn finish_switch(&mut self, origin: PeerId, from: PeerId, round: u16) -> bool {
        // Looked up, not created: an origin with no tree (never seen, or evicted past
        // `MAX_ORIGIN_TREES`) has no switch under way.
        let Some(tree) = self.broadcast.trees.get_mut(&origin) else {
            return false;
        };
        if tree.switching_to() != Some(from) {
            return false;
        }
        tree.switched_from = None;
        tree.depth = Some(round);
        true
    }

    pub(crate) fn on_adopt(&mut self, from: PeerId, origin: PeerId) {
        self.tree(origin, Some(from)).make_eager(from);
    }

    pub(crate) fn on_graft(&mut self, from: PeerId, ids: Vec<MsgId>) {
        if ids.len() > MAX_IDS_PER_MESSAGE {
            self.stats.bad_broadcast_messages += 1;
            return;
        }
        for id in ids {
            self.tree(id.origin, Some(from)).make_eager(from);
            match self.broadcast.cache.get(&id) {
                Some(c) => {
                    let g = Gossip {
                        round: c.gossip.round.saturating_add(1),
                        ..c.gossip.clone()
                    };
                    self.transmit(from, &Message::Gossip(g));
                }
                None => self.stats.graft_unknown += 1,
            }
        }
    }

    pub(crate) fn on_prune(&mut self, from: PeerId, origin: PeerId) {
        if matches!(self.links.get(&from), Some(Link::Active(_))) {
            self.tree(origin, None).make_lazy(from);
        }
    }

    /// Pull repair: offer one random neighbor the cached ids it is not known to hold.
    pub(crate) fn pull(&mut self, now: Instant) {
        self.broadcast.pull_at = Some(now + self.config.broadcast.pull_interval);
        let neighbors = self.neighbors();
        let Some(peer) = self.pick(&neighbors) else {
            return;
        };
        let max = self.config.broadcast.pull_max_ids.min(self.ids_per_frame());
        let known = self.broadcast.known.get(&peer);
        // Offer only messages old enough that eager and lazy push had their chance.
        let min_age = self.config.broadcast.pull_min_age;
        let cache = &self.broadcast.cache;
        let ids: Vec<(MsgId, u16)> = self
            .broadcast
            .cache_order
            .iter()
            .rev()
            .filter(|id| {
                cache
                    .get(id)
                    .is_some_and(|c| now.saturating_since(c.at) >= min_age)
            })
            .filter(|id| known.is_none_or(|k| !k.contains(id)))
            .take(max)
            .filter_map(|id| {
                self.broadcast
                    .cache
                    .get(id)
                    .map(|c| (*id, c.gossip.round.saturating_add(1)))
            })
            .collect();
        if ids.is_empty() {
            return;
        }
        for (id, _) in &ids {
            self.know(peer, *id);
        }
        self.stats.pull_offers += 1;
        self.transmit(peer, &Message::IHave { ids });
    }
}
