//! Drives a [`rumor_core::Node`] in the simulator, mapping [`PeerId`]s to indices.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rumor_core::record::SignedRecord;
use rumor_core::{
    Config, Ed25519, Event, Identity, Instant, Node, Output, PeerId, Signature, Verify,
};

use crate::sim::{Act, Idx, Input, Peer, Seen};

/// Index ↔ id mapping shared by all simulated Rumor nodes.
#[derive(Debug, Default)]
pub struct Registry {
    ids: Vec<PeerId>,
    index: HashMap<PeerId, Idx>,
}

impl Registry {
    /// Records that node `idx` has id `id`.
    pub fn insert(&mut self, idx: Idx, id: PeerId) {
        if self.ids.len() <= idx {
            self.ids.resize(idx + 1, PeerId([0; 32]));
        }
        self.ids[idx] = id;
        self.index.insert(id, idx);
    }

    /// The id of node `idx`.
    pub fn id(&self, idx: Idx) -> PeerId {
        self.ids[idx]
    }

    /// The index of `id`, if it belongs to a simulated node.
    pub fn index(&self, id: &PeerId) -> Option<Idx> {
        self.index.get(id).copied()
    }
}

/// The registry as shared between nodes.
pub type SharedRegistry = Rc<RefCell<Registry>>;

/// An ed25519 checker that remembers answers, shared by every simulated node: the answer
/// depends only on the inputs, so this changes no outcome, only the simulator's speed.
/// It also hands every node the same copy of each verified record ([`Verify::share`]), so
/// a group of n holds about n records instead of n² (what lets n = 10,000 fit in memory).
#[derive(Clone, Default)]
pub struct MemoVerifier {
    seen: Arc<Mutex<HashMap<Vec<u8>, bool>>>,
    records: Arc<Mutex<SharedRecords>>,
}

/// Verified records by owner and signature, one copy each for all nodes.
type SharedRecords = HashMap<(PeerId, [u8; 64]), Arc<SignedRecord>>;

impl Verify for MemoVerifier {
    fn verify(&self, id: &PeerId, msg: &[u8], sig: &Signature) -> bool {
        let mut key = Vec::with_capacity(96 + msg.len());
        key.extend_from_slice(id.as_bytes());
        key.extend_from_slice(&sig.to_bytes());
        key.extend_from_slice(msg);
        let mut seen = self.seen.lock().expect("single-threaded simulator");
        *seen
            .entry(key)
            .or_insert_with(|| Ed25519.verify(id, msg, sig))
    }

    fn share(&self, verified: Arc<SignedRecord>) -> Arc<SignedRecord> {
        let key = (verified.record.id, verified.signature.to_bytes());
        let mut records = self.records.lock().expect("single-threaded simulator");
        let kept = records.entry(key).or_insert_with(|| verified.clone());
        // A valid signature covers exactly one record, so the kept copy is equal; were it
        // not, the node keeps its own.
        if *kept == verified {
            kept.clone()
        } else {
            verified
        }
    }
}

/// A Rumor node in the simulator.
pub struct RumorPeer {
    /// The protocol state machine.
    pub node: Node,
    registry: SharedRegistry,
    next: Option<u64>,
    /// Application events in arrival order, with their time, when `record_events` is on.
    pub events: Vec<(u64, Event)>,
    /// Keep every event in `events` (off by default to save memory in large runs).
    pub record_events: bool,
    /// Answers every [`Event::Request`] at once with what it returns, when set.
    pub responder: Option<Responder>,
    payloads_seen: u64,
}

/// An application that answers requests: given the requester and the request's bytes,
/// returns the response's bytes.
pub type Responder = Box<dyn FnMut(PeerId, &[u8]) -> Vec<u8>>;

impl RumorPeer {
    /// Wraps `node`; registers its id as `idx`.
    pub fn new(idx: Idx, node: Node, registry: SharedRegistry) -> Self {
        registry.borrow_mut().insert(idx, node.id());
        RumorPeer {
            node,
            registry,
            next: None,
            events: Vec::new(),
            record_events: false,
            responder: None,
            payloads_seen: 0,
        }
    }

    /// The deterministic identity of simulated node `idx` under `seed`.
    pub fn identity(seed: u64, idx: Idx) -> Identity {
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        secret[8..16].copy_from_slice(&(idx as u64).to_le_bytes());
        secret[31] = 0x42;
        Identity::from_secret(secret)
    }

    /// Builds a node for index `idx` with a shared memoizing verifier.
    pub fn build(
        seed: u64,
        idx: Idx,
        config: Config,
        now: u64,
        verifier: &MemoVerifier,
        registry: SharedRegistry,
    ) -> Self {
        let mut node = Node::new(
            Self::identity(seed, idx),
            config,
            seed.wrapping_mul(31).wrapping_add(idx as u64),
            Instant::from_millis(now),
        );
        node.set_verifier(Box::new(verifier.clone()));
        RumorPeer::new(idx, node, registry)
    }

    fn idx(&self, id: &PeerId) -> Option<Idx> {
        self.registry.borrow().index(id)
    }

    /// The id of simulated node `idx`.
    pub fn id_of(&self, idx: Idx) -> PeerId {
        self.registry.borrow().id(idx)
    }

    /// Drains the node's outputs into simulator actions and observations.
    pub fn drain(&mut self, now: u64, acts: &mut Vec<Act>, seen: &mut Vec<(Idx, Seen)>) {
        // Payload copies received since the last drain (the subject is the receiver itself).
        let received = self.node.stats().gossip_received;
        if received > self.payloads_seen {
            if let Some(me) = self.idx(&self.node.id()) {
                for _ in self.payloads_seen..received {
                    seen.push((me, Seen::PayloadReceived));
                }
            }
            self.payloads_seen = received;
        }
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Transmit { to, bytes } => {
                    if let Some(to) = self.idx(&to) {
                        acts.push(Act::Send { to, bytes });
                    }
                }
                Output::Dial(p) => {
                    if let Some(p) = self.idx(&p) {
                        acts.push(Act::Dial(p));
                    }
                }
                Output::Hangup(p) => {
                    if let Some(p) = self.idx(&p) {
                        acts.push(Act::Hangup(p));
                    }
                }
                Output::Event(ev) => {
                    let obs = match &ev {
                        Event::MemberJoined(m) => Some((m.id, Seen::Alive)),
                        Event::MemberUpdated { member, .. } => Some((member.id, Seen::Updated)),
                        Event::MemberSuspected(id) => Some((*id, Seen::Suspect)),
                        Event::MemberFailed(id) => Some((*id, Seen::Failed)),
                        Event::MemberLeft(id) => Some((*id, Seen::Left)),
                        Event::Message {
                            from, seq, hops, ..
                        } => Some((
                            *from,
                            Seen::Delivered {
                                seq: *seq,
                                hops: *hops,
                            },
                        )),
                        Event::NeighborUp(_)
                        | Event::NeighborDown(_)
                        | Event::Direct { .. }
                        | Event::Request { .. }
                        | Event::Response { .. }
                        | Event::Delivered { .. }
                        | Event::DirectFailed { .. }
                        | Event::LeaderChanged(_) => None,
                    };
                    if let Some((id, s)) = obs {
                        if let Some(i) = self.idx(&id) {
                            seen.push((i, s));
                        }
                    }
                    if let (Event::Request { from, id, data }, Some(answer)) =
                        (&ev, self.responder.as_mut())
                    {
                        let response = answer(*from, data);
                        // A request from a member forgotten meanwhile is simply not answered.
                        let _ = self
                            .node
                            .respond(*from, *id, response, Instant::from_millis(now));
                    }
                    if self.record_events {
                        self.events.push((now, ev));
                    }
                }
                Output::Timeout(at) => {
                    self.next = Some(at.as_millis());
                    return;
                }
            }
        }
        self.next = None;
    }
}

impl Peer for RumorPeer {
    fn handle(
        &mut self,
        input: Input<'_>,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        let t = Instant::from_millis(now);
        match input {
            Input::Message { from, bytes } => {
                let from = self.id_of(from);
                // Errors are counted in the node's stats; the simulator keeps going.
                let _ = self.node.handle_message(from, bytes, t);
            }
            Input::Connected(p) => {
                let p = self.id_of(p);
                self.node.handle_connected(p, t)
            }
            Input::Disconnected(p) => {
                let p = self.id_of(p);
                self.node.handle_disconnected(p, t)
            }
            Input::DialFailed(p) => {
                let p = self.id_of(p);
                self.node.handle_dial_failed(p, t)
            }
            Input::Timeout => self.node.handle_timeout(t),
        }
        self.drain(now, acts, seen);
    }

    fn next_timeout(&self) -> Option<u64> {
        self.next
    }
}
