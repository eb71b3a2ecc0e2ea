//! Seed-system parity in the deterministic simulator: application state sync (pull and
//! push), leader election, and the familiar verbs
//! (`add_seed`, per-key listeners, `broadcast` on the default topic).
//! Replay a failure with `SEED=<n> cargo test -p rumor-tests --test parity`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rumor_core::{
    Config, Event, HandleError, Instant, KeyListeners, MemberState, PeerId, StateSync,
    CANDIDATE_KEY, DEFAULT_TOPIC,
};
use rumor_tests::sim::{Idx, NetConfig, Seen};
use rumor_tests::world::{seed_from_env, World};

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
    let mut w = World::converged(31, 40, net);
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
    let mut w = World::converged(32, 60, NetConfig::default());
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
        let got: Vec<Event> = w
            .events_since(r, since)
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
    let mut w = World::converged(33, 80, NetConfig::default());
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
        let last = w
            .events_since(r, crashed_at)
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

// ---- familiar verbs ----

#[test]
fn add_seed_joins_and_key_listeners_fire_per_key() {
    let mut w = World::converged(36, 20, NetConfig::default());
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
    for e in w.events_since(0, since) {
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
    for e in w.events_since(0, since) {
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
    let mut w = World::converged(37, 30, NetConfig::default());
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
    let relayed_before: u64 = w.total(0..30, |s| s.direct_relayed);
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
    let relayed: u64 = w.total(0..30, |s| s.direct_relayed);
    assert!(
        relayed - relayed_before <= 30,
        "a flood with ttl 255 was relayed {} times among 30 nodes",
        relayed - relayed_before
    );
    assert!(!w.events_since(a, since).iter().any(|e| matches!(
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
