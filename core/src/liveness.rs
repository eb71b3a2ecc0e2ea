//! Failure detection: neighbors are pinged when silent and dropped when silent too long;
//! a lost neighbor is suspected (SWIM), and the suspicion becomes a failure unless the
//! member refutes it by raising its incarnation. A node that finds its own timers late
//! doubts itself first (Lifeguard's local health) instead of accusing others.

use alloc::vec::Vec;
use core::time::Duration;

use crate::event::Output;
use crate::identity::PeerId;
use crate::membership::News;
use crate::node::{Link, Node};
use crate::record::{Claim, Entry};
use crate::time::Instant;
use crate::wire::Message;

/// Garbage collection of tombstones runs once every this many ticks.
const GC_EVERY_TICKS: u64 = 20;

impl Node {
    pub(crate) fn on_tick(&mut self, now: Instant) {
        let m = self.config.membership.clone();
        let mut silent = Vec::new();
        let mut ping = Vec::new();
        let forget = m.tick_interval / 32;
        for (peer, link) in &mut self.links {
            if let Link::Active(n) = link {
                n.slowest = n.slowest.saturating_sub(forget);
                let quiet = now.saturating_since(n.last_heard);
                // A neighbor heard again after a silence of over half the timeout (more
                // than the ping rhythm explains) gets that silence on top of it.
                let timeout = if n.slowest > m.neighbor_timeout / 2 {
                    (m.neighbor_timeout + n.slowest).min(m.neighbor_timeout_max)
                } else {
                    m.neighbor_timeout
                };
                // A ping and its pong tell both sides: let the lower id go first.
                let threshold = if self.me < *peer {
                    m.ping_interval
                } else {
                    m.ping_interval + m.tick_interval
                };
                if quiet >= timeout {
                    silent.push(*peer);
                } else if quiet >= threshold
                    && n.last_ping
                        .is_none_or(|t| now.saturating_since(t) >= m.tick_interval)
                {
                    ping.push(*peer);
                }
            }
        }
        for peer in ping {
            self.nonce = self.nonce.wrapping_add(1);
            let nonce = self.nonce;
            if let Some(Link::Active(n)) = self.links.get_mut(&peer) {
                n.last_ping = Some(now);
            }
            self.transmit(peer, &Message::Ping { nonce });
        }
        for peer in silent {
            if let Some(Link::Active(n)) = self.links.remove(&peer) {
                self.stats.neighbor_timeouts += 1;
                self.outputs.push_back(Output::Hangup(peer));
                self.neighbor_gone(peer);
                self.neighbor_failed(peer, n.view, now);
            }
        }
        self.overlay_tick(now);
        self.broadcast_tick(now);
        if self.timers.ticks.is_multiple_of(GC_EVERY_TICKS) {
            let me = self.me;
            self.members.collect_garbage(now, m.tombstone_ttl, &me);
        }
    }

    /// This node's own timers ran `late`: it was stalled, not its neighbors. Give every
    /// neighbor a fresh timeout window and postpone the suspicions it is timing.
    pub(crate) fn on_stall(&mut self, late: Duration, now: Instant) {
        self.stats.stalls += 1;
        for (_, link) in self.links.iter_mut() {
            if let Link::Active(n) = link {
                n.last_heard = now;
                n.last_ping = None;
            }
        }
        self.members.delay_suspicions(late);
    }

    /// Suspects `peer` on this node's own authority and spreads the claim.
    pub(crate) fn suspect(&mut self, peer: PeerId, now: Instant) {
        let Some(entry) = self.members.get(&peer) else {
            return;
        };
        let claim = Entry {
            signed: entry.signed.clone(),
            claim: Claim::Suspect { by: self.me },
        };
        self.ingest(claim, None, now);
    }

    /// Turns expired suspicions into failures and spreads them.
    pub(crate) fn expire_suspicions(&mut self, now: Instant) {
        for id in self.members.expired(now) {
            let Some(entry) = self.members.get(&id) else {
                continue;
            };
            let dead = Entry {
                signed: entry.signed.clone(),
                claim: Claim::Dead,
            };
            let times = self.suspicion_times();
            let change = self.members.apply(dead.clone(), News::Claim, now, &times);
            self.after_change(dead, change, None);
        }
    }

    /// Someone says something about this node. If it is a suspicion, a failure, or a record
    /// from an earlier life that outranks ours, raise the incarnation and republish.
    pub(crate) fn on_news_about_me(&mut self, entry: Entry, now: Instant) {
        let theirs = &entry.signed.record;
        let ours = (self.own.incarnation, self.own.version);
        let outranks = (theirs.incarnation, theirs.version) > ours
            || theirs.leaving
            || (theirs.incarnation == self.own.incarnation && entry.claim != Claim::Alive);
        if !outranks || (theirs.incarnation, theirs.version) == ours && entry.claim == Claim::Alive
        {
            return;
        }
        self.stats.refutations += 1;
        self.own.incarnation = self
            .own
            .incarnation
            .max(theirs.incarnation)
            .saturating_add(1);
        self.own.version = self.own.version.max(theirs.version).saturating_add(1);
        self.publish_own(now);
    }
}
