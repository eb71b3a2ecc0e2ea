//! Direct messages in the deterministic simulator: `send` and `request` / `respond` to
//! members that are not neighbors, retransmission over lossy links, and clear failures.
//! Replay a failure with `SEED=<n> cargo test -p rumor-tests --test direct`.

use std::collections::BTreeSet;

use rumor_core::{CommandError, Event, Instant, PeerId};
use rumor_tests::sim::{Idx, NetConfig};
use rumor_tests::world::World;

/// Node pairs (from, to) at least three overlay hops apart: `to` is neither a neighbor of
/// `from` nor in any neighbor's active view, so the message must be flooded.
fn far_pairs(w: &World, count: usize) -> Vec<(Idx, Idx)> {
    let mut pairs = Vec::new();
    let n = w.sim.len();
    'outer: for a in 0..n {
        let near: BTreeSet<PeerId> = w
            .node(a)
            .neighbors()
            .into_iter()
            .flat_map(|nb| {
                let i = w.index(&nb).unwrap();
                let mut v = w.node(i).neighbors();
                v.push(nb);
                v
            })
            .collect();
        for b in (a * 7 + 13..a * 7 + 13 + n).map(|x| x % n) {
            if b != a && !near.contains(&w.id(b)) {
                pairs.push((a, b));
                if pairs.len() == count {
                    break 'outer;
                }
                continue 'outer;
            }
        }
    }
    pairs
}

/// Makes every node answer each request with "re:" and the request's bytes.
fn answer_requests_with_re(w: &mut World) {
    for i in 0..w.sim.len() {
        w.sim.with(i, |p, _, _, _| {
            p.responder = Some(Box::new(|_from, data: &[u8]| {
                let mut r = b"re:".to_vec();
                r.extend_from_slice(data);
                r
            }));
        });
    }
}

#[test]
fn direct_messages_and_requests_reach_non_neighbors_exactly_once() {
    let mut w = World::converged(34, 300, NetConfig::default());
    answer_requests_with_re(&mut w);
    let pairs = far_pairs(&w, 20);
    assert_eq!(pairs.len(), 20, "found 20 far pairs");
    let relayed_before: u64 = w.total(0..300, |s| s.direct_relayed);
    let since = w.sim.now();
    let mut ids = Vec::new();
    for (k, &(a, b)) in pairs.iter().enumerate() {
        let to = w.id(b);
        let mut out = None;
        w.sim.with(a, |p, now, acts, seen| {
            let t = Instant::from_millis(now);
            let send = p.node.send(to, format!("hello {k}").into_bytes(), t);
            let req = p.node.request(to, format!("question {k}").into_bytes(), t);
            out = Some((send.unwrap(), req.unwrap()));
            p.drain(now, acts, seen);
        });
        ids.push(out.unwrap());
    }
    w.sim.run_for(3_000);
    for (k, (&(a, b), &(send_id, req_id))) in pairs.iter().zip(&ids).enumerate() {
        let (from, to) = (w.id(a), w.id(b));
        let at_target: Vec<Vec<u8>> = w
            .events_since(b, since)
            .into_iter()
            .filter_map(|e| match e {
                Event::Direct { from: f, data } if f == from => Some(data),
                _ => None,
            })
            .collect();
        assert_eq!(
            at_target,
            vec![format!("hello {k}").into_bytes()],
            "pair {k}: {a}->{b}"
        );
        let requests = w
            .events_since(b, since)
            .into_iter()
            .filter(|e| matches!(e, Event::Request { from: f, .. } if *f == from))
            .count();
        assert_eq!(requests, 1, "pair {k}: requests seen by the target");
        let back = w.events_since(a, since);
        assert!(
            back.contains(&Event::Delivered { to, id: send_id }),
            "pair {k}: no Delivered for the send"
        );
        let responses: Vec<&Event> = back
            .iter()
            .filter(|e| matches!(e, Event::Response { id, .. } if *id == req_id))
            .collect();
        assert_eq!(
            responses,
            vec![&Event::Response {
                from: to,
                id: req_id,
                data: format!("re:question {k}").into_bytes()
            }],
            "pair {k}: the response"
        );
        assert!(!back.iter().any(|e| matches!(e, Event::DirectFailed { .. })));
    }
    let relayed: u64 = w.total(0..300, |s| s.direct_relayed);
    eprintln!(
        "first contact, 40 far direct messages (plus answers) among 300 nodes: {:.1} relays \
         per message on average",
        (relayed - relayed_before) as f64 / 80.0
    );

    // Later messages between the same members follow the path the first ones found.
    let since = w.sim.now();
    let mut sends = Vec::new();
    for &(a, b) in &pairs {
        let to = w.id(b);
        w.sim.with(a, |p, now, acts, seen| {
            let id = p
                .node
                .send(to, b"again".to_vec(), Instant::from_millis(now));
            sends.push((a, to, id.unwrap()));
            p.drain(now, acts, seen);
        });
    }
    w.sim.run_for(3_000);
    for &(a, to, id) in &sends {
        assert!(
            w.events_since(a, since)
                .contains(&Event::Delivered { to, id }),
            "second send from {a} not acknowledged"
        );
    }
    let again: u64 = w.total(0..300, |s| s.direct_relayed) - relayed;
    let per_message = again as f64 / 40.0;
    eprintln!("later messages between the same members: {per_message:.1} relays per message");
    assert!(
        per_message <= 8.0,
        "known paths should be followed, not flooded: {per_message:.1} relays per message"
    );

    // A neighbor's neighbor is reached through that neighbor alone (no flood).
    let a = 5;
    let nb = w.index(&w.node(a).neighbors()[0]).unwrap();
    let two_hops = w
        .node(nb)
        .neighbors()
        .into_iter()
        .find(|p| *p != w.id(a) && !w.node(a).neighbors().contains(p))
        .expect("a neighbor's neighbor that is not a neighbor");
    let before: u64 = w.total(0..300, |s| s.direct_relayed);
    w.sim.with(a, |p, now, acts, seen| {
        p.node
            .send(two_hops, b"near".to_vec(), Instant::from_millis(now))
            .unwrap();
        p.drain(now, acts, seen);
    });
    w.sim.run_for(1_000);
    let after: u64 = w.total(0..300, |s| s.direct_relayed);
    // One relay out, one relay back for the acknowledgement (views may route either way).
    assert!(
        after - before <= 4,
        "a two-hop message took {} relays",
        after - before
    );
}

/// Over links that lose 10% of messages, a send or request whose message or answer was
/// lost goes again (flooded) after `direct.retry_interval`: every one is answered, and
/// every target delivers each send and request exactly once however many copies arrive.
#[test]
fn lost_direct_messages_are_sent_again_and_delivered_once() {
    let mut w = World::converged(36, 60, NetConfig::default());
    answer_requests_with_re(&mut w);
    w.sim.run_for(10_000);
    w.sim.net.loss = 0.1;
    let pairs: Vec<(Idx, Idx)> = (0..60)
        .map(|a| (a, (a * 7 + 13) % 60))
        .filter(|&(a, b)| a != b && !w.node(a).neighbors().contains(&w.id(b)))
        .collect();
    assert!(pairs.len() >= 40, "{} non-neighbor pairs", pairs.len());
    let since = w.sim.now();
    let mut ids = Vec::new();
    for (k, &(a, b)) in pairs.iter().enumerate() {
        let to = w.id(b);
        w.sim.with(a, |p, now, acts, seen| {
            let t = Instant::from_millis(now);
            let send = p.node.send(to, format!("hello {k}").into_bytes(), t);
            let req = p.node.request(to, format!("question {k}").into_bytes(), t);
            ids.push((send.unwrap(), req.unwrap()));
            p.drain(now, acts, seen);
        });
    }
    w.sim.run_for(6_000);
    for (k, (&(a, b), &(send_id, req_id))) in pairs.iter().zip(&ids).enumerate() {
        let (from, to) = (w.id(a), w.id(b));
        let at_target = w.events_since(b, since);
        let directs = at_target
            .iter()
            .filter(|e| matches!(e, Event::Direct { from: f, data } if *f == from && *data == format!("hello {k}").into_bytes()))
            .count();
        let requests = at_target
            .iter()
            .filter(
                |e| matches!(e, Event::Request { from: f, id, .. } if *f == from && *id == req_id),
            )
            .count();
        assert_eq!(
            (directs, requests),
            (1, 1),
            "pair {k} ({a}->{b}): deliveries at the target"
        );
        let back = w.events_since(a, since);
        let delivered = back
            .iter()
            .filter(|e| **e == Event::Delivered { to, id: send_id })
            .count();
        let answered = back
            .iter()
            .filter(|e| matches!(e, Event::Response { from: f, id, data } if *f == to && *id == req_id && *data == format!("re:question {k}").into_bytes()))
            .count();
        assert_eq!(
            (delivered, answered),
            (1, 1),
            "pair {k} ({a}->{b}): answers at the origin"
        );
    }
    let retries: u64 = w.total(0..60, |s| s.direct_retries);
    let unmatched: u64 = w.total(0..60, |s| s.direct_unmatched);
    eprintln!(
        "{} sends and {} requests at 10% loss: {retries} retransmissions, {unmatched} extra answers",
        pairs.len(),
        pairs.len()
    );
    assert!(retries > 0, "the loss should have made some answers late");
}

#[test]
fn direct_messages_fail_clearly() {
    let mut w = World::converged(35, 30, NetConfig::default());
    let stranger = PeerId([9; 32]);
    let me = w.id(0);
    let target = w.id(12);
    w.sim.with(0, |p, now, _, _| {
        let t = Instant::from_millis(now);
        assert_eq!(
            p.node.send(stranger, b"x".to_vec(), t),
            Err(CommandError::UnknownMember(stranger))
        );
        assert_eq!(
            p.node.request(me, b"x".to_vec(), t),
            Err(CommandError::NotToSelf)
        );
        let big = vec![0u8; p.node.max_direct_payload() + 1];
        assert!(matches!(
            p.node.send(target, big, t),
            Err(CommandError::PayloadTooLarge { .. })
        ));
    });
    // A target that crashed but is still listed: the send and request time out.
    w.sim.crash(12);
    let since = w.sim.now();
    let mut ids = (0, 0);
    w.sim.with(0, |p, now, acts, seen| {
        let t = Instant::from_millis(now);
        ids = (
            p.node.send(target, b"anyone?".to_vec(), t).unwrap(),
            p.node.request(target, b"anyone?".to_vec(), t).unwrap(),
        );
        p.drain(now, acts, seen);
    });
    w.sim.run_for(6_000);
    let evs = w.events_since(0, since);
    for id in [ids.0, ids.1] {
        let failed: Vec<u64> = evs
            .iter()
            .filter_map(|e| match e {
                Event::DirectFailed { to, id: i } if *to == target && *i == id => Some(*i),
                _ => None,
            })
            .collect();
        assert_eq!(failed, vec![id], "one DirectFailed for id {id}");
    }
    assert!(!evs
        .iter()
        .any(|e| matches!(e, Event::Delivered { .. } | Event::Response { .. })));
}
