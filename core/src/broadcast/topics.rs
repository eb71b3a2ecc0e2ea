//! Topics: subscriptions (in the member record), publishing with chunking, delivery with
//! reassembly, and history requests.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use litemap::LiteMap;

use super::{Partial, CHUNK_OVERHEAD};
use crate::event::Event;
use crate::identity::PeerId;
use crate::node::{CommandError, Node};
use crate::time::Instant;
use crate::wire::{Gossip, Message, MsgId, Part};

impl Node {
    /// Subscribes to `topic`: messages published on it are delivered as [`Event::Message`],
    /// and the subscription is listed in this node's record for everyone to see.
    pub fn subscribe(
        &mut self,
        topic: impl Into<String>,
        now: Instant,
    ) -> Result<(), CommandError> {
        self.subscribe_until(topic.into(), None, now)
    }

    /// Subscribes to `topic` for `ttl`; afterwards the node unsubscribes by itself.
    pub fn subscribe_for(
        &mut self,
        topic: impl Into<String>,
        ttl: Duration,
        now: Instant,
    ) -> Result<(), CommandError> {
        self.subscribe_until(topic.into(), Some(now + ttl), now)
    }

    pub(super) fn subscribe_until(
        &mut self,
        topic: String,
        until: Option<Instant>,
        now: Instant,
    ) -> Result<(), CommandError> {
        if self.left {
            return Err(CommandError::Left);
        }
        self.check_topic(&topic)?;
        let l = &self.config.limits;
        if !self.own.topics.contains_key(&topic) && self.own.topics.len() >= l.max_subscriptions {
            return Err(CommandError::TopicInvalid("too many subscriptions"));
        }
        if !self.own.topics.contains_key(&topic) {
            let mut next = self.own.clone();
            next.topics.insert(topic.clone(), ());
            next.version = next.version.saturating_add(1);
            if postcard::to_allocvec(&next).map_or(usize::MAX, |b| b.len()) > l.max_record_size {
                return Err(CommandError::TopicInvalid(
                    "record would exceed max_record_size",
                ));
            }
            self.own = next;
            self.publish_own(now);
            self.flush_push();
        }
        self.broadcast.subscriptions.insert(topic, until);
        Ok(())
    }

    /// Stops delivering `topic` and removes it from this node's record.
    pub fn unsubscribe(&mut self, topic: &str, now: Instant) -> Result<(), CommandError> {
        if self.left {
            return Err(CommandError::Left);
        }
        self.broadcast.subscriptions.remove(topic);
        if self.own.topics.remove(topic).is_some() {
            self.own.version = self.own.version.saturating_add(1);
            self.publish_own(now);
            self.flush_push();
        }
        Ok(())
    }

    /// Topics this node subscribed to (the implicit [`super::DEFAULT_TOPIC`] is not listed
    /// unless subscribed to explicitly).
    pub fn subscriptions(&self) -> Vec<String> {
        self.broadcast
            .subscriptions
            .keys()
            .filter(|t| *t != super::DEFAULT_TOPIC || self.own.topics.contains_key(*t))
            .cloned()
            .collect()
    }

    /// Publishes `data` to every other member: [`Node::publish`] on
    /// [`super::DEFAULT_TOPIC`], which every node subscribes to from the start.
    pub fn broadcast(
        &mut self,
        data: impl Into<Vec<u8>>,
        now: Instant,
    ) -> Result<MsgId, CommandError> {
        self.publish(super::DEFAULT_TOPIC, data, now)
    }

    /// Publishes `data` on `topic` to every member subscribed to it. Returns the id of the
    /// message (of its first chunk, for payloads larger than one frame). The publisher does
    /// not receive its own message as an event.
    pub fn publish(
        &mut self,
        topic: impl Into<String>,
        data: impl Into<Vec<u8>>,
        now: Instant,
    ) -> Result<MsgId, CommandError> {
        let (topic, data) = (topic.into(), data.into());
        if self.left {
            return Err(CommandError::Left);
        }
        self.check_topic(&topic)?;
        let max = self.config.broadcast.max_payload;
        if data.len() > max {
            return Err(CommandError::PayloadTooLarge {
                size: data.len(),
                max,
            });
        }
        let chunk = self.chunk_size();
        let count = data.len().div_ceil(chunk).max(1);
        let first = self.broadcast.seq + 1;
        let pieces: Vec<Vec<u8>> = if count == 1 {
            vec![data]
        } else {
            data.chunks(chunk).map(|c| c.to_vec()).collect()
        };
        for (index, piece) in pieces.into_iter().enumerate() {
            self.broadcast.seq += 1;
            let gossip = Gossip {
                id: MsgId {
                    origin: self.me,
                    seq: self.broadcast.seq,
                },
                round: 0,
                topic: topic.clone(),
                part: (count > 1).then_some(Part {
                    first,
                    index: index as u16,
                    count: count as u16,
                }),
                data: piece,
            };
            self.mark_seen(gossip.id, now);
            self.cache_insert(gossip.clone(), None, now);
            self.forward(gossip, None, None);
        }
        self.flush_push();
        Ok(MsgId {
            origin: self.me,
            seq: first,
        })
    }

    /// Asks up to two neighbors for the messages of `topic` they received within `max_age`;
    /// those this node has not seen arrive as ordinary [`Event::Message`]s.
    pub fn request_history(
        &mut self,
        topic: &str,
        max_age: Duration,
        now: Instant,
    ) -> Result<(), CommandError> {
        if self.left {
            return Err(CommandError::Left);
        }
        self.check_topic(topic)?;
        // What passed through here before the subscription is delivered from our cache.
        let mine: Vec<MsgId> = self
            .broadcast
            .by_topic
            .get(topic)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        for id in mine {
            let fresh = self
                .broadcast
                .cache
                .get(&id)
                .is_some_and(|c| now.saturating_since(c.at) <= max_age);
            if fresh {
                self.deliver_if_missed(id, now);
            }
        }
        let mut neighbors = self.neighbors();
        for _ in 0..2 {
            if neighbors.is_empty() {
                break;
            }
            let i = self.random_index(neighbors.len());
            let n = neighbors.swap_remove(i);
            let max_age_ms = max_age.as_millis().min(u64::MAX as u128) as u64;
            self.transmit(
                n,
                &Message::HistoryRequest {
                    topic: topic.into(),
                    max_age_ms,
                },
            );
        }
        Ok(())
    }

    pub(super) fn check_topic(&self, topic: &str) -> Result<(), CommandError> {
        if topic.is_empty() {
            return Err(CommandError::TopicInvalid("topic name is empty"));
        }
        if topic.len() > self.config.limits.max_topic_len {
            return Err(CommandError::TopicInvalid("topic name too long"));
        }
        Ok(())
    }

    pub(super) fn chunk_size(&self) -> usize {
        self.config
            .limits
            .max_message_size
            .saturating_sub(CHUNK_OVERHEAD + self.config.limits.max_topic_len)
            .max(1)
    }

    /// Delivers a cached message that arrived while this node was not subscribed.
    pub(super) fn deliver_if_missed(&mut self, id: MsgId, now: Instant) {
        let Some(c) = self.broadcast.cache.get(&id) else {
            return;
        };
        if c.delivered
            || id.origin == self.me
            || !self.broadcast.subscriptions.contains_key(&c.gossip.topic)
        {
            return;
        }
        let g = c.gossip.clone();
        self.deliver(g, now);
    }

    pub(super) fn deliver(&mut self, g: Gossip, now: Instant) {
        if !self.broadcast.subscriptions.contains_key(&g.topic) {
            return;
        }
        if let Some(c) = self.broadcast.cache.get_mut(&g.id) {
            c.delivered = true;
        }
        let hops = g.round;
        let Some(part) = g.part else {
            if self.broadcast.subscriptions.contains_key(&g.topic) {
                self.stats.messages_delivered += 1;
                self.emit(Event::Message {
                    topic: g.topic,
                    from: g.id.origin,
                    seq: g.id.seq,
                    data: g.data,
                    hops,
                });
            }
            return;
        };
        if !self.broadcast.subscriptions.contains_key(&g.topic) {
            return;
        }
        let key = (g.id.origin, part.first);
        if !self.broadcast.partials.contains_key(&key)
            && self.broadcast.partials.len() >= self.config.broadcast.max_reassemblies
        {
            // Make room by dropping the oldest unfinished payload.
            let oldest = self
                .broadcast
                .partials
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.broadcast.partials.remove(&k);
                self.stats.reassemblies_dropped += 1;
            }
        }
        let partial = self
            .broadcast
            .partials
            .entry(key)
            .or_insert_with(|| Partial {
                topic: g.topic.clone(),
                count: part.count,
                parts: LiteMap::new(),
                hops: 0,
                started: now,
            });
        if partial.count != part.count || partial.topic != g.topic {
            self.stats.bad_broadcast_messages += 1;
            return;
        }
        partial.hops = partial.hops.max(hops);
        partial.parts.insert(part.index, g.data);
        if partial.parts.len() == partial.count as usize {
            let done = self.broadcast.partials.remove(&key).expect("present");
            let data: Vec<u8> = done
                .parts
                .into_tuple_vec()
                .into_iter()
                .flat_map(|(_, part)| part)
                .collect();
            self.stats.messages_delivered += 1;
            self.emit(Event::Message {
                topic: done.topic,
                from: key.0,
                seq: key.1,
                data,
                hops: done.hops,
            });
        }
    }

    pub(crate) fn on_history_request(
        &mut self,
        from: PeerId,
        topic: String,
        max_age_ms: u64,
        now: Instant,
    ) {
        let max_age = Duration::from_millis(max_age_ms);
        let Some(ids) = self.broadcast.by_topic.get(&topic) else {
            return;
        };
        let messages: Vec<Gossip> = ids
            .iter()
            .filter_map(|id| self.broadcast.cache.get(id))
            .filter(|c| now.saturating_since(c.at) <= max_age)
            .map(|c| c.gossip.clone())
            .collect();
        let budget = self.chunk_size();
        let batches =
            crate::record::batches(messages, budget, |g| g.data.len() + g.topic.len() + 64);
        for batch in batches {
            self.transmit(from, &Message::History { messages: batch });
        }
    }

    pub(crate) fn on_history(&mut self, messages: Vec<Gossip>, now: Instant) {
        for g in messages {
            if !self.valid_gossip(&g) {
                self.stats.bad_broadcast_messages += 1;
                continue;
            }
            if g.id.origin == self.me {
                continue;
            }
            if !self.broadcast.seen.contains_key(&g.id) {
                self.accept(g, None, now);
            } else {
                self.deliver_if_missed(g.id, now);
            }
        }
    }
}
