//! Bad input (issue 2): malformed bytes, unknown peers, stale and replayed records,
//! oversized messages, records over the limits, forged signatures, messages out of
//! place, timers called early, repeatedly or very late, refused commands, and calls after
//! `leave`. Each gets a typed error or is ignored and counted; none panics, none corrupts
//! state. Everything goes through the public API only.

use core::time::Duration;

use rumor_core::record::{record_with_meta, Claim, Entry, MetaEntry, SignedRecord};
use rumor_core::wire::{decode, encode, DecodeError, Intent, Message};
use rumor_core::{
    CommandError, Config, Event, HandleError, Identity, Instant, Member, MemberState, Node, Output,
    PeerId, Signature, Stats,
};

const LIMIT: usize = 16 * 1024;

fn ident(n: u8) -> Identity {
    Identity::from_secret([n; 32])
}

/// An entry for `owner`, signed by it; all metadata keys at `ver`.
fn entry(owner: &Identity, inc: u64, ver: u64, meta: &[(&str, &str)], claim: Claim) -> Entry {
    Entry {
        signed: SignedRecord::sign(record_with_meta(owner.id(), inc, ver, meta), owner),
        claim,
    }
}

/// A record claiming to be `id`'s, signed by someone else.
fn forged(id: PeerId, signer: &Identity, inc: u64, ver: u64, meta: &[(&str, &str)]) -> Entry {
    Entry {
        signed: SignedRecord::sign(record_with_meta(id, inc, ver, meta), signer),
        claim: Claim::Alive,
    }
}

/// What one drain of a node produced, in kinds, up to its `Timeout` (`None` after leave).
#[derive(Debug, Default)]
struct Drained {
    outputs: Vec<Output>,
    timeout: Option<Instant>,
}

impl Drained {
    fn events(&self) -> Vec<&Event> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn transmits(&self) -> Vec<(PeerId, &[u8])> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Transmit { to, bytes } => Some((*to, bytes.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// Only the `Timeout` came out.
    fn is_quiet(&self) -> bool {
        self.outputs.is_empty()
    }
}

fn drain(node: &mut Node) -> Drained {
    let mut d = Drained::default();
    while let Some(out) = node.poll_output() {
        if let Output::Timeout(at) = out {
            d.timeout = Some(at);
            break;
        }
        d.outputs.push(out);
    }
    d
}

/// Membership events (not neighbor events).
fn member_events(events: &[&Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::MemberJoined(_)
                    | Event::MemberUpdated { .. }
                    | Event::MemberSuspected(_)
                    | Event::MemberLeft(_)
                    | Event::MemberFailed(_)
            )
        })
        .count()
}

/// The node's observable state.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    members: Vec<Member>,
    neighbors: Vec<PeerId>,
    passive: Vec<PeerId>,
    stats: Stats,
}

fn snap(n: &Node) -> Snapshot {
    Snapshot {
        members: n.members(),
        neighbors: n.neighbors(),
        passive: n.passive_view(),
        stats: n.stats().clone(),
    }
}

/// Two nodes connected by hand: `a` joined through `b`.
struct Pair {
    a: Node,
    b: Node,
    ib: Identity,
    now: Instant,
    events_a: Vec<Event>,
    events_b: Vec<Event>,
}

impl Pair {
    fn new() -> Pair {
        Pair::with_config(Config::default())
    }

    fn with_config(config: Config) -> Pair {
        let (ia, ib) = (ident(1), ident(2));
        let now = Instant::from_millis(1_000);
        let mut a = Node::new(ia, config.clone(), 11, now);
        let mut b = Node::new(ib.clone(), config, 22, now);
        b.join(vec![], now);
        a.join(vec![b.id()], now);
        let mut p = Pair {
            a,
            b,
            ib,
            now,
            events_a: Vec::new(),
            events_b: Vec::new(),
        };
        p.pump();
        assert_eq!(p.a.neighbors(), vec![p.b.id()], "a lists b as neighbor");
        assert_eq!(p.b.neighbors(), vec![p.a.id()], "b lists a as neighbor");
        assert_eq!(p.a.member(&p.b.id()).unwrap().state, MemberState::Alive);
        assert_eq!(p.b.member(&p.a.id()).unwrap().state, MemberState::Alive);
        let (ida, idb) = (p.a.id(), p.b.id());
        let up_and_joined = |log: &[Event], other: PeerId| {
            log.contains(&Event::NeighborUp(other))
                && log
                    .iter()
                    .any(|e| matches!(e, Event::MemberJoined(m) if m.id == other))
        };
        assert!(up_and_joined(&p.events_a, idb), "a: {:?}", p.events_a);
        assert!(up_and_joined(&p.events_b, ida), "b: {:?}", p.events_b);
        p
    }

    /// Shuttles outputs between the two nodes at `now` until both are quiet.
    fn pump(&mut self) {
        for _ in 0..100 {
            let da = drain(&mut self.a);
            let db = drain(&mut self.b);
            if da.is_quiet() && db.is_quiet() {
                return;
            }
            deliver(&mut self.a, &mut self.b, da, self.now, &mut self.events_a);
            deliver(&mut self.b, &mut self.a, db, self.now, &mut self.events_b);
        }
        panic!("the pair did not go quiet");
    }

    /// Like `pump`, but first lets both nodes send what commands queued: `set_meta` only
    /// queues its push, which goes out with the next input, so give each an (early,
    /// harmless) timer call.
    fn settle(&mut self) {
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.pump();
    }

    /// `a` sends `msg` to `b` (crafted by the test); returns the result and b's outputs.
    fn send_to_b(&mut self, msg: &Message) -> (Result<(), HandleError>, Drained) {
        let bytes = encode(msg);
        self.send_raw_to_b(&bytes)
    }

    fn send_raw_to_b(&mut self, bytes: &[u8]) -> (Result<(), HandleError>, Drained) {
        let r = self.b.handle_message(self.a.id(), bytes, self.now);
        (r, drain(&mut self.b))
    }
}

/// Plays the driver for `from`'s outputs, `to` being the only other node.
fn deliver(from: &mut Node, to: &mut Node, d: Drained, now: Instant, log: &mut Vec<Event>) {
    let max = from.config().limits.max_message_size;
    for out in d.outputs {
        match out {
            Output::Transmit { to: p, bytes } if p == to.id() => {
                assert!(
                    bytes.len() <= max,
                    "{} sent {} bytes, over the {max}-byte message limit",
                    from.id(),
                    bytes.len()
                );
                to.handle_message(from.id(), &bytes, now)
                    .expect("a node's own messages are accepted by its peer");
            }
            Output::Dial(p) if p == to.id() => {
                from.handle_connected(p, now);
                to.handle_connected(from.id(), now);
            }
            Output::Dial(p) => from.handle_dial_failed(p, now),
            Output::Hangup(p) if p == to.id() => {
                to.handle_disconnected(from.id(), now);
                from.handle_disconnected(p, now);
            }
            Output::Event(e) => log.push(e),
            _ => {}
        }
    }
}

fn is_decode(r: &Result<(), HandleError>) -> bool {
    matches!(r, Err(HandleError::Decode(_)))
}

// ---------------------------------------------------------------------------------------
// Framing and malformed bytes

#[test]
fn documented_wire_bytes() {
    // docs/protocol.md §1 gives these as examples; decoding relies on the same layout.
    assert_eq!(encode(&Message::Ping { nonce: 9 }), [1, 7, 9]);
    assert_eq!(encode(&Message::Welcome { accepted: true }), [1, 1, 1]);
    assert_eq!(
        encode(&Message::Hello {
            intent: Intent::Neighbor { high: true }
        }),
        [1, 0, 1, 1]
    );
    assert_eq!(encode(&Message::Disconnect { leaving: false }), [1, 3, 0]);
    assert!(matches!(
        decode(&[1, 0x7f], LIMIT),
        Err(DecodeError::Malformed(_))
    ));
}

/// The kind of decode error expected.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Empty,
    Version(u8),
    Malformed,
    Trailing(usize),
}

fn kind(e: &DecodeError) -> Option<Kind> {
    Some(match e {
        DecodeError::Empty => Kind::Empty,
        DecodeError::UnsupportedVersion(v) => Kind::Version(*v),
        DecodeError::Malformed(_) => Kind::Malformed,
        DecodeError::Trailing(n) => Kind::Trailing(*n),
        _ => return None,
    })
}

/// Byte strings that must not decode, with the error each must give.
fn malformed_inputs(c: &Identity) -> Vec<(&'static str, Vec<u8>, Kind)> {
    let update = encode(&Message::Update {
        entries: vec![entry(c, 0, 3, &[("name", "zz")], Claim::Alive)],
    });
    let mut truncated = update.clone();
    truncated.pop();
    let mut bad_utf8 = update.clone();
    let at = bad_utf8.windows(4).position(|w| w == b"name").unwrap();
    bad_utf8[at] = 0xff;
    let mut trailing = encode(&Message::Ping { nonce: 1 });
    trailing.push(0);
    vec![
        ("empty", vec![], Kind::Empty),
        ("version 2", vec![2, 7, 9], Kind::Version(2)),
        ("version 0", vec![0], Kind::Version(0)),
        ("version byte only", vec![1], Kind::Malformed),
        ("unknown variant", vec![1, 0x7f], Kind::Malformed),
        (
            "huge variant index",
            vec![1, 0xff, 0xff, 0xff, 0xff, 0x0f],
            Kind::Malformed,
        ),
        ("bool 2", vec![1, 1, 2], Kind::Malformed),
        ("unknown intent", vec![1, 0, 3], Kind::Malformed),
        (
            "4 G entries announced",
            vec![1, 9, 0xff, 0xff, 0xff, 0xff, 0x0f],
            Kind::Malformed,
        ),
        (
            "overlong varint",
            [vec![1, 11], vec![0xff; 11]].concat(),
            Kind::Malformed,
        ),
        ("truncated update", truncated, Kind::Malformed),
        ("invalid UTF-8 key", bad_utf8, Kind::Malformed),
        ("trailing byte", trailing, Kind::Trailing(1)),
    ]
}

#[test]
fn malformed_bytes_give_typed_errors_and_change_nothing() {
    let mut p = Pair::new();
    let deadline = drain(&mut p.b).timeout;
    for (name, bytes, expected) in malformed_inputs(&ident(3)) {
        let before = snap(&p.b);
        let (r, out) = p.send_raw_to_b(&bytes);
        match &r {
            Err(HandleError::Decode(e)) => {
                assert_eq!(kind(e), Some(expected), "{name}: wrong error {e:?}")
            }
            other => panic!("{name}: expected a decode error, got {other:?}"),
        }
        assert!(out.is_quiet(), "{name}: outputs {:?}", out.outputs);
        assert_eq!(out.timeout, deadline, "{name}: deadline moved");
        let after = snap(&p.b);
        let mut expected_state = before.clone();
        expected_state.stats.decode_errors += 1;
        assert_eq!(after, expected_state, "{name}: state changed");
    }
    assert_eq!(p.b.stats().decode_errors, 13);
    // The link still works afterwards.
    let (r, out) = p.send_to_b(&Message::Ping { nonce: 5 });
    assert!(r.is_ok());
    assert_eq!(
        out.transmits(),
        vec![(p.a.id(), encode(&Message::Pong { nonce: 5 }).as_slice())]
    );
}

#[test]
fn oversized_messages_are_refused() {
    let mut p = Pair::new();
    // A well-formed message, only too large: 520 ids in a shuffle sample.
    let big = encode(&Message::Shuffle {
        path: vec![p.a.id()],
        ttl: 0,
        peers: vec![ident(9).id(); 520],
    });
    assert!(big.len() > LIMIT);
    assert!(decode(&big, big.len()).is_ok(), "only its size is wrong");
    assert!(matches!(
        decode(&big, big.len() - 1),
        Err(DecodeError::TooLarge(n)) if n == big.len()
    ));
    let before = snap(&p.b);
    let (r, out) = p.send_raw_to_b(&big);
    assert!(
        matches!(r, Err(HandleError::Decode(DecodeError::TooLarge(n))) if n == big.len()),
        "{r:?}"
    );
    assert!(out.is_quiet());
    let mut expected = before;
    expected.stats.decode_errors += 1;
    assert_eq!(snap(&p.b), expected);

    // Garbage that is also too large is refused for its size before anything else.
    let (r, _) = p.send_raw_to_b(&vec![0xee; LIMIT + 1]);
    assert!(matches!(
        r,
        Err(HandleError::Decode(DecodeError::TooLarge(n))) if n == LIMIT + 1
    ));

    // A node configured with a smaller limit enforces that one.
    let mut config = Config::default();
    config.limits.max_message_size = 1024;
    let mut p = Pair::with_config(config);
    let views = encode(&Message::Views {
        active: vec![p.a.id(); 40],
    });
    assert!(views.len() > 1024 && views.len() < LIMIT);
    let (r, _) = p.send_raw_to_b(&views);
    assert!(matches!(
        r,
        Err(HandleError::Decode(DecodeError::TooLarge(_)))
    ));
}

#[test]
fn metadata_within_limits_never_makes_an_oversized_message() {
    let mut p = Pair::new();
    let value = "v".repeat(1024);
    let mut accepted = Vec::new();
    for i in 0..32 {
        let key = format!("key-{i:02}");
        match p.a.set_meta(key.clone(), value.clone(), p.now) {
            Ok(()) => accepted.push(key),
            // Refusing with a clear error is fine too; then nothing may have changed.
            Err(CommandError::MetaLimit(_)) => {
                assert!(!p.a.member(&p.a.id()).unwrap().meta.contains_key(&key));
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        // `deliver` asserts that every transmission fits the message limit.
        p.settle();
    }
    let seen = p.b.member(&p.a.id()).unwrap();
    for key in &accepted {
        assert_eq!(seen.meta.get(key), Some(&value), "b lacks {key}");
    }
}

// ---------------------------------------------------------------------------------------
// Unknown peers and messages out of place

#[test]
fn messages_from_unknown_peers_are_refused_and_counted() {
    let mut p = Pair::new();
    let stranger = ident(7).id();
    let before = snap(&p.b);
    let r =
        p.b.handle_message(stranger, &encode(&Message::Ping { nonce: 1 }), p.now);
    assert!(matches!(r, Err(HandleError::UnknownPeer(id)) if id == stranger));
    // Unknown peers are refused before decoding: garbage from them is not a decode error.
    let r = p.b.handle_message(stranger, &[0xde, 0xad], p.now);
    assert!(matches!(r, Err(HandleError::UnknownPeer(_))));
    // Not even a record from a stranger is looked at.
    let c = ident(3);
    let update = encode(&Message::Update {
        entries: vec![entry(&c, 0, 2, &[], Claim::Alive)],
    });
    let r = p.b.handle_message(stranger, &update, p.now);
    assert!(matches!(r, Err(HandleError::UnknownPeer(_))));
    assert!(drain(&mut p.b).is_quiet());
    assert!(p.b.member(&c.id()).is_none());
    let mut expected = before;
    expected.stats.unknown_peer += 3;
    assert_eq!(snap(&p.b), expected);

    // A peer whose connection closed is unknown again.
    let a = p.a.id();
    p.b.handle_disconnected(a, p.now);
    drain(&mut p.b);
    let r =
        p.b.handle_message(a, &encode(&Message::Ping { nonce: 2 }), p.now);
    assert!(matches!(r, Err(HandleError::UnknownPeer(id)) if id == a));
    assert_eq!(p.b.stats().unknown_peer, 4);
}

#[test]
fn messages_not_allowed_in_the_connection_state_are_ignored_and_counted() {
    let mut p = Pair::new();
    let (x, c) = (ident(8).id(), ident(3));
    // x connects to b but has not said Hello yet.
    p.b.handle_connected(x, p.now);
    assert!(drain(&mut p.b).is_quiet());
    let before = snap(&p.b);
    let premature = [
        Message::Update {
            entries: vec![entry(&c, 0, 2, &[("k", "v")], Claim::Alive)],
        },
        Message::Ping { nonce: 1 },
        Message::Welcome { accepted: true },
        Message::ForwardJoin {
            joiner: ident(9).id(),
            ttl: 0,
        },
        Message::SyncRoot { hash: 1, count: 1 },
        Message::SyncDelta {
            entries: vec![],
            want: vec![p.b.id()],
        },
        Message::Disconnect { leaving: true },
    ];
    for msg in &premature {
        let r = p.b.handle_message(x, &encode(msg), p.now);
        assert!(r.is_ok(), "{msg:?}: {r:?}");
        let out = drain(&mut p.b);
        assert!(out.is_quiet(), "{msg:?} made b act: {:?}", out.outputs);
    }
    assert!(
        p.b.member(&c.id()).is_none(),
        "the early record was applied"
    );
    let after = snap(&p.b);
    assert_eq!(after.stats.unexpected_messages, premature.len() as u64);
    assert_eq!(after.members, before.members);
    assert_eq!(after.neighbors, before.neighbors);
    assert_eq!(after.passive, before.passive);

    // The connection is still waiting for its Hello: a probe is answered and hung up.
    p.b.handle_message(
        x,
        &encode(&Message::Hello {
            intent: Intent::Probe,
        }),
        p.now,
    )
    .unwrap();
    let out = drain(&mut p.b);
    assert_eq!(
        out.transmits(),
        vec![(x, encode(&Message::Welcome { accepted: false }).as_slice())]
    );
    assert!(out.outputs.contains(&Output::Hangup(x)));

    // On an established link, Hello and Welcome are out of place.
    let before = snap(&p.b);
    for msg in [
        Message::Hello {
            intent: Intent::Join,
        },
        Message::Welcome { accepted: false },
    ] {
        let (r, out) = p.send_to_b(&msg);
        assert!(r.is_ok());
        assert!(out.is_quiet(), "{msg:?}: {:?}", out.outputs);
    }
    let after = snap(&p.b);
    assert_eq!(
        after.stats.unexpected_messages,
        before.stats.unexpected_messages + 2
    );
    assert_eq!(after.neighbors, vec![p.a.id()]);
    assert_eq!(after.members, before.members);
}

#[test]
fn malformed_overlay_messages_are_ignored_and_counted() {
    let mut p = Pair::new();
    let (a, b) = (p.a.id(), p.b.id());
    let some = |n: usize| {
        (0..n)
            .map(|i| ident(100 + i as u8).id())
            .collect::<Vec<_>>()
    };
    let bad = [
        Message::Views { active: some(65) },
        // The walk's path must end with its sender.
        Message::Shuffle {
            path: vec![b],
            ttl: 2,
            peers: some(3),
        },
        Message::Shuffle {
            path: vec![a],
            ttl: 0,
            peers: some(33),
        },
        Message::Shuffle {
            path: some(33),
            ttl: 0,
            peers: some(1),
        },
        Message::ShuffleReply {
            route: vec![],
            peers: some(33),
        },
        Message::SyncBuckets {
            hashes: vec![7; 63],
        },
    ];
    for (i, msg) in bad.iter().enumerate() {
        let before = snap(&p.b);
        let (r, out) = p.send_to_b(msg);
        assert!(r.is_ok());
        assert!(out.is_quiet(), "{msg:?}: {:?}", out.outputs);
        let after = snap(&p.b);
        assert_eq!(after.stats.bad_overlay_messages, i as u64 + 1, "{msg:?}");
        assert_eq!(
            after.passive, before.passive,
            "{msg:?} filled the passive view"
        );
        assert_eq!(after.members, before.members);
        assert_eq!(after.neighbors, before.neighbors);
    }
}

// ---------------------------------------------------------------------------------------
// Records: stale, replayed, over the limits, forged

#[test]
fn stale_and_replayed_records_are_ignored() {
    let mut p = Pair::new();
    let c = ident(3);
    let fresh = Message::Update {
        entries: vec![entry(&c, 0, 5, &[("name", "five")], Claim::Alive)],
    };
    let (r, out) = p.send_to_b(&fresh);
    assert!(r.is_ok());
    assert!(matches!(out.events()[..], [Event::MemberJoined(ref m)] if m.id == c.id()));

    let quiet = |p: &mut Pair, msg: &Message, what: &str| {
        let before = snap(&p.b);
        let (r, out) = p.send_to_b(msg);
        assert!(r.is_ok(), "{what}: {r:?}");
        assert!(out.is_quiet(), "{what}: {:?}", out.outputs);
        let after = snap(&p.b);
        assert_eq!(after.members, before.members, "{what}");
        assert_eq!(after.passive, before.passive, "{what}");
        assert_eq!(after.neighbors, before.neighbors, "{what}");
    };
    quiet(&mut p, &fresh, "replay");
    quiet(
        &mut p,
        &Message::SyncDelta {
            entries: vec![entry(&c, 0, 5, &[("name", "five")], Claim::Alive)],
            want: vec![],
        },
        "replay through anti-entropy",
    );
    quiet(
        &mut p,
        &Message::Update {
            entries: vec![entry(&c, 0, 4, &[("name", "four")], Claim::Alive)],
        },
        "older version",
    );

    // A suspicion, then the same accuser again.
    let accuser = ident(4).id();
    let suspect = Message::Update {
        entries: vec![entry(&c, 0, 5, &[], Claim::Suspect { by: accuser })],
    };
    let (r, out) = p.send_to_b(&suspect);
    assert!(r.is_ok());
    assert!(matches!(out.events()[..], [Event::MemberSuspected(id)] if *id == c.id()));
    quiet(&mut p, &suspect, "replayed suspicion");

    // A refutation at a higher incarnation, then the old incarnation comes back.
    let (r, out) = p.send_to_b(&Message::Update {
        entries: vec![entry(&c, 1, 6, &[("name", "six")], Claim::Alive)],
    });
    assert!(r.is_ok());
    assert!(matches!(out.events()[..], [Event::MemberUpdated { .. }]));
    assert_eq!(p.b.member(&c.id()).unwrap().state, MemberState::Alive);
    quiet(
        &mut p,
        &Message::Update {
            entries: vec![entry(&c, 0, 99, &[("name", "old life")], Claim::Alive)],
        },
        "higher version of an older incarnation",
    );
    quiet(&mut p, &suspect, "suspicion of an older incarnation");
    let m = p.b.member(&c.id()).unwrap();
    assert_eq!((m.incarnation, m.version), (1, 6));
    assert_eq!(m.meta["name"], "six");
    assert_eq!(m.state, MemberState::Alive);

    // b's own record replayed to it: no refutation, nothing sent.
    let own = entry(&p.ib, 0, 1, &[], Claim::Alive);
    quiet(
        &mut p,
        &Message::Update {
            entries: vec![own.clone()],
        },
        "own record",
    );
    assert_eq!(p.b.stats().refutations, 0);

    // A genuine suspicion of b is refuted once; its replay is stale afterwards.
    let (r, out) = p.send_to_b(&Message::Update {
        entries: vec![Entry {
            claim: Claim::Suspect { by: accuser },
            ..own
        }],
    });
    assert!(r.is_ok());
    assert_eq!(p.b.stats().refutations, 1);
    assert_eq!(p.b.member(&p.b.id()).unwrap().incarnation, 1);
    assert!(!out.transmits().is_empty(), "the refutation is pushed");
    let (_, _) = p.send_to_b(&Message::Update {
        entries: vec![entry(
            &p.ib.clone(),
            0,
            1,
            &[],
            Claim::Suspect { by: accuser },
        )],
    });
    assert_eq!(
        p.b.stats().refutations,
        1,
        "a replayed suspicion was refuted again"
    );
}

#[test]
fn records_over_the_metadata_limits_are_dropped_and_counted() {
    let mut p = Pair::new();
    let c = ident(3);
    let l = p.b.config().limits.clone();
    let many: Vec<(String, String)> = (0..=l.max_meta_keys)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    let long_key = "k".repeat(l.max_meta_key_len + 1);
    let long_value = "v".repeat(l.max_meta_value_len + 1);
    let mut future_key = record_with_meta(c.id(), 0, 5, &[("k", "v")]);
    future_key.meta.insert(
        "later".into(),
        MetaEntry {
            value: "x".into(),
            version: 6,
        },
    );
    let cases = [
        ("too many keys", entry(&c, 0, 2, &many, Claim::Alive)),
        (
            "key too long",
            entry(&c, 0, 2, &[(long_key.as_str(), "v")], Claim::Alive),
        ),
        (
            "value too long",
            entry(&c, 0, 2, &[("k", long_value.as_str())], Claim::Alive),
        ),
        (
            "key newer than its record",
            Entry {
                signed: SignedRecord::sign(future_key, &c),
                claim: Claim::Alive,
            },
        ),
    ];
    for (i, (name, e)) in cases.iter().enumerate() {
        assert!(
            e.signed.verify(&rumor_core::Ed25519),
            "{name}: validly signed"
        );
        for (j, msg) in [
            Message::Update {
                entries: vec![e.clone()],
            },
            Message::SyncDelta {
                entries: vec![e.clone()],
                want: vec![],
            },
        ]
        .iter()
        .enumerate()
        {
            let before = snap(&p.b);
            let (r, out) = p.send_to_b(msg);
            assert!(r.is_ok());
            assert!(out.is_quiet(), "{name}: {:?}", out.outputs);
            let after = snap(&p.b);
            assert_eq!(
                after.stats.rejected_records,
                (2 * i + j + 1) as u64,
                "{name}"
            );
            assert_eq!(after.members, before.members, "{name}");
            assert_eq!(after.passive, before.passive, "{name}");
        }
    }
    assert!(p.b.member(&c.id()).is_none());
    // Exactly at the limits is fine.
    let key = "k".repeat(l.max_meta_key_len);
    let value = "v".repeat(l.max_meta_value_len);
    let (_, out) = p.send_to_b(&Message::Update {
        entries: vec![entry(
            &c,
            0,
            2,
            &[(key.as_str(), value.as_str())],
            Claim::Alive,
        )],
    });
    assert!(matches!(out.events()[..], [Event::MemberJoined(_)]));
    assert_eq!(p.b.stats().rejected_records, 8);
}

#[test]
fn forged_signatures_are_dropped_and_counted() {
    let mut p = Pair::new();
    let (c, mallory) = (ident(3), ident(6));

    let mut tampered = entry(&c, 0, 2, &[("name", "carol")], Claim::Alive);
    tampered.signed.record.meta.get_mut("name").unwrap().value = "mallory".into();
    let mut zero_sig = entry(&c, 0, 2, &[("name", "carol")], Claim::Alive);
    zero_sig.signed.signature = Signature([[0; 32]; 2]);
    let not_a_key = forged(PeerId([0xff; 32]), &mallory, 0, 2, &[]);
    let unknown_member = [
        (
            "someone else's key",
            forged(c.id(), &mallory, 0, 2, &[("name", "x")]),
        ),
        ("tampered after signing", tampered),
        ("zero signature", zero_sig),
        ("id that is no public key", not_a_key),
    ];
    let mut count = 0;
    for (name, e) in unknown_member {
        let before = snap(&p.b);
        let (r, out) = p.send_to_b(&Message::Update {
            entries: vec![e.clone()],
        });
        assert!(r.is_ok());
        assert!(out.is_quiet(), "{name}: {:?}", out.outputs);
        count += 1;
        let after = snap(&p.b);
        assert_eq!(after.stats.bad_signatures, count, "{name}");
        assert_eq!(after.members, before.members, "{name}");
        assert_eq!(after.passive, before.passive, "{name}");
    }
    assert!(p.b.member(&c.id()).is_none());

    // A known member: a forged newer version does not overwrite the genuine one.
    let (_, out) = p.send_to_b(&Message::Update {
        entries: vec![entry(&c, 0, 2, &[("name", "carol")], Claim::Alive)],
    });
    assert_eq!(member_events(&out.events()), 1);
    let genuine = p.b.member(&c.id()).unwrap();
    for msg in [
        Message::Update {
            entries: vec![forged(c.id(), &mallory, 0, 3, &[("name", "mallory")])],
        },
        Message::SyncDelta {
            entries: vec![forged(c.id(), &mallory, 7, 1, &[("name", "mallory")])],
            want: vec![],
        },
    ] {
        let (r, out) = p.send_to_b(&msg);
        assert!(r.is_ok());
        assert!(out.is_quiet(), "{:?}", out.outputs);
        count += 1;
        assert_eq!(p.b.stats().bad_signatures, count);
        assert_eq!(p.b.member(&c.id()).unwrap(), genuine);
    }
    // Someone else's record delivered by a neighbor under the neighbor's own id.
    let (_, out) = p.send_to_b(&Message::Update {
        entries: vec![forged(p.a.id(), &mallory, 0, 50, &[("name", "evil")])],
    });
    assert!(out.is_quiet());
    assert_eq!(p.b.stats().bad_signatures, count + 1);
    assert!(!p.b.member(&p.a.id()).unwrap().meta.contains_key("name"));
}

#[test]
fn a_forged_record_about_the_node_itself_is_not_believed() {
    let mut p = Pair::new();
    let mallory = ident(6);
    let (r, out) = p.send_to_b(&Message::Update {
        entries: vec![forged(p.b.id(), &mallory, 1_000, 1_000, &[])],
    });
    assert!(r.is_ok());
    assert!(out.is_quiet(), "{:?}", out.outputs);
    assert_eq!(p.b.stats().bad_signatures, 1);
    assert_eq!(p.b.stats().refutations, 0);
    let me = p.b.member(&p.b.id()).unwrap();
    assert_eq!((me.incarnation, me.version), (0, 1));
}

#[test]
fn a_forged_huge_incarnation_about_the_node_itself_does_not_panic() {
    let mut p = Pair::new();
    let mallory = ident(6);
    let (r, _) = p.send_to_b(&Message::Update {
        entries: vec![forged(p.b.id(), &mallory, u64::MAX, u64::MAX, &[])],
    });
    assert!(r.is_ok());
    // Whatever it did, the node still works and can still change its metadata.
    p.b.set_meta("after", "yes", p.now).unwrap();
    let me = p.b.member(&p.b.id()).unwrap();
    assert_eq!(me.meta.get("after").map(String::as_str), Some("yes"));
    assert!(me.version > 1);
}

// ---------------------------------------------------------------------------------------
// Timers

#[test]
fn early_timeouts_do_nothing() {
    let mut p = Pair::new();
    let deadline = drain(&mut p.a).timeout.unwrap();
    assert!(deadline > p.now);
    let before = snap(&p.a);
    for at in [
        deadline - Duration::from_millis(1),
        p.now,
        Instant::ZERO, // time going backwards
    ] {
        p.a.handle_timeout(at);
        let out = drain(&mut p.a);
        assert!(out.is_quiet(), "at {at:?}: {:?}", out.outputs);
        assert_eq!(out.timeout, Some(deadline), "at {at:?}");
        assert_eq!(snap(&p.a), before, "at {at:?}");
    }
}

#[test]
fn repeated_timeouts_at_the_same_instant_are_harmless() {
    let mut p = Pair::new();
    let deadline = drain(&mut p.a).timeout.unwrap();
    p.a.handle_timeout(deadline);
    let first = drain(&mut p.a);
    let next = first.timeout.unwrap();
    assert!(next > deadline, "the deadline moved on");
    let after_first = snap(&p.a);
    for _ in 0..100 {
        p.a.handle_timeout(deadline);
        let again = drain(&mut p.a);
        assert!(again.is_quiet(), "{:?}", again.outputs);
        assert_eq!(again.timeout, Some(next));
    }
    assert_eq!(snap(&p.a), after_first);
    assert_eq!(p.a.stats().stalls, 0);
}

#[test]
fn a_very_late_timer_is_a_stall_not_a_failure() {
    let mut p = Pair::new();
    let b = p.b.id();
    // a also watches a member c whose suspicion is running.
    let c = ident(3);
    let suspicion = encode(&Message::Update {
        entries: vec![entry(&c, 0, 2, &[], Claim::Suspect { by: b })],
    });
    p.a.handle_message(
        b,
        &encode(&Message::Update {
            entries: vec![entry(&c, 0, 2, &[], Claim::Alive)],
        }),
        p.now,
    )
    .unwrap();
    p.a.handle_message(b, &suspicion, p.now).unwrap();
    let out = drain(&mut p.a);
    assert!(out
        .events()
        .iter()
        .any(|e| **e == Event::MemberSuspected(c.id())));

    // The tab was hidden for a minute.
    let late = p.now + Duration::from_secs(60);
    p.a.handle_timeout(late);
    let out = drain(&mut p.a);
    assert_eq!(p.a.stats().stalls, 1);
    for e in out.events() {
        assert!(
            !matches!(
                e,
                Event::MemberSuspected(_) | Event::MemberFailed(_) | Event::NeighborDown(_)
            ),
            "a late timer accused someone: {e:?}"
        );
    }
    assert!(!out.outputs.contains(&Output::Hangup(b)));
    assert_eq!(p.a.neighbors(), vec![b]);
    assert_eq!(p.a.member(&b).unwrap().state, MemberState::Alive);
    assert_eq!(
        p.a.member(&c.id()).unwrap().state,
        MemberState::Suspect,
        "the running suspicion is postponed, not expired"
    );

    // From then on, timers on time: b stays silent, so it is (rightly) dropped after
    // neighbor_timeout, and c's suspicion runs out; no further stall.
    let m = p.a.config().membership.clone();
    let end = late + m.suspicion_max + Duration::from_secs(1);
    let mut at = out.timeout.unwrap();
    let mut events = Vec::new();
    while at <= end {
        p.a.handle_timeout(at);
        let out = drain(&mut p.a);
        for e in out.events() {
            events.push((at, e.clone()));
        }
        at = out.timeout.unwrap();
    }
    assert_eq!(p.a.stats().stalls, 1);
    let when = |ev: Event| events.iter().find(|(_, e)| *e == ev).map(|(t, _)| *t);
    let down = when(Event::NeighborDown(b)).expect("silent b is dropped");
    assert!(down >= late + m.neighbor_timeout, "dropped at {down:?}");
    assert!(when(Event::MemberSuspected(b)).is_some());
    let failed = when(Event::MemberFailed(c.id())).expect("c's suspicion expires");
    assert!(failed > late, "c failed at {failed:?}");
}

// ---------------------------------------------------------------------------------------
// Commands

#[test]
fn set_meta_over_the_limits_is_refused_and_changes_nothing() {
    let mut p = Pair::new();
    let l = p.a.config().limits.clone();
    p.a.set_meta("name", "alice", p.now).unwrap();
    p.settle();
    let check = |p: &mut Pair, key: String, value: String| {
        let before = snap(&p.a);
        let r = p.a.set_meta(key.clone(), value, p.now);
        assert!(matches!(r, Err(CommandError::MetaLimit(_))), "{key}: {r:?}");
        let out = drain(&mut p.a);
        assert!(out.is_quiet(), "{key}: {:?}", out.outputs);
        assert_eq!(snap(&p.a), before, "{key}");
    };
    check(&mut p, "k".repeat(l.max_meta_key_len + 1), "v".into());
    check(&mut p, "k".into(), "v".repeat(l.max_meta_value_len + 1));
    check(&mut p, "name".into(), "v".repeat(l.max_meta_value_len + 1));
    // Exactly at the length limits is accepted.
    p.a.set_meta("k".repeat(l.max_meta_key_len), "v", p.now)
        .unwrap();
    p.a.set_meta("v", "v".repeat(l.max_meta_value_len), p.now)
        .unwrap();
    // Fill up to max_meta_keys, then one more key is refused but existing keys change.
    let mut i = 0;
    while p.a.member(&p.a.id()).unwrap().meta.len() < l.max_meta_keys {
        p.a.set_meta(format!("fill{i}"), "x", p.now).unwrap();
        i += 1;
    }
    p.settle();
    check(&mut p, "one-too-many".into(), "x".into());
    p.a.set_meta("name", "alice 2", p.now).unwrap();
    p.settle();
    let seen = p.b.member(&p.a.id()).unwrap();
    assert_eq!(seen.meta.len(), l.max_meta_keys);
    assert_eq!(seen.meta["name"], "alice 2");
    assert!(!seen.meta.contains_key("one-too-many"));
}

#[test]
fn calls_after_leave_are_refused() {
    let mut p = Pair::new();
    let (a, b) = (p.a.id(), p.b.id());
    p.a.leave(p.now);
    assert!(p.a.has_left());
    let out = drain(&mut p.a);
    assert_eq!(out.timeout, None, "a node that left has no deadline");
    let sent: Vec<Message> = out
        .transmits()
        .iter()
        .map(|(to, bytes)| {
            assert_eq!(*to, b);
            decode(bytes, LIMIT).unwrap()
        })
        .collect();
    assert!(
        matches!(&sent[..], [Message::Update { entries }, Message::Disconnect { leaving: true }]
        if entries[0].signed.record.leaving)
    );
    assert!(out.outputs.contains(&Output::Hangup(b)));
    for (_, bytes) in out.transmits() {
        p.b.handle_message(a, bytes, p.now).unwrap();
    }
    p.b.handle_disconnected(a, p.now);
    let seen = drain(&mut p.b);
    assert!(seen.events().contains(&&Event::MemberLeft(a)));
    assert!(!seen
        .events()
        .iter()
        .any(|e| matches!(e, Event::MemberSuspected(_) | Event::MemberFailed(_))));
    assert_eq!(p.b.member(&a).unwrap().state, MemberState::Left);

    let before = snap(&p.a);
    let ping = encode(&Message::Ping { nonce: 1 });
    assert!(matches!(
        p.a.handle_message(b, &ping, p.now),
        Err(HandleError::Left)
    ));
    assert!(matches!(
        p.a.handle_message(ident(9).id(), &[], p.now),
        Err(HandleError::Left)
    ));
    assert_eq!(
        p.a.set_meta("name", "ghost", p.now),
        Err(CommandError::Left)
    );
    let later = p.now + Duration::from_secs(10);
    p.a.handle_timeout(later);
    p.a.handle_connected(b, later);
    p.a.handle_disconnected(b, later);
    p.a.handle_dial_failed(b, later);
    p.a.join(vec![b], later);
    p.a.leave(later);
    assert_eq!(p.a.poll_output(), None, "a node that left produces nothing");
    assert_eq!(snap(&p.a), before);
}

// ---------------------------------------------------------------------------------------
// Random input

/// xorshift64: a tiny deterministic generator, enough for test input.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn ten_thousand_random_inputs_never_panic_nor_change_the_member_table() {
    let mut p = Pair::new();
    let (a, b) = (p.a.id(), p.b.id());
    let mallory = ident(6);
    // Valid messages to mutate (past their tag byte, so that they stay the same kind).
    let samples: Vec<Vec<u8>> = [
        Message::Ping { nonce: 77 },
        Message::SyncRoot {
            hash: 12345,
            count: 9,
        },
        Message::SyncBuckets {
            hashes: (0..64).collect(),
        },
        Message::SyncDigest {
            buckets: 0b1011,
            digests: vec![entry(&ident(3), 0, 1, &[], Claim::Alive).digest()],
        },
        Message::SyncDelta {
            entries: vec![forged(ident(3).id(), &mallory, 0, 4, &[("n", "v")])],
            want: vec![a, b],
        },
        Message::Update {
            entries: vec![
                forged(ident(4).id(), &mallory, 2, 9, &[("name", "x")]),
                forged(ident(5).id(), &mallory, 0, 1, &[]),
            ],
        },
        Message::Views {
            active: vec![a, b, ident(5).id()],
        },
        Message::Shuffle {
            path: vec![a],
            ttl: 2,
            peers: vec![ident(4).id(), ident(5).id()],
        },
        Message::ShuffleReply {
            route: vec![],
            peers: vec![ident(4).id()],
        },
    ]
    .iter()
    .map(encode)
    .collect();

    let members_before = p.b.members();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut decoded, mut refused) = (0u64, 0u64);
    for i in 0..10_000u32 {
        let bytes: Vec<u8> = match i % 3 {
            // Anything at all.
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            // The right version byte, then anything.
            1 => core::iter::once(1)
                .chain((0..rng.below(600)).map(|_| rng.next() as u8))
                .collect(),
            // A valid message with a few bytes changed.
            _ => {
                let mut m = samples[rng.below(samples.len() as u64) as usize].clone();
                for _ in 0..=rng.below(3) {
                    let at = 2 + rng.below(m.len() as u64 - 2) as usize;
                    m[at] = rng.next() as u8;
                }
                m
            }
        };
        let r = p.b.handle_message(a, &bytes, p.now);
        match &r {
            Ok(()) => decoded += 1,
            Err(HandleError::Decode(_)) => refused += 1,
            Err(e) => panic!("input {i}: unexpected error {e:?}"),
        }
        let out = drain(&mut p.b);
        for (to, sent) in out.transmits() {
            assert!(
                sent.len() <= LIMIT,
                "input {i}: b sent {} bytes",
                sent.len()
            );
            assert!(
                decode(sent, LIMIT).is_ok(),
                "input {i}: b sent garbage to {to}"
            );
        }
        assert_eq!(
            member_events(&out.events()),
            0,
            "input {i}: {:?}",
            out.events()
        );
    }
    assert_eq!(p.b.members(), members_before);
    assert_eq!(decoded + refused, 10_000);
    assert_eq!(p.b.stats().decode_errors, refused);
    // The mutated valid messages do reach the protocol, not just the decoder.
    assert!(decoded > 1_000, "only {decoded} inputs decoded");
    assert!(is_decode(&p.b.handle_message(a, &[1, 99], p.now)));
}
