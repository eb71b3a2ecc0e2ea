//! Bad input for the broadcast layer's repair paths (issue 3): echoes of our own messages,
//! malformed history replies, duplicates over two links, pull offers, history requests,
//! subscriptions with a time-to-live and restarted nodes. Each is bounded, ignored or
//! counted; none panics. Nodes are connected by hand (support/net.rs).

mod support;

use core::time::Duration;

use rumor_core::wire::{decode, Gossip, Message, MsgId};
use rumor_core::{Instant, Node, Output, PeerId};
use support::net::*;

// ---------------------------------------------------------------------------------------
// Echoes, history replies, duplicates

#[test]
fn our_own_messages_echoed_back_are_ignored() {
    let mut net = Net::star(3);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    let m = net.nodes[B]
        .publish("t", b"mine".to_vec(), net.now)
        .unwrap();
    net.pump();
    let echo = Gossip {
        round: 1,
        ..gossip(m.origin, m.seq, "t", b"mine")
    };
    let forged = gossip(m.origin, 999, "t", b"never published");
    for g in [echo, forged] {
        let outs = net.inject(A, B, &Message::Gossip(g));
        // An echo is a duplicate: at most a Prune back to the link it came over, and no
        // event or forward.
        let only_prunes = outs.iter().all(|o| match o {
            Output::Transmit { to, bytes } => {
                *to == net.ids[A] && matches!(decode(bytes, 1 << 20), Ok(Message::Prune { .. }))
            }
            _ => false,
        });
        assert!(only_prunes, "no event, no forward: {outs:?}");
    }
    assert!(
        net.delivered(B).is_empty(),
        "a publisher never delivers its own messages"
    );
    // An announcement of our own ids is not grafted either.
    net.inject(
        A,
        B,
        &Message::IHave {
            ids: vec![(id(m.origin, 1_000), 1)],
        },
    );
    net.advance(Duration::from_secs(1));
    assert!(net.grafts(B, A).is_empty());
    assert_eq!(net.stats(B).ihave_dropped, 0);
}

#[test]
fn our_own_messages_in_a_history_reply_are_not_counted_as_malformed() {
    let mut net = Net::star(2);
    net.nodes[A].subscribe("t", net.now).unwrap();
    net.pump();
    net.nodes[A]
        .publish("t", b"mine".to_vec(), net.now)
        .unwrap();
    net.pump();
    // A asks for the topic's history; B's answer rightly includes A's own message.
    net.nodes[A]
        .request_history("t", Duration::from_secs(60), net.now)
        .unwrap();
    net.pump();
    assert!(net
        .frames(B, A)
        .iter()
        .any(|s| matches!(&s.msg, Message::History { messages } if messages.len() == 1)));
    assert!(net.delivered(A).is_empty());
    assert_eq!(
        net.stats(A).bad_broadcast_messages,
        0,
        "nothing malformed was received"
    );
}

#[test]
fn history_replies_with_malformed_items_are_counted_and_the_rest_delivered() {
    let mut net = Net::star(3);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    let x = stranger();
    let huge = "t".repeat(10 * KIB);
    let messages = vec![
        gossip(x, 1, "t", b"one"),
        gossip(x, 2, &huge, b"absurd topic"),
        gossip(x, 3, "", b"empty topic"),
        chunk(x, 4, part(4, 0, 1), "t", b"bad chunk"),
        gossip(x, 5, "t", b"five"),
        gossip(x, 1, "t", b"one"),
    ];
    let before = net.stats(B);
    let frames_to_c = net.frames(B, C).len();
    net.inject(A, B, &Message::History { messages });
    assert_eq!(
        net.stats(B).bad_broadcast_messages,
        before.bad_broadcast_messages + 3
    );
    let got: Vec<u64> = net.delivered(B).iter().map(|d| d.2).collect();
    assert_eq!(got, vec![1, 5], "valid items delivered once, in order");
    assert_eq!(
        net.frames(B, C).len(),
        frames_to_c,
        "history is never forwarded"
    );
}

#[test]
fn the_same_gossip_over_two_links_is_delivered_once_and_prunes_the_second_sender() {
    let mut net = Net::star(3);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    let x = stranger();
    let g1 = gossip(x, 1, "t", b"once");
    let outs = net.inject(A, B, &Message::Gossip(g1.clone()));
    let sent = transmits(&outs);
    assert!(
        sent.iter().any(|(to, m)| *to == net.ids[C] && is_gossip(m)),
        "new neighbors are eager: {sent:?}"
    );
    let outs = net.inject(C, B, &Message::Gossip(Gossip { round: 3, ..g1 }));
    assert_eq!(
        transmits(&outs),
        vec![(net.ids[C], Message::Prune { origin: x })]
    );
    assert_eq!(net.delivered(B), vec![("t".into(), x, 1, b"once".to_vec())]);
    assert_eq!(net.stats(B).gossip_duplicates, 1);

    // C is lazy now: the next message reaches it as an IHave.
    let outs = net.inject(A, B, &Message::Gossip(gossip(x, 2, "t", b"two")));
    let to_c: Vec<Message> = transmits(&outs)
        .into_iter()
        .filter(|(to, _)| *to == net.ids[C])
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        to_c,
        vec![Message::IHave {
            ids: vec![(id(x, 2), 1)]
        }]
    );
    // A first copy from a lazy peer puts it back in the tree.
    net.inject(C, B, &Message::Gossip(gossip(x, 3, "t", b"three")));
    let outs = net.inject(A, B, &Message::Gossip(gossip(x, 4, "t", b"four")));
    assert!(transmits(&outs)
        .iter()
        .any(|(to, m)| *to == net.ids[C] && is_gossip(m)));
    assert_eq!(net.delivered(B).len(), 4);

    // The same bytes published twice are two messages.
    let s1 = net.nodes[A]
        .publish("t", b"same".to_vec(), net.now)
        .unwrap();
    let s2 = net.nodes[A]
        .publish("t", b"same".to_vec(), net.now)
        .unwrap();
    net.pump();
    assert_ne!(s1, s2);
    let same: Vec<u64> = net
        .delivered(B)
        .iter()
        .filter(|d| d.3 == b"same")
        .map(|d| d.2)
        .collect();
    assert_eq!(same, vec![s1.seq, s2.seq]);
}

// ---------------------------------------------------------------------------------------
// Pull repair, history requests, subscriptions with a time-to-live

#[test]
fn pull_offers_old_ids_the_neighbor_is_not_known_to_hold_once() {
    let mut net = Net::star(2);
    let t0 = net.now;
    let mine = net.nodes[A].publish("t", b"a".to_vec(), t0).unwrap();
    let theirs = net.nodes[B].publish("t", b"b".to_vec(), t0).unwrap();
    net.pump();
    net.advance(Duration::from_secs(8));
    let offers: Vec<(Instant, Vec<MsgId>)> = net
        .frames(A, B)
        .iter()
        .map(|s| (s.at, ihave_ids(&s.msg)))
        .filter(|(_, ids)| !ids.is_empty())
        .collect();
    let with_mine: Vec<&(Instant, Vec<MsgId>)> = offers
        .iter()
        .filter(|(_, ids)| ids.contains(&mine))
        .collect();
    assert_eq!(with_mine.len(), 1, "offered once: {offers:?}");
    let min_age = net.nodes[A].config().broadcast.pull_min_age;
    assert!(with_mine[0].0 >= t0 + min_age, "not before pull_min_age");
    assert!(
        !offers.iter().any(|(_, ids)| ids.contains(&theirs)),
        "B sent it: B holds it"
    );
    assert!(net.stats(A).pull_offers >= 1);
    assert!(net.grafts(B, A).is_empty(), "B already had it");
}

#[test]
fn pull_offers_fit_in_one_frame() {
    let mut net = Net::star(2);
    // 600 messages on 3 topics (history_per_topic keeps 256 per topic), all eagerly
    // pushed to B, which never says it holds them: the next pull offers 512 of them.
    for i in 0..600u32 {
        let topic = format!("t{}", i % 3);
        net.nodes[A]
            .publish(topic, i.to_le_bytes().to_vec(), net.now)
            .unwrap();
    }
    net.pump();
    net.advance(Duration::from_secs(4));
    assert!(net.stats(A).pull_offers >= 1);
    let sizes: Vec<usize> = net.oversized.iter().map(|s| s.len).collect();
    assert!(
        sizes.is_empty(),
        "frames over 16 KiB, refused by the receiver: {sizes:?}"
    );
}

#[test]
fn history_requests_go_to_at_most_two_neighbors_and_respect_max_age() {
    let mut net = Net::star(4);
    let t0 = net.now;
    net.nodes[A].publish("t", b"old".to_vec(), t0).unwrap();
    net.pump();
    net.advance(Duration::from_secs(5));
    net.nodes[A].publish("t", b"new".to_vec(), net.now).unwrap();
    net.pump();
    // The hub asks for the last 3 s: two of its three neighbors are asked.
    net.nodes[B]
        .request_history("t", Duration::from_secs(3), net.now)
        .unwrap();
    let outs = net.drain(B);
    let asked: Vec<(PeerId, Message)> = transmits(&outs);
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|(_, m)| *m
        == Message::HistoryRequest {
            topic: "t".into(),
            max_age_ms: 3_000
        }));
    net.route(B, outs);
    net.pump();
    let replies: Vec<Vec<Vec<u8>>> = net
        .sent
        .iter()
        .filter_map(|s| match &s.msg {
            Message::History { messages } if s.to == B => {
                Some(messages.iter().map(|g| g.data.clone()).collect())
            }
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 2);
    assert!(
        replies.iter().all(|r| r == &vec![b"new".to_vec()]),
        "only the last 3 s: {replies:?}"
    );
}

#[test]
fn a_late_subscriber_gets_what_it_missed_from_history() {
    let mut net = Net::star(2);
    net.nodes[A]
        .publish("t", b"before".to_vec(), net.now)
        .unwrap();
    net.pump();
    assert!(net.delivered(B).is_empty(), "B was not subscribed");
    net.advance(Duration::from_secs(2));
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.nodes[B]
        .request_history("t", Duration::from_secs(60), net.now)
        .unwrap();
    net.pump();
    assert_eq!(
        net.delivered(B).len(),
        1,
        "B subscribed, asked for the last minute, and got nothing"
    );
}

#[test]
fn a_subscription_with_a_ttl_ends_by_itself() {
    let mut net = Net::star(2);
    net.nodes[B]
        .subscribe_for("t", Duration::from_secs(2), net.now)
        .unwrap();
    net.pump();
    assert!(net.nodes[A]
        .member(&net.ids[B])
        .unwrap()
        .topics
        .iter()
        .any(|t| t == "t"));
    net.nodes[A]
        .publish("t", b"during".to_vec(), net.now)
        .unwrap();
    net.pump();
    net.advance(Duration::from_millis(2_300));
    assert!(net.nodes[B].subscriptions().is_empty());
    assert!(
        net.nodes[A].member(&net.ids[B]).unwrap().topics.is_empty(),
        "the record says so too"
    );
    net.nodes[A]
        .publish("t", b"after".to_vec(), net.now)
        .unwrap();
    net.pump();
    let got: Vec<Vec<u8>> = net.delivered(B).into_iter().map(|d| d.3).collect();
    assert_eq!(got, vec![b"during".to_vec()]);
}

#[test]
fn a_restarted_node_is_heard_again() {
    let mut net = Net::star(2);
    net.nodes[B].subscribe("t", net.now).unwrap();
    net.pump();
    net.nodes[A]
        .publish("t", b"first life".to_vec(), net.now)
        .unwrap();
    net.pump();
    // A's process restarts with the same identity, and joins again through B.
    let a = net.ids[A];
    net.nodes[B].handle_disconnected(a, net.now);
    net.pump();
    net.advance(Duration::from_secs(5));
    let config = net.nodes[A].config().clone();
    net.nodes[A] = Node::new(ident(A as u8 + 1), config, 7, net.now);
    let hub = net.ids[B];
    net.nodes[A].join(vec![hub], net.now);
    net.pump();
    net.advance(Duration::from_secs(5));
    assert!(net.nodes[B].neighbors().contains(&a), "A is back");
    net.nodes[A]
        .publish("t", b"second life".to_vec(), net.now)
        .unwrap();
    net.pump();
    let got: Vec<Vec<u8>> = net.delivered(B).into_iter().map(|d| d.3).collect();
    assert_eq!(got, vec![b"first life".to_vec(), b"second life".to_vec()]);
}
