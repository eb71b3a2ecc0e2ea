//! HyParView: the active view (peers we hold a connection to), the passive view
//! (replacements), joins through a contact, Neighbor requests with priority, and repair
//! after a neighbor fails. The walks (ForwardJoin, FindSlot, shuffles) are in `walks.rs`.

use alloc::vec::Vec;
use core::time::Duration;

use crate::event::{Event, Output};
use crate::identity::PeerId;
use crate::membership::MemberState;
use crate::node::{Link, Neighbor, Node};
use crate::time::Instant;
use crate::wire::{Intent, Message};

/// Longest neighbor list accepted in a `Views` message.
const MAX_VIEW_LIST: usize = 64;
/// Inbound connections waiting for their `Hello` at once.
const MAX_PENDING_INBOUND: usize = 32;
/// Repair candidates remembered at once.
const MAX_REPAIR_QUEUE: usize = 64;

impl Node {
    /// Number of active neighbors.
    pub(crate) fn active_count(&self) -> usize {
        self.links
            .values()
            .filter(|l| matches!(l, Link::Active(_)))
            .count()
    }

    fn pending_neighbor_dials(&self) -> usize {
        self.links
            .values()
            .filter(|l| {
                matches!(
                    l,
                    Link::Dialing {
                        intent: Intent::Neighbor { .. } | Intent::Join,
                        ..
                    } | Link::AwaitWelcome {
                        intent: Intent::Neighbor { .. } | Intent::Join,
                        ..
                    }
                )
            })
            .count()
    }

    pub(crate) fn all_dials(&self) -> usize {
        self.links
            .values()
            .filter(|l| matches!(l, Link::Dialing { .. } | Link::AwaitWelcome { .. }))
            .count()
    }

    pub(crate) fn dial(&mut self, peer: PeerId, intent: Intent, now: Instant) {
        self.dial_with(peer, intent, false, now)
    }

    fn dial_with(&mut self, peer: PeerId, intent: Intent, probe: bool, now: Instant) {
        if peer == self.me || self.links.contains_key(&peer) {
            return;
        }
        let deadline = now + self.config.overlay.dial_timeout;
        self.links.insert(
            peer,
            Link::Dialing {
                intent,
                deadline,
                probe,
            },
        );
        self.stats.dials += 1;
        self.stats.probe_dials += u64::from(probe);
        self.outputs.push_back(Output::Dial(peer));
    }

    /// Closes a connection on purpose: its close will not count as a failure.
    fn hang_up(&mut self, peer: PeerId, now: Instant) {
        let was_active = matches!(self.links.get(&peer), Some(Link::Active(_)));
        let deadline = now + self.config.overlay.hello_timeout;
        self.links.insert(peer, Link::Closing { deadline });
        self.outputs.push_back(Output::Hangup(peer));
        if was_active {
            self.neighbor_gone(peer);
        }
    }

    pub(crate) fn add_passive(&mut self, peer: PeerId) {
        if peer == self.me
            || matches!(self.links.get(&peer), Some(Link::Active(_)))
            || matches!(
                self.members.state(&peer),
                Some(MemberState::Failed | MemberState::Left)
            )
        {
            return;
        }
        if self.passive.len() >= self.config.overlay.passive_view_capacity
            && !self.passive.contains(&peer)
        {
            let victims: Vec<PeerId> = self.passive.iter().copied().collect();
            if let Some(v) = self.pick(&victims) {
                self.passive.remove(&v);
            }
        }
        if self.config.overlay.passive_view_capacity > 0 {
            self.passive.insert(peer);
        }
    }

    /// Makes `peer` an active neighbor, evicting a random one if the view is full.
    fn add_active(&mut self, peer: PeerId, now: Instant) {
        while self.active_count() >= self.config.overlay.active_view_capacity.max(1) {
            let others: Vec<PeerId> = self
                .neighbors()
                .into_iter()
                .filter(|p| *p != peer)
                .collect();
            let Some(victim) = self.pick(&others) else {
                break;
            };
            self.stats.evictions += 1;
            let farewell = if self.config.overlay.handover {
                Message::Evict { successor: peer }
            } else {
                Message::Disconnect { leaving: false }
            };
            self.transmit(victim, &farewell);
            self.hang_up(victim, now);
            self.add_passive(victim);
        }
        self.passive.remove(&peer);
        self.links.insert(
            peer,
            Link::Active(Neighbor {
                last_heard: now,
                slowest: Duration::ZERO,
                last_ping: None,
                view: Vec::new(),
            }),
        );
        self.views_dirty = true;
        self.timers.join_retry = None;
        self.reset_fill_backoff();
        self.emit(Event::NeighborUp(peer));
        self.broadcast_neighbor_up(peer);
        self.on_neighbor_up(peer);
    }

    pub(crate) fn on_connected(&mut self, peer: PeerId, now: Instant) {
        let deadline = now + self.config.overlay.hello_timeout;
        match self.links.get(&peer).cloned() {
            Some(Link::Dialing { intent, .. }) => {
                self.links
                    .insert(peer, Link::AwaitWelcome { intent, deadline });
                self.transmit(peer, &Message::Hello { intent });
            }
            // A new connection from a peer whose old one we are closing.
            None | Some(Link::Closing { .. }) => {
                let pending = self
                    .links
                    .values()
                    .filter(|l| matches!(l, Link::AwaitHello { .. }))
                    .count();
                if pending >= MAX_PENDING_INBOUND {
                    self.hang_up(peer, now);
                } else {
                    self.links.insert(peer, Link::AwaitHello { deadline });
                }
            }
            Some(_) => {}
        }
    }

    pub(crate) fn on_hello(&mut self, from: PeerId, intent: Intent, now: Instant) {
        match self.links.get(&from) {
            Some(Link::AwaitHello { .. } | Link::Closing { .. }) => {}
            // Glare: both dialed. The lower id answers as callee; the higher waits for Welcome.
            Some(Link::AwaitWelcome { .. }) if self.me < from => {}
            _ => {
                self.stats.unexpected_messages += 1;
                return;
            }
        }
        let accept = match intent {
            Intent::Join => true,
            Intent::Neighbor { high } => {
                high || self.active_count() < self.config.overlay.active_view_capacity
            }
            Intent::Probe => false,
        };
        self.transmit(from, &Message::Welcome { accepted: accept });
        if !accept {
            self.hang_up(from, now);
            if intent != Intent::Probe {
                self.add_passive(from);
            }
            return;
        }
        let cap = self.config.overlay.active_view_capacity.max(1);
        let evicts = self.active_count() >= cap;
        self.add_active(from, now);
        if intent == Intent::Join {
            // The joiner gets us, the neighbor we evicted for it (handed over by `Evict`),
            // and two links per walk that ends at a full member (the walk's end and the
            // neighbor it evicts): as many walks as fill the joiner's view without
            // overfilling it (assuming its capacity is ours), at least one.
            let links = 1 + usize::from(evicts);
            let walks = if self.config.overlay.handover {
                (cap.saturating_sub(links) / 2).max(1)
            } else {
                cap
            };
            let ttl = self.config.overlay.active_random_walk_length;
            let mut others: Vec<PeerId> = self
                .neighbors()
                .into_iter()
                .filter(|n| *n != from)
                .collect();
            for _ in 0..walks.min(others.len()) {
                let i = self.random_index(others.len());
                let n = others.swap_remove(i);
                self.transmit(n, &Message::ForwardJoin { joiner: from, ttl });
            }
        }
    }

    pub(crate) fn on_welcome(&mut self, from: PeerId, accepted: bool, now: Instant) {
        let Some(Link::AwaitWelcome { intent, .. }) = self.links.get(&from).cloned() else {
            self.stats.unexpected_messages += 1;
            return;
        };
        if accepted && intent != Intent::Probe {
            if intent == Intent::Join {
                self.timers.join_fill = now + self.config.overlay.join_fill_delay;
            }
            self.add_active(from, now);
        } else {
            self.hang_up(from, now);
            self.add_passive(from);
            if matches!(intent, Intent::Neighbor { .. }) {
                self.stats.neighbor_refusals += 1;
                self.timers.crowded = true;
                self.fill_refused(now);
            }
        }
    }

    /// A Neighbor request was refused: pause low-priority filling. (A failed dial does not
    /// pause: the peer leaves the passive view and the next candidate is another one.)
    fn fill_refused(&mut self, now: Instant) {
        let o = &self.config.overlay;
        let wait = self.timers.fill_wait;
        self.timers.fill = now + wait;
        self.timers.fill_wait = (wait * 2).min(o.fill_backoff_max).max(o.fill_backoff_min);
        self.timers.fill_refusals = self.timers.fill_refusals.saturating_add(1);
    }

    /// Whether a Neighbor request would find room here (dials in flight included).
    pub(crate) fn has_room(&self) -> bool {
        self.active_count() + self.pending_neighbor_dials()
            < self.config.overlay.active_view_capacity
    }

    /// Whether the next Neighbor request asks with high priority: always with no neighbor;
    /// with a single one once `fill_escalate_after` requests in a row were refused (the
    /// peers we know may all sit in full cliques, and one failure would isolate us).
    fn fill_high_priority(&self) -> bool {
        let o = &self.config.overlay;
        let active = self.active_count();
        active == 0
            || (active == 1
                && o.fill_escalate_after > 0
                && self.timers.fill_refusals >= o.fill_escalate_after
                && o.active_view_capacity > 1)
    }

    /// The active view changed: the next Neighbor request may go at once.
    pub(crate) fn reset_fill_backoff(&mut self) {
        self.timers.fill_wait = self.config.overlay.fill_backoff_min;
        self.timers.fill = Instant::ZERO;
        self.timers.fill_refusals = 0;
        self.timers.fill_walked = false;
    }

    /// `from` dropped us to make room for `successor`: as a `Disconnect { leaving: false }`,
    /// and if we have room and `successor` is not known to be gone (it is typically too new
    /// for its record to have reached us) nor linked to us, we dial it
    /// (low priority: it accepts only with room). The link `from` dropped is then split in
    /// two, through the new member, and nobody is left short of a neighbor.
    pub(crate) fn on_evict(&mut self, from: PeerId, successor: PeerId, now: Instant) {
        self.on_disconnect(from, false, now);
        if successor != self.me
            && successor != from
            && !self.links.contains_key(&successor)
            && self.has_room()
            && !matches!(
                self.members.state(&successor),
                Some(MemberState::Failed | MemberState::Left)
            )
        {
            self.stats.handover_dials += 1;
            self.dial(successor, Intent::Neighbor { high: false }, now);
        }
    }

    pub(crate) fn on_disconnect(&mut self, from: PeerId, leaving: bool, now: Instant) {
        self.hang_up(from, now);
        if !leaving {
            // Evicted to make room for someone else: the members around us are full.
            self.stats.evicted += 1;
            self.timers.crowded = true;
            self.add_passive(from);
        }
    }

    pub(crate) fn on_disconnected(&mut self, peer: PeerId, now: Instant) {
        match self.links.remove(&peer) {
            Some(Link::Active(n)) => {
                self.stats.neighbors_lost += 1;
                self.neighbor_gone(peer);
                self.neighbor_failed(peer, n.view, now);
            }
            Some(Link::Dialing { intent, probe, .. }) => self.dial_failed(peer, intent, probe, now),
            Some(Link::AwaitWelcome { intent, .. }) => self.dial_failed(peer, intent, false, now),
            Some(Link::AwaitHello { .. } | Link::Closing { .. }) | None => {}
        }
    }

    /// The driver replaced `peer`'s open connection with a new one the peer opened: an
    /// active neighbor goes to the passive view without suspicion (its new connection
    /// brings a new Hello); any other link ends as on a disconnection.
    pub(crate) fn on_replaced(&mut self, peer: PeerId, now: Instant) {
        if matches!(self.links.get(&peer), Some(Link::Active(_))) {
            self.links.remove(&peer);
            self.neighbor_gone(peer);
            self.add_passive(peer);
        } else {
            self.on_disconnected(peer, now);
        }
    }

    pub(crate) fn on_dial_failed(&mut self, peer: PeerId, now: Instant) {
        if let Some(Link::Dialing { intent, probe, .. }) = self.links.get(&peer).cloned() {
            self.links.remove(&peer);
            self.dial_failed(peer, intent, probe, now);
        }
    }

    /// A dial did not produce a neighbor. Only probes of unwatched members turn that into
    /// a suspicion (which the member refutes if it is alive); other candidates are just
    /// dropped from the passive view, as in HyParView.
    fn dial_failed(&mut self, peer: PeerId, intent: Intent, probe: bool, now: Instant) {
        self.stats.dial_failures += 1;
        self.passive.remove(&peer);
        self.timers.crowded = false;
        if intent == Intent::Join {
            self.next_seed += 1;
            self.try_seed(now);
            return;
        }
        if probe && self.members.is_live(&peer) {
            self.suspect(peer, now);
        }
    }

    /// An active neighbor failed (timeout or unexpected close): suspect it and queue its
    /// own neighbors that nobody near us watches, so that no member is left unwatched.
    pub(crate) fn neighbor_failed(&mut self, peer: PeerId, view: Vec<PeerId>, now: Instant) {
        self.timers.crowded = false;
        if self.members.is_live(&peer) {
            self.suspect(peer, now);
        }
        for c in view {
            if c == self.me || self.links.contains_key(&c) || !self.members.is_live(&c) {
                continue;
            }
            let watched = self
                .links
                .iter()
                .any(|(p, l)| *p != peer && matches!(l, Link::Active(n) if n.view.contains(&c)));
            if !watched && !self.repair.contains(&c) && self.repair.len() < MAX_REPAIR_QUEUE {
                self.repair.push_back(c);
            }
        }
    }

    /// Adds a seed to enter the group through (tried, in turn with the others, whenever
    /// this node has no neighbor).
    pub fn add_seed(&mut self, seed: PeerId, now: Instant) {
        if self.left || seed == self.me || self.seeds.contains(&seed) {
            return;
        }
        self.seeds.push(seed);
        self.try_seed(now);
        self.flush_push();
    }

    /// Connects to `peer`, a member the driver learned of out of band (for example from the
    /// signaling server after a reconnect), when this node does not know it as alive: so a
    /// group that split while the server was away (old members on one side, a restarted
    /// seed and new members on the other) merges again. Either side evicts a random
    /// neighbor if its active view is full.
    pub fn introduce(&mut self, peer: PeerId, now: Instant) {
        if self.left || peer == self.me || self.links.contains_key(&peer) {
            return;
        }
        let live = self
            .members
            .member(&peer)
            .is_some_and(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect));
        if !live {
            // High priority: the callee must accept even with a full view, or two full
            // groups would never link.
            self.dial(peer, Intent::Neighbor { high: true }, now);
            self.flush_push();
        }
    }

    /// Dials seeds (in order) while this node has no neighbor.
    pub(crate) fn try_seed(&mut self, now: Instant) {
        if self.active_count() > 0 || self.seeds.is_empty() || self.pending_neighbor_dials() > 0 {
            return;
        }
        if self.next_seed >= self.seeds.len() {
            self.next_seed = 0;
            self.timers.join_retry = Some(now + self.config.overlay.join_retry_interval);
            return;
        }
        let seed = self.seeds[self.next_seed];
        self.dial(seed, Intent::Join, now);
    }

    /// Periodic overlay upkeep: link deadlines and filling the active view.
    pub(crate) fn overlay_tick(&mut self, now: Instant) {
        let expired: Vec<(PeerId, Link)> = self
            .links
            .iter()
            .filter(|(_, l)| match l {
                Link::Dialing { deadline, .. }
                | Link::AwaitHello { deadline }
                | Link::AwaitWelcome { deadline, .. }
                | Link::Closing { deadline } => *deadline <= now,
                Link::Active(_) => false,
            })
            .map(|(p, l)| (*p, l.clone()))
            .collect();
        for (peer, link) in expired {
            match link {
                Link::Dialing { intent, probe, .. } => {
                    self.links.remove(&peer);
                    self.outputs.push_back(Output::Hangup(peer));
                    self.dial_failed(peer, intent, probe, now);
                }
                Link::AwaitWelcome { intent, .. } => {
                    self.links.remove(&peer);
                    self.outputs.push_back(Output::Hangup(peer));
                    self.stats.welcome_timeouts += 1;
                    self.dial_failed(peer, intent, false, now);
                }
                Link::AwaitHello { .. } => self.hang_up(peer, now),
                Link::Closing { .. } => {
                    self.links.remove(&peer);
                }
                Link::Active(_) => {}
            }
        }
        self.fill_active(now);
        if self.views_dirty {
            self.views_dirty = false;
            let active = self.neighbors();
            for n in active.clone() {
                self.transmit(
                    n,
                    &Message::Views {
                        active: active.clone(),
                    },
                );
            }
        }
    }

    fn fill_active(&mut self, now: Instant) {
        if self.active_count() == 0
            && !self.seeds.is_empty()
            && self.passive.is_empty()
            && self.repair.is_empty()
        {
            self.try_seed(now);
        }
        while self.all_dials() < self.config.overlay.max_concurrent_dials {
            let free = self.has_room();
            let high = self.fill_high_priority();
            if let Some(c) = self.repair.pop_front() {
                if self.links.contains_key(&c) || !self.members.is_live(&c) {
                    continue;
                }
                let intent = if free {
                    Intent::Neighbor { high }
                } else {
                    Intent::Probe
                };
                self.dial_with(c, intent, true, now);
                continue;
            }
            // Filling a view that has neighbors waits out the pause after refusals.
            if !free
                || (self.active_count() > 0
                    && (now < self.timers.fill || now < self.timers.join_fill))
            {
                break;
            }
            // Where the members around us are full (we were evicted or refused), ask over
            // the connections we have before dialing someone who is likely full too: every
            // other low-priority attempt is a walk looking for a member with room. After
            // failures (dead neighbors, failed dials) we dial: the walks would go to dead
            // neighbors and only slow the healing down.
            if self.config.overlay.find_slot_walks
                && self.timers.crowded
                && self.active_count() > 0
                && !high
                && !self.timers.fill_walked
            {
                self.timers.fill_walked = true;
                if self.start_find_slot(now) {
                    break;
                }
            }
            self.timers.fill_walked = false;
            let passive: Vec<PeerId> = self
                .passive
                .iter()
                .copied()
                .filter(|p| !self.links.contains_key(p))
                .collect();
            let candidate = match self.pick(&passive) {
                Some(p) => Some(p),
                // The passive view is exhausted: fall back on any live member we know.
                None => {
                    let live: Vec<PeerId> = self
                        .members
                        .ids_in(MemberState::Alive)
                        .filter(|p| *p != self.me && !self.links.contains_key(p))
                        .collect();
                    self.pick(&live)
                }
            };
            match candidate {
                Some(c) => self.dial(c, Intent::Neighbor { high }, now),
                None => break,
            }
        }
    }

    /// Tries to reach one member declared failed: if it answers, the group was split
    /// (a partition or a false failure) and joining up again repairs it.
    ///
    /// Each node tries with probability failed / alive (Serf's reconnect rule), so the
    /// group as a whole makes about one attempt per failed member and `heal_interval`
    /// whatever its size, instead of one per live member: a few dead members of a large
    /// group are not dialed by everyone (each attempt is a WebRTC handshake that may
    /// hang until `dial_timeout`), while a split in two halves, where each side sees the
    /// other failed, still has every node trying.
    pub(crate) fn try_heal(&mut self, now: Instant) {
        let failed: Vec<PeerId> = self
            .members
            .ids_in(MemberState::Failed)
            .filter(|p| !self.links.contains_key(p))
            .collect();
        if failed.is_empty() {
            return;
        }
        let alive = self.members.ids_in(MemberState::Alive).count();
        if alive > failed.len() && self.random_index(alive) >= failed.len() {
            return;
        }
        if let Some(p) = self.pick(&failed) {
            self.stats.heal_dials += 1;
            self.dial(p, Intent::Neighbor { high: true }, now);
        }
    }

    pub(crate) fn on_views(&mut self, from: PeerId, active: Vec<PeerId>) {
        if active.len() > MAX_VIEW_LIST {
            self.stats.bad_overlay_messages += 1;
            return;
        }
        if let Some(Link::Active(n)) = self.links.get_mut(&from) {
            n.view = active;
        }
    }
}
