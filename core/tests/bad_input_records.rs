//! Bad input (issue 2) in records, timers and commands: stale, replayed, oversized and
//! forged records, timers called early, repeatedly or very late, refused commands, and
//! calls after `leave`. Each gets a typed error or is ignored and counted; none panics,
//! none corrupts state. Everything goes through the public API. The wire: bad_input_wire.rs.

mod support;

use core::time::Duration;

use rumor_core::record::{record_with_meta, Claim, Entry, MetaEntry, SignedRecord};
use rumor_core::wire::{decode, encode, Message};
use rumor_core::{
    CommandError, Event, HandleError, Instant, MemberState, Output, PeerId, Signature,
};

use support::pair::*;

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
    assert_eq!(m.meta.get("name").unwrap(), "six");
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
                signed: SignedRecord::sign(future_key, &c).into(),
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
    std::sync::Arc::make_mut(&mut tampered.signed)
        .record
        .meta
        .get_mut("name")
        .unwrap()
        .value = "mallory".into();
    let mut zero_sig = entry(&c, 0, 2, &[("name", "carol")], Claim::Alive);
    std::sync::Arc::make_mut(&mut zero_sig.signed).signature = Signature([[0; 32]; 2]);
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
    assert_eq!(seen.meta.get("name").unwrap(), "alice 2");
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
