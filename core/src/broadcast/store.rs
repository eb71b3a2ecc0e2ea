//! The broadcast layer's bounded stores: ids seen (deduplication), the message cache
//! (grafts, pulls, history), and their expiry.

use super::{BroadcastSizes, Cached};
use crate::identity::PeerId;
use crate::node::Node;
use crate::time::Instant;
use crate::wire::{Gossip, MsgId};

impl Node {
    /// Current sizes of the broadcast layer's bounded stores.
    pub fn broadcast_sizes(&self) -> BroadcastSizes {
        let b = &self.broadcast;
        BroadcastSizes {
            seen: b.seen.len(),
            cached: b.cache.len(),
            cached_bytes: b.cache_bytes,
            missing: b.missing.len(),
            known_ids: b.known.values().map(|k| k.len()).sum(),
            reassemblies: b.partials.len(),
            trees: b.trees.len(),
            held: b.held.len(),
        }
    }

    pub(super) fn mark_seen(&mut self, id: MsgId, now: Instant) {
        let b = &mut self.broadcast;
        if b.seen.insert(id, now).is_none() {
            b.seen_order.push_back((now, id));
        }
        while b.seen.len() > self.config.broadcast.seen_capacity {
            let Some((_, old)) = b.seen_order.pop_front() else {
                break;
            };
            b.seen.remove(&old);
        }
    }

    pub(super) fn cache_insert(&mut self, gossip: Gossip, parent: Option<PeerId>, now: Instant) {
        let b = &mut self.broadcast;
        if b.cache.contains_key(&gossip.id) {
            return;
        }
        b.cache_bytes += gossip.data.len();
        b.cache_order.push_back(gossip.id);
        let topic_ids = b.by_topic.entry(gossip.topic.clone()).or_default();
        topic_ids.push_back(gossip.id);
        let over_topic = (topic_ids.len() > self.config.broadcast.history_per_topic)
            .then(|| topic_ids.pop_front())
            .flatten();
        b.cache.insert(
            gossip.id,
            Cached {
                gossip,
                at: now,
                parent,
                delivered: false,
            },
        );
        if let Some(old) = over_topic {
            self.cache_remove(&old);
        }
        let cfg = &self.config.broadcast;
        let (cap, bytes) = (cfg.cache_capacity, cfg.cache_bytes);
        while self.broadcast.cache.len() > cap || self.broadcast.cache_bytes > bytes {
            let Some(old) = self.broadcast.cache_order.front().copied() else {
                break;
            };
            self.cache_remove(&old);
        }
    }

    pub(super) fn cache_remove(&mut self, id: &MsgId) {
        let b = &mut self.broadcast;
        if let Some(c) = b.cache.remove(id) {
            b.cache_bytes -= c.gossip.data.len();
            if let Some(ids) = b.by_topic.get_mut(&c.gossip.topic) {
                ids.retain(|x| x != id);
                if ids.is_empty() {
                    b.by_topic.remove(&c.gossip.topic);
                }
            }
            for (_, k) in b.known.iter_mut() {
                k.remove(id);
            }
        }
        if b.cache_order.front() == Some(id) {
            b.cache_order.pop_front();
        } else {
            b.cache_order.retain(|x| x != id);
        }
    }

    /// Periodic upkeep: expire cached messages, seen ids, stale reassemblies, subscriptions.
    pub(crate) fn broadcast_tick(&mut self, now: Instant) {
        let cfg = self.config.broadcast.clone();
        while let Some(id) = self.broadcast.cache_order.front().copied() {
            let expired = self
                .broadcast
                .cache
                .get(&id)
                .is_none_or(|c| now.saturating_since(c.at) > cfg.history_ttl);
            if !expired {
                break;
            }
            self.cache_remove(&id);
        }
        let b = &mut self.broadcast;
        while let Some(&(t, id)) = b.seen_order.front() {
            if now.saturating_since(t) <= cfg.seen_ttl {
                break;
            }
            b.seen_order.pop_front();
            b.seen.remove(&id);
        }
        let before = b.partials.len();
        b.partials
            .retain(|_, p| now.saturating_since(p.started) <= cfg.reassembly_timeout);
        self.stats.reassemblies_dropped += (before - self.broadcast.partials.len()) as u64;
        let expired: Vec<String> = self
            .broadcast
            .subscriptions
            .iter()
            .filter(|(_, until)| until.is_some_and(|u| u <= now))
            .map(|(t, _)| t.clone())
            .collect();
        for t in expired {
            let _ = self.unsubscribe(&t, now);
        }
    }
}
