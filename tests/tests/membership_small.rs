//! Small membership scenarios: quick checks of join, metadata, leave and crash.

use rumor_core::{Config, Instant, MemberState};
use rumor_tests::sim::NetConfig;
use rumor_tests::world::{seed_from_env, World};

#[test]
fn ten_nodes_converge_update_leave_and_crash() {
    let seed = seed_from_env(1);
    let mut w = World::new(seed, NetConfig::default(), Config::default());
    let first = w.spawn(&[("name", "n0")], &[]);
    for i in 1..10 {
        let name = format!("n{i}");
        w.spawn(&[("name", &name)], &[first]);
        w.sim.run_for(100);
    }
    let t = w.run_until_ok(100, 20_000, World::check_converged).unwrap();
    eprintln!("converged {t} ms after the last join");
    // Views are symmetric once no link is half set up or half torn down.
    w.run_until_ok(100, 5_000, |w| match w.asymmetric_links() {
        0 => Ok(()),
        n => Err(format!("{n} one-sided links")),
    })
    .unwrap();

    w.set_meta(3, "color", "blue");
    w.run_until_ok(100, 5_000, World::check_converged).unwrap();
    assert_eq!(
        w.node(7)
            .member(&w.id(3))
            .unwrap()
            .meta
            .get("color")
            .unwrap(),
        "blue"
    );

    w.leave(4);
    w.run_until_ok(100, 5_000, |w| w.check_gone(&[4], MemberState::Left))
        .unwrap();
    w.sim.crash(5);
    let t = w
        .run_until_ok(100, 20_000, |w| w.check_gone(&[5], MemberState::Failed))
        .unwrap();
    eprintln!("crash known by all after {t} ms");
    w.check_converged().unwrap();

    // Every `heal_interval` (15 s) each survivor tries to reach the failed member, in case
    // the failure was a partition, with probability failed / alive: about one attempt per
    // interval from the group as a whole, not one per survivor. Those dials fail and are
    // counted as such. 240 s (the failed member is forgotten after `tombstone_ttl`, 300 s)
    // give the 8 survivors 128 chances at about 1 in 8.
    let sum = |w: &World, f: fn(&rumor_core::Stats) -> u64| -> u64 {
        w.total((0..10).filter(|i| ![4, 5].contains(i)), f)
    };
    let (heals, failures) = (sum(&w, |s| s.heal_dials), sum(&w, |s| s.dial_failures));
    w.sim.run_for(240_000);
    let heals = sum(&w, |s| s.heal_dials) - heals;
    w.sim.run_for(5_000); // the last attempts fail too
    let failures = sum(&w, |s| s.dial_failures) - failures;
    eprintln!("{heals} heal attempts and {failures} failed dials in 240 s after the crash");
    assert!(
        (3..=40).contains(&heals),
        "about 16 heal attempts expected (128 chances at 1 in 8), not one per survivor and interval (128): {heals}"
    );
    assert!(
        failures >= heals,
        "{failures} failed dials for {heals} heal attempts"
    );
    w.check_converged().unwrap();
}

/// A member whose goodbye never leaves it (a closing browser tab killed before its data
/// channels flush) is shown as left, not failed after a suspicion, once its farewell
/// reaches one member by another path (the signaling server), even a member that was not
/// its neighbor.
#[test]
fn a_farewell_carried_outside_the_overlay_makes_everyone_see_a_leave() {
    let mut w = World::new(seed_from_env(5), NetConfig::default(), Config::default());
    let first = w.spawn(&[], &[]);
    for _ in 1..12 {
        w.spawn(&[], &[first]);
        w.sim.run_for(200);
    }
    w.run_until_ok(100, 20_000, World::check_converged).unwrap();
    let leaver = 7;
    let mut farewell = None;
    w.sim.with(leaver, |p, now, _, _| {
        p.node.leave(Instant::from_millis(now));
        // Its outputs (the pushed record, the Disconnects) are never drained: lost.
        farewell = Some(p.node.farewell());
    });
    w.sim.crash(leaver);
    let bytes = farewell.expect("a node that left has a farewell");
    let leaver_id = w.id(leaver);
    let carrier = (0..12)
        .find(|&i| i != leaver && !w.node(i).neighbors().contains(&leaver_id))
        .expect("some member is not its neighbor");
    w.sim.with(carrier, |p, now, acts, seen| {
        p.node
            .handle_farewell(&bytes, Instant::from_millis(now))
            .expect("a genuine farewell");
        p.drain(now, acts, seen);
    });
    // Without the farewell this ends as Failed, after the suspicion timeout.
    let t = w
        .run_until_ok(50, 5_000, |w| w.check_gone(&[leaver], MemberState::Left))
        .unwrap();
    eprintln!("leave known by all {t} ms after the farewell reached member {carrier}");
    assert_eq!(w.node(carrier).stats().farewells, 1);
}

/// Seven members with room for five neighbors each cannot all have full views (35 link
/// ends is odd): the members short of one ask full peers, which refuse. They must pause
/// between attempts (each is a WebRTC handshake in a browser) instead of retrying every tick.
#[test]
fn members_that_cannot_fill_their_view_do_not_dial_without_pause() {
    let mut w = World::new(seed_from_env(2), NetConfig::default(), Config::default());
    let first = w.spawn(&[], &[]);
    for _ in 1..7 {
        w.spawn(&[], &[first]);
        w.sim.run_for(200);
    }
    w.run_until_ok(100, 20_000, World::check_converged).unwrap();
    w.sim.run_for(30_000);
    let dials = |w: &World| -> u64 { w.total(0..7, |s| s.dials) };
    let short = (0..7).filter(|i| w.node(*i).neighbors().len() < 5).count();
    assert!(short > 0, "the scenario needs a member short of neighbors");
    let before = dials(&w);
    w.sim.run_for(120_000);
    let during = dials(&w) - before;
    eprintln!("{short} members short of neighbors; {during} dials in 120 idle seconds");
    // Retrying every 250 ms tick would be ~480 dials per short member; with the pause
    // doubling up to 60 s it is a handful.
    assert!(during <= 10 * short as u64, "{during} dials in 120 s");
    w.check_converged().unwrap();
}

/// Small active views can close into a full clique that refuses everyone outside: here
/// three members with two neighbor slots each end up in a triangle (a short partition cuts
/// them off from the first member, which has five slots, and a fourth two-slot member).
/// After the partition heals, the fourth member's low-priority Neighbor requests to the
/// triangle are refused; after two refusals it asks with high priority, which a full
/// member accepts by dropping a neighbor, and the overlay is one piece again. (Browser
/// pages with `maxNeighbors: 2` joining at once closed such triangles by themselves.)
#[test]
fn a_full_clique_of_small_views_opens_to_members_outside() {
    let mut w = World::new(seed_from_env(3), NetConfig::default(), Config::default());
    // Suspicions raised while the partition lasts must not expire before it heals.
    w.config.membership.suspicion_max = std::time::Duration::from_secs(120);
    w.config.membership.suspicion_min = std::time::Duration::from_secs(120);
    let first = w.spawn(&[], &[]);
    w.config.overlay.active_view_capacity = 2;
    for _ in 0..4 {
        w.spawn(&[], &[first]);
        w.sim.run_for(300);
    }
    w.run_until_ok(100, 20_000, World::check_converged).unwrap();
    for i in [1, 2, 3] {
        w.sim.set_partition(i, 1);
    }
    w.run_until_ok(100, 30_000, |w| match w.overlay_components().len() {
        2 => Ok(()),
        n => Err(format!("{n} pieces")),
    })
    .unwrap();
    w.run_until_ok(100, 60_000, |w| {
        let degrees: Vec<usize> = (1..4).map(|i| w.node(i).neighbors().len()).collect();
        match degrees == [2, 2, 2] {
            true => Ok(()),
            false => Err(format!(
                "the scenario needs a full triangle, degrees {degrees:?}"
            )),
        }
    })
    .unwrap();
    for i in [1, 2, 3] {
        w.sim.set_partition(i, 0);
    }
    let t = w
        .run_until_ok(100, 30_000, |w| match w.overlay_components() {
            g if g.len() == 1 => Ok(()),
            g => Err(format!("overlay in pieces: {g:?}")),
        })
        .unwrap();
    eprintln!("one overlay {t} ms after the partition healed");
    w.run_until_ok(100, 10_000, World::check_converged).unwrap();
}

/// Thirty members join one after another through the first, as tabs do through the seed.
/// Each join evicts neighbors to make room, and the evicted members look for new ones. A
/// Neighbor request to a full member is refused, and in a browser each one is a whole
/// WebRTC handshake for nothing; `FindSlot` walks over existing connections find members
/// with room instead. The same joins with the walks switched off are the control, three
/// groups each way.
#[test]
fn members_short_of_neighbors_find_room_without_refused_handshakes() {
    let group = |walks: bool, seed: u64| {
        let mut config = Config::default();
        config.overlay.find_slot_walks = walks;
        let mut w = World::new(seed_from_env(seed), NetConfig::default(), config);
        let first = w.spawn(&[], &[]);
        for _ in 0..30 {
            w.spawn(&[], &[first]);
            w.sim.run_for(2_000);
        }
        w.run_until_ok(100, 20_000, World::check_converged).unwrap();
        w.sim.run_for(30_000);
        w.check_converged().unwrap();
        assert_eq!(w.overlay_components().len(), 1, "one overlay");
        let sum = |f: fn(&rumor_core::Stats) -> u64| w.total(0..31, f);
        let short = (0..31).filter(|i| w.node(*i).neighbors().len() < 5).count();
        (sum(|s| s.dials), sum(|s| s.neighbor_refusals), short)
    };
    // Three groups each way, summed: one group's figures move with its random choices.
    let run = |walks: bool| {
        let (mut dials, mut refused, mut short) = (0, 0, 0);
        for seed in [4, 5, 6] {
            let (d, r, s) = group(walks, seed);
            dials += d;
            refused += r;
            short += s;
        }
        (dials, refused, short)
    };
    let (dials, refused, short) = run(true);
    let (dials_off, refused_off, short_off) = run(false);
    eprintln!(
        "with walks: {dials} dials, {refused} refused, {short} short; \
         without: {dials_off} dials, {refused_off} refused, {short_off} short"
    );
    assert!(
        refused * 2 < refused_off,
        "{refused} vs {refused_off} refused"
    );
    assert!(dials * 5 < dials_off * 4, "{dials} vs {dials_off} dials");
    // 31 views of 5 cannot all be full; with walks no more than that one per group stays
    // short.
    assert!(short <= short_off.max(3), "{short} vs {short_off} short");
}

/// Forty-one members join one after another, a second apart, as tabs of the demo page do.
/// Each join makes full members evict neighbors; with HyParView's plain eviction the
/// evicted ones then dial members that are mostly full and refuse (in a browser, each a
/// whole WebRTC handshake). With the handover the evicted member dials the newcomer, which
/// the contact left room for, and the newcomer waits for those before asking anyone else.
/// The control is the same joins without either.
#[test]
fn evicted_members_are_handed_to_the_newcomer_instead_of_dialing_full_ones() {
    let run = |handover: bool, delay: bool| {
        let mut config = Config::default();
        config.overlay.handover = handover;
        if !delay {
            config.overlay.join_fill_delay = std::time::Duration::ZERO;
        }
        let mut w = World::new(seed_from_env(5), NetConfig::default(), config);
        w.grow(41, 1_000);
        w.run_until_ok(100, 20_000, World::check_converged).unwrap();
        w.sim.run_for(30_000);
        w.check_converged().unwrap();
        assert_eq!(w.overlay_components().len(), 1, "one overlay");
        let sum = |f: fn(&rumor_core::Stats) -> u64| w.total(0..41, f);
        let short = (0..41).filter(|i| w.node(*i).neighbors().len() < 5).count();
        let figures = (
            sum(|s| s.dials),
            sum(|s| s.neighbor_refusals),
            sum(|s| s.handover_dials),
            short,
        );
        eprintln!(
            "handover {handover}, join_fill_delay {delay}: {} dials, {} refused, {} handovers, {} short",
            figures.0, figures.1, figures.2, figures.3
        );
        figures
    };
    let (dials, refused, handovers, short) = run(true, true);
    let (dials_h, refused_h, _, _) = run(true, false);
    let (dials_off, refused_off, handovers_off, short_off) = run(false, false);
    assert!(handovers > 0 && handovers_off == 0);
    // Each part alone already saves dials; together at least a third.
    assert!(dials_h < dials_off, "{dials_h} vs {dials_off} dials");
    assert!(dials < dials_h, "{dials} vs {dials_h} dials");
    assert!(dials * 3 < dials_off * 2, "{dials} vs {dials_off} dials");
    assert!(
        refused * 2 < refused_off,
        "{refused} vs {refused_off} refused"
    );
    assert!(
        refused_h <= refused_off,
        "{refused_h} vs {refused_off} refused"
    );
    // 41 views of 5 cannot all be full (205 link ends); no more than that one stays short.
    assert!(short <= short_off.max(1), "{short} vs {short_off} short");
}

/// Anti-entropy slows down in a quiet group: once a node's member table has stayed the same
/// its comparisons come further apart (`sync_interval_max`), so an idle group sends a
/// fraction of the comparisons it sent at a steady pace; and a change whose pushes were all
/// lost still reaches everyone, because the changed table brings the pace back at once.
#[test]
fn an_idle_group_compares_less_often_and_still_repairs_a_lost_update() {
    let run = |paced: bool| {
        let mut config = Config::default();
        if !paced {
            config.membership.sync_interval_max = config.membership.sync_interval;
        }
        let mut w = World::new(seed_from_env(9), NetConfig::default(), config);
        let first = w.spawn(&[("name", "n0")], &[]);
        for i in 1..10 {
            let name = format!("n{i}");
            w.spawn(&[("name", &name)], &[first]);
            w.sim.run_for(100);
        }
        w.run_until_ok(100, 20_000, World::check_converged).unwrap();
        w.sim.run_for(20_000);
        let rounds = |w: &World| w.total(0..10, |s| s.sync_rounds);
        let before = rounds(&w);
        w.sim.run_for(60_000);
        let per_node_minute = (rounds(&w) - before) as f64 / 10.0;
        // Every push of node 3's new metadata is lost (pings too, for 200 ms: far from any
        // neighbor timeout); only anti-entropy can spread it.
        w.sim.net.loss = 1.0;
        w.set_meta(3, "color", "blue");
        w.sim.run_for(200);
        w.sim.net.loss = 0.0;
        let id = w.id(3);
        let repaired = w
            .run_until_ok(100, 20_000, |w| {
                let stale = (0..10)
                    .filter(|&i| w.node(i).member(&id).unwrap().meta.get("color").is_none())
                    .count();
                match stale {
                    0 => Ok(()),
                    n => Err(format!("{n} members without node 3's new metadata")),
                }
            })
            .unwrap();
        eprintln!(
            "paced {paced}: {per_node_minute} comparisons per node per idle minute; \
             a lost update everywhere {repaired} ms later"
        );
        (per_node_minute, repaired)
    };
    let (paced, paced_repair) = run(true);
    let (steady, steady_repair) = run(false);
    assert!(
        paced * 4.0 < steady,
        "{paced} comparisons per node and minute paced, {steady} at a steady pace"
    );
    // The changed table is compared at once: the repair does not wait for the slow pace.
    assert!(
        paced_repair <= steady_repair + 2_000,
        "lost update repaired after {paced_repair} ms paced, {steady_repair} ms steady"
    );
}
