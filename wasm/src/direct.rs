//! Direct messages for the JS API: `room.send` and `room.request` as Promises settled by
//! the node's `Delivered` / `Response` / `DirectFailed` events, and `room.onRequest`,
//! whose handler's answer (or Promise of one) goes back with `Node::respond`.

use litemap::LiteMap;

use js_sys::{Function, Promise, Uint8Array};
use rumor_core::{Event, PeerId};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use crate::api::{web_sys_report, Payload, Room, RoomInner, Settle};
use crate::convert::{from_member_js, payload_bytes};
use crate::sys::{error, quoted};

/// What the JS side of direct messages holds.
#[derive(Default)]
pub(crate) struct DirectState {
    /// Promises of `send` and `request`, by the id the node gave them.
    pending: LiteMap<u64, (Settle, &'static str)>,
    /// The `onRequest` handler.
    handler: Option<Function>,
}

fn parse_peer(peer: &str, what: &str) -> Result<PeerId, JsValue> {
    PeerId::from_hex(peer).ok_or_else(|| {
        error(format!(
            "{what}: {} is not a member id (64 hex characters, as in member.peerId)",
            quoted(peer)
        ))
    })
}

impl RoomInner {
    /// Settles Promises and answers requests; returns the events meant for listeners.
    pub(crate) fn take_direct_event(&self, event: Event) -> Option<Event> {
        match event {
            Event::Delivered { id, .. } => self.settle(id, Ok(JsValue::UNDEFINED)),
            Event::Response { id, data, .. } => {
                self.settle(id, Ok(Uint8Array::from(data.as_slice()).into()))
            }
            Event::DirectFailed { to, id } => {
                // Bytes, not the hex string, are sliced: a `str` slice brings the panic
                // message of a slice off a char boundary (see `normalize_url`).
                let short = hex::encode(&to.as_bytes()[..4]);
                let timeout = self
                    .driver
                    .with(|s| s.node().config().direct.timeout.as_millis() as u64);
                let what = self
                    .direct
                    .borrow()
                    .pending
                    .get(&id)
                    .map_or("room.send", |(_, w)| *w);
                self.settle(
                    id,
                    Err(error(format!(
                        "{what}: no answer from member {short}… within {timeout} ms; it may \
                         have left, or no path to it was found"
                    ))),
                )
            }
            Event::Request { from, id, data } => self.answer_request(from, id, data),
            other => return Some(other),
        }
        None
    }

    fn settle(&self, id: u64, result: Result<JsValue, JsValue>) {
        let entry = self.direct.borrow_mut().pending.remove(&id);
        if let Some(((resolve, reject), _)) = entry {
            let _ = match result {
                Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
                Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
            };
        }
    }

    /// Runs the `onRequest` handler and sends back what it returns or resolves to.
    fn answer_request(&self, from: PeerId, id: u64, data: Vec<u8>) {
        let Some(handler) = self.direct.borrow().handler.clone() else {
            // Without a handler the requester's Promise rejects after its timeout.
            return;
        };
        let request = from_member_js(&from, &data);
        let answer = match handler.call1(&JsValue::UNDEFINED, &request) {
            Ok(v) => v,
            Err(err) => return web_sys_report(&err),
        };
        let room = self.me.clone();
        spawn_local(async move {
            let value = match JsFuture::from(Promise::resolve(&answer)).await {
                Ok(v) => v,
                Err(err) => return web_sys_report(&err),
            };
            let bytes = match payload_bytes(&value, "room.onRequest handler's answer") {
                Ok(b) => b,
                Err(err) => return web_sys_report(&err),
            };
            let Some(room) = room.upgrade() else { return };
            if room.left.get() {
                return;
            }
            let sent = room.driver.with(|s| {
                let now = s.now();
                s.node().respond(from, id, bytes, now)
            });
            if let Err(e) = sent {
                web_sys_report(&error(format!("room.onRequest: answer not sent: {e}")));
            }
        });
    }

    /// Rejects every waiting Promise: the room is gone.
    pub(crate) fn end_direct(&self) {
        let pending = std::mem::take(&mut self.direct.borrow_mut().pending);
        for (_, ((_, reject), what)) in pending.into_tuple_vec() {
            let _ = reject.call1(
                &JsValue::UNDEFINED,
                &error(format!("{what}: the room was left before an answer came")),
            );
        }
        self.direct.borrow_mut().handler = None;
    }

    /// Starts a send or request and returns its Promise.
    fn start_direct(&self, peer: &str, data: &JsValue, request: bool) -> Result<Promise, JsValue> {
        let what = if request { "room.request" } else { "room.send" };
        let to = parse_peer(peer, what)?;
        let bytes = payload_bytes(data, what)?;
        let id = self
            .driver
            .with(|s| {
                let now = s.now();
                if request {
                    s.node().request(to, bytes, now)
                } else {
                    s.node().send(to, bytes, now)
                }
            })
            .map_err(|e| error(format!("{what}: {e}")))?;
        let mut settle = None;
        let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        if let Some(settle) = settle {
            self.direct.borrow_mut().pending.insert(id, (settle, what));
        }
        Ok(promise)
    }
}

#[wasm_bindgen]
impl Room {
    /// Sends `data` to one member (see the TypeScript declaration).
    #[wasm_bindgen(skip_typescript)]
    pub fn send(&self, peer_id: String, data: Payload) -> Promise {
        self.direct_call("send", &peer_id, data, false)
    }

    /// Sends a request to one member (see the TypeScript declaration).
    #[wasm_bindgen(skip_typescript)]
    pub fn request(&self, peer_id: String, data: Payload) -> Promise {
        self.direct_call("request", &peer_id, data, true)
    }

    /// Sets (or with `null` removes) the handler that answers requests.
    #[wasm_bindgen(js_name = onRequest, skip_typescript)]
    pub fn on_request(&self, handler: JsValue) -> Result<(), JsValue> {
        self.check("onRequest")?;
        let handler = if handler.is_null() || handler.is_undefined() {
            None
        } else {
            Some(handler.dyn_into::<Function>().map_err(|_| {
                error("room.onRequest: pass a function (request) => answer, or null")
            })?)
        };
        self.inner.direct.borrow_mut().handler = handler;
        Ok(())
    }

    fn direct_call(&self, what: &str, peer: &str, data: Payload, request: bool) -> Promise {
        let result = self
            .check(what)
            .and_then(|()| self.inner.start_direct(peer, &data.into(), request));
        result.unwrap_or_else(|e| Promise::reject(&e))
    }
}
