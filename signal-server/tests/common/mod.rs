//! Helpers shared by the integration tests: a server on 127.0.0.1 port 0, raw WebSocket
//! clients, and a tiny HTTP GET.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rumor_core::Identity;
use rumor_signal::client::{self, Socket};
use rumor_signal::{Config, Server, ServerHandle};
use rumor_signal_proto::{ClientMessage, ErrorCode, MemberInfo, ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// Generous bound for anything a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let server = Server::bind(config).await.expect("bind");
        let addr = server.local_addr();
        let handle = server.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            addr,
            handle,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("server stops")
            .expect("server task");
    }
}

/// Config for signaling tests: no seed peer (no WebRTC), test-sized limits.
pub fn quiet_config() -> Config {
    Config {
        no_seed: true,
        ..Config::default()
    }
}

pub fn identity(n: u8) -> Identity {
    Identity::from_secret([n; 32])
}

/// Connects and returns the socket and the hello's nonce.
pub async fn connect(server: &TestServer) -> (Socket, String) {
    let (mut socket, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .expect("connect");
    match recv(&mut socket).await {
        ServerMessage::Hello {
            nonce,
            version,
            features,
            ..
        } => {
            assert_eq!(version, rumor_signal_proto::PROTOCOL_VERSION);
            // Clients send wills only to a server that lists them.
            assert!(
                features
                    .iter()
                    .any(|f| f == rumor_signal_proto::FEATURE_WILL),
                "{features:?}"
            );
            (socket, nonce)
        }
        other => panic!("expected hello, got {other:?}"),
    }
}

/// Connects and joins `room` as `id`; returns the socket and the contacts.
pub async fn join(server: &TestServer, room: &str, id: &Identity) -> (Socket, Vec<MemberInfo>) {
    let joined = client::join(&server.url(), room, id).await.expect("join");
    (joined.socket, joined.members)
}

pub async fn recv(socket: &mut Socket) -> ServerMessage {
    tokio::time::timeout(PATIENCE, client::recv(socket))
        .await
        .expect("a message in time")
        .expect("a message")
}

/// The next message that is not a signal from `skip` (the room's seed peer, say, which
/// sends every client that joins its member table).
pub async fn recv_skipping(socket: &mut Socket, skip: &str) -> ServerMessage {
    loop {
        match recv(socket).await {
            ServerMessage::Signal { from, .. } if from == skip => {}
            other => return other,
        }
    }
}

pub async fn send(socket: &mut Socket, msg: &ClientMessage) {
    client::send(socket, msg).await.expect("send");
}

pub async fn send_text(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Text(text.to_owned().into()))
        .await
        .expect("send");
}

/// Expects an error with `code`, then (if fatal) a close frame with its close code.
pub async fn expect_error_and_close(socket: &mut Socket, code: ErrorCode) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("an error in time");
        match frame {
            Some(Ok(Message::Text(t))) => {
                let msg: ServerMessage = serde_json::from_str(t.as_str()).unwrap();
                match msg {
                    ServerMessage::Error {
                        code: got, message, ..
                    } => {
                        assert_eq!(got, code, "error message: {message}");
                        assert!(!message.is_empty());
                        break;
                    }
                    ServerMessage::Signal { .. } | ServerMessage::Pong { .. } => continue,
                    other => panic!("expected error {code:?}, got {other:?}"),
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }
    if !code.is_fatal() {
        return;
    }
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a close in time");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::from(code.close_code()));
                return;
            }
            Some(Ok(Message::Close(None))) => panic!("close without a code after {code:?}"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close after {code:?}, got {other:?}"),
        }
    }
}

/// A plain HTTP/1.1 GET; returns (status, headers lowercased, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut buf))
        .await
        .expect("http response in time")
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = buf[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// Polls `check` every 50 ms until it holds or PATIENCE passes.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
