//! The signaling client: one WebSocket to rumor-signal (docs/signaling.md).
//!
//! It answers the server's `hello` by signing the nonce challenge, joins the room, relays
//! signals both ways, and reconnects with capped, jittered exponential backoff when the
//! socket closes after a successful join. Before the first join a failure is final: it is
//! reported once as [`SigEvent::Failed`] with a message a person can act on.
//! While the server is away, the peers keep gossiping over the connections they have.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use rumor_core::{Identity, PeerId};
use rumor_signal_proto::{
    join_challenge, ClientMessage, ErrorCode, PeerSignal, ServerMessage, FEATURE_WILL,
    PROTOCOL_VERSION,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::sys::{self, quoted, Timer};

/// First reconnect delay (ms).
const BACKOFF_START_MS: f64 = 500.0;
/// Longest reconnect delay (ms).
const BACKOFF_MAX_MS: f64 = 30_000.0;

/// What the signaling client tells its owner.
pub enum SigEvent {
    /// Joined (or re-joined) the room; the server's contacts, seed first.
    Joined(Vec<PeerId>),
    /// A relayed signal.
    Signal(PeerId, PeerSignal),
    /// A signal to this peer could not be delivered.
    Undeliverable(PeerId),
    /// The first join failed; nothing more will happen.
    Failed(String),
}

/// Handle to the signaling client (cheap to clone).
#[derive(Clone)]
pub struct Signaling {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    url: String,
    room: String,
    identity: Identity,
    ws: Option<WebSocket>,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    joined: bool,
    ever_joined: bool,
    last_error: Option<String>,
    backoff_ms: f64,
    reconnect: Option<Timer>,
    closed: bool,
    on_event: Rc<dyn Fn(SigEvent)>,
    weak: Weak<RefCell<Inner>>,
    /// The last will to leave with the server; sent again after every (re)join.
    will: Option<PeerSignal>,
    /// The server's hello listed `FEATURE_WILL` (an older server would refuse a will as
    /// an unknown message and close the connection).
    server_takes_wills: bool,
}

/// Turns what a user passed as `url` into a WebSocket URL: `http(s)://` becomes
/// `ws(s)://`, and a URL without a path gets `/ws`. `Err` says what is wrong.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    // Found as bytes: a `str` pattern brings core's two-way searcher, and with it the
    // panic message of a slice off a char boundary, which prints characters with
    // `{:?}` and Unicode's tables: 9 KB of the package (4.8 KB gzip).
    let split = url
        .as_bytes()
        .windows(3)
        .position(|w| w == b"://")
        .and_then(|at| Some((url.get(..at)?, url.get(at + 3..)?)));
    let (scheme, rest) = split.ok_or_else(|| {
        format!(
            "invalid signaling URL {}: expected ws://HOST:PORT/ws or wss://HOST/ws",
            quoted(url)
        )
    })?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(format!(
                "invalid signaling URL {}: scheme {} is not ws, wss, http or https",
                quoted(url),
                quoted(other)
            ))
        }
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("invalid signaling URL {}: no host", quoted(url)));
    }
    let rest = if rest.contains('/') {
        rest.to_string()
    } else {
        format!("{rest}/ws")
    };
    Ok(format!("{scheme}://{rest}"))
}

impl Signaling {
    /// Connects to `url` and joins `room` as `identity`; events go to `on_event`.
    pub fn connect(
        url: String,
        room: String,
        identity: Identity,
        on_event: Rc<dyn Fn(SigEvent)>,
    ) -> Signaling {
        let inner = Rc::new_cyclic(|weak| {
            RefCell::new(Inner {
                url,
                room,
                identity,
                ws: None,
                handlers: Vec::new(),
                joined: false,
                ever_joined: false,
                last_error: None,
                backoff_ms: BACKOFF_START_MS,
                reconnect: None,
                closed: false,
                on_event,
                weak: weak.clone(),
                will: None,
                server_takes_wills: false,
            })
        });
        let events = inner.borrow_mut().open();
        deliver(&inner, events);
        Signaling { inner }
    }

    /// Sends `data` to `to` (dropped while the server is away: dials time out anyway).
    pub fn send(&self, to: PeerId, data: PeerSignal) {
        let inner = self.inner.borrow();
        if inner.joined {
            inner.send(&ClientMessage::Signal {
                to: to.to_hex(),
                data,
            });
        }
    }

    /// Leaves `data` with the server, to be relayed when this connection ends without a
    /// goodbye (`ClientMessage::Will`); kept and left again after every reconnect.
    pub fn set_will(&self, data: PeerSignal) {
        let mut inner = self.inner.borrow_mut();
        inner.will = Some(data.clone());
        if inner.joined && inner.server_takes_wills {
            inner.send(&ClientMessage::Will { data });
        }
    }

    /// [`Signaling::set_will`] for the driver, without keeping the client alive.
    pub fn will_sink(&self) -> impl Fn(PeerSignal) + 'static {
        let weak = Rc::downgrade(&self.inner);
        move |data| {
            if let Some(inner) = weak.upgrade() {
                Signaling { inner }.set_will(data);
            }
        }
    }

    /// A sink for the driver that does not keep the client alive.
    pub fn sink(&self) -> impl Fn(PeerId, PeerSignal) + 'static {
        let weak = Rc::downgrade(&self.inner);
        move |to, data| {
            if let Some(inner) = weak.upgrade() {
                Signaling { inner }.send(to, data);
            }
        }
    }

    /// `"connected"`, `"connecting"` or `"closed"`.
    pub fn state(&self) -> &'static str {
        let inner = self.inner.borrow();
        if inner.closed {
            "closed"
        } else if inner.joined {
            "connected"
        } else {
            "connecting"
        }
    }

    /// Closes the socket for good.
    pub fn close(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.closed = true;
        inner.reconnect = None;
        inner.teardown();
    }
}

fn deliver(cell: &Rc<RefCell<Inner>>, events: Vec<SigEvent>) {
    if events.is_empty() {
        return;
    }
    let on_event = cell.borrow().on_event.clone();
    for event in events {
        on_event(event);
    }
}

/// Runs `f` on the client behind `weak` (if it is still alive), then delivers its events.
fn with(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner) -> Vec<SigEvent>) {
    let Some(cell) = weak.upgrade() else {
        return;
    };
    let events = match cell.try_borrow_mut() {
        Ok(mut inner) => f(&mut inner),
        Err(_) => return,
    };
    deliver(&cell, events);
}

impl Inner {
    fn open(&mut self) -> Vec<SigEvent> {
        self.teardown();
        let ws = match WebSocket::new(&self.url) {
            Ok(ws) => ws,
            Err(err) => {
                let detail = err
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_default();
                return self.fail(format!(
                    "cannot open a WebSocket to {} ({detail}); pass the rumor-signal \
                     address, e.g. ws://localhost:8080/ws",
                    quoted(&self.url)
                ));
            }
        };
        let weak = self.weak.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Some(text) = ev
                .dyn_ref::<MessageEvent>()
                .and_then(|ev| ev.data().as_string())
            else {
                return;
            };
            with(&weak, |inner| inner.on_text(&text));
        });
        let weak = self.weak.clone();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let code = ev.dyn_ref::<CloseEvent>().map_or(1006, |ev| ev.code());
            with(&weak, |inner| inner.on_close(code));
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.handlers = vec![on_message, on_close];
        self.ws = Some(ws);
        Vec::new()
    }

    fn teardown(&mut self) {
        self.joined = false;
        if let Some(ws) = self.ws.take() {
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        self.handlers.clear();
    }

    fn fail(&mut self, message: String) -> Vec<SigEvent> {
        self.closed = true;
        self.teardown();
        vec![SigEvent::Failed(message)]
    }

    fn send(&self, msg: &ClientMessage<PeerSignal>) {
        if let (Some(ws), Some(text)) = (&self.ws, to_json(msg)) {
            let _ = ws.send_with_str(&text);
        }
    }

    fn on_text(&mut self, text: &str) -> Vec<SigEvent> {
        let Some(msg) = from_json(text) else {
            // A newer server's message, or a signal from a peer that is not a Rumor driver.
            return Vec::new();
        };
        match msg {
            ServerMessage::Hello {
                version,
                nonce,
                features,
                ..
            } => {
                if version != PROTOCOL_VERSION {
                    let message = format!(
                        "the signaling server at {} speaks protocol version {version}, this \
                         client speaks {PROTOCOL_VERSION}; use matching versions of rumor-signal \
                         and this package",
                        quoted(&self.url)
                    );
                    if self.ever_joined {
                        self.closed = true;
                        self.teardown();
                        return Vec::new();
                    }
                    return self.fail(message);
                }
                self.server_takes_wills = features.iter().any(|f| f == FEATURE_WILL);
                let signature = self.identity.sign(&join_challenge(&nonce)).to_bytes();
                self.send(&ClientMessage::Join {
                    room: self.room.clone(),
                    peer: self.identity.id().to_hex(),
                    signature: hex::encode(signature),
                });
                Vec::new()
            }
            ServerMessage::Joined { members, .. } => {
                self.joined = true;
                self.ever_joined = true;
                self.last_error = None;
                self.backoff_ms = BACKOFF_START_MS;
                if let Some(data) = self.will.clone().filter(|_| self.server_takes_wills) {
                    self.send(&ClientMessage::Will { data });
                }
                let peers = members
                    .iter()
                    .filter_map(|m| PeerId::from_hex(&m.peer))
                    .collect();
                vec![SigEvent::Joined(peers)]
            }
            ServerMessage::Signal { from, data } => match PeerId::from_hex(&from) {
                Some(from) => vec![SigEvent::Signal(from, data)],
                None => Vec::new(),
            },
            ServerMessage::Pong { .. } => Vec::new(),
            ServerMessage::Error { code, message, to } => {
                if code == ErrorCode::UnknownPeer {
                    return to
                        .and_then(|to| PeerId::from_hex(&to))
                        .map(SigEvent::Undeliverable)
                        .into_iter()
                        .collect();
                }
                self.last_error = Some(format!(
                    "the signaling server refused: {message} ({})",
                    code.as_str()
                ));
                Vec::new()
            }
        }
    }

    fn on_close(&mut self, code: u16) -> Vec<SigEvent> {
        self.ws = None;
        self.handlers.clear();
        self.joined = false;
        if self.closed {
            return Vec::new();
        }
        if !self.ever_joined {
            let message = self.last_error.take().unwrap_or_else(|| {
                format!(
                    "could not join through the signaling server at {} (WebSocket closed, \
                     code {code}); check the url and that rumor-signal is running and reachable",
                    quoted(&self.url)
                )
            });
            return self.fail(message);
        }
        // Reconnect later; the group keeps gossiping meanwhile.
        let jitter = 0.5 + (sys::random_u64() % 1000) as f64 / 1000.0;
        let delay = self.backoff_ms * jitter;
        self.backoff_ms = (self.backoff_ms * 2.0).min(BACKOFF_MAX_MS);
        let weak = self.weak.clone();
        self.reconnect = Some(Timer::new(delay, move || {
            with(&weak, |inner| {
                inner.reconnect = None;
                if inner.closed {
                    Vec::new()
                } else {
                    inner.open()
                }
            });
        }));
        Vec::new()
    }
}

impl Drop for Inner {
    /// Unhooks and closes the socket, so no callback reaches the freed closures.
    fn drop(&mut self) {
        self.closed = true;
        self.teardown();
    }
}

/// `msg` as JSON text, written by the browser (`JSON.stringify`): the package carries no
/// JSON writer of its own. Fields that are `None` are left out rather than `null`, which
/// the server and the drivers read the same way.
pub(crate) fn to_json(msg: &ClientMessage<PeerSignal>) -> Option<String> {
    let value = crate::jsvalue::to_value(msg, &JsValue::UNDEFINED).ok()?;
    js_sys::JSON::stringify(&value).ok()?.as_string()
}

/// A server message from JSON text, parsed by the browser (`JSON.parse`); `None` when it
/// is not JSON or not a message this client knows (a relayed `data` included).
pub(crate) fn from_json(text: &str) -> Option<ServerMessage<PeerSignal>> {
    let value = js_sys::JSON::parse(text).ok()?;
    crate::jsvalue::from_value(value).ok()
}
