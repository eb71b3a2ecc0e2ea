//! Real WebRTC, native to native, on 127.0.0.1 only and without STUN: three native peers
//! join a room through the server; with the seed peer they form one group in which all
//! four know all four with their metadata; a request gets its response; one leaves
//! gracefully and the others see it (its farewell also going through the server); one
//! dropped without a goodbye is seen to leave through its will. A newcomer is handed the
//! member table through the server when it joins.

mod common;

use std::time::Duration;

use common::*;
use rumor_core::{Config as NodeConfig, Instant, MemberState, Node, PeerId};
use rumor_signal::peer::{NativePeer, PeerOptions};
use rumor_signal::Config;
use rumor_signal_proto::{ClientMessage, PeerSignal, ServerMessage};

/// Generous: connection setup is about half a second per WebRTC link on this machine.
const GROUP_PATIENCE: Duration = Duration::from_secs(60);

fn alive_with_meta(peer: &NativePeer, names: &[(PeerId, String)]) -> bool {
    let members = peer.members();
    let alive: Vec<_> = members
        .iter()
        .filter(|m| m.state == MemberState::Alive)
        .collect();
    if alive.len() != 4 {
        return false;
    }
    let seeds = alive
        .iter()
        .filter(|m| m.meta.get("role").map(String::as_str) == Some("seed"))
        .count();
    seeds == 1
        && names.iter().all(|(id, name)| {
            alive
                .iter()
                .any(|m| m.id == *id && m.meta.get("name") == Some(name))
        })
}

async fn wait_until(what: &str, peers: &[NativePeer], mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GROUP_PATIENCE;
    while !check() {
        if tokio::time::Instant::now() >= deadline {
            for p in peers {
                eprintln!("peer {}: neighbors {:?}", p.id(), p.neighbors());
                for m in p.members() {
                    eprintln!("    {} {:?} {:?}", m.id, m.state, m.meta);
                }
            }
            panic!("timed out after {GROUP_PATIENCE:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first event of `peer` that `pick` accepts (others are skipped).
async fn next_matching<T>(
    peer: &mut NativePeer,
    mut pick: impl FnMut(rumor_core::Event) -> Option<T>,
) -> T {
    let wait = async {
        while let Some(e) = peer.next_event().await {
            if let Some(t) = pick(e) {
                return t;
            }
        }
        panic!("the peer stopped before the awaited event");
    };
    tokio::time::timeout(GROUP_PATIENCE, wait)
        .await
        .expect("the awaited event came in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_native_peers_and_the_seed_form_one_group() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let started = std::time::Instant::now();
    let server = TestServer::start(Config::default()).await; // seed on, WebRTC on 127.0.0.1
    let mut peers = Vec::new();
    let mut names = Vec::new();
    for n in 1..=3u8 {
        let name = format!("native-{n}");
        let options = PeerOptions {
            meta: vec![("name".into(), name.clone())],
            ..PeerOptions::default()
        };
        let peer = NativePeer::join(&server.url(), "group", identity(n), options)
            .await
            .expect("join through the server");
        names.push((peer.id(), name));
        peers.push(peer);
    }

    for (i, peer) in peers.iter().enumerate() {
        wait_until(
            &format!("peer {i} knows all four with metadata"),
            &peers,
            || alive_with_meta(peer, &names),
        )
        .await;
        assert!(
            !peer.neighbors().is_empty(),
            "peer {i} has WebRTC neighbors"
        );
    }
    assert_eq!(server.handle.counts().seeds, 1);
    eprintln!("one group of four after {:?}", started.elapsed());

    // Request and response through the Rust API of the native peer.
    let (a, b) = (peers[0].id(), peers[1].id());
    let id = peers[0]
        .with_node(move |n, now| n.request(b, b"ping".to_vec(), now))
        .await
        .unwrap()
        .expect("request accepted");
    let request = next_matching(&mut peers[1], |e| match e {
        rumor_core::Event::Request { from, id, data } if from == a => Some((id, data)),
        _ => None,
    })
    .await;
    assert_eq!(request.1, b"ping");
    peers[1]
        .with_node(move |n, now| n.respond(a, request.0, b"pong".to_vec(), now))
        .await
        .unwrap()
        .unwrap();
    let response = next_matching(&mut peers[0], |e| match e {
        rumor_core::Event::Response { from, id: i, data } if from == b && i == id => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(response, b"pong");

    // The last one leaves gracefully; the other two see it leave.
    let leaver = peers.pop().unwrap();
    let gone = leaver.id();
    leaver.leave().await;
    for (i, peer) in peers.iter().enumerate() {
        wait_until(&format!("peer {i} sees the leave"), &peers, || {
            peer.member(&gone).map(|m| m.state) == Some(MemberState::Left)
        })
        .await;
    }
    eprintln!("leave seen by both after {:?}", started.elapsed());
    eventually("the leaver's signaling connection closes", || {
        server.handle.counts().peers == 2
    })
    .await;

    for peer in peers {
        peer.leave().await;
    }
    server.shutdown().await;
}

/// Two native peers that join `room` (on a server without a seed peer) and are each
/// other's neighbor, the first to join first.
async fn two_neighbors(server: &TestServer, room: &str, ids: [u8; 2]) -> (NativePeer, NativePeer) {
    let url = server.url();
    let mut both = Vec::new();
    for n in ids {
        let peer = NativePeer::join(&url, room, identity(n), PeerOptions::default());
        both.push(peer.await.expect("join through the server"));
    }
    wait_until("the two are neighbors", &both, || {
        both.iter().all(|p| p.neighbors().len() == 1)
    })
    .await;
    let second = both.pop().unwrap();
    (both.pop().unwrap(), second)
}

/// A leaving peer's farewell also goes through the server, to its neighbors and to the
/// member it joined through (here, with no seed peer, the first peer: both at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_farewell_also_goes_through_the_server() {
    let server = TestServer::start(quiet_config()).await;
    let (first, second) = two_neighbors(&server, "farewell", [21, 22]).await;
    let gone = second.id();
    second.leave().await;
    wait_until(
        "the first sees the leave",
        std::slice::from_ref(&first),
        || first.member(&gone).map(|m| m.state) == Some(MemberState::Left),
    )
    .await;
    // The goodbye, and the will the server releases when the connection closes (the same
    // or an older farewell, no news): at least one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let taken = first.with_node(|n, _| n.stats().farewells).await.unwrap();
        if taken >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no farewell came through the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.leave().await;
    server.shutdown().await;
}

/// A native peer stopped without a goodbye (dropped) is still seen to leave, not to fail:
/// it left its farewell with the server as its will, which the server relays when its
/// connection ends (here, with no seed peer, to the other peer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_peer_dropped_without_goodbye_leaves_through_its_will() {
    let server = TestServer::start(quiet_config()).await;
    let (first, second) = two_neighbors(&server, "will", [23, 24]).await;
    // A record change renews the will at most once a second (the next tick sends one held
    // back): let any such renewal go out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let gone = second.id();
    drop(second);
    wait_until(
        "the first sees the dropped peer leave",
        std::slice::from_ref(&first),
        || first.member(&gone).map(|m| m.state) == Some(MemberState::Left),
    )
    .await;
    let taken = first.with_node(|n, _| n.stats().farewells).await.unwrap();
    assert!(taken >= 1, "the farewell came through the server");
    first.leave().await;
    server.shutdown().await;
}

/// A newcomer is sent the seed peer's member table through the server as soon as it has
/// joined, ahead of any offer or connection: records signed by their owners, which a
/// fresh rumor-core node takes in (here a raw signaling client that never connects). Its
/// offer, which follows, does not bring the table a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_gets_the_member_table_through_the_server_when_it_joins() {
    let server = TestServer::start(Config::default()).await;
    let options = PeerOptions {
        meta: vec![("name".into(), "early".into())],
        ..PeerOptions::default()
    };
    let early = NativePeer::join(&server.url(), "snap", identity(31), options)
        .await
        .expect("join through the server");
    wait_until("the early peer is the seed's neighbor", &[], || {
        early.neighbors().len() == 1
    })
    .await;

    // The seed may take the early peer's record in a moment after the connection opens:
    // each attempt is a new newcomer, until one is told about the early peer.
    let deadline = tokio::time::Instant::now() + GROUP_PATIENCE;
    for attempt in 0u8.. {
        let newcomer = identity(40 + attempt);
        let (mut socket, contacts) = join(&server, "snap", &newcomer).await;
        let seed = contacts
            .iter()
            .find(|m| m.role == "seed")
            .expect("the room has a seed peer")
            .peer
            .clone();
        let records = loop {
            match recv(&mut socket).await {
                ServerMessage::Signal { from, data } if from == seed => {
                    let signal: PeerSignal = serde_json::from_value(data).unwrap();
                    match signal.members_bytes() {
                        Some(bytes) => break bytes,
                        None => panic!("the seed's first signal is its member table: {signal:?}"),
                    }
                }
                ServerMessage::Pong { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        if attempt == 0 {
            let offer = PeerSignal::Offer {
                session: 1,
                sdp: "v=0\r\n".into(),
            };
            send(
                &mut socket,
                &ClientMessage::Signal {
                    to: seed.clone(),
                    data: serde_json::to_value(offer).unwrap(),
                },
            )
            .await;
            let quiet = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(msg) = tokio::time::timeout_at(quiet, recv(&mut socket)).await {
                if let ServerMessage::Signal { data, .. } = msg {
                    let signal: PeerSignal = serde_json::from_value(data).unwrap();
                    assert!(
                        signal.members_bytes().is_none(),
                        "the offer of a newcomer just sent the table brought it again"
                    );
                }
            }
        }
        let mut node = Node::new(newcomer, NodeConfig::default(), 1, Instant::ZERO);
        node.join(vec![], Instant::ZERO);
        let news = node
            .handle_member_snapshot(&records, Instant::ZERO)
            .expect("a valid snapshot");
        let members = node.members();
        let seed_member = members.iter().find(|m| m.id.to_hex() == seed);
        assert_eq!(
            seed_member
                .and_then(|m| m.meta.get("role"))
                .map(String::as_str),
            Some("seed"),
            "the snapshot holds the seed's own record"
        );
        let knows_early = members
            .iter()
            .any(|m| m.id == early.id() && m.meta.get("name").map(String::as_str) == Some("early"));
        if knows_early {
            assert_eq!(news, 2, "the seed and the early peer");
            assert_eq!(node.stats().snapshot_records, 2);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot named the early peer in {GROUP_PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    early.leave().await;
    server.shutdown().await;
}
