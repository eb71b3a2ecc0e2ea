//! Small membership scenarios: quick checks of join, metadata, leave and crash.

use rumor_core::{Config, MemberState};
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
    assert_eq!(w.node(7).member(&w.id(3)).unwrap().meta["color"], "blue");

    w.leave(4);
    w.run_until_ok(100, 5_000, |w| w.check_gone(&[4], MemberState::Left))
        .unwrap();
    w.sim.crash(5);
    let t = w
        .run_until_ok(100, 20_000, |w| w.check_gone(&[5], MemberState::Failed))
        .unwrap();
    eprintln!("crash known by all after {t} ms");
    w.check_converged().unwrap();
}
