//! Direct messages: [`Node::send`] and [`Node::request`] / [`Node::respond`] to any member,
//! neighbor or not, relayed hop by hop over the overlay.
//!
//! Each hop routes a [`Routed`] message the same way: deliver it if it is addressed here;
//! else hand it straight to the target when the target is a neighbor; else to the
//! neighbor the target's own routed messages last came from (a reverse path, learned as in
//! AODV); else to one neighbor whose active view (learned from its `Views`) holds the
//! target; else flood it to every neighbor but the one it came from while its `ttl` lasts.
//! Copies are recognised by (origin, id) and dropped, so floods and loops end. So the first
//! message to a far member floods, its acknowledgement or response comes back along the
//! path the flood found, and later messages between the two follow that path. A send is
//! acknowledged and a request answered by a routed message back. While the overlay
//! rewires, a hop can hand a message to a link that is just closing; so a send or request
//! with no answer after [`crate::DirectConfig::retry_interval`] goes again, flooded, with
//! its attempt number raised. Its target delivers it once, acknowledges every copy, and
//! answers a repeated request from a small cache of its answers. When no answer comes
//! within [`crate::DirectConfig::timeout`] the sender gets [`Event::DirectFailed`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use litemap::LiteMap;

use crate::event::Event;
use crate::identity::PeerId;
use crate::membership::MemberState;
use crate::node::{CommandError, Link, Node};
use crate::time::Instant;
use crate::wire::{Message, Routed, RoutedBody};

/// Bytes a routed message needs besides its payload (ids, ttl, tags, length prefixes).
const ROUTED_OVERHEAD: usize = 128;
/// Answers to requests kept to answer a retransmitted request again, at most.
const ANSWER_CACHE: usize = 32;

/// A routed message's identity without its attempt: origin and id.
type SeenKey = (PeerId, u64);

/// The bit of `attempt` in a [`Direct::seen`] value; attempts from 63 on share the last
/// bit (a sender gives up long before: one attempt per `retry_interval` until `timeout`).
fn attempt_bit(attempt: u8) -> u64 {
    1 << attempt.min(63)
}

/// Book-keeping for direct messages.
#[derive(Debug, Default)]
pub(crate) struct Direct {
    /// The id the next routed message this node originates gets.
    next_id: u64,
    /// Sends and requests waiting for their acknowledgement or response.
    pending: LiteMap<u64, Pending>,
    /// Recently seen (origin, id) pairs and, as bits ([`attempt_bit`]), the attempts of
    /// each seen, to drop copies. (A map of the same shape as the broadcast's seen ids, so
    /// the browser package carries one copy of its code.)
    seen: BTreeMap<SeenKey, u64>,
    /// The same pairs, oldest first, to evict beyond capacity.
    seen_order: VecDeque<SeenKey>,
    /// This node's answers to recent requests, by (asker, request id).
    answers: LiteMap<(PeerId, u64), Vec<u8>>,
    /// The keys of `answers`, oldest first.
    answer_order: VecDeque<(PeerId, u64)>,
    /// Reverse paths: the neighbor the newest routed message from a member came through.
    routes: LiteMap<PeerId, PeerId>,
    /// Members in `routes`, oldest entry first, to evict beyond capacity.
    route_order: VecDeque<PeerId>,
}

/// A send or request waiting for its answer.
#[derive(Debug, Clone)]
struct Pending {
    to: PeerId,
    deadline: Instant,
    request: bool,
    /// When it is sent again if still unanswered (`None`: never).
    retry_at: Option<Instant>,
    /// The attempt number of the latest transmission.
    attempt: u8,
    /// The payload, kept for retransmissions.
    data: Vec<u8>,
}

impl Direct {
    /// Starts this node's ids at `start` (random, so a restart does not reuse ids).
    pub(crate) fn start_ids(&mut self, start: u64) {
        self.next_id = start;
    }

    /// The earliest deadline or retransmission of a pending send or request.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.retry_at.map_or(p.deadline, |r| r.min(p.deadline)))
            .min()
    }

    /// Whether another attempt of (origin, id) than `attempt` was seen here.
    fn seen_other_attempt(&self, origin: PeerId, id: u64, attempt: u8) -> bool {
        self.seen
            .get(&(origin, id))
            .is_some_and(|bits| bits & !attempt_bit(attempt) != 0)
    }

    /// Keeps this node's answer to request `id` from `asker`, for a retransmitted request.
    fn keep_answer(&mut self, asker: PeerId, id: u64, data: Vec<u8>) {
        if self.answers.insert((asker, id), data).is_none() {
            self.answer_order.push_back((asker, id));
            while self.answer_order.len() > ANSWER_CACHE {
                if let Some(old) = self.answer_order.pop_front() {
                    self.answers.remove(&old);
                }
            }
        }
    }

    /// Remembers `attempt` of `key`; false when it was already seen.
    fn remember(&mut self, key: SeenKey, attempt: u8, capacity: usize) -> bool {
        let bit = attempt_bit(attempt);
        if let Some(bits) = self.seen.get_mut(&key) {
            let new = *bits & bit == 0;
            *bits |= bit;
            return new;
        }
        self.seen.insert(key, bit);
        self.seen_order.push_back(key);
        while self.seen_order.len() > capacity.max(1) {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// Learns that `origin`'s messages arrive through neighbor `via`.
    fn learn_route(&mut self, origin: PeerId, via: PeerId, capacity: usize) {
        if self.routes.insert(origin, via).is_none() {
            self.route_order.push_back(origin);
            while self.route_order.len() > capacity.max(1) {
                if let Some(old) = self.route_order.pop_front() {
                    self.routes.remove(&old);
                }
            }
        }
    }
}

impl Node {
    /// Sends `data` to member `to`, which need not be a neighbor. Returns the message's id;
    /// [`Event::Delivered`] with it follows when `to` acknowledges, or
    /// [`Event::DirectFailed`] when it does not within `DirectConfig::timeout`.
    pub fn send(
        &mut self,
        to: PeerId,
        data: impl Into<Vec<u8>>,
        now: Instant,
    ) -> Result<u64, CommandError> {
        self.originate(to, data.into(), false, now)
    }

    /// Sends a request to member `to`; its application answers with [`Node::respond`].
    /// Returns the request's id: [`Event::Response`] with it follows, or
    /// [`Event::DirectFailed`] when no response comes within `DirectConfig::timeout`.
    pub fn request(
        &mut self,
        to: PeerId,
        data: impl Into<Vec<u8>>,
        now: Instant,
    ) -> Result<u64, CommandError> {
        self.originate(to, data.into(), true, now)
    }

    /// Answers request `id` from member `to` (both from [`Event::Request`]).
    pub fn respond(
        &mut self,
        to: PeerId,
        id: u64,
        data: impl Into<Vec<u8>>,
        now: Instant,
    ) -> Result<(), CommandError> {
        let data = data.into();
        self.check_direct(to, data.len())?;
        self.direct.keep_answer(to, id, data.clone());
        self.reply(to, RoutedBody::Response { request: id, data }, now);
        self.flush_push();
        Ok(())
    }

    /// Largest payload `send`, `request` and `respond` accept (they travel in one frame).
    pub fn max_direct_payload(&self) -> usize {
        self.config
            .limits
            .max_message_size
            .saturating_sub(ROUTED_OVERHEAD)
    }

    fn check_direct(&self, to: PeerId, size: usize) -> Result<(), CommandError> {
        if self.left {
            return Err(CommandError::Left);
        }
        if to == self.me {
            return Err(CommandError::NotToSelf);
        }
        let live = self
            .members
            .member(&to)
            .is_some_and(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect));
        if !live {
            return Err(CommandError::UnknownMember(to));
        }
        let max = self.max_direct_payload();
        if size > max {
            return Err(CommandError::PayloadTooLarge { size, max });
        }
        Ok(())
    }

    fn originate(
        &mut self,
        to: PeerId,
        data: Vec<u8>,
        request: bool,
        now: Instant,
    ) -> Result<u64, CommandError> {
        self.check_direct(to, data.len())?;
        if self.direct.pending.len() >= self.config.direct.max_pending {
            return Err(CommandError::TooManyPending(self.config.direct.max_pending));
        }
        let body = if request {
            RoutedBody::Request(data.clone())
        } else {
            RoutedBody::Send(data.clone())
        };
        let id = self.reply(to, body, now);
        let c = &self.config.direct;
        let deadline = now + c.timeout;
        let retry_at = (!c.retry_interval.is_zero()).then(|| now + c.retry_interval);
        self.direct.pending.insert(
            id,
            Pending {
                to,
                deadline,
                request,
                retry_at,
                attempt: 0,
                data,
            },
        );
        self.flush_push();
        Ok(id)
    }

    /// Originates a routed message to `to` and returns its id.
    fn reply(&mut self, to: PeerId, body: RoutedBody, now: Instant) -> u64 {
        self.reply_as(to, body, 0, now)
    }

    /// Originates `body` for `to` as attempt `attempt`: an answer to a retransmitted copy
    /// carries that copy's attempt number, so it floods like the copy did (the reverse
    /// path the first answer took may be what lost it).
    fn reply_as(&mut self, to: PeerId, body: RoutedBody, attempt: u8, now: Instant) -> u64 {
        let id = self.direct.next_id;
        self.direct.next_id = self.direct.next_id.wrapping_add(1);
        let msg = Routed {
            origin: self.me,
            target: to,
            id,
            attempt,
            ttl: self.config.direct.flood_ttl,
            body,
        };
        self.route(None, msg, now);
        id
    }

    /// A routed message arrived from neighbor `from`.
    pub(crate) fn on_routed(&mut self, from: PeerId, msg: Routed, now: Instant) {
        self.route(Some(from), msg, now);
    }

    fn route(&mut self, from: Option<PeerId>, mut msg: Routed, now: Instant) {
        let capacity = self.config.direct.seen_capacity;
        if !self
            .direct
            .remember((msg.origin, msg.id), msg.attempt, capacity)
        {
            self.stats.direct_duplicates += 1;
            return;
        }
        if let Some(via) = from {
            let capacity = self.config.direct.route_capacity;
            self.direct.learn_route(msg.origin, via, capacity);
        }
        if msg.target == self.me {
            self.accept_routed(msg, now);
            return;
        }
        if from.is_some() {
            // Counted as relayed unless it is dropped below.
            self.stats.direct_relayed += 1;
        }
        let target = msg.target;
        if matches!(self.links.get(&target), Some(Link::Active(_))) {
            self.transmit(target, &Message::Routed(msg));
            return;
        }
        // A retransmission floods: the path the first attempt took may be gone.
        if msg.attempt == 0 {
            let back = self.direct.routes.get(&target).copied();
            if let Some(via) = back
                .filter(|v| Some(*v) != from && matches!(self.links.get(v), Some(Link::Active(_))))
            {
                self.transmit(via, &Message::Routed(msg));
                return;
            }
            let via: Vec<PeerId> = self
                .links
                .iter()
                .filter(|(p, l)| {
                    Some(**p) != from && matches!(l, Link::Active(n) if n.view.contains(&target))
                })
                .map(|(p, _)| *p)
                .collect();
            if let Some(v) = self.pick(&via) {
                self.transmit(v, &Message::Routed(msg));
                return;
            }
        }
        if msg.ttl == 0 {
            self.drop_routed(from);
            return;
        }
        msg.ttl -= 1;
        let flood: Vec<PeerId> = self
            .neighbors()
            .into_iter()
            .filter(|p| Some(*p) != from)
            .collect();
        if flood.is_empty() {
            self.drop_routed(from);
        }
        for n in flood {
            self.transmit(n, &Message::Routed(msg.clone()));
        }
    }

    fn drop_routed(&mut self, from: Option<PeerId>) {
        self.stats.direct_dropped += 1;
        if from.is_some() {
            self.stats.direct_relayed -= 1;
        }
    }

    fn accept_routed(&mut self, msg: Routed, now: Instant) {
        let from = msg.origin;
        // An earlier (or later) attempt of the same send or request arrived already.
        let again = self.direct.seen_other_attempt(from, msg.id, msg.attempt);
        match msg.body {
            RoutedBody::Send(data) => {
                self.reply_as(from, RoutedBody::Ack { of: msg.id }, msg.attempt, now);
                if !again {
                    self.emit(Event::Direct { from, data });
                }
            }
            RoutedBody::Request(data) if !again => self.emit(Event::Request {
                from,
                id: msg.id,
                data,
            }),
            RoutedBody::Request(_) => {
                // Answered already: the answer was lost on the way; send it again. Not
                // answered yet: the application's answer will go when it comes.
                if let Some(data) = self.direct.answers.get(&(from, msg.id)).cloned() {
                    let body = RoutedBody::Response {
                        request: msg.id,
                        data,
                    };
                    self.reply_as(from, body, msg.attempt, now);
                }
            }
            RoutedBody::Ack { of } => {
                if self.take_pending(of, from, false) {
                    self.emit(Event::Delivered { to: from, id: of });
                }
            }
            RoutedBody::Response { request, data } => {
                if self.take_pending(request, from, true) {
                    self.emit(Event::Response {
                        from,
                        id: request,
                        data,
                    });
                }
            }
        }
    }

    /// Removes pending `id` if it is a send (or request) to `from`; counts a mismatch.
    fn take_pending(&mut self, id: u64, from: PeerId, request: bool) -> bool {
        match self.direct.pending.get(&id) {
            Some(p) if p.to == from && p.request == request => {
                self.direct.pending.remove(&id);
                true
            }
            _ => {
                self.stats.direct_unmatched += 1;
                false
            }
        }
    }

    /// Sends again the sends and requests still unanswered at their retry time, and
    /// reports those whose answer did not come in time.
    pub(crate) fn expire_direct(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .direct
            .pending
            .iter()
            .filter(|(_, p)| p.deadline > now && p.retry_at.is_some_and(|r| r <= now))
            .map(|(id, _)| *id)
            .collect();
        let interval = self.config.direct.retry_interval;
        for id in due {
            let Some(p) = self.direct.pending.get_mut(&id) else {
                continue;
            };
            p.attempt = p.attempt.saturating_add(1);
            p.retry_at = Some(now + interval);
            let body = if p.request {
                RoutedBody::Request(p.data.clone())
            } else {
                RoutedBody::Send(p.data.clone())
            };
            let msg = Routed {
                origin: self.me,
                target: p.to,
                id,
                attempt: p.attempt,
                ttl: self.config.direct.flood_ttl,
                body,
            };
            self.stats.direct_retries += 1;
            self.route(None, msg, now);
        }
        let expired: Vec<(u64, PeerId)> = self
            .direct
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, p)| (*id, p.to))
            .collect();
        for (id, to) in expired {
            self.direct.pending.remove(&id);
            self.emit(Event::DirectFailed { to, id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_attempt_of_an_id_is_seen_once_and_the_oldest_ids_are_forgotten() {
        let a = PeerId([1; 32]);
        let mut d = Direct::default();
        assert!(d.remember((a, 7), 0, 2));
        assert!(!d.remember((a, 7), 0, 2), "the same attempt again");
        assert!(!d.seen_other_attempt(a, 7, 0));
        assert!(d.seen_other_attempt(a, 7, 1));
        assert!(d.remember((a, 7), 1, 2), "a retransmission is new");
        assert!(d.seen_other_attempt(a, 7, 0));
        assert!(d.remember((a, 7), 63, 2));
        assert!(
            !d.remember((a, 7), 200, 2),
            "attempts from 63 on share a bit"
        );
        assert!(!d.seen_other_attempt(a, 8, 0), "another id");

        assert!(d.remember((a, 8), 0, 2));
        assert!(d.remember((a, 9), 0, 2));
        assert_eq!(
            d.seen.len(),
            2,
            "capacity counts ids, oldest forgotten first"
        );
        assert!(d.remember((a, 7), 0, 2), "forgotten");
    }
}
