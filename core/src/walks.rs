//! Overlay walks (docs/protocol.md §4): ForwardJoin walks that find a joiner its first
//! neighbors, FindSlot walks that find room for a member short of neighbors, and
//! HyParView's shuffles that refresh passive views.

use alloc::vec::Vec;

use crate::identity::PeerId;
use crate::membership::MemberState;
use crate::node::{Link, Node};
use crate::time::Instant;
use crate::wire::{Intent, Message};

/// Longest walk path or peer sample accepted in a shuffle.
const MAX_SHUFFLE_LIST: usize = 32;
/// Hops a `FindSlot` walk travels at most.
const FIND_SLOT_HOPS: u8 = 10;
/// Hops a `FindSlot` walk travels before a member with room may take it: the members short
/// of neighbors at one time are mostly the ones a single join evicted, all near each
/// other, and links between them would make the overlay clustered (longer broadcast paths).
const FIND_SLOT_MIN_HOPS: u8 = 3;

impl Node {
    /// Sends a [`Message::FindSlot`] walk for ourselves to a random neighbor and pauses
    /// filling for the current pause without lengthening it (a neighbor gained through
    /// the walk ends the pause). False when there is no neighbor to send it to.
    pub(crate) fn start_find_slot(&mut self, now: Instant) -> bool {
        let active = self.neighbors();
        let Some(first) = self.pick(&active) else {
            return false;
        };
        self.transmit(
            first,
            &Message::FindSlot {
                seeker: self.me,
                ttl: FIND_SLOT_HOPS - 1,
            },
        );
        self.stats.slot_walks += 1;
        self.timers.fill = now + self.timers.fill_wait;
        true
    }

    /// A walk looking for room for `seeker`: dial it if we have room (it has some too, so a
    /// low-priority request suffices), else pass it on, preferring a neighbor whose last
    /// reported view is short. The walk ends when its hops are used up.
    pub(crate) fn on_find_slot(&mut self, from: PeerId, seeker: PeerId, ttl: u8, now: Instant) {
        if seeker == self.me {
            return;
        }
        let ttl = ttl.min(FIND_SLOT_HOPS - 1);
        let far_enough = ttl < FIND_SLOT_HOPS - FIND_SLOT_MIN_HOPS;
        if far_enough
            && !self.links.contains_key(&seeker)
            && self.has_room()
            && self.all_dials() < self.config.overlay.max_concurrent_dials
            && !matches!(
                self.members.state(&seeker),
                Some(MemberState::Failed | MemberState::Left)
            )
        {
            self.dial(seeker, Intent::Neighbor { high: false }, now);
            return;
        }
        if ttl == 0 {
            return;
        }
        let cap = self.config.overlay.active_view_capacity;
        let mut next = Vec::new();
        let mut short = Vec::new();
        for (peer, link) in &self.links {
            let Link::Active(n) = link else { continue };
            if *peer == from || *peer == seeker || n.view.contains(&seeker) {
                continue;
            }
            next.push(*peer);
            if !n.view.is_empty() && n.view.len() < cap {
                short.push(*peer);
            }
        }
        let to = match self.pick(&short) {
            Some(p) => Some(p),
            None => self.pick(&next),
        };
        if let Some(to) = to {
            let ttl = ttl - 1;
            self.transmit(to, &Message::FindSlot { seeker, ttl });
        }
    }

    /// A join walk for `joiner` reached us: at its end, or with nobody to pass it to, we
    /// dial the joiner. A member whose only neighbor is the one the walk came from sends
    /// it back instead of ending it (HyParView ends it there): in a flash crowd such a
    /// member is a newcomer itself, and walks ending at newcomers link the group in join
    /// order, a long chain instead of a random graph (docs/protocol.md §3).
    pub(crate) fn on_forward_join(&mut self, from: PeerId, joiner: PeerId, ttl: u8, now: Instant) {
        if joiner == self.me {
            return;
        }
        let active = self.neighbors();
        let mut next: Vec<PeerId> = active
            .iter()
            .copied()
            .filter(|p| *p != from && *p != joiner)
            .collect();
        if next.is_empty() && from != joiner && active.contains(&from) {
            next.push(from);
        }
        if ttl == 0 || next.is_empty() {
            self.dial(joiner, Intent::Neighbor { high: true }, now);
            return;
        }
        if ttl == self.config.overlay.passive_random_walk_length {
            self.add_passive(joiner);
        }
        if let Some(n) = self.pick(&next) {
            self.transmit(
                n,
                &Message::ForwardJoin {
                    joiner,
                    ttl: ttl - 1,
                },
            );
        }
    }

    pub(crate) fn start_shuffle(&mut self) {
        let active = self.neighbors();
        let Some(target) = self.pick(&active) else {
            return;
        };
        let mut peers = vec![self.me];
        let o = &self.config.overlay;
        let (ka, kp) = (o.shuffle_active_count, o.shuffle_passive_count);
        let mut others: Vec<PeerId> = active.into_iter().filter(|p| *p != target).collect();
        for _ in 0..ka.min(others.len()) {
            let i = self.random_index(others.len());
            peers.push(others.swap_remove(i));
        }
        let mut passive: Vec<PeerId> = self.passive.iter().copied().collect();
        for _ in 0..kp.min(passive.len()) {
            let i = self.random_index(passive.len());
            peers.push(passive.swap_remove(i));
        }
        let ttl = self.config.overlay.shuffle_walk_length;
        self.transmit(
            target,
            &Message::Shuffle {
                path: vec![self.me],
                ttl,
                peers,
            },
        );
    }

    pub(crate) fn on_shuffle(
        &mut self,
        from: PeerId,
        mut path: Vec<PeerId>,
        ttl: u8,
        peers: Vec<PeerId>,
    ) {
        if path.len() > MAX_SHUFFLE_LIST
            || peers.len() > MAX_SHUFFLE_LIST
            || path.last() != Some(&from)
        {
            self.stats.bad_overlay_messages += 1;
            return;
        }
        let next: Vec<PeerId> = self
            .neighbors()
            .into_iter()
            .filter(|p| !path.contains(p))
            .collect();
        if ttl > 0 && path.len() < MAX_SHUFFLE_LIST {
            if let Some(n) = self.pick(&next) {
                path.push(self.me);
                self.transmit(
                    n,
                    &Message::Shuffle {
                        path,
                        ttl: ttl - 1,
                        peers,
                    },
                );
                return;
            }
        }
        let mut mine: Vec<PeerId> = self.passive.iter().copied().collect();
        let mut reply = Vec::new();
        for _ in 0..peers.len().min(mine.len()) {
            let i = self.random_index(mine.len());
            reply.push(mine.swap_remove(i));
        }
        path.pop();
        self.transmit(
            from,
            &Message::ShuffleReply {
                route: path,
                peers: reply,
            },
        );
        for p in peers {
            self.add_passive(p);
        }
    }

    pub(crate) fn on_shuffle_reply(&mut self, mut route: Vec<PeerId>, peers: Vec<PeerId>) {
        if route.len() > MAX_SHUFFLE_LIST || peers.len() > MAX_SHUFFLE_LIST {
            self.stats.bad_overlay_messages += 1;
            return;
        }
        match route.pop() {
            None => {
                for p in peers {
                    self.add_passive(p);
                }
            }
            Some(next) => {
                if matches!(self.links.get(&next), Some(Link::Active(_))) {
                    self.transmit(next, &Message::ShuffleReply { route, peers });
                }
            }
        }
    }
}
