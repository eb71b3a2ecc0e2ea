//! Signaling over `GET /ws` with tokio-tungstenite clients: join, contacts, relay with
//! `from` stamped, every refusal with its error and close code, and the HTTP routes.
//! Everything runs on 127.0.0.1, port 0.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use rumor_signal::client;
use rumor_signal::Config;
use rumor_signal_proto::{ClientMessage, ErrorCode, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The server keeps serving: a fresh pair joins and relays.
async fn still_serving(server: &TestServer, room: &str) {
    let (a_id, b_id) = (identity(200), identity(201));
    let (mut a, _) = join(server, room, &a_id).await;
    let (mut b, _) = join(server, room, &b_id).await;
    send(
        &mut b,
        &ClientMessage::Signal {
            to: a_id.id().to_hex(),
            data: json!("still here"),
        },
    )
    .await;
    match recv(&mut a).await {
        ServerMessage::Signal { from, data } => {
            assert_eq!(from, b_id.id().to_hex());
            assert_eq!(data, json!("still here"));
        }
        other => panic!("expected a signal, got {other:?}"),
    }
}

#[tokio::test]
async fn join_lists_contacts_and_relays_with_from_stamped() {
    let server = TestServer::start(Config::default()).await; // with a seed peer
    let (a_id, b_id) = (identity(1), identity(2));

    let (mut a, members) = join(&server, "lobby", &a_id).await;
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].role, "seed");
    // The seed sends each newcomer its member table, through the server; skipped here.
    let seed = members[0].peer.clone();

    let (mut b, members) = join(&server, "lobby", &b_id).await;
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(members[0].role, "seed", "the seed comes first");
    assert_eq!(members[1].peer, a_id.id().to_hex());
    assert_eq!(members[1].role, "peer");

    // A `from` inside the message is not a field of `signal`; the server stamps its own.
    let forged = r#"{"type":"signal","to":"TO","from":"00","data":{"kind":"test","n":1}}"#
        .replace("TO", &a_id.id().to_hex());
    send_text(&mut b, &forged).await;
    match recv_skipping(&mut a, &seed).await {
        ServerMessage::Signal { from, data } => {
            assert_eq!(from, b_id.id().to_hex());
            assert_eq!(data, json!({"kind": "test", "n": 1}));
        }
        other => panic!("expected a signal, got {other:?}"),
    }

    // And back.
    send(
        &mut a,
        &ClientMessage::Signal {
            to: b_id.id().to_hex(),
            data: json!([1, 2, 3]),
        },
    )
    .await;
    match recv_skipping(&mut b, &seed).await {
        ServerMessage::Signal { from, data } => {
            assert_eq!(from, a_id.id().to_hex());
            assert_eq!(data, json!([1, 2, 3]));
        }
        other => panic!("expected a signal, got {other:?}"),
    }

    // Application-level ping.
    send(&mut a, &ClientMessage::Ping { nonce: 9 }).await;
    assert_eq!(
        recv_skipping(&mut a, &seed).await,
        ServerMessage::Pong { nonce: 9 }
    );

    let c = server.handle.counts();
    assert_eq!((c.rooms, c.peers, c.seeds), (1, 2, 1));
    let (status, _, body) = http_get(server.addr, "/health").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["rooms"], 1);
    assert_eq!(health["peers"], 2);
    assert_eq!(health["version"], rumor_signal::VERSION);

    // Leaving empties the room (and stops its seed).
    drop(a);
    drop(b);
    eventually("the room closes", || server.handle.counts().rooms == 0).await;
    server.shutdown().await;
}

/// A client's last will is relayed from it when its connection ends (here without a close
/// frame), with no seed peer to the three newest other clients; a will before join is refused.
#[tokio::test]
async fn a_will_is_relayed_when_its_connection_ends() {
    let server = TestServer::start(quiet_config()).await;
    let (mut a, _) = join(&server, "wills", &identity(1)).await;
    let mut others = Vec::new();
    for n in 2..=5 {
        others.push(join(&server, "wills", &identity(n)).await.0);
    }
    for n in [1, 2] {
        let data = json!({"kind": "test", "will": n});
        send(&mut a, &ClientMessage::Will { data }).await;
    }
    send(&mut a, &ClientMessage::Ping { nonce: 1 }).await;
    assert_eq!(recv(&mut a).await, ServerMessage::Pong { nonce: 1 });
    drop(a);
    // The newest three of the four others get the last will; the oldest does not.
    let oldest = others.remove(0);
    for socket in &mut others {
        match recv(socket).await {
            ServerMessage::Signal { from, data } => {
                assert_eq!(from, identity(1).id().to_hex());
                assert_eq!(data, json!({"kind": "test", "will": 2}));
            }
            other => panic!("expected the will, got {other:?}"),
        }
    }
    let mut oldest = oldest;
    send(&mut oldest, &ClientMessage::Ping { nonce: 2 }).await;
    assert_eq!(recv(&mut oldest).await, ServerMessage::Pong { nonce: 2 });
    // Counted for operators (the recorder is shared by the tests of this binary, so only
    // "at least this one").
    let (_, _, body) = http_get(server.addr, "/metrics").await;
    let text = String::from_utf8(body).unwrap();
    let released = text
        .lines()
        .find_map(|l| l.strip_prefix("rumor_signal_wills_released_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(released.is_some_and(|n| n >= 1.0), "{text}");

    let (mut early, _) = connect(&server).await;
    let data = json!({"kind": "test"});
    send(&mut early, &ClientMessage::Will { data }).await;
    expect_error_and_close(&mut early, ErrorCode::BadState).await;
    server.shutdown().await;
}

#[tokio::test]
async fn signal_to_a_peer_in_another_room_is_refused_without_closing() {
    let server = TestServer::start(quiet_config()).await;
    let (a_id, b_id) = (identity(1), identity(2));
    let (_a, _) = join(&server, "one", &a_id).await;
    let (mut b, members) = join(&server, "two", &b_id).await;
    assert!(members.is_empty());
    send(
        &mut b,
        &ClientMessage::Signal {
            to: a_id.id().to_hex(),
            data: json!("hi"),
        },
    )
    .await;
    match recv(&mut b).await {
        ServerMessage::Error { code, to, .. } => {
            assert_eq!(code, ErrorCode::UnknownPeer);
            assert_eq!(to, Some(a_id.id().to_hex()));
        }
        other => panic!("expected unknown_peer, got {other:?}"),
    }
    // Not fatal: the connection still works.
    send(&mut b, &ClientMessage::Ping { nonce: 1 }).await;
    assert_eq!(recv(&mut b).await, ServerMessage::Pong { nonce: 1 });
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_input_gets_its_error_and_close() {
    let server = TestServer::start(Config {
        max_frame_bytes: 1024,
        ..quiet_config()
    })
    .await;

    let (mut s, _) = connect(&server).await;
    send_text(&mut s, "{not json").await;
    expect_error_and_close(&mut s, ErrorCode::BadJson).await;

    let (mut s, _) = connect(&server).await;
    send_text(&mut s, r#"{"type":"teleport","to":"x"}"#).await;
    expect_error_and_close(&mut s, ErrorCode::UnknownType).await;

    let (mut s, _) = connect(&server).await;
    send_text(
        &mut s,
        &format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(2000)),
    )
    .await;
    expect_error_and_close(&mut s, ErrorCode::FrameTooLarge).await;

    let (mut s, _) = connect(&server).await;
    s.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    expect_error_and_close(&mut s, ErrorCode::BinaryFrame).await;

    let (mut s, _) = connect(&server).await;
    send(
        &mut s,
        &ClientMessage::Signal {
            to: identity(1).id().to_hex(),
            data: json!(1),
        },
    )
    .await;
    expect_error_and_close(&mut s, ErrorCode::BadState).await;

    let (mut s, nonce) = connect(&server).await;
    let mut join = client::join_message(&identity(3), "bad room!", &nonce);
    send(&mut s, &join).await;
    expect_error_and_close(&mut s, ErrorCode::BadRequest).await;

    // A signature by another key over the right challenge.
    let (mut s, nonce) = connect(&server).await;
    join = client::join_message(&identity(4), "room", &nonce);
    if let ClientMessage::Join { peer, .. } = &mut join {
        *peer = identity(5).id().to_hex();
    }
    send(&mut s, &join).await;
    expect_error_and_close(&mut s, ErrorCode::BadSignature).await;

    // The right key over another nonce (a replayed join).
    let (mut s, _nonce) = connect(&server).await;
    send(
        &mut s,
        &client::join_message(&identity(6), "room", &"00".repeat(32)),
    )
    .await;
    expect_error_and_close(&mut s, ErrorCode::BadSignature).await;

    still_serving(&server, "after-bad-input").await;
    assert_eq!(server.handle.counts().peers, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn reused_peer_id_is_refused() {
    let server = TestServer::start(quiet_config()).await;
    let id = identity(7);
    let (mut first, _) = join(&server, "room", &id).await;
    let (mut s, nonce) = connect(&server).await;
    send(&mut s, &client::join_message(&id, "room", &nonce)).await;
    expect_error_and_close(&mut s, ErrorCode::PeerIdInUse).await;
    // The first holder is untouched.
    send(&mut first, &ClientMessage::Ping { nonce: 2 }).await;
    assert_eq!(recv(&mut first).await, ServerMessage::Pong { nonce: 2 });
    // A second join on a joined connection is refused too.
    let (mut s, nonce) = connect(&server).await;
    send(&mut s, &client::join_message(&identity(8), "room", &nonce)).await;
    assert!(matches!(recv(&mut s).await, ServerMessage::Joined { .. }));
    send(&mut s, &client::join_message(&identity(8), "room", &nonce)).await;
    expect_error_and_close(&mut s, ErrorCode::BadState).await;
    server.shutdown().await;
}

#[tokio::test]
async fn room_and_server_limits() {
    let server = TestServer::start(Config {
        max_rooms: 1,
        max_peers_per_room: 1,
        ..quiet_config()
    })
    .await;
    let (_a, _) = join(&server, "only", &identity(1)).await;
    let err = client::join(&server.url(), "only", &identity(2))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            client::ClientError::Refused {
                code: ErrorCode::RoomFull,
                ..
            }
        ),
        "{err}"
    );
    let err = client::join(&server.url(), "other", &identity(3))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            client::ClientError::Refused {
                code: ErrorCode::TooManyRooms,
                ..
            }
        ),
        "{err}"
    );
    server.shutdown().await;

    let server = TestServer::start(Config {
        max_connections: 1,
        ..quiet_config()
    })
    .await;
    let (_a, _) = connect(&server).await;
    let (mut b, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .unwrap();
    expect_error_and_close(&mut b, ErrorCode::ServerFull).await;
    server.shutdown().await;
}

#[tokio::test]
async fn flood_past_the_rate_limit_is_cut_off() {
    let server = TestServer::start(Config {
        max_msgs_per_sec: 5,
        burst: 10,
        ..quiet_config()
    })
    .await;
    let (mut s, _) = join(&server, "room", &identity(1)).await;
    for n in 0..50 {
        if s.send(Message::Text(
            serde_json::to_string(&ClientMessage::<serde_json::Value>::Ping { nonce: n })
                .unwrap()
                .into(),
        ))
        .await
        .is_err()
        {
            break;
        }
    }
    expect_error_and_close(&mut s, ErrorCode::RateLimited).await;
    eventually("the flooder is gone", || server.handle.counts().peers == 0).await;
    still_serving(&server, "after-flood").await;
    server.shutdown().await;
}

#[tokio::test]
async fn handshake_and_idle_timeouts() {
    let server = TestServer::start(Config {
        handshake_timeout_ms: 300,
        idle_timeout_ms: 600,
        ping_interval_ms: 60_000,
        ..quiet_config()
    })
    .await;
    // Never joins.
    let (mut s, _) = connect(&server).await;
    expect_error_and_close(&mut s, ErrorCode::HandshakeTimeout).await;

    // Joins, then says nothing at all.
    let (mut s, _) = join(&server, "room", &identity(1)).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    expect_error_and_close(&mut s, ErrorCode::IdleTimeout).await;
    eventually("the idle client is gone", || {
        server.handle.counts().peers == 0
    })
    .await;
    server.shutdown().await;

    // Pings keep a reading client alive past the idle timeout (tungstenite answers them).
    let server = TestServer::start(Config {
        idle_timeout_ms: 600,
        ping_interval_ms: 100,
        ..quiet_config()
    })
    .await;
    let (mut s, _) = join(&server, "room", &identity(1)).await;
    let quiet = tokio::time::timeout(Duration::from_millis(1500), client::recv(&mut s)).await;
    assert!(quiet.is_err(), "nothing but pings expected, got {quiet:?}");
    send(&mut s, &ClientMessage::Ping { nonce: 3 }).await;
    assert_eq!(recv(&mut s).await, ServerMessage::Pong { nonce: 3 });
    server.shutdown().await;
}

#[tokio::test]
async fn a_reader_that_never_reads_is_disconnected() {
    let server = TestServer::start(Config {
        send_queue: 8,
        max_msgs_per_sec: 100_000,
        burst: 100_000,
        ..quiet_config()
    })
    .await;
    let (slow_id, fast_id) = (identity(1), identity(2));
    let (_slow, _) = join(&server, "room", &slow_id).await; // never read
    let (mut fast, _) = join(&server, "room", &fast_id).await;
    let blob = "x".repeat(60_000);
    let mut sent = 0;
    // Bounded: 60 kB × 4,000 = 240 MB at most, far beyond any socket buffer.
    while server.handle.counts().peers == 2 && sent < 4_000 {
        send(
            &mut fast,
            &ClientMessage::Signal {
                to: slow_id.id().to_hex(),
                data: json!(blob),
            },
        )
        .await;
        sent += 1;
        if sent % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    eventually("the slow reader is dropped", || {
        server.handle.counts().peers == 1
    })
    .await;
    // The sender was not punished: it gets unknown_peer now that the target is gone.
    send(
        &mut fast,
        &ClientMessage::Signal {
            to: slow_id.id().to_hex(),
            data: json!(1),
        },
    )
    .await;
    expect_error_and_close(&mut fast, ErrorCode::UnknownPeer).await;
    still_serving(&server, "after-slow").await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_a_close_frame() {
    let server = TestServer::start(quiet_config()).await;
    let (mut s, _) = join(&server, "room", &identity(1)).await;
    let handle = server.handle.clone();
    server.shutdown().await;
    expect_error_and_close(&mut s, ErrorCode::ShuttingDown).await;
    assert_eq!(handle.connections(), 0);
}

#[tokio::test]
async fn static_files_health_and_metrics() {
    let dir = std::env::temp_dir().join(format!("rumor-signal-test-{}", std::process::id()));
    let (www, pkg) = (dir.join("www"), dir.join("pkg"));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::fs::write(pkg.join("rumor_wasm_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(pkg.join("rumor_wasm.js"), "export {}").unwrap();
    let server = TestServer::start(Config {
        www_dir: www,
        pkg_dir: pkg,
        ..quiet_config()
    })
    .await;

    let (status, head, body) = http_get(server.addr, "/").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.starts_with(b"<!doctype html>"));
    assert!(head.contains("cache-control: no-cache"), "{head}");

    let (status, head, body) = http_get(server.addr, "/pkg/rumor_wasm_bg.wasm").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/wasm"), "{head}");
    assert_eq!(body, b"\0asm\x01\0\0\0");
    // Kept by the browser but asked again each time: a rebuilt package shows on reload.
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(head.contains("last-modified: "), "{head}");

    let (status, head, _) = http_get(server.addr, "/pkg/rumor_wasm.js").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/javascript") || head.contains("application/javascript"),
        "{head}"
    );

    let (status, _, _) = http_get(server.addr, "/pkg/missing.wasm").await;
    assert_eq!(status, 404);

    let (_a, _) = join(&server, "m", &identity(1)).await;
    let (status, head, body) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain"), "{head}");
    let text = String::from_utf8(body).unwrap();
    for name in [
        "rumor_signal_connections",
        "rumor_signal_rooms",
        "rumor_signal_members",
        "rumor_signal_signals_relayed_total",
        "rumor_signal_wills_released_total",
        "rumor_signal_refusals_total{reason=\"bad_json\"}",
        "rumor_signal_seed_neighbors",
        "rumor_signal_seed_members",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    server.shutdown().await;

    // A package directory that does not exist yet answers 404, not an error.
    let server = TestServer::start(Config {
        pkg_dir: dir.join("nope"),
        ..quiet_config()
    })
    .await;
    let (status, _, _) = http_get(server.addr, "/pkg/rumor_wasm.js").await;
    assert_eq!(status, 404);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
