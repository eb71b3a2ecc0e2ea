//! A native Rumor peer: joins a room through a rumor-signal server and runs the same
//! tokio + WebRTC [`Driver`] as the server's seed peers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rumor_signal::peer::PeerError> {
//! use rumor_signal::peer::{NativePeer, PeerOptions};
//! let identity = rumor_core::Identity::from_secret([7; 32]);
//! let options = PeerOptions { meta: vec![("name".into(), "alice".into())], ..Default::default() };
//! let mut peer = NativePeer::join("ws://127.0.0.1:8080/ws", "lobby", identity, options).await?;
//! while let Some(event) = peer.next_event().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

use futures_util::{SinkExt, StreamExt};
use rumor_core::{Config as NodeConfig, Event, Identity, Member, PeerId};
use rumor_signal_proto::{ClientMessage, ErrorCode, ServerMessage, FEATURE_WILL};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, ClientError};
use crate::driver::{Command, Driver, DriverConfig, SignalIn, SignalSink, Snapshot};
use crate::rtc::RtcConfig;

/// Why a native peer could not join or act.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Joining through the signaling server failed.
    #[error(transparent)]
    Signaling(#[from] ClientError),
    /// The node refused the command.
    #[error(transparent)]
    Command(#[from] rumor_core::CommandError),
    /// The peer's driver has stopped (after `leave`, or it failed).
    #[error("the peer has stopped")]
    Stopped,
}

/// How a native peer runs.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Metadata set before joining.
    pub meta: Vec<(String, String)>,
    /// WebRTC settings (default: loopback only, no STUN).
    pub rtc: RtcConfig,
    /// The node's configuration.
    pub node: NodeConfig,
}

/// A running native peer. Dropping it stops the peer abruptly (no goodbye of its own; the
/// server then relays the farewell the peer left with it, its will, when the server takes
/// wills); call [`NativePeer::leave`] for a graceful leave.
pub struct NativePeer {
    id: PeerId,
    commands: mpsc::Sender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    snapshot: watch::Receiver<Snapshot>,
    driver: JoinHandle<()>,
    signaling: JoinHandle<()>,
}

/// Sends the driver's signals over the WebSocket, and its will when the server takes one.
struct WsSink {
    out: mpsc::UnboundedSender<ClientMessage>,
    /// The server's hello listed [`FEATURE_WILL`].
    wills: bool,
}

impl SignalSink for WsSink {
    fn send(&self, to: PeerId, data: serde_json::Value) -> Result<(), ()> {
        self.out
            .send(ClientMessage::Signal {
                to: to.to_hex(),
                data,
            })
            .map_err(|_| ())
    }

    fn will(&self, data: serde_json::Value) {
        if self.wills {
            let _ = self.out.send(ClientMessage::Will { data });
        }
    }
}

impl NativePeer {
    /// Joins `room` through the server at `url` (`ws://host:port/ws`) as `identity`, then
    /// enters the group through the contacts the server listed.
    pub async fn join(
        url: &str,
        room: &str,
        identity: Identity,
        options: PeerOptions,
    ) -> Result<NativePeer, PeerError> {
        let joined = client::join(url, room, &identity).await?;
        let id = identity.id();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let signaling = tokio::spawn(pump(joined.socket, out_rx, in_tx));
        let config = DriverConfig {
            node: options.node,
            rtc: options.rtc,
            meta: options.meta,
            seeds: client::member_ids(&joined.members),
            ..DriverConfig::default()
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let sink = WsSink {
            out: out_tx,
            wills: joined.features.iter().any(|f| f == FEATURE_WILL),
        };
        let (driver, snapshot) = Driver::new(identity, config, sink, Some(events_tx));
        let (commands, commands_rx) = mpsc::channel(16);
        let driver = tokio::spawn(driver.run(in_rx, commands_rx));
        Ok(NativePeer {
            id,
            commands,
            events,
            snapshot,
            driver,
            signaling,
        })
    }

    /// This peer's id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The next event from the node (`None` once the peer stopped).
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Every member this peer knows (itself included), as of the last drain.
    pub fn members(&self) -> Vec<Member> {
        self.snapshot.borrow().members.clone()
    }

    /// One member, as of the last drain.
    pub fn member(&self, id: &PeerId) -> Option<Member> {
        self.snapshot
            .borrow()
            .members
            .iter()
            .find(|m| m.id == *id)
            .cloned()
    }

    /// This peer's WebRTC neighbors, as of the last drain.
    pub fn neighbors(&self) -> Vec<PeerId> {
        self.snapshot.borrow().neighbors.clone()
    }

    /// A receiver that sees every change of [`NativePeer::members`] and neighbors.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// Sets one metadata key and spreads it.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), PeerError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SetMeta(key.into(), value.into(), tx))
            .await
            .map_err(|_| PeerError::Stopped)?;
        Ok(rx.await.map_err(|_| PeerError::Stopped)??)
    }

    /// Runs `f` on the node inside the driver and returns its result: any command of
    /// [`rumor_core::Node`] (`publish`, `subscribe`, `send`, `request`, `respond`,
    /// `set_state_sync`, `set_candidate`, `leader`, ...). Their events arrive through
    /// [`NativePeer::next_event`].
    pub async fn with_node<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rumor_core::Node, rumor_core::Instant) -> R + Send + 'static,
    ) -> Result<R, PeerError> {
        let (tx, rx) = oneshot::channel();
        let call: crate::driver::NodeCall = Box::new(move |node, now| {
            let _ = tx.send(f(node, now));
        });
        self.commands
            .send(Command::Call(call))
            .await
            .map_err(|_| PeerError::Stopped)?;
        rx.await.map_err(|_| PeerError::Stopped)
    }

    /// Adds a seed to enter the group through (tried whenever this peer has no neighbor).
    pub async fn add_seed(&self, seed: PeerId) -> Result<(), PeerError> {
        self.with_node(move |n, now| n.add_seed(seed, now)).await
    }

    /// Publishes `data` to every other member (on [`rumor_core::DEFAULT_TOPIC`]).
    pub async fn broadcast(&self, data: Vec<u8>) -> Result<u64, PeerError> {
        Ok(self
            .with_node(move |n, now| n.broadcast(data, now))
            .await??
            .seq)
    }

    /// Sends `data` to member `to`; its id comes back, and `Event::Delivered` or
    /// `Event::DirectFailed` with it follows.
    pub async fn send(&self, to: PeerId, data: Vec<u8>) -> Result<u64, PeerError> {
        Ok(self
            .with_node(move |n, now| n.send(to, data, now))
            .await??)
    }

    /// Registers the application's state-sync handler.
    pub async fn set_state_sync(
        &self,
        handler: Box<dyn rumor_core::StateSync>,
    ) -> Result<(), PeerError> {
        self.with_node(move |n, _| n.set_state_sync(handler)).await
    }

    /// The current leader, as this peer sees it.
    pub async fn leader(&self) -> Result<Option<PeerId>, PeerError> {
        self.with_node(|n, _| n.leader()).await
    }

    /// Leaves gracefully: goodbyes to the neighbors (who then spread the leave), connections
    /// flushed and closed, signaling closed.
    pub async fn leave(mut self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Leave(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let _ = (&mut self.driver).await;
        self.signaling.abort();
    }
}

impl Drop for NativePeer {
    fn drop(&mut self) {
        // The node first, so that it cannot answer its own will (released when the
        // signaling connection drops) as outdated news about itself over a data channel
        // that is still open: dropped is dead, as if the process had been killed.
        self.driver.abort();
        self.signaling.abort();
    }
}

/// Moves signals between the WebSocket and the driver until either side ends.
async fn pump(
    socket: client::Socket,
    mut out: mpsc::UnboundedReceiver<ClientMessage>,
    to_driver: mpsc::UnboundedSender<SignalIn>,
) {
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            msg = out.recv() => {
                let Some(msg) = msg else { break };
                let text = serde_json::to_string(&msg).expect("client messages serialize");
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                match serde_json::from_str::<ServerMessage>(text.as_str()) {
                    Ok(ServerMessage::Signal { from, data }) => {
                        if let Some(from) = PeerId::from_hex(&from) {
                            let _ = to_driver.send(SignalIn::Signal { from, data });
                        }
                    }
                    Ok(ServerMessage::Error { code: ErrorCode::UnknownPeer, to: Some(to), .. }) => {
                        if let Some(to) = PeerId::from_hex(&to) {
                            let _ = to_driver.send(SignalIn::Undeliverable(to));
                        }
                    }
                    Ok(ServerMessage::Error { code, message, .. }) => {
                        tracing::warn!(code = code.as_str(), "signaling server: {message}");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::debug!("unreadable server message: {err}"),
                }
            }
        }
    }
    let _ = sink.close().await;
}
