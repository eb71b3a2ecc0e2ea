//! The broadcast benchmark: reliability, relative message redundancy (RMR), last delivery
//! hop (LDH) and delivery latency, for Rumor's Plumtree and for iroh-gossip's, in the same
//! simulated network with the same seeds.

use std::collections::BTreeMap;

use rumor_core::{Config, Instant};
use serde::{Deserialize, Serialize};

use crate::graph::Graph;
use crate::iroh_peer::{IrohPeer, Transport};
use crate::rumor_peer::{MemoVerifier, RumorPeer, SharedRegistry};
use crate::sim::{Idx, NetConfig, Peer, Seen, Sim};

/// One row of `target/bench/broadcast.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// `rumor` or `iroh-gossip`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// Group size at the start.
    pub n: usize,
    /// `single`, `multi10`, `loss10`, `massfail80` or `massfail95`.
    pub scenario: String,
    /// Fraction of expected deliveries made.
    pub reliability: f64,
    /// Payload receptions / deliveries made − 1 (the paper's m / (n − 1) − 1, counted over
    /// the receivers that did receive); `null` when nothing was delivered.
    pub rmr: Option<f64>,
    /// Last delivery hop: for each message the hop count of its farthest delivery,
    /// averaged over messages (the Plumtree paper's definition); `null` when nothing was
    /// delivered.
    pub ldh: Option<f64>,
    /// The largest hop count of any delivery.
    pub max_hops: u16,
    /// Median delivery latency, ms; `null` when nothing was delivered.
    pub p50_ms: Option<u64>,
    /// 99th percentile delivery latency, ms; `null` when nothing was delivered.
    pub p99_ms: Option<u64>,
}

impl Row {
    /// RMR, LDH, p50 and p99 as table cells, `-` where nothing was delivered.
    pub fn cells(&self) -> [String; 4] {
        let dash = || "-".to_string();
        [
            self.rmr.map_or_else(dash, |v| format!("{v:.3}")),
            self.ldh.map_or_else(dash, |v| format!("{v:.1}")),
            self.p50_ms.map_or_else(dash, |v| v.to_string()),
            self.p99_ms.map_or_else(dash, |v| v.to_string()),
        ]
    }

    /// `fresh` with the rows of `old` whose implementation and size `fresh` did not run,
    /// in order of size: what a run that measured only some of them writes back.
    pub fn merge(old: Vec<Row>, fresh: Vec<Row>) -> Vec<Row> {
        let ran = |r: &Row| {
            fresh
                .iter()
                .any(|f| f.n == r.n && f.implementation == r.implementation)
        };
        let kept: Vec<Row> = old.into_iter().filter(|r| !ran(r)).collect();
        let mut rows: Vec<Row> = kept.into_iter().chain(fresh).collect();
        rows.sort_by_key(|r| r.n);
        rows
    }
}

/// A broadcast implementation the benchmark can drive.
pub trait Broadcaster {
    /// The simulator peer type.
    type P: Peer;
    /// Name in the `impl` column.
    fn name(&self) -> String;
    /// Starts node `idx`, joining through `via` (none for the first node).
    fn spawn(&mut self, sim: &mut Sim<Self::P>, idx: Idx, via: Option<Idx>);
    /// Node `idx` broadcasts its `k`-th message; returns the sequence number deliveries
    /// of it will report.
    fn publish(&mut self, sim: &mut Sim<Self::P>, idx: Idx, k: u64) -> u64;
    /// The neighbors of node `idx` in the overlay, if this implementation exposes them.
    fn neighbors(&self, _sim: &Sim<Self::P>, _idx: Idx) -> Option<Vec<Idx>> {
        None
    }
}

/// The overlay of `b`'s group as a graph; `None` when `b` does not expose neighbors.
pub fn overlay_graph<B: Broadcaster>(b: &B, sim: &Sim<B::P>) -> Option<Graph> {
    let lists: Option<Vec<_>> = sim
        .up()
        .into_iter()
        .map(|i| Some((i, b.neighbors(sim, i)?)))
        .collect();
    Some(Graph::from_lists(sim.len(), lists?))
}

/// Rumor's Plumtree, every node subscribed to one topic.
#[derive(Default)]
pub struct RumorBroadcast {
    registry: SharedRegistry,
    verifier: MemoVerifier,
    /// `BroadcastConfig::fresh_tree_fanout` when not the default.
    fresh_tree_fanout: Option<usize>,
}

impl RumorBroadcast {
    /// Rumor with a new origin's first message pushed to `fanout` neighbors besides its
    /// sender (the rest get announcements) instead of flooded.
    pub fn with_fresh_tree_fanout(fanout: usize) -> Self {
        RumorBroadcast {
            fresh_tree_fanout: Some(fanout),
            ..Default::default()
        }
    }
}

impl Broadcaster for RumorBroadcast {
    type P = RumorPeer;
    fn name(&self) -> String {
        match self.fresh_tree_fanout {
            None => "rumor".into(),
            Some(f) => format!("rumor-fanout{f}"),
        }
    }
    fn spawn(&mut self, sim: &mut Sim<RumorPeer>, idx: Idx, via: Option<Idx>) {
        let now = sim.now();
        let mut config = Config::default();
        if let Some(f) = self.fresh_tree_fanout {
            config.broadcast.fresh_tree_fanout = f;
        }
        let peer = RumorPeer::build(1, idx, config, now, &self.verifier, self.registry.clone());
        let seeds: Vec<_> = via.into_iter().map(|v| peer.id_of(v)).collect();
        sim.start(idx, peer, |p, now, acts, seen| {
            let t = Instant::from_millis(now);
            p.node.subscribe("bench", t).expect("valid topic");
            p.node.join(seeds, t);
            p.drain(now, acts, seen);
        });
    }
    fn publish(&mut self, sim: &mut Sim<RumorPeer>, idx: Idx, k: u64) -> u64 {
        let mut seq = 0;
        sim.with(idx, |p, now, acts, seen| {
            let data = k.to_le_bytes().repeat(PAYLOAD_LEN / 8);
            seq = p
                .node
                .publish("bench", data, Instant::from_millis(now))
                .expect("small payload")
                .seq;
            p.drain(now, acts, seen);
        });
        seq
    }
    fn neighbors(&self, sim: &Sim<RumorPeer>, idx: Idx) -> Option<Vec<Idx>> {
        let registry = self.registry.borrow();
        let node = &sim.peer(idx)?.node;
        Some(
            node.neighbors()
                .iter()
                .filter_map(|id| registry.index(id))
                .collect(),
        )
    }
}

/// iroh-gossip's `proto` state machine over simulated connections, as its own network
/// layer runs it (a crashed peer is noticed when its connection closes).
#[derive(Default)]
pub struct IrohBroadcast;

impl Broadcaster for IrohBroadcast {
    type P = IrohPeer;
    fn name(&self) -> String {
        "iroh-gossip".into()
    }
    fn spawn(&mut self, sim: &mut Sim<IrohPeer>, idx: Idx, via: Option<Idx>) {
        let now = sim.now();
        let peer = IrohPeer::with_transport(idx, 1, now, Transport::Connections);
        sim.start(idx, peer, |p, now, acts, seen| {
            p.join(via.into_iter().collect(), now, acts, seen);
        });
    }
    fn publish(&mut self, sim: &mut Sim<IrohPeer>, idx: Idx, k: u64) -> u64 {
        sim.with(idx, |p, now, acts, seen| {
            p.broadcast(k, PAYLOAD_LEN, now, acts, seen)
        });
        k
    }
}

/// Payload bytes per broadcast message, the same for every implementation.
const PAYLOAD_LEN: usize = 64;

/// Measures one scenario: `plan` lists (sender, k) publishes, `gap_ms` apart per round.
fn scenario<B: Broadcaster>(
    b: &mut B,
    sim: &mut Sim<B::P>,
    name: &str,
    n: usize,
    rounds: &[Vec<Idx>],
    gap_ms: u64,
    counters: &mut BTreeMap<Idx, u64>,
) -> Row {
    let start_obs = sim.observations.len();
    let mut published: BTreeMap<(Idx, u64), u64> = BTreeMap::new();
    let mut expected = 0usize;
    for round in rounds {
        for &s in round {
            if !sim.is_up(s) {
                continue;
            }
            let k = counters.entry(s).or_insert(0);
            *k += 1;
            let seq = b.publish(sim, s, *k);
            published.insert((s, seq), sim.now());
            expected += sim.up().len() - 1;
        }
        sim.run_for(gap_ms);
    }
    sim.run_for(10_000);
    let mut delivered = 0usize;
    let mut receptions = 0u64;
    let mut per_msg_max: BTreeMap<(Idx, u64), u16> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut once: BTreeMap<(Idx, Idx, u64), ()> = BTreeMap::new();
    for o in &sim.observations[start_obs..] {
        match o.seen {
            Seen::Delivered { seq, hops } => {
                if let Some(t0) = published.get(&(o.subject, seq)) {
                    if once.insert((o.observer, o.subject, seq), ()).is_none()
                        && sim.is_up(o.observer)
                    {
                        delivered += 1;
                        let m = per_msg_max.entry((o.subject, seq)).or_insert(0);
                        *m = (*m).max(hops);
                        latencies.push(o.time - t0);
                    }
                }
            }
            Seen::PayloadReceived => receptions += 1,
            _ => {}
        }
    }
    latencies.sort_unstable();
    let max_hops = per_msg_max.values().copied().max().unwrap_or(0);
    let any = delivered > 0;
    let ldh = any
        .then(|| per_msg_max.values().map(|h| *h as f64).sum::<f64>() / per_msg_max.len() as f64);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    let useful = expected.max(1) as f64;
    Row {
        implementation: b.name(),
        n,
        scenario: name.into(),
        reliability: delivered as f64 / useful,
        rmr: any.then(|| receptions as f64 / delivered as f64 - 1.0),
        ldh,
        max_hops,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

/// Builds a group of `n` and runs every scenario on it in turn.
pub fn run<B: Broadcaster>(
    mut b: B,
    n: usize,
    seed: u64,
    multi: bool,
    progress: &mut dyn FnMut(&str),
) -> Vec<Row> {
    let mut sim: Sim<B::P> = Sim::new(seed, NetConfig::default());
    sim.observe_membership = false;
    let gap = if n >= 1_000 { 5 } else { 20 };
    for i in 0..n {
        let idx = sim.reserve();
        b.spawn(&mut sim, idx, (i > 0).then_some(0));
        sim.run_for(gap);
        if n >= 5_000 && (i + 1) % 1_000 == 0 {
            progress(&format!("{} n={n}: {} joined", b.name(), i + 1));
        }
    }
    sim.run_for(20_000);
    progress(&format!("{} n={n}: group built", b.name()));
    let mut rows = Vec::new();
    // Message numbers per sender run on across scenarios, so no payload repeats.
    let mut counters = BTreeMap::new();
    let sender = n / 3;
    if let Some(g) = overlay_graph(&b, &sim) {
        let shape = g.shape(sender);
        progress(&format!(
            "{} n={n}: overlay (from the sender): {shape}",
            b.name()
        ));
    }
    let single: Vec<Vec<Idx>> = (0..50).map(|_| vec![sender]).collect();
    rows.push(scenario(
        &mut b,
        &mut sim,
        "single",
        n,
        &single,
        100,
        &mut counters,
    ));
    if multi {
        let senders: Vec<Idx> = (0..10).map(|i| (i * n / 10 + 7) % n).collect();
        let multi10: Vec<Vec<Idx>> = (0..10).map(|_| senders.clone()).collect();
        rows.push(scenario(
            &mut b,
            &mut sim,
            "multi10",
            n,
            &multi10,
            100,
            &mut counters,
        ));
    }
    sim.net.loss = 0.10;
    rows.push(scenario(
        &mut b,
        &mut sim,
        "loss10",
        n,
        &single,
        100,
        &mut counters,
    ));
    sim.net.loss = 0.0;
    sim.run_for(10_000);
    for (name, dead) in [("massfail80", n * 80 / 100), ("massfail95", n * 95 / 100)] {
        while n - sim.up().len() < dead {
            let i = (sim.random() % n as u64) as usize;
            if sim.is_up(i) && i != 0 {
                sim.crash(i);
            }
        }
        sim.run_for(10_000);
        let survivor = sim.up()[sim.up().len() / 2];
        let plan: Vec<Vec<Idx>> = (0..20).map(|_| vec![survivor]).collect();
        rows.push(scenario(
            &mut b,
            &mut sim,
            name,
            n,
            &plan,
            100,
            &mut counters,
        ));
    }
    for r in &rows {
        let [rmr, ldh, p50, p99] = r.cells();
        progress(&format!(
            "{} n={n} {}: reliability {:.4}, RMR {rmr}, LDH {ldh} (max {}), p50 {p50} ms, p99 {p99} ms",
            r.implementation, r.scenario, r.reliability, r.max_hops,
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_delivers_everything() {
        let rows = run(RumorBroadcast::default(), 30, 1, true, &mut |_| {});
        let single = rows.iter().find(|r| r.scenario == "single").unwrap();
        assert_eq!(single.reliability, 1.0, "{single:?}");
        assert!(single.ldh.is_some_and(|l| l >= 1.0) && single.max_hops >= 1);
    }

    fn row(implementation: &str, n: usize, scenario: &str, reliability: f64) -> Row {
        Row {
            implementation: implementation.into(),
            n,
            scenario: scenario.into(),
            reliability,
            rmr: None,
            ldh: None,
            max_hops: 0,
            p50_ms: None,
            p99_ms: None,
        }
    }

    #[test]
    fn merge_replaces_only_the_implementations_and_sizes_run() {
        let old = vec![
            row("rumor", 100, "single", 0.1),
            row("iroh-gossip", 100, "single", 0.2),
            row("rumor", 1000, "single", 0.3),
            row("rumor", 1000, "multi10", 0.4),
            row("iroh-gossip", 1000, "single", 0.5),
        ];
        let fresh = vec![row("rumor", 1000, "single", 0.9)];
        let merged = Row::merge(old, fresh);
        let got: Vec<(&str, usize, &str, f64)> = merged
            .iter()
            .map(|r| {
                (
                    r.implementation.as_str(),
                    r.n,
                    r.scenario.as_str(),
                    r.reliability,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("rumor", 100, "single", 0.1),
                ("iroh-gossip", 100, "single", 0.2),
                ("iroh-gossip", 1000, "single", 0.5),
                ("rumor", 1000, "single", 0.9),
            ]
        );
    }
}
