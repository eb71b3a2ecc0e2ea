//! The membership benchmark: the same scenarios, in the same simulated network, for
//! Rumor and for foca (SWIM), so the figures can be compared as ratios from one run.

use std::collections::BTreeMap;

use rumor_core::Config;
use serde::Serialize;

use crate::foca_peer::FocaPeer;
use crate::rumor_peer::{MemoVerifier, RumorPeer, SharedRegistry};
use crate::sim::{Idx, NetConfig, Peer, Seen, Sim};

/// Length of the window over which idle traffic is averaged.
const IDLE_WINDOW_MS: u64 = 120_000;

/// One row of `target/bench/membership.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `rumor` or `foca`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// Group size.
    pub n: usize,
    /// Time until a new node is known (alive) by every member, ms.
    pub join_all_ms: Option<u64>,
    /// Time until a crashed node is known failed by every member, ms.
    pub crash_all_ms: Option<u64>,
    /// Time until a node that left gracefully is gone from every member's view, ms.
    pub leave_all_ms: Option<u64>,
    /// Live members declared failed by anyone, 50 nodes, 10% loss, 300 s (only in the n = 50 row).
    pub false_failures_10pct_loss_300s: Option<usize>,
    /// Bytes sent per node per second while nothing changes.
    pub idle_bytes_per_node_per_s: Option<f64>,
    /// Messages sent per node per second while nothing changes.
    pub idle_msgs_per_node_per_s: Option<f64>,
}

/// A protocol implementation the benchmark can build groups of.
pub trait Subject {
    /// The simulator peer type.
    type P: Peer;
    /// Name in the `impl` column.
    const NAME: &'static str;
    /// Starts node `idx`, joining through `via` (none for the first node).
    fn spawn(&mut self, sim: &mut Sim<Self::P>, idx: Idx, via: Option<Idx>, n_hint: usize);
    /// Makes node `idx` leave gracefully (it is then taken out of the simulation).
    fn leave(&mut self, sim: &mut Sim<Self::P>, idx: Idx);
}

/// Rumor under test.
#[derive(Default)]
pub struct Rumor {
    registry: SharedRegistry,
    verifier: MemoVerifier,
    seed: u64,
}

impl Subject for Rumor {
    type P = RumorPeer;
    const NAME: &'static str = "rumor";
    fn spawn(&mut self, sim: &mut Sim<RumorPeer>, idx: Idx, via: Option<Idx>, _n: usize) {
        let now = sim.now();
        let peer = RumorPeer::build(
            self.seed,
            idx,
            Config::default(),
            now,
            &self.verifier,
            self.registry.clone(),
        );
        let seeds: Vec<_> = via.into_iter().map(|v| peer.id_of(v)).collect();
        sim.start(idx, peer, |p, now, acts, seen| {
            let t = rumor_core::Instant::from_millis(now);
            let name = format!("n{idx}");
            p.node.set_meta("name", name, t).expect("short metadata");
            p.node.join(seeds, t);
            p.drain(now, acts, seen);
        });
    }
    fn leave(&mut self, sim: &mut Sim<RumorPeer>, idx: Idx) {
        sim.with(idx, |p, now, acts, seen| {
            p.node.leave(rumor_core::Instant::from_millis(now));
            p.drain(now, acts, seen);
        });
        sim.crash(idx);
    }
}

/// foca (SWIM) under test, with its LAN configuration.
#[derive(Default)]
pub struct Foca {
    seed: u64,
}

impl Subject for Foca {
    type P = FocaPeer;
    const NAME: &'static str = "foca";
    fn spawn(&mut self, sim: &mut Sim<FocaPeer>, idx: Idx, via: Option<Idx>, n: usize) {
        let now = sim.now();
        let peer = FocaPeer::new(idx, self.seed.wrapping_add(idx as u64), n, now);
        sim.start(idx, peer, |p, now, acts, seen| {
            if let Some(v) = via {
                p.announce(v, now, acts, seen);
            }
        });
    }
    fn leave(&mut self, sim: &mut Sim<FocaPeer>, idx: Idx) {
        sim.with(idx, |p, now, acts, seen| p.leave(now, acts, seen));
        // Let the leave announcement go out before the process ends.
        sim.run_for(200);
        sim.crash(idx);
    }
}

/// Each observer's latest observation of each subject, folded from the simulator's log.
#[derive(Default)]
struct Views {
    seen: Vec<BTreeMap<Idx, Seen>>,
    upto: usize,
}

impl Views {
    fn update<P: Peer>(&mut self, sim: &Sim<P>) {
        if self.seen.len() < sim.len() {
            self.seen.resize_with(sim.len(), BTreeMap::new);
        }
        for o in &sim.observations[self.upto..] {
            let s = match o.seen {
                Seen::Updated => Seen::Alive,
                other => other,
            };
            self.seen[o.observer].insert(o.subject, s);
        }
        self.upto = sim.observations.len();
    }

    /// True when every up node other than `subject` last saw `subject` in one of `states`.
    fn all_see<P: Peer>(&self, sim: &Sim<P>, subject: Idx, states: &[Seen]) -> bool {
        sim.up().into_iter().filter(|o| *o != subject).all(|o| {
            self.seen[o]
                .get(&subject)
                .is_some_and(|s| states.contains(s))
        })
    }

    fn all_know_all<P: Peer>(&self, sim: &Sim<P>) -> bool {
        let up = sim.up();
        up.iter().all(|&o| {
            up.iter().all(|&s| {
                s == o
                    || self.seen[o]
                        .get(&s)
                        .is_some_and(|x| matches!(x, Seen::Alive | Seen::Suspect))
            })
        })
    }
}

/// Runs `sim` in `step` ms increments until `done` or `limit` ms; returns the elapsed ms.
fn measure<P: Peer>(
    sim: &mut Sim<P>,
    views: &mut Views,
    step: u64,
    limit: u64,
    done: impl Fn(&Views, &Sim<P>) -> bool,
) -> Option<u64> {
    let start = sim.now();
    loop {
        views.update(sim);
        if done(views, sim) {
            return Some(sim.now() - start);
        }
        if sim.now() - start >= limit {
            return None;
        }
        sim.run_for(step);
    }
}

/// Builds a group of `n`, then measures join, crash, leave and idle cost.
pub fn run_size<S: Subject + Default>(n: usize, seed: u64, progress: &mut dyn FnMut(&str)) -> Row {
    let mut subject = S::default();
    let mut sim: Sim<S::P> = Sim::new(seed, NetConfig::default());
    let mut views = Views::default();
    let gap = if n >= 1_000 { 5 } else { 20 };
    for i in 0..n {
        let idx = sim.reserve();
        subject.spawn(&mut sim, idx, (i > 0).then_some(0), n);
        sim.run_for(gap);
    }
    let built = measure(&mut sim, &mut views, 250, 300_000, |v, s| v.all_know_all(s));
    progress(&format!(
        "{} n={n}: group built ({built:?} ms after the last join)",
        S::NAME
    ));
    sim.run_for(10_000);

    // Idle cost over 120 s of nothing happening (two shuffle periods).
    let before: (u64, u64) = sim
        .traffic
        .iter()
        .fold((0, 0), |a, t| (a.0 + t.bytes_out, a.1 + t.msgs_out));
    sim.run_for(IDLE_WINDOW_MS);
    let after: (u64, u64) = sim
        .traffic
        .iter()
        .fold((0, 0), |a, t| (a.0 + t.bytes_out, a.1 + t.msgs_out));
    let per = (n as f64) * (IDLE_WINDOW_MS as f64 / 1_000.0);
    let idle_bytes = (after.0 - before.0) as f64 / per;
    let idle_msgs = (after.1 - before.1) as f64 / per;

    // A new node joins through node 0.
    let newcomer = sim.reserve();
    subject.spawn(&mut sim, newcomer, Some(0), n);
    let join_all_ms = measure(&mut sim, &mut views, 50, 120_000, |v, s| {
        v.all_see(s, newcomer, &[Seen::Alive, Seen::Suspect])
    });
    sim.run_for(10_000);

    // A node crashes.
    let victim = 1 + (sim.random() as usize % (n - 1));
    sim.crash(victim);
    let crash_all_ms = measure(&mut sim, &mut views, 50, 120_000, |v, s| {
        v.all_see(s, victim, &[Seen::Failed])
    });
    sim.run_for(10_000);

    // A node leaves gracefully.
    let mut leaver = 1 + (sim.random() as usize % (n - 1));
    while !sim.is_up(leaver) {
        leaver = 1 + (sim.random() as usize % (n - 1));
    }
    subject.leave(&mut sim, leaver);
    let leave_all_ms = measure(&mut sim, &mut views, 50, 120_000, |v, s| {
        v.all_see(s, leaver, &[Seen::Left, Seen::Failed])
    });
    progress(&format!(
        "{} n={n}: join {join_all_ms:?} ms, crash {crash_all_ms:?} ms, leave {leave_all_ms:?} ms, idle {idle_bytes:.0} B/node/s",
        S::NAME
    ));
    Row {
        implementation: S::NAME.into(),
        n,
        join_all_ms,
        crash_all_ms,
        leave_all_ms,
        false_failures_10pct_loss_300s: None,
        idle_bytes_per_node_per_s: Some(idle_bytes),
        idle_msgs_per_node_per_s: Some(idle_msgs),
    }
}

/// 50 nodes, built without loss, then 300 s at 10% message loss: how many live members
/// were declared failed by at least one other member.
pub fn run_loss<S: Subject + Default>(seed: u64, progress: &mut dyn FnMut(&str)) -> Row {
    let n = 50;
    let mut subject = S::default();
    let mut sim: Sim<S::P> = Sim::new(seed, NetConfig::default());
    let mut views = Views::default();
    for i in 0..n {
        let idx = sim.reserve();
        subject.spawn(&mut sim, idx, (i > 0).then_some(0), n);
        sim.run_for(20);
    }
    measure(&mut sim, &mut views, 250, 120_000, |v, s| v.all_know_all(s));
    sim.run_for(5_000);
    let start = sim.now();
    sim.net.loss = 0.10;
    sim.run_for(300_000);
    let mut falsely: Vec<Idx> = sim
        .observations
        .iter()
        .filter(|o| o.time >= start && o.seen == Seen::Failed && sim.is_up(o.subject))
        .map(|o| o.subject)
        .collect();
    falsely.sort_unstable();
    falsely.dedup();
    progress(&format!(
        "{} n=50, 10% loss, 300 s: {} live members declared failed",
        S::NAME,
        falsely.len()
    ));
    Row {
        implementation: S::NAME.into(),
        n,
        join_all_ms: None,
        crash_all_ms: None,
        leave_all_ms: None,
        false_failures_10pct_loss_300s: Some(falsely.len()),
        idle_bytes_per_node_per_s: None,
        idle_msgs_per_node_per_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_produces_figures_for_both() {
        let mut quiet = |_: &str| {};
        let r = run_size::<Rumor>(20, 1, &mut quiet);
        assert!(
            r.join_all_ms.is_some() && r.crash_all_ms.is_some() && r.leave_all_ms.is_some(),
            "{r:?}"
        );
        let f = run_size::<Foca>(20, 1, &mut quiet);
        assert!(f.join_all_ms.is_some() && f.crash_all_ms.is_some(), "{f:?}");
    }
}
