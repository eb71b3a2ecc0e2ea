//! Group coordination for the JS API: the application's state-sync handler, the leader,
//! per-key listeners, extra seeds and `broadcast` to every member.
//!
//! The core calls a state-sync handler synchronously while the driver is borrowed, and it
//! must be `Send`: so the node holds only a key into a thread-local table of the JS
//! handlers (a wasm page has one thread), and room methods called from inside a handler
//! are refused with an `Error` instead of re-entering the driver.

use litemap::LiteMap;
use std::cell::{Cell, RefCell};

use js_sys::{Function, Reflect, Uint8Array};
use rumor_core::{Event, PeerId, StateSync};
use wasm_bindgen::prelude::*;

use crate::api::{web_sys_report, Payload, Room, RoomInner};
use crate::convert::{js_member, payload_bytes};
use crate::sys::{error, quoted};

thread_local! {
    /// The JS state-sync handlers of this page's rooms, by key.
    static HANDLERS: RefCell<LiteMap<u32, JsValue>> = const { RefCell::new(LiteMap::new()) };
    /// The next key.
    static NEXT_KEY: Cell<u32> = const { Cell::new(1) };
    /// True while a state-sync handler runs.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
}

/// True while a JS state-sync handler runs (room methods must not re-enter the driver).
pub(crate) fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get)
}

/// What a room keeps for coordination.
#[derive(Default)]
pub(crate) struct Coordination {
    /// Key of this room's state-sync handler in `HANDLERS`.
    handler_key: Option<u32>,
    /// `onKeyChange` listeners: (id for removal, key, listener).
    key_listeners: Vec<(u32, String, Function)>,
    next_listener: u32,
}

/// The node's side of a JS state-sync handler.
struct JsStateSync {
    key: u32,
}

impl JsStateSync {
    /// Calls `method` of the handler with `args`; reports a throw and returns `None`.
    fn call(&self, method: &str, args: &[JsValue]) -> Option<JsValue> {
        let handler = HANDLERS.with(|h| h.borrow().get(&self.key).cloned())?;
        let f = Reflect::get(&handler, &JsValue::from_str(method))
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        IN_HANDLER.with(|c| c.set(true));
        let result = match args {
            [] => f.call0(&handler),
            [a] => f.call1(&handler, a),
            [a, b, ..] => f.call2(&handler, a, b),
        };
        IN_HANDLER.with(|c| c.set(false));
        result.map_err(|e| web_sys_report(&e)).ok()
    }

    fn bytes(value: JsValue, method: &str) -> Option<Vec<u8>> {
        if value.is_null() || value.is_undefined() {
            return None;
        }
        payload_bytes(&value, &format!("stateSync.{method}"))
            .map_err(|e| web_sys_report(&e))
            .ok()
    }
}

impl StateSync for JsStateSync {
    fn pull_request(&mut self) -> Vec<u8> {
        self.call("request", &[])
            .and_then(|v| Self::bytes(v, "request"))
            .unwrap_or_default()
    }

    fn answer(&mut self, from: PeerId, request: &[u8]) -> Option<Vec<u8>> {
        let args = [
            JsValue::from_str(&from.to_hex()),
            Uint8Array::from(request).into(),
        ];
        self.call("answer", &args)
            .and_then(|v| Self::bytes(v, "answer"))
    }

    fn merge(&mut self, from: PeerId, response: &[u8]) {
        let args = [
            JsValue::from_str(&from.to_hex()),
            Uint8Array::from(response).into(),
        ];
        self.call("merge", &args);
    }
}

impl RoomInner {
    /// Runs the `onKeyChange` listeners an event concerns.
    pub(crate) fn key_change_event(&self, event: &Event) {
        let (member, keys): (_, Vec<&String>) = match event {
            Event::MemberJoined(m) => (m, m.meta.keys().collect()),
            Event::MemberUpdated { member, keys } => (member, keys.iter().collect()),
            _ => return,
        };
        let listeners: Vec<(String, Function)> = self
            .coordination
            .borrow()
            .key_listeners
            .iter()
            .filter(|(_, k, _)| keys.contains(&k))
            .map(|(_, k, f)| (k.clone(), f.clone()))
            .collect();
        if listeners.is_empty() {
            return;
        }
        let me = self.driver.id();
        let js = crate::convert::to_js(&js_member(member, &me));
        for (key, f) in listeners {
            let value = member.meta.get(&key).cloned().unwrap_or_default();
            if let Err(err) = f.call2(&JsValue::UNDEFINED, &js, &JsValue::from_str(&value)) {
                web_sys_report(&err);
            }
        }
    }

    /// Forgets the state-sync handler and the key listeners: the room is gone.
    pub(crate) fn end_coordination(&self) {
        let mut c = self.coordination.borrow_mut();
        if let Some(key) = c.handler_key.take() {
            HANDLERS.with(|h| h.borrow_mut().remove(&key));
        }
        c.key_listeners.clear();
    }
}

#[wasm_bindgen]
impl Room {
    /// Registers (or with `null` removes) the application's state-sync handler.
    #[wasm_bindgen(js_name = setStateSync, skip_typescript)]
    pub fn set_state_sync(&self, handler: JsValue) -> Result<(), JsValue> {
        self.check("setStateSync")?;
        let old = self.inner.coordination.borrow_mut().handler_key.take();
        if let Some(key) = old {
            HANDLERS.with(|h| h.borrow_mut().remove(&key));
        }
        if handler.is_null() || handler.is_undefined() {
            self.inner.driver.with(|s| {
                s.node().clear_state_sync();
            });
            return Ok(());
        }
        for method in ["request", "answer", "merge"] {
            let f = Reflect::get(&handler, &JsValue::from_str(method)).unwrap_or_default();
            if !f.is_function() {
                return Err(error(format!(
                    "room.setStateSync: the handler needs a function `{method}` \
                     (request(), answer(from, request), merge(from, response))"
                )));
            }
        }
        let key = NEXT_KEY.with(|k| {
            let key = k.get();
            k.set(key.wrapping_add(1));
            key
        });
        HANDLERS.with(|h| h.borrow_mut().insert(key, handler));
        self.inner.coordination.borrow_mut().handler_key = Some(key);
        self.inner.driver.with(|s| {
            s.node().set_state_sync(Box::new(JsStateSync { key }));
        });
        Ok(())
    }

    /// The current leader's id, or `null`.
    #[wasm_bindgen(skip_typescript)]
    pub fn leader(&self) -> JsValue {
        if in_handler() {
            return JsValue::NULL;
        }
        self.inner
            .driver
            .with(|s| s.node().leader())
            .map_or(JsValue::NULL, |l| JsValue::from_str(&l.to_hex()))
    }

    /// Makes this page a candidate for leader (or stops it being one).
    #[wasm_bindgen(js_name = setCandidate)]
    pub fn set_candidate(&self, candidate: bool) -> Result<(), JsValue> {
        self.check("setCandidate")?;
        self.inner
            .driver
            .with(|s| {
                let now = s.now();
                s.node().set_candidate(candidate, now)
            })
            .map_err(|e| error(format!("room.setCandidate: {e}")))
    }

    /// Calls `listener(member, value)` when a member joins with `key` set or changes it;
    /// returns a function that removes the listener.
    #[wasm_bindgen(js_name = onKeyChange, skip_typescript)]
    pub fn on_key_change(&self, key: String, listener: Function) -> Result<Function, JsValue> {
        self.check("onKeyChange")?;
        let id = {
            let mut c = self.inner.coordination.borrow_mut();
            c.next_listener += 1;
            let id = c.next_listener;
            c.key_listeners.push((id, key, listener));
            id
        };
        let room = self.inner.me.clone();
        let off = Closure::once_into_js(move || {
            if let Some(room) = room.upgrade() {
                room.coordination
                    .borrow_mut()
                    .key_listeners
                    .retain(|(i, _, _)| *i != id);
            }
        });
        Ok(off.unchecked_into())
    }

    /// Adds a member id to enter the group through, tried whenever this page has no
    /// neighbor (the server's seed peer is always tried).
    #[wasm_bindgen(js_name = addSeed)]
    pub fn add_seed(&self, peer_id: String) -> Result<(), JsValue> {
        self.check("addSeed")?;
        let seed = PeerId::from_hex(&peer_id).ok_or_else(|| {
            error(format!(
                "room.addSeed: {} is not a member id (64 hex characters)",
                quoted(&peer_id)
            ))
        })?;
        self.inner.driver.with(|s| {
            let now = s.now();
            s.node().add_seed(seed, now);
        });
        Ok(())
    }

    /// Publishes `data` to every other member (they get it as a `message` event on the
    /// topic `_all`, which every member receives without subscribing); returns its
    /// sequence number.
    pub fn broadcast(&self, data: Payload) -> Result<f64, JsValue> {
        self.check("broadcast")?;
        let bytes = payload_bytes(&data.into(), "room.broadcast")?;
        self.inner
            .driver
            .with(|s| {
                let now = s.now();
                s.node().broadcast(bytes, now)
            })
            .map(|id| id.seq as f64)
            .map_err(|e| error(format!("room.broadcast: {e}")))
    }
}
