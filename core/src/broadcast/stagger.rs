//! Staggered forwarding while an origin's tree is young.
//!
//! A new origin's first message floods: every neighbor gets it eagerly, and the
//! duplicates that come back prune the links outside the tree. In a flood the two ends of
//! such a link receive within that link's latency of each other, so both forward and the
//! link carries the message both ways. Here one end of each link (chosen by the link and
//! the origin, the same at both ends) forwards at once while the tree is young, and the
//! other holds its copy back by `fresh_tree_stagger`, dropping it if the neighbor's copy or
//! announcement comes first: the link then carries the message once.

use super::*;
use crate::record::finalize;

impl Node {
    /// Whether, on the link to `peer`, this end forwards `origin`'s messages at once while
    /// that origin's tree is young (see the module comment). Exactly one end of each link
    /// does: both ends hash the same three ids, and the id order flips the answer.
    pub(super) fn goes_first(&self, origin: PeerId, peer: PeerId) -> bool {
        let mut x = 0u64;
        for id in [origin, self.me, peer] {
            let mut b = [0u8; 8];
            b.copy_from_slice(&id.0[..8]);
            x ^= u64::from_le_bytes(b);
        }
        // Mixed so that every bit of the three ids moves the low bit.
        (self.me < peer) == (finalize(x) & 1 == 0)
    }

    /// Drops a held-back copy of `id` for `peer`, which has shown that it holds it.
    /// Returns whether one was held.
    pub(super) fn drop_held(&mut self, peer: PeerId, id: MsgId) -> bool {
        let before = self.broadcast.held.len();
        self.broadcast
            .held
            .retain(|(_, p, m)| !(*p == peer && *m == id));
        self.broadcast.held.len() != before
    }

    /// Sends the held-back copies that are due: as copies to neighbors still eager, as
    /// announcements to those pruned meanwhile.
    pub(crate) fn expire_held(&mut self, now: Instant) {
        while let Some(&(t, peer, id)) = self.broadcast.held.front() {
            if t > now {
                break;
            }
            self.broadcast.held.pop_front();
            if !matches!(self.links.get(&peer), Some(Link::Active(_))) {
                continue;
            }
            let b = &mut self.broadcast;
            let Some(c) = b.cache.get(&id) else {
                continue;
            };
            let round = c.gossip.round.saturating_add(1);
            if b.trees
                .get(&id.origin)
                .is_some_and(|t| t.eager.contains(&peer))
            {
                let next = Gossip {
                    round,
                    ..c.gossip.clone()
                };
                self.transmit(peer, &Message::Gossip(next));
            } else {
                b.ihave_queue.entry(peer).or_default().push((id, round));
            }
        }
        // The announcements go out with the caller's `flush_push`.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Identity};

    fn node(secret: u8) -> Node {
        Node::new(
            Identity::from_secret([secret; 32]),
            Config::default(),
            secret.into(),
            Instant::ZERO,
        )
    }

    #[test]
    fn exactly_one_end_of_a_link_goes_first_and_each_end_does_for_some_origins() {
        let nodes: Vec<Node> = (1..=12).map(node).collect();
        let origins: Vec<PeerId> = (100..=163).map(|s| node(s).id()).collect();
        for a in &nodes {
            for b in &nodes {
                if a.id() == b.id() {
                    continue;
                }
                let mut a_first = 0;
                for o in &origins {
                    let (x, y) = (a.goes_first(*o, b.id()), b.goes_first(*o, a.id()));
                    assert_ne!(x, y, "both or neither end goes first");
                    a_first += usize::from(x);
                }
                // 64 origins: each end goes first for a good share of them.
                assert!(
                    (12..=52).contains(&a_first),
                    "one end goes first for {a_first} of 64 origins"
                );
            }
        }
    }
}
