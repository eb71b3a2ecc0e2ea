//! The signaling handler behind `GET /ws`: hello and nonce, join with a signed nonce,
//! relaying, and every limit (frame size, rate, send queue, handshake and idle timeouts).
//!
//! Each connection has two tasks. The reader parses frames, enforces the limits and
//! relays; the writer drains the connection's bounded queue into the socket and sends
//! pings. A refusal is queued as [`Outgoing::Close`]: the writer sends the JSON error,
//! then a close frame with the error's close code, then stops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use rumor_core::{Ed25519, PeerId, Signature, Verify};
use rumor_signal_proto::{
    join_challenge, ClientMessage, ErrorCode, ServerMessage, FEATURE_WILL, PROTOCOL_VERSION,
};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

use crate::config::Config;
use crate::metrics as m;
use crate::rooms::{valid_room_name, ClientTx, Outgoing, Rooms};

/// What the handler shares with every connection.
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// The room table.
    pub rooms: Arc<Rooms>,
    /// Connections open.
    pub connections: AtomicUsize,
    /// Turns true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// Largest frame tungstenite itself reads before failing the connection: above the
/// configured limit so that ordinary oversized frames get a clean `frame_too_large`.
fn hard_frame_limit(config: &Config) -> usize {
    config.max_frame_bytes.saturating_mul(2).max(1 << 20)
}

fn config_read_buffer(config: &Config) -> usize {
    config.max_frame_bytes.saturating_add(4 * 1024)
}

/// `GET /ws`: upgrades and runs the connection.
pub async fn handler(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    let hard = hard_frame_limit(&shared.config);
    // tungstenite preallocates a 128 KiB read buffer per socket by default, most of an idle
    // connection's memory. A buffer smaller than a frame broke reading that frame in testing
    // (tungstenite 0.29), so size it to the frame limit plus headers.
    // The write buffer is bounded too, so a slow reader's frames are not buffered without
    // limit (its writer fails with WriteBufferFull and the connection is dropped).
    ws.read_buffer_size(config_read_buffer(&shared.config))
        .max_write_buffer_size(hard + 256 * 1024)
        .max_frame_size(hard)
        .max_message_size(hard)
        .on_upgrade(move |socket| run(socket, shared))
}

/// Token bucket for the per-connection message rate.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Bucket {
            tokens: burst as f64,
            rate: rate as f64,
            burst: burst as f64,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn text(msg: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(msg)
        .expect("server messages serialize")
        .into()
}

fn error_text(code: ErrorCode, message: &str, to: Option<String>) -> Utf8Bytes {
    text(&ServerMessage::Error {
        code,
        message: message.to_owned(),
        to,
    })
}

async fn run(socket: WebSocket, shared: Arc<Shared>) {
    let config = shared.config.clone();
    let open = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
    metrics::gauge!(m::CONNECTIONS).increment(1.0);
    metrics::counter!(m::CONNECTIONS_TOTAL).increment(1);

    let (sink, stream) = socket.split();
    let (queue, rx) = mpsc::channel(config.send_queue.max(2));
    let kill = Arc::new(Notify::new());
    let writer_done = Arc::new(Notify::new());
    let tx = ClientTx {
        queue,
        kill: kill.clone(),
    };
    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        kill,
        writer_done.clone(),
        shared.shutdown.clone(),
        config.clone(),
    ));

    if open > config.max_connections {
        refuse(
            &tx,
            ErrorCode::ServerFull,
            &format!(
                "the server holds its maximum of {} connections; try again later",
                config.max_connections
            ),
        );
    } else {
        let nonce = hex::encode(crate::driver::random_bytes32());
        tx.deliver(Outgoing::Text(text(&ServerMessage::Hello {
            version: PROTOCOL_VERSION,
            nonce: nonce.clone(),
            limits: config.server_limits(),
            features: vec![FEATURE_WILL.to_string()],
        })));
        let mut reader = Reader {
            shared: &shared,
            tx: tx.clone(),
            nonce,
            joined: None,
            will: None,
            bucket: Bucket::new(config.max_msgs_per_sec, config.burst),
        };
        reader.read_loop(stream, &writer_done).await;
        if let Some((room, peer)) = reader.joined.take() {
            // A will is relayed however the connection ended, except at shutdown: then the
            // clients are still alive and will come back.
            let will = reader.will.take().filter(|_| !*shared.shutdown.borrow());
            shared.rooms.leave(&room, peer, will);
        }
    }
    drop(tx);
    let _ = writer.await;
    shared.connections.fetch_sub(1, Ordering::SeqCst);
    metrics::gauge!(m::CONNECTIONS).decrement(1.0);
}

/// Queues a fatal error (the writer closes after sending it).
fn refuse(tx: &ClientTx, code: ErrorCode, message: &str) {
    tracing::debug!(code = code.as_str(), "refused: {message}");
    m::refusal(code);
    tx.deliver(Outgoing::Close(code, message.to_owned()));
}

struct Reader<'a> {
    shared: &'a Shared,
    tx: ClientTx,
    nonce: String,
    joined: Option<(String, PeerId)>,
    /// The client's last [`ClientMessage::Will`], relayed when the connection ends.
    will: Option<serde_json::Value>,
    bucket: Bucket,
}

/// Whether the reader goes on after a frame.
enum Flow {
    Continue,
    Stop,
}

impl Reader<'_> {
    async fn read_loop(
        &mut self,
        mut stream: futures_util::stream::SplitStream<WebSocket>,
        writer_done: &Notify,
    ) {
        let config = self.shared.config.clone();
        let handshake_deadline = Instant::now() + config.handshake_timeout();
        loop {
            let deadline = if self.joined.is_none() {
                handshake_deadline
            } else {
                Instant::now() + config.idle_timeout()
            };
            let idle_deadline = Instant::now() + config.idle_timeout();
            let deadline = deadline.min(idle_deadline);
            let frame = tokio::select! {
                frame = stream.next() => frame,
                _ = tokio::time::sleep_until(deadline) => {
                    if self.joined.is_none() && Instant::now() >= handshake_deadline {
                        refuse(&self.tx, ErrorCode::HandshakeTimeout, &format!(
                            "no successful join within {} ms of connecting", config.handshake_timeout_ms));
                    } else {
                        refuse(&self.tx, ErrorCode::IdleTimeout, &format!(
                            "nothing received for {} ms", config.idle_timeout_ms));
                    }
                    return;
                }
                _ = writer_done.notified() => return,
            };
            let frame = match frame {
                Some(Ok(frame)) => frame,
                Some(Err(err)) => {
                    tracing::debug!("websocket read failed: {err}");
                    if err.to_string().contains("too long") || err.to_string().contains("size") {
                        refuse(
                            &self.tx,
                            ErrorCode::FrameTooLarge,
                            &format!("frame larger than {} bytes", config.max_frame_bytes),
                        );
                    }
                    return;
                }
                None => return,
            };
            let flow = match frame {
                Message::Text(t) => {
                    if !self.bucket.take() {
                        self.rate_limited();
                        return;
                    }
                    self.on_text(t.as_str())
                }
                Message::Binary(_) => {
                    refuse(
                        &self.tx,
                        ErrorCode::BinaryFrame,
                        "binary frames are not part of the protocol; send JSON text frames",
                    );
                    Flow::Stop
                }
                Message::Ping(_) | Message::Pong(_) => Flow::Continue,
                Message::Close(_) => Flow::Stop,
            };
            if matches!(flow, Flow::Stop) {
                return;
            }
        }
    }

    fn rate_limited(&self) {
        let c = &self.shared.config;
        refuse(
            &self.tx,
            ErrorCode::RateLimited,
            &format!(
                "more than {} messages per second (burst {}); slow down",
                c.max_msgs_per_sec, c.burst
            ),
        );
    }

    fn on_text(&mut self, t: &str) -> Flow {
        let config = &self.shared.config;
        if t.len() > config.max_frame_bytes {
            refuse(
                &self.tx,
                ErrorCode::FrameTooLarge,
                &format!(
                    "frame of {} bytes is larger than the limit of {} bytes",
                    t.len(),
                    config.max_frame_bytes
                ),
            );
            return Flow::Stop;
        }
        let value: serde_json::Value = match serde_json::from_str(t) {
            Ok(v) => v,
            Err(err) => {
                refuse(
                    &self.tx,
                    ErrorCode::BadJson,
                    &format!("frame is not valid JSON: {err}"),
                );
                return Flow::Stop;
            }
        };
        let Some(kind) = value
            .get("type")
            .and_then(|k| k.as_str())
            .map(|k| k.chars().take(40).collect::<String>())
        else {
            refuse(
                &self.tx,
                ErrorCode::BadJson,
                "message must be a JSON object with a string \"type\"",
            );
            return Flow::Stop;
        };
        if !matches!(kind.as_str(), "join" | "signal" | "will" | "ping") {
            refuse(
                &self.tx,
                ErrorCode::UnknownType,
                &format!("unknown message type {kind:?}; expected join, signal, will or ping"),
            );
            return Flow::Stop;
        }
        let msg: ClientMessage = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(err) => {
                refuse(
                    &self.tx,
                    ErrorCode::BadJson,
                    &format!("malformed {kind} message: {err}"),
                );
                return Flow::Stop;
            }
        };
        match msg {
            ClientMessage::Join {
                room,
                peer,
                signature,
            } => self.on_join(room, peer, signature),
            ClientMessage::Signal { to, data } => self.on_signal(to, data),
            ClientMessage::Will { data } => {
                if self.joined.is_none() {
                    refuse(
                        &self.tx,
                        ErrorCode::BadState,
                        "will before join; join a room first",
                    );
                    return Flow::Stop;
                }
                self.will = Some(data);
                Flow::Continue
            }
            ClientMessage::Ping { nonce } => {
                self.tx
                    .deliver(Outgoing::Text(text(&ServerMessage::Pong { nonce })));
                Flow::Continue
            }
        }
    }

    fn on_join(&mut self, room: String, peer: String, signature: String) -> Flow {
        if self.joined.is_some() {
            refuse(
                &self.tx,
                ErrorCode::BadState,
                "already joined; one join per connection",
            );
            return Flow::Stop;
        }
        if !valid_room_name(&room) {
            refuse(
                &self.tx,
                ErrorCode::BadRequest,
                "room names are 1 to 64 characters of ASCII letters, digits, '-', '_' and '.'",
            );
            return Flow::Stop;
        }
        let Some(id) = PeerId::from_hex(&peer) else {
            refuse(
                &self.tx,
                ErrorCode::BadRequest,
                "peer must be 64 hex characters (an ed25519 public key)",
            );
            return Flow::Stop;
        };
        let Some(sig) = parse_signature(&signature) else {
            refuse(
                &self.tx,
                ErrorCode::BadRequest,
                "signature must be 128 hex characters (an ed25519 signature)",
            );
            return Flow::Stop;
        };
        if !Ed25519.verify(&id, &join_challenge(&self.nonce), &sig) {
            refuse(
                &self.tx,
                ErrorCode::BadSignature,
                "the signature does not verify for this peer over \"rumor-signal/1 join <nonce>\"",
            );
            return Flow::Stop;
        }
        match self.shared.rooms.join(&room, id, self.tx.clone()) {
            Ok(members) => {
                tracing::debug!(%room, peer = %id, "joined");
                self.tx.deliver(Outgoing::Text(text(&ServerMessage::Joined {
                    room: room.clone(),
                    peer,
                    members,
                })));
                self.shared.rooms.announce(&room, id);
                self.joined = Some((room, id));
                Flow::Continue
            }
            Err(code) => {
                let c = &self.shared.config;
                let message = match code {
                    ErrorCode::PeerIdInUse => {
                        "another connection in this room uses this peer id".to_owned()
                    }
                    ErrorCode::RoomFull => {
                        format!("the room has its maximum of {} peers", c.max_peers_per_room)
                    }
                    ErrorCode::TooManyRooms => {
                        format!("the server has its maximum of {} rooms", c.max_rooms)
                    }
                    other => other.as_str().to_owned(),
                };
                refuse(&self.tx, code, &message);
                Flow::Stop
            }
        }
    }

    fn on_signal(&mut self, to: String, data: serde_json::Value) -> Flow {
        let Some((room, me)) = &self.joined else {
            refuse(
                &self.tx,
                ErrorCode::BadState,
                "signal before join; join a room first",
            );
            return Flow::Stop;
        };
        let Some(to_id) = PeerId::from_hex(&to) else {
            refuse(
                &self.tx,
                ErrorCode::BadRequest,
                "to must be 64 hex characters (a peer id)",
            );
            return Flow::Stop;
        };
        if let Err(code) = self.shared.rooms.relay(room, *me, to_id, data) {
            m::refusal(code);
            self.tx.deliver(Outgoing::Text(error_text(
                code,
                "no such peer in this room; the signal was not delivered",
                Some(to),
            )));
        }
        Flow::Continue
    }
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    kill: Arc<Notify>,
    done: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    config: Arc<Config>,
) {
    let mut ping = tokio::time::interval_at(
        Instant::now() + config.ping_interval(),
        config.ping_interval(),
    );
    let close_wait = Duration::from_millis(500);
    loop {
        let next = tokio::select! {
            biased;
            _ = kill.notified() => {
                // The client does not read: try to say why, but do not wait for it.
                let _ = tokio::time::timeout(Duration::from_millis(50), async {
                    let _ = sink.send(Message::Text(error_text(ErrorCode::SlowReader,
                        "you did not read fast enough; your send queue filled", None))).await;
                    let _ = sink.send(close(ErrorCode::SlowReader, "slow reader")).await;
                }).await;
                break;
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    m::refusal(ErrorCode::ShuttingDown);
                    let _ = tokio::time::timeout(close_wait, async {
                        let _ = sink.send(Message::Text(error_text(ErrorCode::ShuttingDown,
                            "the server is shutting down", None))).await;
                        let _ = sink.send(close(ErrorCode::ShuttingDown, "shutting down")).await;
                    }).await;
                    break;
                }
                continue;
            }
            _ = ping.tick() => Some(Message::Ping(Default::default())),
            item = rx.recv() => match item {
                Some(Outgoing::Text(t)) => Some(Message::Text(t)),
                Some(Outgoing::Close(code, message)) => {
                    let _ = tokio::time::timeout(close_wait, async {
                        let _ = sink.send(Message::Text(error_text(code, &message, None))).await;
                        let _ = sink.send(close(code, code.as_str())).await;
                    }).await;
                    break;
                }
                None => {
                    let _ = tokio::time::timeout(close_wait, sink.send(Message::Close(None))).await;
                    break;
                }
            },
        };
        let Some(msg) = next else { continue };
        let sent = tokio::select! {
            biased;
            _ = kill.notified() => {
                kill.notify_one(); // handled at the top of the loop
                continue;
            }
            r = sink.send(msg) => r,
        };
        if let Err(err) = sent {
            if matches!(
                err.into_inner().downcast_ref::<tungstenite::Error>(),
                Some(tungstenite::Error::WriteBufferFull(_))
            ) {
                m::refusal(ErrorCode::SlowReader);
            }
            break;
        }
    }
    done.notify_one();
}

fn close(code: ErrorCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.close_code(),
        reason: reason.to_owned().into(),
    }))
}

fn parse_signature(s: &str) -> Option<Signature> {
    let mut out = [0u8; 64];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(Signature::from_bytes(out))
}
