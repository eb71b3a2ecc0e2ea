//! Application state sync, pull model: the application registers a [`StateSync`] handler
//! and the node runs one exchange with a random neighbor every
//! [`crate::StateSyncConfig::interval`], and one with every new neighbor, so application
//! state (a CRDT, a key-value map, a document) converges without the application writing
//! any networking.
//!
//! One exchange: this node sends [`StateSync::pull_request`] as a `StatePull`; the neighbor
//! answers with [`StateSync::answer`] in a `StatePush`; this node hands that to
//! [`StateSync::merge`]. Requests and answers travel in one frame each (at most
//! `Limits::max_message_size` less a few bytes); larger ones are not sent and are counted
//! in `Stats::state_sync_refused`.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::identity::PeerId;
use crate::node::Node;
use crate::time::Instant;
use crate::wire::Message;

/// Bytes a state-sync message needs besides the application's bytes.
const STATE_OVERHEAD: usize = 16;

/// The application's side of state sync. Called synchronously from inside the node's
/// `handle_*` methods: keep it quick and do not call back into the node.
pub trait StateSync: Send {
    /// What to ask a neighbor with (for example a digest or version vector of own state).
    fn pull_request(&mut self) -> Vec<u8>;
    /// The answer to a neighbor's pull request (for example what it lacks); `None` sends
    /// nothing.
    fn answer(&mut self, from: PeerId, request: &[u8]) -> Option<Vec<u8>>;
    /// Takes in a neighbor's answer to this node's pull request.
    fn merge(&mut self, from: PeerId, response: &[u8]);
}

impl Node {
    /// Registers the application's state-sync handler (replacing any earlier one). The
    /// first exchanges start at once with every current neighbor.
    pub fn set_state_sync(&mut self, handler: Box<dyn StateSync>) {
        self.state_sync = Some(handler);
        for peer in self.neighbors() {
            self.state_pull(peer);
        }
    }

    /// Removes the state-sync handler; exchanges stop and incoming ones are ignored.
    pub fn clear_state_sync(&mut self) -> Option<Box<dyn StateSync>> {
        self.state_sync.take()
    }

    /// The largest request or answer a state-sync handler can have sent.
    pub fn max_state_sync_payload(&self) -> usize {
        self.config
            .limits
            .max_message_size
            .saturating_sub(STATE_OVERHEAD)
    }

    /// Starts one exchange with `peer` (a neighbor), if a handler is set.
    pub(crate) fn state_pull(&mut self, peer: PeerId) {
        let Some(handler) = self.state_sync.as_mut() else {
            return;
        };
        let data = handler.pull_request();
        if data.len() > self.max_state_sync_payload() {
            self.stats.state_sync_refused += 1;
            return;
        }
        self.transmit(peer, &Message::StatePull { data });
    }

    /// The periodic exchange, with one random neighbor.
    pub(crate) fn state_sync_tick(&mut self) {
        if self.state_sync.is_none() {
            return;
        }
        let neighbors = self.neighbors();
        if let Some(peer) = self.pick(&neighbors) {
            self.state_pull(peer);
        }
    }

    pub(crate) fn on_state_pull(&mut self, from: PeerId, data: Vec<u8>) {
        let max = self.max_state_sync_payload();
        let Some(handler) = self.state_sync.as_mut() else {
            self.stats.state_sync_refused += 1;
            return;
        };
        let Some(answer) = handler.answer(from, &data) else {
            return;
        };
        if answer.len() > max {
            self.stats.state_sync_refused += 1;
            return;
        }
        self.transmit(from, &Message::StatePush { data: answer });
    }

    pub(crate) fn on_state_push(&mut self, from: PeerId, data: Vec<u8>, _now: Instant) {
        match self.state_sync.as_mut() {
            Some(handler) => handler.merge(from, &data),
            None => self.stats.state_sync_refused += 1,
        }
    }
}
