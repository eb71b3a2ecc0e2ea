//! Seed-system parity in the deterministic simulator: application state sync (pull and
//! push), leader election, direct messages with request/response, and the familiar verbs
//! (`add_seed`, per-key listeners, `broadcast` on the default topic).
//! Replay a failure with `SEED=<n> cargo test -p rumor-tests --test parity`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rumor_core::{
    CommandError, Config, Event, HandleError, Instant, KeyListeners, MemberState, PeerId,
    StateSync, CANDIDATE_KEY, DEFAULT_TOPIC,
};
use rumor_tests::sim::{Idx, NetConfig, Seen};
use rumor_tests::world::{seed_from_env, World};

/// A world whose nodes record their events, grown to `n` and converged.
fn converged(seed: u64, n: usize, net: NetConfig) -> World {
    let mut w = World::new(seed_from_env(seed), net, Config::default());
    w.record_events = true;
    w.grow(n, 20);
    w.run_until_ok(250, 60_000, World::check_converged).unwrap();
    w
}

/// Events node `idx` recorded at or after `since`.
fn events_since(w: &World, idx: Idx, since: u64) -> Vec<Event> {
    w.sim
        .peer(idx)
        .map(|p| {
            p.events
                .iter()
                .filter(|(t, _)| *t >= since)
                .map(|(_, e)| e.clone())
                .collect()
        })
        .unwrap_or_default()
}

// ---- application state sync ----

/// A grow-only map of counters (each key only ever grows): the application state.
type Counters = Arc<Mutex<BTreeMap<String, u64>>>;

fn encode(map: &BTreeMap<String, u64>) -> Vec<u8> {
    map.iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect::<String>()
        .into_bytes()
}

fn decode(bytes: &[u8]) -> BTreeMap<String, u64> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// The application's handler: the pull request is the whole map (it is small), the
/// answer is what the asker lacks, the merge takes the larger value of each counter.
struct CounterSync(Counters);

impl StateSync for CounterSync {
    fn pull_request(&mut self) -> Vec<u8> {
        encode(&self.0.lock().unwrap())
    }

    fn answer(&mut self, _from: PeerId, request: &[u8]) -> Option<Vec<u8>> {
        let theirs = decode(request);
        let newer: BTreeMap<String, u64> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, v)| theirs.get(*k).is_none_or(|t| t < *v))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        (!newer.is_empty()).then(|| encode(&newer))
    }

    fn merge(&mut self, _from: PeerId, response: &[u8]) {
        let mut mine = self.0.lock().unwrap();
        for (k, v) in decode(response) {
            let e = mine.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
    }
}

fn install_counters(w: &mut World, idx: Idx) -> Counters {
    let counters: Counters = Arc::default();
    let handler = CounterSync(counters.clone());
    w.sim.with(idx, |p, now, acts, seen| {
        p.node.set_state_sync(Box::new(handler));
        p.drain(now, acts, seen);
    });
    counters
}

#[test]
fn state_sync_converges_a_counter_map_without_application_networking() {
    let net = NetConfig {
        loss: 0.05,
        ..NetConfig::default()
    };
    let mut w = converged(31, 40, net);
    let mut maps: BTreeMap<Idx, Counters> =
        (0..40).map(|i| (i, install_counters(&mut w, i))).collect();
    // Each node counts its own key up a few times while the others sync.
    for round in 1..=5u64 {
        for (i, m) in &maps {
            m.lock()
                .unwrap()
                .insert(format!("n{i}"), round * (*i as u64 + 1));
        }
        w.sim.run_for(700);
    }
    let truth: BTreeMap<String, u64> = (0..40u64).map(|i| (format!("n{i}"), 5 * (i + 1))).collect();
    let same = |maps: &BTreeMap<Idx, Counters>| {
        maps.iter()
            .filter(|(_, m)| *m.lock().unwrap() != truth)
            .map(|(i, _)| *i)
            .collect::<Vec<_>>()
    };
    let start = w.sim.now();
    while !same(&maps).is_empty() && w.sim.now() < start + 30_000 {
        w.sim.run_for(250);
    }
    assert_eq!(
        same(&maps),
        Vec::<Idx>::new(),
        "nodes whose counter map differs from the truth after 30 s"
    );
    eprintln!(
        "40 counter maps equal {} ms after the last increment (5% loss)",
        w.sim.now() - start
    );

    // A node that joins late catches up through the same handler.
    let late = w.spawn(&[], &[0]);
    let counters = install_counters(&mut w, late);
    maps.insert(late, counters.clone());
    let joined = w.sim.now();
    while *counters.lock().unwrap() != truth && w.sim.now() < joined + 20_000 {
        w.sim.run_for(250);
    }
    assert_eq!(*counters.lock().unwrap(), truth, "the late joiner's map");
    eprintln!(
        "a late joiner had the whole map after {} ms",
        w.sim.now() - joined
    );
}

#[test]
fn broadcast_reaches_every_other_member_once_on_the_default_topic() {
    let mut w = converged(32, 60, NetConfig::default());
    let since = w.sim.now();
    let mut seq = 0;
    w.sim.with(7, |p, now, acts, seen| {
        seq = p
            .node
            .broadcast(b"to everyone".to_vec(), Instant::from_millis(now))
            .unwrap()
            .seq;
        p.drain(now, acts, seen);
    });
    w.sim.run_for(5_000);
    for r in w.sim.up() {
        let got: Vec<Event> = events_since(&w, r, since)
            .into_iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .collect();
        if r == 7 {
            assert!(got.is_empty(), "the sender got its own broadcast: {got:?}");
            continue;
        }
        assert_eq!(got.len(), 1, "node {r} got {} broadcasts", got.len());
        let Event::Message {
            topic,
            data,
            seq: s,
            ..
        } = &got[0]
        else {
            unreachable!()
        };
        assert_eq!(
            (topic.as_str(), data.as_slice(), *s),
            (DEFAULT_TOPIC, &b"to everyone"[..], seq)
        );
    }
    // No subscription was listed in any record for it.
    assert!(w.node(0).subscriptions().is_empty());
}

// ---- leader election ----

/// The distinct leaders the up nodes report.
fn leaders(w: &World) -> BTreeSet<Option<PeerId>> {
    w.sim.up().into_iter().map(|i| w.node(i).leader()).collect()
}

#[test]
fn leader_is_agreed_and_replaced_within_the_crash_detection_time() {
    let mut w = converged(33, 80, NetConfig::default());
    let candidates: Vec<Idx> = vec![3, 11, 19, 42, 57, 66, 71];
    for &c in &candidates {
        w.set_meta(c, CANDIDATE_KEY, "1");
    }
    let expected = |w: &World, among: &[Idx]| {
        among
            .iter()
            .filter(|i| w.sim.is_up(**i))
            .map(|i| w.id(*i))
            .min()
    };
    let start = w.sim.now();
    let want = expected(&w, &candidates);
    while leaders(&w) != BTreeSet::from([want]) && w.sim.now() < start + 20_000 {
        w.sim.run_for(100);
    }
    assert_eq!(
        leaders(&w),
        BTreeSet::from([want]),
        "agreement on the leader"
    );
    // Steady state: one leader for a while.
    for _ in 0..50 {
        w.sim.run_for(100);
        assert_eq!(leaders(&w).len(), 1, "two leaders in steady state");
    }

    let leader = w.index(&want.unwrap()).unwrap();
    w.sim.crash(leader);
    let crashed_at = w.sim.now();
    let next = expected(&w, &candidates);
    let (mut detected, mut agreed) = (None, None);
    let (mut split_since, mut longest_split) = (None::<u64>, 0u64);
    while w.sim.now() < crashed_at + 60_000 && (detected.is_none() || agreed.is_none()) {
        w.sim.run_for(50);
        let now = w.sim.now();
        let seen = leaders(&w);
        match (seen.len() > 1, split_since) {
            (true, None) => split_since = Some(now),
            (false, Some(s)) => {
                longest_split = longest_split.max(now - s);
                split_since = None;
            }
            _ => {}
        }
        if agreed.is_none() && seen == BTreeSet::from([next]) {
            agreed = Some(now - crashed_at);
        }
        if detected.is_none() && w.check_gone(&[leader], MemberState::Failed).is_ok() {
            detected = Some(now - crashed_at);
        }
    }
    let detected = detected.expect("every node detected the crash within 60 s");
    let agreed = agreed.expect("every node agreed on the next leader within 60 s");
    eprintln!(
        "leader crash: detected by all after {detected} ms, new leader agreed after {agreed} ms, \
         longest time with two leaders reported {longest_split} ms"
    );
    assert!(
        agreed <= detected,
        "agreement ({agreed} ms) came after crash detection ({detected} ms)"
    );
    assert!(
        longest_split <= detected,
        "two leaders reported for {longest_split} ms, longer than crash detection ({detected} ms)"
    );
    // Every node reported the change as an event, ending on the new leader.
    for r in w.sim.up() {
        let last = events_since(&w, r, crashed_at)
            .into_iter()
            .rev()
            .find_map(|e| match e {
                Event::LeaderChanged(l) => Some(l),
                _ => None,
            });
        assert_eq!(last, Some(next), "node {r}'s last LeaderChanged event");
    }

    // A candidate stepping down hands over as its record spreads.
    let second = w.index(&next.unwrap()).unwrap();
    w.set_meta(second, CANDIDATE_KEY, "0");
    let remaining: Vec<Idx> = candidates
        .iter()
        .copied()
        .filter(|c| *c != second)
        .collect();
    let third = expected(&w, &remaining);
    let t = w
        .run_until_ok(100, 10_000, |w| {
            let l = leaders(w);
            if l == BTreeSet::from([third]) {
                Ok(())
            } else {
                Err(format!("leaders reported: {l:?}"))
            }
        })
        .unwrap();
    eprintln!("stepping down: new leader agreed after {t} ms");
}

// ---- direct messages ----

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
    let mut w = converged(34, 300, NetConfig::default());
    answer_requests_with_re(&mut w);
    let pairs = far_pairs(&w, 20);
    assert_eq!(pairs.len(), 20, "found 20 far pairs");
    let relayed_before: u64 = (0..300).map(|i| w.node(i).stats().direct_relayed).sum();
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
        let at_target: Vec<Vec<u8>> = events_since(&w, b, since)
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
        let requests = events_since(&w, b, since)
            .into_iter()
            .filter(|e| matches!(e, Event::Request { from: f, .. } if *f == from))
            .count();
        assert_eq!(requests, 1, "pair {k}: requests seen by the target");
        let back = events_since(&w, a, since);
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
    let relayed: u64 = (0..300).map(|i| w.node(i).stats().direct_relayed).sum();
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
            events_since(&w, a, since).contains(&Event::Delivered { to, id }),
            "second send from {a} not acknowledged"
        );
    }
    let again: u64 = (0..300)
        .map(|i| w.node(i).stats().direct_relayed)
        .sum::<u64>()
        - relayed;
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
    let before: u64 = (0..300).map(|i| w.node(i).stats().direct_relayed).sum();
    w.sim.with(a, |p, now, acts, seen| {
        p.node
            .send(two_hops, b"near".to_vec(), Instant::from_millis(now))
            .unwrap();
        p.drain(now, acts, seen);
    });
    w.sim.run_for(1_000);
    let after: u64 = (0..300).map(|i| w.node(i).stats().direct_relayed).sum();
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
    let mut w = converged(36, 60, NetConfig::default());
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
        let at_target = events_since(&w, b, since);
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
        let back = events_since(&w, a, since);
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
    let retries: u64 = (0..60).map(|i| w.node(i).stats().direct_retries).sum();
    let unmatched: u64 = (0..60).map(|i| w.node(i).stats().direct_unmatched).sum();
    eprintln!(
        "{} sends and {} requests at 10% loss: {retries} retransmissions, {unmatched} extra answers",
        pairs.len(),
        pairs.len()
    );
    assert!(retries > 0, "the loss should have made some answers late");
}

#[test]
fn direct_messages_fail_clearly() {
    let mut w = converged(35, 30, NetConfig::default());
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
    let evs = events_since(&w, 0, since);
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

// ---- familiar verbs ----

#[test]
fn add_seed_joins_and_key_listeners_fire_per_key() {
    let mut w = converged(36, 20, NetConfig::default());
    // A node started with no seeds is alone until it is given one.
    let lone = w.spawn(&[("name", "lone")], &[]);
    w.sim.run_for(3_000);
    assert_eq!(w.node(lone).members().len(), 1, "alone before add_seed");
    let seed = w.id(4);
    w.sim.with(lone, |p, now, acts, seen| {
        p.node.add_seed(seed, Instant::from_millis(now));
        p.drain(now, acts, seen);
    });
    w.run_until_ok(250, 20_000, World::check_converged).unwrap();

    // Per-key listeners fed with node 0's events.
    let since = w.sim.now();
    w.set_meta(9, "status", "busy");
    w.set_meta(9, "other", "x");
    w.set_meta(13, "status", "away");
    w.sim.run_for(3_000);
    let heard: Rc<RefCell<Vec<(PeerId, String)>>> = Rc::default();
    let mut keys = KeyListeners::default();
    let h = heard.clone();
    keys.on_key_change("status", move |m, key, value| {
        assert_eq!(key, "status");
        h.borrow_mut().push((m.id, value.to_string()));
    });
    for e in events_since(&w, 0, since) {
        keys.handle_event(&e);
    }
    let mut got = heard.borrow().clone();
    got.sort();
    let mut want = vec![
        (w.id(9), "busy".to_string()),
        (w.id(13), "away".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "status changes heard by the listener");
    // A member joining with the key set is reported too.
    let since = w.sim.now();
    w.spawn(&[("status", "new")], &[0]);
    w.sim.run_for(3_000);
    heard.borrow_mut().clear();
    for e in events_since(&w, 0, since) {
        keys.handle_event(&e);
    }
    assert_eq!(
        heard.borrow().len(),
        1,
        "the joiner's status: {:?}",
        heard.borrow()
    );
    assert!(w
        .sim
        .observations
        .iter()
        .any(|o| o.observer == 0 && o.seen == Seen::Alive));
}

// ---- bad input ----

/// A handler whose answers are always larger than one frame.
struct Oversized;

impl StateSync for Oversized {
    fn pull_request(&mut self) -> Vec<u8> {
        vec![1; 64 * 1024]
    }
    fn answer(&mut self, _from: PeerId, _request: &[u8]) -> Option<Vec<u8>> {
        Some(vec![2; 64 * 1024])
    }
    fn merge(&mut self, _from: PeerId, _response: &[u8]) {
        panic!("nothing oversized may arrive");
    }
}

#[test]
fn forged_and_oversized_direct_and_state_messages_are_counted_not_fatal() {
    use rumor_core::wire::{encode, Message, Routed, RoutedBody};
    let mut w = converged(37, 30, NetConfig::default());
    let a = 0;
    let me = w.id(a);
    let nb = w.node(a).neighbors()[0];
    let stranger = PeerId([7; 32]);
    let routed = |target, id, ttl, body| {
        encode(&Message::Routed(Routed {
            origin: nb,
            target,
            id,
            attempt: 0,
            ttl,
            body,
        }))
    };
    let inputs = vec![
        // For nobody known, no hops left: dropped.
        routed(stranger, 1, 0, RoutedBody::Send(b"x".to_vec())),
        // For nobody known, many hops: flooded once by each node at most.
        routed(stranger, 2, 255, RoutedBody::Send(b"x".to_vec())),
        // The same again: a duplicate.
        routed(stranger, 2, 255, RoutedBody::Send(b"x".to_vec())),
        // Answers to nothing this node asked.
        routed(me, 3, 3, RoutedBody::Ack { of: 12345 }),
        routed(
            me,
            4,
            3,
            RoutedBody::Response {
                request: 999,
                data: b"?".to_vec(),
            },
        ),
        // State sync with no handler set.
        encode(&Message::StatePull { data: vec![1] }),
        encode(&Message::StatePush { data: vec![2] }),
    ];
    let before = w.node(a).stats().clone();
    let relayed_before: u64 = (0..30).map(|i| w.node(i).stats().direct_relayed).sum();
    let since = w.sim.now();
    for bytes in &inputs {
        w.sim.with(a, |p, now, acts, seen| {
            p.node
                .handle_message(nb, bytes, Instant::from_millis(now))
                .expect("well-formed input is taken");
            p.drain(now, acts, seen);
        });
    }
    // From a peer with no connection to this node: refused, nothing changes.
    w.sim.with(a, |p, now, _, _| {
        let bytes = routed(me, 5, 3, RoutedBody::Send(b"x".to_vec()));
        let refused = p
            .node
            .handle_message(stranger, &bytes, Instant::from_millis(now));
        assert!(
            matches!(refused, Err(HandleError::UnknownPeer(_))),
            "{refused:?}"
        );
    });
    w.sim.run_for(3_000);
    let after = w.node(a).stats();
    assert_eq!(after.direct_dropped - before.direct_dropped, 1, "dropped");
    // The repeated message, and flood copies coming back around cycles.
    assert!(
        after.direct_duplicates > before.direct_duplicates,
        "duplicates"
    );
    assert_eq!(
        after.direct_unmatched - before.direct_unmatched,
        2,
        "unmatched"
    );
    assert_eq!(
        after.state_sync_refused - before.state_sync_refused,
        2,
        "refused"
    );
    let relayed: u64 = (0..30).map(|i| w.node(i).stats().direct_relayed).sum();
    assert!(
        relayed - relayed_before <= 30,
        "a flood with ttl 255 was relayed {} times among 30 nodes",
        relayed - relayed_before
    );
    assert!(!events_since(&w, a, since).iter().any(|e| matches!(
        e,
        Event::Delivered { .. } | Event::Response { .. } | Event::DirectFailed { .. }
    )));

    // A handler whose messages exceed a frame: nothing is sent, each attempt is counted.
    let before = w.node(a).stats().state_sync_refused;
    w.sim.with(a, |p, now, acts, seen| {
        p.node.set_state_sync(Box::new(Oversized));
        p.drain(now, acts, seen);
    });
    w.sim.run_for(2_000);
    assert!(w.node(a).stats().state_sync_refused > before);
    w.run_until_ok(250, 5_000, World::check_converged).unwrap();
}

#[test]
fn introduce_merges_two_groups_that_formed_apart() {
    // Two groups that never met (as when a signaling server restarts with a new seed
    // peer and new members join only through it), then one member is introduced to the
    // other side.
    let mut w = World::new(seed_from_env(38), NetConfig::default(), Config::default());
    let first = w.spawn(&[], &[]);
    for _ in 1..10 {
        w.spawn(&[], &[first]);
        w.sim.run_for(20);
    }
    let second = w.spawn(&[], &[]);
    for _ in 1..10 {
        w.spawn(&[], &[second]);
        w.sim.run_for(20);
    }
    w.sim.run_for(10_000);
    assert_eq!(w.node(3).members().len(), 10, "the first group alone");
    let other = w.id(second + 4);
    w.sim.with(3, |p, now, acts, seen| {
        p.node.introduce(other, Instant::from_millis(now));
        p.drain(now, acts, seen);
    });
    let t = w.run_until_ok(250, 30_000, World::check_converged).unwrap();
    eprintln!("two groups of 10 merged {t} ms after one introduction");
}
