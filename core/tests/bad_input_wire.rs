//! Bad input (issue 2) on the wire: malformed bytes, oversized messages, messages from
//! unknown peers or out of place, and random input. Each gets a typed error or is ignored
//! and counted; none panics, none corrupts state. Everything goes through the public API.
//! Records, timers and commands: bad_input_records.rs.

mod support;

use rumor_core::record::Claim;
use rumor_core::wire::{decode, encode, DecodeError, Intent, Message};
use rumor_core::{CommandError, Config, HandleError, Identity, Output};

use support::pair::*;

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
