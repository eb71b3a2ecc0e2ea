//! A signaling client over tokio-tungstenite: connect, prove the `PeerId`, join a room.
//! [`crate::peer`] builds on it; tests and the benchmark use it directly.

use futures_util::{SinkExt, StreamExt};
use rumor_core::{Identity, PeerId};
use rumor_signal_proto::{
    join_challenge, ClientMessage, ErrorCode, MemberInfo, ServerLimits, ServerMessage,
    PROTOCOL_VERSION,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The WebSocket stream type of a client connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why joining through the signaling server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket could not be opened or broke.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused (its error code and message).
    #[error("server refused ({}): {message}", code.as_str())]
    Refused {
        /// The server's error code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The server speaks another protocol version.
    #[error("server speaks signaling protocol {0}, this client {PROTOCOL_VERSION}")]
    Version(u32),
    /// The server sent something this client did not expect.
    #[error("unexpected from server: {0}")]
    Protocol(String),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
}

/// A joined signaling connection.
pub struct Joined {
    /// The socket, positioned after the `joined` message.
    pub socket: Socket,
    /// The contacts the server listed (seed first).
    pub members: Vec<MemberInfo>,
    /// The limits from the server's hello.
    pub limits: ServerLimits,
    /// The optional client messages the server accepts, from its hello (such as
    /// [`rumor_signal_proto::FEATURE_WILL`]).
    pub features: Vec<String>,
}

/// Reads the next server message (skipping pings and pongs).
pub async fn recv(socket: &mut Socket) -> Result<ServerMessage, ClientError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| ClientError::Protocol(format!("{e}: {t}")))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(_))) => {
                return Err(ClientError::Protocol("binary frame".into()))
            }
            Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed),
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Sends one client message.
pub async fn send(socket: &mut Socket, msg: &ClientMessage) -> Result<(), ClientError> {
    let text = serde_json::to_string(msg).expect("client messages serialize");
    socket.send(Message::Text(text.into())).await?;
    Ok(())
}

/// The `join` message answering `nonce` for `identity`.
pub fn join_message(identity: &Identity, room: &str, nonce: &str) -> ClientMessage {
    let sig = identity.sign(&join_challenge(nonce));
    ClientMessage::Join {
        room: room.to_owned(),
        peer: identity.id().to_hex(),
        signature: hex::encode(sig.to_bytes()),
    }
}

/// Connects to `url` (e.g. `ws://127.0.0.1:8080/ws`) and joins `room` as `identity`.
pub async fn join(url: &str, room: &str, identity: &Identity) -> Result<Joined, ClientError> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    let (nonce, limits, features) = match recv(&mut socket).await? {
        ServerMessage::Hello {
            version,
            nonce,
            limits,
            features,
        } => {
            if version != PROTOCOL_VERSION {
                return Err(ClientError::Version(version));
            }
            (nonce, limits, features)
        }
        ServerMessage::Error { code, message, .. } => {
            return Err(ClientError::Refused { code, message })
        }
        other => return Err(ClientError::Protocol(format!("{other:?}"))),
    };
    send(&mut socket, &join_message(identity, room, &nonce)).await?;
    match recv(&mut socket).await? {
        ServerMessage::Joined { members, .. } => Ok(Joined {
            socket,
            members,
            limits,
            features,
        }),
        ServerMessage::Error { code, message, .. } => Err(ClientError::Refused { code, message }),
        other => Err(ClientError::Protocol(format!("{other:?}"))),
    }
}

/// Parses the contacts' ids (skipping malformed ones).
pub fn member_ids(members: &[MemberInfo]) -> Vec<PeerId> {
    members
        .iter()
        .filter_map(|m| PeerId::from_hex(&m.peer))
        .collect()
}
