//! Rooms: who is joined where, the contacts a joining client receives, and relaying
//! signals between members of one room.
//!
//! One mutex guards the whole table; every critical section is a few map operations.
//! Delivery never blocks: a client's queue is bounded and a full queue disconnects that
//! client (slow reader); the seed peer's inbox is unbounded but drained by its own task.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use axum::extract::ws::Utf8Bytes;
use rumor_core::PeerId;
use rumor_signal_proto::{ErrorCode, MemberInfo, ServerMessage, WILL_RECIPIENTS};
use tokio::sync::{mpsc, Notify};

use crate::config::Config;
use crate::driver::SignalIn;
use crate::metrics as m;
use crate::seed::{self, SeedHandle};

/// Something queued for a client's WebSocket writer.
#[derive(Debug)]
pub enum Outgoing {
    /// A text frame, already serialized.
    Text(Utf8Bytes),
    /// Send this error, then a close frame with its close code, then stop.
    Close(ErrorCode, String),
}

/// How to reach one connected client: its bounded queue and the switch that disconnects it.
#[derive(Debug, Clone)]
pub struct ClientTx {
    /// The client's send queue (bounded by `--send-queue`).
    pub queue: mpsc::Sender<Outgoing>,
    /// Notified when the client must be dropped because its queue is full.
    pub kill: Arc<Notify>,
}

impl ClientTx {
    /// Queues `out`; a full queue disconnects the client. False if it could not be queued.
    pub fn deliver(&self, out: Outgoing) -> bool {
        match self.queue.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                m::refusal(ErrorCode::SlowReader);
                self.kill.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// A member's way in: a WebSocket client, or the room's seed peer.
#[derive(Debug, Clone)]
enum Delivery {
    Client(ClientTx),
    Seed(mpsc::UnboundedSender<SignalIn>),
}

#[derive(Debug)]
struct Entry {
    delivery: Delivery,
    seq: u64,
}

struct Room {
    members: HashMap<PeerId, Entry>,
    /// Join order of the clients, for picking the newest as contacts.
    order: BTreeMap<u64, PeerId>,
    seed: Option<SeedHandle>,
}

impl Room {
    fn clients(&self) -> usize {
        self.order.len()
    }
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    clients: usize,
    seq: u64,
}

/// Counts for `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Rooms in use.
    pub rooms: usize,
    /// Clients joined (seed peers not counted).
    pub peers: usize,
    /// Seed peers running.
    pub seeds: usize,
}

/// The room table.
pub struct Rooms {
    inner: Mutex<Inner>,
    config: Arc<Config>,
    me: Weak<Rooms>,
}

impl Rooms {
    /// An empty table.
    pub fn new(config: Arc<Config>) -> Arc<Rooms> {
        Arc::new_cyclic(|me| Rooms {
            inner: Mutex::new(Inner::default()),
            config,
            me: me.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds client `peer` to `room` (creating the room, and its seed peer, if needed) and
    /// returns the contacts to send it: the seed first, then the newest clients.
    pub fn join(
        &self,
        room: &str,
        peer: PeerId,
        tx: ClientTx,
    ) -> Result<Vec<MemberInfo>, ErrorCode> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if !inner.rooms.contains_key(room) {
            if inner.rooms.len() >= self.config.max_rooms {
                return Err(ErrorCode::TooManyRooms);
            }
            let seed = if self.config.no_seed {
                None
            } else {
                Some(seed::spawn(room.to_owned(), self.me.clone(), &self.config))
            };
            inner.rooms.insert(
                room.to_owned(),
                Room {
                    members: HashMap::new(),
                    order: BTreeMap::new(),
                    seed,
                },
            );
            if let Some(seed) = &inner.rooms[room].seed {
                let (id, inbox) = (seed.id(), seed.inbox());
                inner
                    .rooms
                    .get_mut(room)
                    .expect("just inserted")
                    .members
                    .insert(
                        id,
                        Entry {
                            delivery: Delivery::Seed(inbox),
                            seq: 0,
                        },
                    );
            }
            metrics::gauge!(m::ROOMS).increment(1.0);
        }
        let r = inner.rooms.get_mut(room).expect("room exists");
        if r.members.contains_key(&peer) {
            self.drop_if_empty(inner, room);
            return Err(ErrorCode::PeerIdInUse);
        }
        if r.clients() >= self.config.max_peers_per_room {
            self.drop_if_empty(inner, room);
            return Err(ErrorCode::RoomFull);
        }
        let mut contacts = Vec::new();
        if let Some(seed) = &r.seed {
            contacts.push(MemberInfo {
                peer: seed.id().to_hex(),
                role: "seed".into(),
            });
        }
        for id in r.order.values().rev() {
            if contacts.len() >= self.config.contacts {
                break;
            }
            contacts.push(MemberInfo {
                peer: id.to_hex(),
                role: "peer".into(),
            });
        }
        contacts.truncate(self.config.contacts);
        inner.seq += 1;
        let seq = inner.seq;
        r.members.insert(
            peer,
            Entry {
                delivery: Delivery::Client(tx),
                seq,
            },
        );
        r.order.insert(seq, peer);
        inner.clients += 1;
        metrics::gauge!(m::MEMBERS).increment(1.0);
        Ok(contacts)
    }

    fn drop_if_empty(&self, inner: &mut Inner, room: &str) {
        if inner.rooms.get(room).is_some_and(|r| r.clients() == 0) {
            // Dropping the room drops its seed handle, which stops the seed peer.
            inner.rooms.remove(room);
            metrics::gauge!(m::ROOMS).decrement(1.0);
        }
    }

    /// Removes client `peer` from `room`, first relaying its `will` (if any) to the seed
    /// peer, or with none to the newest [`WILL_RECIPIENTS`] other clients; the last client
    /// out closes the room and stops its seed peer.
    pub fn leave(&self, room: &str, peer: PeerId, will: Option<serde_json::Value>) {
        if let Some(data) = will {
            let mut relayed = false;
            for to in self.will_recipients(room, peer) {
                relayed |= self.relay(room, peer, to, data.clone()).is_ok();
            }
            if relayed {
                metrics::counter!(m::WILLS_RELEASED).increment(1);
            }
        }
        let mut inner = self.lock();
        let Some(r) = inner.rooms.get_mut(room) else {
            return;
        };
        let Some(entry) = r.members.get(&peer) else {
            return;
        };
        if !matches!(entry.delivery, Delivery::Client(_)) {
            return;
        }
        let seq = entry.seq;
        r.members.remove(&peer);
        r.order.remove(&seq);
        inner.clients -= 1;
        metrics::gauge!(m::MEMBERS).decrement(1.0);
        self.drop_if_empty(&mut inner, room);
    }

    /// Tells `room`'s seed peer (if any) that client `peer` joined, once the client has been
    /// sent its `joined`: the seed sends it the member table through the server at once,
    /// without waiting for its first offer.
    pub fn announce(&self, room: &str, peer: PeerId) {
        let inner = self.lock();
        if let Some(seed) = inner.rooms.get(room).and_then(|r| r.seed.as_ref()) {
            let _ = seed.inbox().send(SignalIn::Arrived(peer));
        }
    }

    /// Who gets `peer`'s will: the room's seed peer, or the newest other clients.
    fn will_recipients(&self, room: &str, peer: PeerId) -> Vec<PeerId> {
        let inner = self.lock();
        let Some(r) = inner.rooms.get(room) else {
            return Vec::new();
        };
        match &r.seed {
            Some(seed) => vec![seed.id()],
            None => r
                .order
                .values()
                .rev()
                .filter(|id| **id != peer)
                .take(WILL_RECIPIENTS)
                .copied()
                .collect(),
        }
    }

    /// Relays `data` from `from` to `to` inside `room`, `from` stamped here.
    /// `Err(UnknownPeer)` when `to` is not in that room.
    pub fn relay(
        &self,
        room: &str,
        from: PeerId,
        to: PeerId,
        data: serde_json::Value,
    ) -> Result<(), ErrorCode> {
        let delivery = {
            let inner = self.lock();
            let r = inner.rooms.get(room).ok_or(ErrorCode::UnknownPeer)?;
            if !r.members.contains_key(&from) {
                return Err(ErrorCode::UnknownPeer);
            }
            r.members
                .get(&to)
                .map(|e| e.delivery.clone())
                .ok_or(ErrorCode::UnknownPeer)?
        };
        match delivery {
            Delivery::Client(tx) => {
                let msg = ServerMessage::Signal {
                    from: from.to_hex(),
                    data,
                };
                let text = serde_json::to_string(&msg).expect("a Value always serializes");
                if tx.deliver(Outgoing::Text(text.into())) {
                    metrics::counter!(m::SIGNALS_RELAYED).increment(1);
                }
            }
            Delivery::Seed(inbox) => {
                if inbox.send(SignalIn::Signal { from, data }).is_ok() {
                    metrics::counter!(m::SIGNALS_RELAYED).increment(1);
                }
            }
        }
        Ok(())
    }

    /// Current counts.
    pub fn counts(&self) -> Counts {
        let inner = self.lock();
        Counts {
            rooms: inner.rooms.len(),
            peers: inner.clients,
            seeds: inner.rooms.values().filter(|r| r.seed.is_some()).count(),
        }
    }

    /// Drops every room (stopping the seed peers); used at shutdown.
    pub fn clear(&self) {
        let mut inner = self.lock();
        let rooms = inner.rooms.len();
        let clients = inner.clients;
        inner.rooms.clear();
        inner.clients = 0;
        metrics::gauge!(m::ROOMS).decrement(rooms as f64);
        metrics::gauge!(m::MEMBERS).decrement(clients as f64);
    }
}

/// True for a valid room name: 1 to 64 bytes of ASCII letters, digits, `-`, `_`, `.`.
pub fn valid_room_name(room: &str) -> bool {
    (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
