//! The JS API: `Rumor.join(options)` → `Room`. Its TypeScript declarations are in
//! [`crate::types`].

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise, Reflect};
use rumor_core::{Config, Event, Identity, MemberState, PeerId};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::convert::{event_to_js, js_member, payload_bytes, to_js, JsMember};
use crate::coordination::Coordination;
use crate::direct::DirectState;
use crate::driver::{Driver, DriverConfig};
use crate::signal::{normalize_url, SigEvent, Signaling};
use crate::sys::{self, error, quoted, Timer};
pub use crate::types::{JoinOptions, MemberArray, Payload, RoomStatsJs};

/// Entry point: `await Rumor.join({ url, room, meta, iceServers })`.
#[wasm_bindgen]
pub struct Rumor;

#[wasm_bindgen]
impl Rumor {
    /// Joins `room` through the rumor-signal server at `url`. Resolves once the server
    /// accepted the join (the group connects over WebRTC in the background; watch the
    /// `join` and `neighbor` events). Rejects with an `Error` that says what to fix.
    pub async fn join(options: JoinOptions) -> Result<Room, JsValue> {
        let options: JsValue = options.into();
        let opts = parse_options(&options)?;
        let secret = sys::random_bytes::<32>();
        let identity = Identity::from_secret(secret);
        let (resolve, reject, promise) = deferred();
        let inner = Rc::new_cyclic(|weak: &Weak<RoomInner>| {
            let weak_sig = weak.clone();
            let signaling = Signaling::connect(
                opts.url.clone(),
                opts.room.clone(),
                identity.clone(),
                Rc::new(move |ev| {
                    if let Some(room) = weak_sig.upgrade() {
                        room.on_signaling(ev);
                    }
                }),
            );
            let weak_ev = weak.clone();
            let mut node = Config::default();
            if let Some(n) = opts.max_neighbors {
                node.overlay.active_view_capacity = n;
            }
            let driver = Driver::new(
                identity,
                DriverConfig {
                    ice_servers: opts.ice_servers.clone(),
                    node,
                    ..DriverConfig::default()
                },
                Rc::new(signaling.sink()),
                Rc::new(move |ev| {
                    if let Some(room) = weak_ev.upgrade() {
                        room.emit(ev);
                    }
                }),
            );
            RoomInner {
                me: weak.clone(),
                driver,
                signaling,
                direct: RefCell::new(DirectState::default()),
                coordination: RefCell::new(Coordination::default()),
                listeners: RefCell::new(Listeners::default()),
                left: Cell::new(false),
                pending: RefCell::new(Some((resolve, reject))),
                join_timer: RefCell::new(None),
                pagehide: RefCell::new(None),
                contact: Cell::new(None),
            }
        });
        inner
            .driver
            .set_will_sink(Rc::new(inner.signaling.will_sink()));
        // Metadata first, so the first record others see carries it.
        let meta_result = inner.driver.with(|s| {
            let now = s.now();
            for (k, v) in &opts.meta {
                s.node().set_meta(k.clone(), v.clone(), now)?;
            }
            Ok::<(), rumor_core::CommandError>(())
        });
        if let Err(err) = meta_result {
            inner.shutdown();
            return Err(error(format!("Rumor.join: options.meta: {err}")));
        }
        let weak = Rc::downgrade(&inner);
        // Whole milliseconds in the message: formatting floats costs kilobytes of wasm.
        let timeout_ms = opts.timeout_ms;
        let shown = timeout_ms as u64;
        *inner.join_timer.borrow_mut() = Some(Timer::new(timeout_ms, move || {
            if let Some(room) = weak.upgrade() {
                room.fail_join(format!(
                    "Rumor.join: no answer from the signaling server within {shown} ms; \
                     check the url and that rumor-signal is running"
                ));
            }
        }));
        // Take the rejection path on failure; RoomInner is dropped with its listeners.
        JsFuture::from(promise).await?;
        inner.install_pagehide();
        let peer_hex = inner.driver.id().to_hex();
        Ok(Room { inner, peer_hex })
    }
}

struct Options {
    url: String,
    room: String,
    meta: Vec<(String, String)>,
    ice_servers: JsValue,
    timeout_ms: f64,
    max_neighbors: Option<usize>,
}

fn parse_options(options: &JsValue) -> Result<Options, JsValue> {
    if !options.is_object() {
        return Err(error(
            "Rumor.join: pass an options object, e.g. { url: 'ws://localhost:8080/ws', room: 'lobby' }",
        ));
    }
    let get = |key: &str| Reflect::get(options, &JsValue::from_str(key)).unwrap_or_default();
    let url = get("url").as_string().ok_or_else(|| {
        error("Rumor.join: options.url must be a string such as 'ws://localhost:8080/ws'")
    })?;
    let url = normalize_url(&url).map_err(|e| error(format!("Rumor.join: {e}")))?;
    let room = get("room")
        .as_string()
        .ok_or_else(|| error("Rumor.join: options.room must be a string such as 'lobby'"))?;
    let valid = !room.is_empty()
        && room.len() <= 64
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid {
        return Err(error(format!(
            "Rumor.join: room {} is invalid; use 1 to 64 characters from A-Z a-z 0-9 - _ .",
            quoted(&room)
        )));
    }
    let meta_js = get("meta");
    let meta = if meta_js.is_undefined() || meta_js.is_null() {
        Vec::new()
    } else {
        string_entries(&meta_js).ok_or_else(|| {
            error("Rumor.join: options.meta must be an object of string keys and string values")
        })?
    };
    let ice = get("iceServers");
    let ice_servers = if ice.is_undefined() || ice.is_null() {
        js_sys::Array::new().into()
    } else if js_sys::Array::is_array(&ice) {
        ice
    } else {
        return Err(error(
            "Rumor.join: options.iceServers must be an array of RTCIceServer, e.g. [{ urls: 'stun:stun.example.org' }]",
        ));
    };
    let timeout = get("timeoutMs");
    let timeout_ms = match timeout.as_f64() {
        Some(ms) if ms > 0.0 && ms.is_finite() => ms,
        _ if timeout.is_undefined() => 15_000.0,
        _ => {
            return Err(error(
                "Rumor.join: options.timeoutMs must be a positive number",
            ))
        }
    };
    let max = get("maxNeighbors");
    let max_neighbors = match max.as_f64() {
        Some(n) if (1.0..=64.0).contains(&n) && n.fract() == 0.0 => Some(n as usize),
        _ if max.is_undefined() => None,
        _ => {
            return Err(error(
                "Rumor.join: options.maxNeighbors must be a whole number from 1 to 64",
            ))
        }
    };
    Ok(Options {
        url,
        room,
        meta,
        ice_servers,
        timeout_ms,
        max_neighbors,
    })
}

/// The `[key, value]` pairs of a plain object whose values are all strings; `None` for
/// anything else (an array, a number, a value that is not a string).
fn string_entries(value: &JsValue) -> Option<Vec<(String, String)>> {
    if !value.is_object() || js_sys::Array::is_array(value) {
        return None;
    }
    js_sys::Object::entries(value.unchecked_ref())
        .iter()
        .map(|pair| {
            let pair: js_sys::Array = pair.unchecked_into();
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// A Promise with its resolve and reject functions.
fn deferred() -> (Function, Function, Promise) {
    let mut slots: Option<(Function, Function)> = None;
    let promise = Promise::new(&mut |resolve, reject| slots = Some((resolve, reject)));
    let (resolve, reject) = slots.expect("the Promise executor runs synchronously");
    (resolve, reject, promise)
}

#[derive(Default)]
struct Listeners {
    join: Vec<Function>,
    leave: Vec<Function>,
    update: Vec<Function>,
    message: Vec<Function>,
    neighbor: Vec<Function>,
    direct: Vec<Function>,
    leader: Vec<Function>,
}

impl Listeners {
    fn get(&mut self, event: &str) -> Result<&mut Vec<Function>, JsValue> {
        Ok(match event {
            "join" => &mut self.join,
            "leave" => &mut self.leave,
            "update" => &mut self.update,
            "message" => &mut self.message,
            "neighbor" => &mut self.neighbor,
            "direct" => &mut self.direct,
            "leader" => &mut self.leader,
            other => {
                return Err(error(format!(
                    "unknown event {}; use one of 'join', 'leave', 'update', 'message', \
                     'neighbor', 'direct', 'leader'",
                    quoted(other)
                )))
            }
        })
    }
}

pub(crate) type Settle = (Function, Function);
type Handler = Closure<dyn FnMut(JsValue)>;

pub(crate) struct RoomInner {
    /// This room, for callbacks that outlive a call (request handlers' Promises).
    pub(crate) me: Weak<RoomInner>,
    pub(crate) driver: Driver,
    signaling: Signaling,
    /// Sends and requests waiting for their answer, and the request handler.
    pub(crate) direct: RefCell<DirectState>,
    /// The state-sync handler's slot and the per-key listeners.
    pub(crate) coordination: RefCell<Coordination>,
    listeners: RefCell<Listeners>,
    pub(crate) left: Cell<bool>,
    /// The join Promise's resolve and reject, until it settles.
    pending: RefCell<Option<Settle>>,
    join_timer: RefCell<Option<Timer>>,
    pagehide: RefCell<Option<Handler>>,
    /// The first member the server listed at the last join (its seed peer when it runs
    /// one): also told of this tab's leave through the server.
    contact: Cell<Option<PeerId>>,
}

impl RoomInner {
    fn on_signaling(&self, ev: SigEvent) {
        match ev {
            SigEvent::Joined(seeds) => {
                self.contact.set(seeds.first().copied());
                self.driver.with(|s| {
                    let now = s.now();
                    if s.node().neighbors().is_empty() {
                        s.node().join(seeds, now);
                    } else {
                        // A re-join after a reconnect: members the server lists that this
                        // node does not know (a restarted seed, tabs that joined through it)
                        // are connected to, so the two sides merge.
                        for seed in seeds {
                            s.node().introduce(seed, now);
                        }
                    }
                });
                *self.join_timer.borrow_mut() = None;
                if let Some((resolve, _)) = self.pending.borrow_mut().take() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
            SigEvent::Signal(from, data) => self.driver.on_signal(from, data),
            SigEvent::Undeliverable(peer) => self.driver.undeliverable(peer),
            SigEvent::Failed(message) => self.fail_join(format!("Rumor.join: {message}")),
        }
    }

    fn fail_join(&self, message: String) {
        let pending = self.pending.borrow_mut().take();
        if let Some((_, reject)) = pending {
            self.shutdown();
            let _ = reject.call1(&JsValue::UNDEFINED, &error(message));
        }
    }

    fn shutdown(&self) {
        self.left.set(true);
        self.end_direct();
        self.end_coordination();
        *self.join_timer.borrow_mut() = None;
        self.signaling.close();
        self.driver.stop();
        self.remove_pagehide();
    }

    fn install_pagehide(self: &Rc<Self>) {
        let Ok(target) = js_sys::global().dyn_into::<web_sys::EventTarget>() else {
            return;
        };
        let weak = Rc::downgrade(self);
        let handler = Handler::new(move |_| {
            if let Some(room) = weak.upgrade() {
                room.leave();
                // The page is going away: close at once rather than after flushing.
                room.driver.stop();
            }
        });
        let _ =
            target.add_event_listener_with_callback("pagehide", handler.as_ref().unchecked_ref());
        *self.pagehide.borrow_mut() = Some(handler);
    }

    fn remove_pagehide(&self) {
        if let Some(handler) = self.pagehide.borrow_mut().take() {
            if let Ok(target) = js_sys::global().dyn_into::<web_sys::EventTarget>() {
                let _ = target.remove_event_listener_with_callback(
                    "pagehide",
                    handler.as_ref().unchecked_ref(),
                );
            }
        }
    }

    fn leave(&self) {
        if self.left.replace(true) {
            return;
        }
        self.driver.leave(self.contact.get());
        self.signaling.close();
        self.remove_pagehide();
        self.end_direct();
        self.end_coordination();
    }

    fn emit(&self, event: Event) {
        let Some(event) = self.take_direct_event(event) else {
            return;
        };
        self.key_change_event(&event);
        let (name, payload) = match event_to_js(&self.driver, event) {
            Some(x) => x,
            None => return,
        };
        let listeners = match self.listeners.borrow_mut().get(name) {
            Ok(list) => list.clone(),
            Err(_) => return,
        };
        for listener in listeners {
            if let Err(err) = listener.call1(&JsValue::UNDEFINED, &payload) {
                // A throwing listener must not break the others; report it like the DOM does.
                web_sys_report(&err);
            }
        }
    }
}

impl Drop for RoomInner {
    /// A room freed from JS (`room.free()`) without `leave()` stops at once and unhooks
    /// its `pagehide` listener, so no callback reaches the freed closures.
    fn drop(&mut self) {
        self.end_coordination();
        self.remove_pagehide();
        self.signaling.close();
        self.driver.stop();
    }
}

pub(crate) fn web_sys_report(err: &JsValue) {
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console, js_name = error)]
        fn console_error(a: &JsValue, b: &JsValue);
    }
    console_error(&JsValue::from_str("rumor: an event listener threw:"), err);
}

/// A joined room; see `Rumor.join`.
#[wasm_bindgen]
pub struct Room {
    pub(crate) inner: Rc<RoomInner>,
    peer_hex: String,
}

impl Room {
    pub(crate) fn check(&self, what: &str) -> Result<(), JsValue> {
        if crate::coordination::in_handler() {
            return Err(error(format!(
                "room.{what}: called from inside the state-sync handler; call it later \
                 (e.g. in queueMicrotask) instead"
            )));
        }
        if self.inner.left.get() {
            return Err(error(format!(
                "room.{what}: this room was left; call Rumor.join again to rejoin"
            )));
        }
        Ok(())
    }
}

#[wasm_bindgen]
impl Room {
    /// This page's member id (64 hex characters).
    #[wasm_bindgen(getter, js_name = peerId)]
    pub fn peer_id(&self) -> String {
        self.peer_hex.clone()
    }

    /// Every live member this page knows, itself included.
    pub fn members(&self) -> MemberArray {
        let me = self.inner.driver.id();
        let members = self.inner.driver.with(|s| s.node().members());
        let list: Vec<JsMember<'_>> = members
            .iter()
            .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
            .map(|m| js_member(m, &me))
            .collect();
        to_js(&list).unchecked_into()
    }

    /// Adds a listener (see `RoomEventMap` for the payloads).
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: Function) -> Result<(), JsValue> {
        let mut listeners = self.inner.listeners.borrow_mut();
        let list = listeners.get(event)?;
        if !list.iter().any(|f| f == &listener) {
            list.push(listener);
        }
        Ok(())
    }

    /// Removes a listener added with `on`.
    #[wasm_bindgen(skip_typescript)]
    pub fn off(&self, event: &str, listener: Function) -> Result<(), JsValue> {
        let mut listeners = self.inner.listeners.borrow_mut();
        listeners.get(event)?.retain(|f| f != &listener);
        Ok(())
    }

    /// Sets one metadata key of this member; every member sees the change.
    #[wasm_bindgen(js_name = setMeta)]
    pub fn set_meta(&self, key: String, value: String) -> Result<(), JsValue> {
        self.check("setMeta")?;
        self.inner
            .driver
            .with(|s| {
                let now = s.now();
                s.node().set_meta(key, value, now)
            })
            .map_err(|e| error(format!("room.setMeta: {e}")))
    }

    /// Receives the messages published on `topic` (as `message` events).
    pub fn subscribe(&self, topic: String) -> Result<(), JsValue> {
        self.check("subscribe")?;
        self.inner
            .driver
            .with(|s| {
                let now = s.now();
                s.node().subscribe(topic, now)
            })
            .map_err(|e| error(format!("room.subscribe: {e}")))
    }

    /// Stops receiving `topic`.
    pub fn unsubscribe(&self, topic: String) -> Result<(), JsValue> {
        self.check("unsubscribe")?;
        self.inner
            .driver
            .with(|s| {
                let now = s.now();
                s.node().unsubscribe(&topic, now)
            })
            .map_err(|e| error(format!("room.unsubscribe: {e}")))
    }

    /// Publishes `data` (bytes, or a string sent as UTF-8) on `topic` to every subscriber;
    /// returns the message's sequence number.
    pub fn publish(&self, topic: String, data: Payload) -> Result<f64, JsValue> {
        self.check("publish")?;
        let bytes = payload_bytes(&data.into(), "room.publish")?;
        self.inner
            .driver
            .with(|s| {
                let now = s.now();
                s.node().publish(topic, bytes, now)
            })
            .map(|id| id.seq as f64)
            .map_err(|e| error(format!("room.publish: {e}")))
    }

    /// Counters: members, neighbors, connections, signaling state, traffic.
    pub fn stats(&self) -> RoomStatsJs {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Conns {
            open: usize,
            connecting: usize,
            closing: usize,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Stats {
            peer_id: String,
            members: usize,
            neighbors: usize,
            connections: Conns,
            signaling: &'static str,
            messages_in: f64,
            messages_out: f64,
            bytes_in: f64,
            bytes_out: f64,
            delivered: f64,
            decode_errors: f64,
            dials: f64,
            dial_failures: f64,
            welcome_timeouts: f64,
            dials_unanswered: f64,
            dials_unopened: f64,
            dials_closed: f64,
            probe_dials: f64,
            heal_dials: f64,
            handover_dials: f64,
            neighbor_refusals: f64,
            neighbor_timeouts: f64,
            neighbors_lost: f64,
            evictions: f64,
            evicted: f64,
            farewells: f64,
            snapshot_records: f64,
            stalls: f64,
        }
        let signaling = self.inner.signaling.state();
        let stats = self.inner.driver.with(|s| {
            let c = s.conn_counts();
            let f = s.attempt_failures();
            let st = s.node().stats().clone();
            let members = s
                .node()
                .members()
                .iter()
                .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
                .count();
            Stats {
                peer_id: self.peer_hex.clone(),
                members,
                neighbors: s.node().neighbors().len(),
                connections: Conns {
                    open: c.open,
                    connecting: c.connecting,
                    closing: c.closing,
                },
                signaling,
                messages_in: st.messages_in as f64,
                messages_out: st.messages_out as f64,
                bytes_in: st.bytes_in as f64,
                bytes_out: st.bytes_out as f64,
                delivered: st.messages_delivered as f64,
                decode_errors: st.decode_errors as f64,
                dials: st.dials as f64,
                dial_failures: st.dial_failures as f64,
                welcome_timeouts: st.welcome_timeouts as f64,
                dials_unanswered: f.unanswered as f64,
                dials_unopened: f.unopened as f64,
                dials_closed: f.closed as f64,
                probe_dials: st.probe_dials as f64,
                heal_dials: st.heal_dials as f64,
                handover_dials: st.handover_dials as f64,
                neighbor_refusals: st.neighbor_refusals as f64,
                neighbor_timeouts: st.neighbor_timeouts as f64,
                neighbors_lost: st.neighbors_lost as f64,
                evictions: st.evictions as f64,
                evicted: st.evicted as f64,
                farewells: st.farewells as f64,
                snapshot_records: st.snapshot_records as f64,
                stalls: st.stalls as f64,
            }
        });
        to_js(&stats).unchecked_into()
    }

    /// Leaves the room gracefully: the others see this member leave. Idempotent.
    pub fn leave(&self) {
        self.inner.leave();
    }
}
