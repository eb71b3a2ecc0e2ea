//! Bad input for the broadcast layer (issue 3): unknown ids in IHave/Graft, grafts for
//! messages no longer held, IHave floods, chunks that never complete or contradict each
//! other, absurd topics and oversized payloads. Each is bounded, ignored or refused with a
//! typed error, and counted; none panics. Everything goes through the public API, with
//! nodes connected by hand (support/net.rs). Echoes, history replies, duplicates and pull
//! repair: broadcast_repair_input.rs.

mod support;

use core::time::Duration;

use rumor_core::record::{record_with_meta, Claim, Entry, SignedRecord};
use rumor_core::wire::{encode, Gossip, Message, MsgId};
use rumor_core::{CommandError, Config, HandleError};
use support::net::*;

// ---------------------------------------------------------------------------------------
// IHave and Graft

#[test]
fn ihave_with_unknown_ids_grafts_after_graft_timeout_only_what_was_not_seen() {
    let mut net = Net::star(2);
    let x = stranger();
    let graft_timeout = net.nodes[B].config().broadcast.graft_timeout;
    // x2 is seen before the announcement, x3 arrives after it but before the timeout.
    net.inject(A, B, &Message::Gossip(gossip(x, 2, "t", b"two")));
    let outs = net.inject(
        A,
        B,
        &Message::IHave {
            ids: vec![(id(x, 1), 1), (id(x, 2), 1), (id(x, 3), 1)],
        },
    );
    assert!(
        transmits(&outs).is_empty(),
        "an IHave is not answered at once: {outs:?}"
    );
    let t0 = net.now;
    net.inject(A, B, &Message::Gossip(gossip(x, 3, "t", b"three")));

    net.advance(graft_timeout - STEP);
    assert!(net.grafts(B, A).is_empty(), "no graft before graft_timeout");
    net.advance(STEP);
    assert_eq!(
        net.grafts(B, A),
        vec![vec![id(x, 1)]],
        "only the unseen id is grafted"
    );
    let graft_at = net
        .frames(B, A)
        .iter()
        .find(|s| matches!(s.msg, Message::Graft { .. }))
        .unwrap()
        .at;
    assert_eq!(graft_at, t0 + graft_timeout);

    // A does not hold x1 (the announcement was crafted): it counts the graft, sends nothing.
    assert_eq!(net.stats(A).graft_unknown, 1);
    assert!(!net.frames(A, B).iter().any(|s| is_gossip(&s.msg)));
    // With no other announcer, A is asked again graft_retry apart (a graft or its answer
    // may be lost), graft_attempts times in all; then x1 is given up: no further graft.
    let bc = net.nodes[B].config().broadcast.clone();
    net.advance(bc.graft_retry);
    assert_eq!(net.grafts(B, A).len(), 2);
    net.advance(Duration::from_secs(3));
    let attempts = bc.graft_attempts as usize;
    assert!(attempts >= 2, "the default retries a lone announcer");
    assert_eq!(net.grafts(B, A).len(), attempts);
    assert_eq!(net.stats(B).bad_broadcast_messages, 0);
    assert!(net.delivered(B).is_empty(), "B subscribes to nothing");

    // Announcing an id after it was seen never leads to a graft.
    net.inject(
        A,
        B,
        &Message::IHave {
            ids: vec![(id(x, 2), 1), (id(x, 3), 4)],
        },
    );
    net.advance(Duration::from_secs(2));
    assert_eq!(net.grafts(B, A).len(), attempts);
}

#[test]
fn grafts_go_to_the_next_announcer_after_graft_retry() {
    let mut net = Net::star(3);
    let x = stranger();
    let bc = net.nodes[B].config().broadcast.clone();
    net.inject(A, B, &ihave(x, 7, 1));
    net.inject(C, B, &ihave(x, 7, 1));
    net.inject(A, B, &ihave(x, 7, 1)); // the same announcer twice counts once
    net.advance(bc.graft_timeout);
    assert_eq!(net.grafts(B, A), vec![vec![id(x, 7)]]);
    assert!(net.grafts(B, C).is_empty(), "one announcer at a time");
    net.advance(bc.graft_retry - STEP);
    assert!(
        net.grafts(B, C).is_empty(),
        "the next announcer waits graft_retry"
    );
    net.advance(STEP);
    assert_eq!(net.grafts(B, C), vec![vec![id(x, 7)]]);
    // Then the announcers again in turn, graft_attempts grafts in all, then given up.
    assert_eq!(bc.graft_attempts, 3);
    net.advance(bc.graft_retry);
    assert_eq!(net.grafts(B, A).len(), 2);
    net.advance(Duration::from_secs(3));
    assert_eq!(
        (net.grafts(B, A).len(), net.grafts(B, C).len()),
        (2, 1),
        "then given up"
    );
    assert_eq!(net.stats(A).graft_unknown + net.stats(C).graft_unknown, 3);
}

#[test]
fn ihave_and_graft_with_more_than_1024_ids_are_refused_and_counted() {
    // With the default 16 KiB frames such lists do not even decode.
    let mut net = Net::star(2);
    let bytes = encode(&ihave(stranger(), 1, 1025));
    let r = net.nodes[B].handle_message(net.ids[A], &bytes, net.now);
    assert!(matches!(r, Err(HandleError::Decode(_))), "{r:?}");
    assert_eq!(net.stats(B).decode_errors, 1);

    let mut config = Config::default();
    config.limits.max_message_size = 64 * KIB;
    let mut net = Net::new(2, config, true);
    let x = stranger();
    let before = net.stats(B);
    net.inject(A, B, &ihave(x, 1, 1025));
    assert_eq!(
        net.stats(B).bad_broadcast_messages,
        before.bad_broadcast_messages + 1
    );
    assert_eq!(net.stats(B).ihave_dropped, before.ihave_dropped);
    net.advance(Duration::from_secs(1));
    assert!(
        net.grafts(B, A).is_empty(),
        "nothing of a refused IHave is tracked"
    );

    // A Graft of 1025 ids, one of them held, is refused as a whole.
    let held = net.nodes[B]
        .publish("t", b"held".to_vec(), net.now)
        .unwrap();
    net.pump();
    let mut ids: Vec<MsgId> = (1..=1024).map(|s| id(x, s)).collect();
    ids.push(held);
    let before = net.stats(B);
    let outs = net.inject(A, B, &Message::Graft { ids: ids.clone() });
    assert!(transmits(&outs).is_empty(), "{outs:?}");
    let after = net.stats(B);
    assert_eq!(
        after.bad_broadcast_messages,
        before.bad_broadcast_messages + 1
    );
    assert_eq!(after.graft_unknown, before.graft_unknown);

    // Exactly 1024 are accepted: the held one is sent, the 1023 unknown ones counted.
    ids.remove(0);
    let outs = net.inject(A, B, &Message::Graft { ids });
    let sent = transmits(&outs);
    assert_eq!(sent.len(), 1);
    assert!(matches!(&sent[0].1, Message::Gossip(g) if g.id == held));
    assert_eq!(net.stats(B).graft_unknown, after.graft_unknown + 1023);
    assert_eq!(
        net.stats(B).bad_broadcast_messages,
        after.bad_broadcast_messages
    );
}

#[test]
fn an_ihave_flood_beyond_max_missing_is_dropped_and_counted() {
    let mut net = Net::star(2);
    let x = stranger();
    let bc = net.nodes[B].config().broadcast.clone();
    assert_eq!(bc.max_missing, 4_096);
    for k in 0..12u64 {
        net.inject(A, B, &ihave(x, 1 + k * 400, 400));
    }
    assert_eq!(net.stats(B).ihave_dropped, 4_800 - 4_096);
    // Ids already tracked still take more announcers; ids beyond the bound are not tracked.
    let before = net.stats(B).ihave_dropped;
    net.inject(A, B, &ihave(x, 1, 10));
    assert_eq!(net.stats(B).ihave_dropped, before, "already tracked");
    net.inject(A, B, &ihave(x, 5_001, 10));
    assert_eq!(net.stats(B).ihave_dropped, before + 10);

    // Exactly the tracked ids are grafted, once.
    net.advance(bc.graft_timeout);
    let grafted: Vec<MsgId> = net.grafts(B, A).concat();
    assert_eq!(grafted.len(), 4_096);
    assert_eq!(
        grafted.iter().max().unwrap().seq,
        4_096,
        "the first 4096 announced"
    );
    // (Those grafts are one frame over 16 KiB today, which A would refuse: see
    // grafts_fit_in_one_frame.)

    // With no other announcer they are grafted again graft_retry apart, graft_attempts
    // times in all, then given up, and tracking is free again.
    net.advance(bc.graft_retry * bc.graft_attempts);
    assert_eq!(
        net.grafts(B, A).concat().len(),
        4_096 * bc.graft_attempts as usize
    );
    let before = net.stats(B).ihave_dropped;
    for k in 0..10u64 {
        net.inject(A, B, &ihave(x, 10_000 + k * 400, 400));
    }
    assert_eq!(
        net.stats(B).ihave_dropped,
        before,
        "4000 fresh ids fit again"
    );
    assert_eq!(net.stats(B).bad_broadcast_messages, 0);
}

#[test]
fn grafts_fit_in_one_frame() {
    let mut net = Net::star(2);
    let x = stranger();
    // Three announcements that each fit a frame, expiring together.
    for k in 0..3u64 {
        let msg = ihave(x, 1 + k * 400, 400);
        assert!(encode(&msg).len() <= 16 * KIB);
        net.inject(A, B, &msg);
    }
    net.advance(net.nodes[B].config().broadcast.graft_timeout);
    let grafts = net.grafts(B, A);
    assert_eq!(grafts.concat().len(), 1_200);
    assert!(
        grafts.iter().all(|g| g.len() <= 1_024),
        "A would refuse a Graft of more than 1024 ids"
    );
    let sizes: Vec<usize> = net.oversized.iter().map(|s| s.len).collect();
    assert!(
        sizes.is_empty(),
        "frames over 16 KiB, refused by the receiver: {sizes:?}"
    );
}

#[test]
fn an_ihave_flood_does_not_grow_memory() {
    let mut config = Config::default();
    config.broadcast.max_missing = 64;
    let mut net = Net::new(2, config, true);
    let x = stranger();
    let batch = 450;
    let mut next = 1;
    let mut flood = |net: &mut Net, messages: usize| {
        for _ in 0..messages {
            let bytes = encode(&ihave(x, next, batch));
            next += batch as u64;
            let now = net.now;
            let a = net.ids[A];
            net.nodes[B].handle_message(a, &bytes, now).unwrap();
            net.drain(B);
        }
    };
    flood(&mut net, 1_550); // 697,500 unknown ids
    assert_eq!(net.stats(B).ihave_dropped, 1_550 * batch as u64 - 64);
    // Every store stays within its bound: tracking is capped at max_missing, and ids we
    // never held are not remembered per neighbor.
    let sizes = net.nodes[B].broadcast_sizes();
    assert_eq!(sizes.missing, 64, "{sizes:?}");
    assert_eq!(sizes.known_ids, 0, "{sizes:?}");
    assert_eq!(sizes.seen, 0, "{sizes:?}");
}

#[test]
fn grafts_for_unknown_or_no_longer_held_ids_send_nothing_and_are_counted() {
    let mut config = Config::default();
    config.broadcast.cache_capacity = 2;
    let mut net = Net::new(2, config, true);
    let now = net.now;
    let m: Vec<MsgId> = (0..3)
        .map(|i| net.nodes[A].publish("t", vec![i], now).unwrap())
        .collect();
    net.pump();
    // m[0] was evicted by the cache bound; m[2] is held; the stranger's id never existed.
    let outs = net.inject(
        B,
        A,
        &Message::Graft {
            ids: vec![m[0], m[2], id(stranger(), 1)],
        },
    );
    let sent = transmits(&outs);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(&sent[0].1, Message::Gossip(g) if g.id == m[2] && g.data == [2]));
    assert_eq!(net.stats(A).graft_unknown, 2);

    // Messages also age out of the cache after history_ttl.
    let mut net = Net::star(2);
    let m = net.nodes[A].publish("t", b"old".to_vec(), net.now).unwrap();
    net.pump();
    let outs = net.inject(B, A, &Message::Graft { ids: vec![m] });
    assert_eq!(transmits(&outs).len(), 1, "held while young");
    let ttl = net.nodes[A].config().broadcast.history_ttl;
    net.advance(ttl + Duration::from_secs(1));
    let before = net.stats(A).graft_unknown;
    let outs = net.inject(B, A, &Message::Graft { ids: vec![m] });
    assert!(transmits(&outs).is_empty(), "{outs:?}");
    assert_eq!(net.stats(A).graft_unknown, before + 1);
}

// ---------------------------------------------------------------------------------------
// Chunks

#[test]
fn chunks_that_never_complete_are_dropped_after_reassembly_timeout() {
    let mut net = Net::star(2);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    let x = stranger();
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 1, part(1, 0, 3), "t", b"aa")),
    );
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 3, part(1, 2, 3), "t", b"cc")),
    );
    let timeout = net.nodes[B].config().broadcast.reassembly_timeout;
    net.advance(timeout);
    assert_eq!(
        net.stats(B).reassemblies_dropped,
        0,
        "kept until reassembly_timeout"
    );
    net.advance(Duration::from_millis(500));
    assert_eq!(net.stats(B).reassemblies_dropped, 1);
    // The missing chunk comes too late: its payload was dropped and is not delivered.
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 2, part(1, 1, 3), "t", b"bb")),
    );
    net.advance(timeout + Duration::from_secs(1));
    assert!(net.delivered(B).is_empty(), "{:?}", net.delivered(B));
    assert_eq!(net.stats(B).bad_broadcast_messages, 0);
}

#[test]
fn too_many_unfinished_payloads_drop_the_oldest() {
    let mut net = Net::star(2);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    let x = stranger();
    let max = net.nodes[B].config().broadcast.max_reassemblies as u64;
    for k in 0..=max {
        let first = 1 + 2 * k;
        net.inject(
            A,
            B,
            &Message::Gossip(chunk(x, first, part(first, 0, 2), "t", &[k as u8])),
        );
        net.advance(STEP); // so that "oldest" is well defined
    }
    assert_eq!(net.stats(B).reassemblies_dropped, 1);
    // The oldest (first = 1) is gone; the second oldest still completes.
    let second = chunk(x, 4, part(3, 1, 2), "t", b"y");
    net.inject(A, B, &Message::Gossip(second));
    assert_eq!(net.delivered(B), vec![("t".into(), x, 3, vec![1, b'y'])]);
    // The oldest one's second chunk starts a new payload, which cannot complete.
    let late = chunk(x, 2, part(1, 1, 2), "t", b"x");
    net.inject(A, B, &Message::Gossip(late));
    assert_eq!(net.delivered(B).len(), 1);
    assert_eq!(net.stats(B).reassemblies_dropped, 1);
}

#[test]
fn inconsistent_chunk_headers_are_counted_and_never_delivered() {
    let mut net = Net::star(3);
    for t in ["t", "u"] {
        net.nodes[B].subscribe(t, net.now).unwrap();
    }
    net.pump();
    let x = stranger();
    let before_c = net.frames(B, C).len();
    let bad_headers = [
        chunk(x, 5, part(1, 1, 2), "t", b"seq is not first + index"),
        chunk(x, 12, part(10, 2, 2), "t", b"index >= count"),
        chunk(x, 20, part(20, 0, 1), "t", b"count 1"),
        chunk(x, 30, part(30, 0, 0), "t", b"count 0"),
        chunk(
            x,
            40,
            part(40, 0, 1_000),
            "t",
            b"more chunks than max_payload needs",
        ),
        chunk(x, 0, part(u64::MAX, 1, 2), "t", b"first + index overflows"),
    ];
    for g in &bad_headers {
        net.inject(A, B, &Message::Gossip(g.clone()));
    }
    assert_eq!(
        net.stats(B).bad_broadcast_messages,
        bad_headers.len() as u64
    );
    assert_eq!(
        net.frames(B, C).len(),
        before_c,
        "malformed chunks are not forwarded"
    );

    // A second chunk that contradicts the first one's count or topic.
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 100, part(100, 0, 2), "t", b"a")),
    );
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 101, part(100, 1, 3), "t", b"b")),
    );
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 200, part(200, 0, 2), "t", b"a")),
    );
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 201, part(200, 1, 2), "u", b"b")),
    );
    assert_eq!(
        net.stats(B).bad_broadcast_messages,
        bad_headers.len() as u64 + 2
    );
    assert!(net.delivered(B).is_empty(), "{:?}", net.delivered(B));

    // A consistent payload, chunks out of order, is reassembled in index order, once.
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 301, part(300, 1, 2), "t", b"world")),
    );
    net.inject(
        A,
        B,
        &Message::Gossip(chunk(x, 300, part(300, 0, 2), "t", b"hello ")),
    );
    net.inject(
        C,
        B,
        &Message::Gossip(chunk(x, 300, part(300, 0, 2), "t", b"hello ")),
    );
    assert_eq!(
        net.delivered(B),
        vec![("t".into(), x, 300, b"hello world".to_vec())]
    );
}

// ---------------------------------------------------------------------------------------
// Topics and payloads

#[test]
fn empty_or_overlong_topics_are_refused_by_every_command() {
    let mut net = Net::star(2);
    let now = net.now;
    let max_len = net.nodes[A].config().limits.max_topic_len;
    let long = "x".repeat(max_len + 1);
    let huge = "y".repeat(10 * KIB);
    let before = net.stats(A);
    for bad in ["", long.as_str(), huge.as_str()] {
        let n = &mut net.nodes[A];
        assert!(matches!(
            n.subscribe(bad, now),
            Err(CommandError::TopicInvalid(_))
        ));
        assert!(matches!(
            n.subscribe_for(bad, Duration::from_secs(5), now),
            Err(CommandError::TopicInvalid(_))
        ));
        assert!(matches!(
            n.publish(bad, b"x".to_vec(), now),
            Err(CommandError::TopicInvalid(_))
        ));
        assert!(matches!(
            n.request_history(bad, Duration::from_secs(5), now),
            Err(CommandError::TopicInvalid(_))
        ));
        assert!(net.drain(A).is_empty(), "a refused command outputs nothing");
    }
    assert!(net.nodes[A].subscriptions().is_empty());
    assert_eq!(net.stats(A), before);
    assert!(
        net.nodes[A].subscribe("z".repeat(max_len), now).is_ok(),
        "max_topic_len is allowed"
    );
}

#[test]
fn subscriptions_beyond_max_subscriptions_are_refused() {
    let mut net = Net::star(2);
    let now = net.now;
    let max = net.nodes[A].config().limits.max_subscriptions;
    for i in 0..max {
        net.nodes[A].subscribe(format!("topic-{i}"), now).unwrap();
    }
    assert_eq!(
        net.nodes[A].subscribe("one-too-many", now),
        Err(CommandError::TopicInvalid("too many subscriptions"))
    );
    assert!(
        net.nodes[A].subscribe("topic-0", now).is_ok(),
        "re-subscribing is not a new topic"
    );
    net.pump();
    assert_eq!(net.nodes[A].subscriptions().len(), max);
    let seen = net.nodes[B].member(&net.ids[A]).unwrap().topics;
    assert_eq!(seen.len(), max, "B knows A's subscriptions from its record");
    assert!(!seen.iter().any(|t| t == "one-too-many"));
}

#[test]
fn subscriptions_never_make_a_record_over_max_record_size() {
    let mut net = Net::star(2);
    let now = net.now;
    let len = net.nodes[A].config().limits.max_topic_len;
    let max = net.nodes[A].config().limits.max_subscriptions;
    let mut accepted = 0;
    for i in 0..max {
        // 64 topics of 128 bytes encode to more than the 8 KiB record limit.
        let topic = format!("{i:03}{}", "t".repeat(len - 3));
        match net.nodes[A].subscribe(topic, now) {
            Ok(()) => accepted += 1,
            Err(e) => assert!(matches!(e, CommandError::TopicInvalid(_)), "{e:?}"),
        }
    }
    net.pump();
    assert_eq!(net.stats(B).rejected_records, 0, "B refused A's own record");
    assert_eq!(
        net.nodes[B].member(&net.ids[A]).unwrap().topics.len(),
        accepted
    );
}

#[test]
fn records_with_absurd_topics_are_dropped_and_counted() {
    let mut net = Net::star(2);
    let x = ident(99);
    let limits = net.nodes[B].config().limits.clone();
    let with_topics = |topics: Vec<String>| {
        let mut r = record_with_meta(x.id(), 0, 1, &[]);
        r.topics = topics.into_iter().map(|t| (t, ())).collect();
        Entry {
            signed: SignedRecord::sign(r, &x).into(),
            claim: Claim::Alive,
        }
    };
    let too_long = with_topics(vec!["l".repeat(limits.max_topic_len + 1)]);
    let too_many = with_topics(
        (0..=limits.max_subscriptions)
            .map(|i| format!("t{i}"))
            .collect(),
    );
    for e in [too_long, too_many] {
        net.inject(A, B, &Message::Update { entries: vec![e] });
    }
    assert_eq!(net.stats(B).rejected_records, 2);
    assert!(net.nodes[B].member(&x.id()).is_none());
    // Within the limits the same stranger is accepted, subscriptions and all.
    net.inject(
        A,
        B,
        &Message::Update {
            entries: vec![with_topics(vec!["ok".into()])],
        },
    );
    let m = net.nodes[B].member(&x.id()).expect("accepted");
    assert!(m.topics.iter().any(|t| t == "ok"));
}

#[test]
fn incoming_gossip_with_an_absurd_topic_is_counted_and_not_delivered() {
    let mut net = Net::star(3);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    let x = stranger();
    let huge = "t".repeat(10 * KIB);
    let before = net.stats(B);
    for (seq, topic) in [(1, huge.as_str()), (2, "")] {
        let outs = net.inject(A, B, &Message::Gossip(gossip(x, seq, topic, b"x")));
        assert!(
            transmits(&outs).is_empty(),
            "neither forwarded nor pruned: {outs:?}"
        );
    }
    let after = net.stats(B);
    assert_eq!(
        after.bad_broadcast_messages,
        before.bad_broadcast_messages + 2
    );
    assert_eq!(after.gossip_received, before.gossip_received);
    assert!(net.delivered(B).is_empty());
    // Nor is it remembered as seen: the same ids with a sane topic are new messages.
    net.inject(A, B, &Message::Gossip(gossip(x, 1, "t", b"fine")));
    assert_eq!(net.delivered(B), vec![("t".into(), x, 1, b"fine".to_vec())]);
    // A history request for an absurd topic is answered with nothing.
    let outs = net.inject(
        A,
        B,
        &Message::HistoryRequest {
            topic: huge,
            max_age_ms: u64::MAX,
        },
    );
    assert!(transmits(&outs).is_empty());
}

#[test]
fn a_payload_over_max_payload_is_refused_and_nothing_is_sent() {
    let mut net = Net::star(2);
    net.nodes[A].subscribe("t", net.now).unwrap();
    net.pump();
    let max = net.nodes[B].config().broadcast.max_payload;
    assert_eq!(max, 256 * KIB);
    let before = net.stats(B);
    let r = net.nodes[B].publish("t", vec![7; max + 1], net.now);
    assert_eq!(r, Err(CommandError::PayloadTooLarge { size: max + 1, max }));
    assert!(net.drain(B).is_empty(), "no Transmit, no output at all");
    assert_eq!(net.stats(B), before);

    // Exactly max_payload goes out as 17 chunks of at most 16,384 − 512 − 128 bytes.
    let data: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
    let first = net.nodes[B].publish("t", data.clone(), net.now).unwrap();
    net.pump();
    let chunks: Vec<Gossip> = net
        .frames(B, A)
        .iter()
        .filter_map(|s| match &s.msg {
            Message::Gossip(g) => Some(g.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(chunks.len(), 17);
    assert!(chunks.iter().all(|g| g.data.len() <= 16 * KIB - 512 - 128));
    assert!(chunks
        .iter()
        .enumerate()
        .all(|(i, g)| g.part == Some(part(first.seq, i as u16, 17))
            && g.id.seq == first.seq + i as u64));
    assert!(net.oversized.is_empty());
    assert_eq!(
        net.delivered(A),
        vec![("t".into(), net.ids[B], first.seq, data)]
    );
}
