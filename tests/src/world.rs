//! A simulated Rumor group with the commands and invariant checks scenarios need.

use std::collections::BTreeMap;

use rumor_core::{Config, Instant, MemberState, PeerId};

use crate::graph::Graph;
use crate::rumor_peer::{MemoVerifier, RumorPeer, SharedRegistry};
use crate::sim::{Idx, NetConfig, Sim};

/// Reads the simulation seed from `SEED` (or uses `default`) and prints it so that a
/// failing run can be replayed.
pub fn seed_from_env(default: u64) -> u64 {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default);
    eprintln!("simulation seed {seed} (replay with SEED={seed})");
    seed
}

/// A group of simulated Rumor nodes.
pub struct World {
    /// The simulator.
    pub sim: Sim<RumorPeer>,
    /// Index ↔ id mapping.
    pub registry: SharedRegistry,
    /// Configuration for new nodes.
    pub config: Config,
    /// Topics every node subscribes to when it boots.
    pub boot_topics: Vec<String>,
    /// Whether booted nodes keep their application events (for payload checks).
    pub record_events: bool,
    seed: u64,
    verifier: MemoVerifier,
}

impl World {
    /// A world whose nodes record their events, grown to `n` (joining 20 ms apart) and
    /// converged; `seed` can be overridden with the `SEED` environment variable.
    pub fn converged(seed: u64, n: usize, net: NetConfig) -> Self {
        let mut w = World::new(seed_from_env(seed), net, Config::default());
        w.record_events = true;
        w.grow(n, 20);
        w.run_until_ok(250, 60_000, World::check_converged).unwrap();
        w
    }

    /// Events node `idx` recorded at or after `since` (with `record_events`).
    pub fn events_since(&self, idx: Idx, since: u64) -> Vec<rumor_core::Event> {
        self.sim
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

    /// An empty world.
    pub fn new(seed: u64, net: NetConfig, config: Config) -> Self {
        World {
            sim: Sim::new(seed, net),
            registry: SharedRegistry::default(),
            config,
            boot_topics: Vec::new(),
            record_events: false,
            seed,
            verifier: MemoVerifier::default(),
        }
    }

    /// The id of node `idx`.
    pub fn id(&self, idx: Idx) -> PeerId {
        self.registry.borrow().id(idx)
    }

    /// The index of `id`.
    pub fn index(&self, id: &PeerId) -> Option<Idx> {
        self.registry.borrow().index(id)
    }

    /// Adds a node with metadata `meta` that joins through `seeds` (none: it is the first).
    pub fn spawn(&mut self, meta: &[(&str, &str)], seeds: &[Idx]) -> Idx {
        let idx = self.sim.reserve();
        self.boot(idx, meta, seeds);
        idx
    }

    /// Starts `n` nodes named `n0`, `n1`, … one every `gap` ms, each joining through the
    /// first; returns the first's index.
    pub fn grow(&mut self, n: usize, gap: u64) -> Idx {
        let first = self.spawn(&[("name", "n0")], &[]);
        for i in 1..n {
            let name = format!("n{i}");
            self.spawn(&[("name", &name)], &[first]);
            self.sim.run_for(gap);
        }
        first
    }

    /// Starts node `idx` afresh with the same identity (a restart after a crash).
    pub fn boot(&mut self, idx: Idx, meta: &[(&str, &str)], seeds: &[Idx]) {
        let now = self.sim.now();
        let mut peer = RumorPeer::build(
            self.seed,
            idx,
            self.config.clone(),
            now,
            &self.verifier,
            self.registry.clone(),
        );
        peer.record_events = self.record_events;
        let topics = self.boot_topics.clone();
        let seeds: Vec<PeerId> = seeds.iter().map(|s| peer.id_of(*s)).collect();
        let meta: Vec<(String, String)> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.sim.start(idx, peer, move |p, now, acts, seen| {
            let t = Instant::from_millis(now);
            for (k, v) in meta {
                p.node.set_meta(k, v, t).expect("metadata within limits");
            }
            for topic in topics {
                p.node.subscribe(topic, t).expect("valid topic");
            }
            p.node.join(seeds, t);
            p.drain(now, acts, seen);
        });
    }

    /// Sets a metadata key on node `idx`.
    pub fn set_meta(&mut self, idx: Idx, key: &str, value: &str) {
        self.sim.with(idx, |p, now, acts, seen| {
            p.node
                .set_meta(key, value, Instant::from_millis(now))
                .expect("metadata within limits");
            p.drain(now, acts, seen);
        });
    }

    /// Node `idx` subscribes to `topic`.
    pub fn subscribe(&mut self, idx: Idx, topic: &str) {
        self.sim.with(idx, |p, now, acts, seen| {
            p.node
                .subscribe(topic, Instant::from_millis(now))
                .expect("valid topic");
            p.drain(now, acts, seen);
        });
    }

    /// Node `idx` publishes `data` on `topic`; returns the sequence number it got.
    pub fn publish(
        &mut self,
        idx: Idx,
        topic: &str,
        data: Vec<u8>,
    ) -> Result<u64, rumor_core::CommandError> {
        let mut out = None;
        self.sim.with(idx, |p, now, acts, seen| {
            out = Some(p.node.publish(topic, data, Instant::from_millis(now)));
            p.drain(now, acts, seen);
        });
        out.expect("node is up").map(|id| id.seq)
    }

    /// Node `idx` leaves gracefully; it is then removed from the simulation.
    pub fn leave(&mut self, idx: Idx) {
        self.sim.with(idx, |p, now, acts, seen| {
            p.node.leave(Instant::from_millis(now));
            p.drain(now, acts, seen);
        });
        self.sim.crash(idx);
    }

    /// The node at `idx` (panics if it is down).
    pub fn node(&self, idx: Idx) -> &rumor_core::Node {
        &self.sim.peer(idx).expect("node is up").node
    }

    /// One counter of [`rumor_core::Stats`] summed over `nodes` (all up), e.g.
    /// `w.total(0..30, |s| s.dials)`.
    pub fn total(
        &self,
        nodes: impl IntoIterator<Item = Idx>,
        counter: impl Fn(&rumor_core::Stats) -> u64,
    ) -> u64 {
        nodes
            .into_iter()
            .map(|i| counter(self.node(i).stats()))
            .sum()
    }

    /// Checks that every up node knows every up node as alive (or suspect, while a
    /// suspicion is being refuted) with the same metadata as its owner, and that no up
    /// node is marked failed or left anywhere. Returns the first few problems.
    pub fn check_converged(&self) -> Result<(), String> {
        let up = self.sim.up();
        let truth: BTreeMap<PeerId, rumor_core::LiteMap<String, String>> = up
            .iter()
            .map(|i| {
                let n = self.node(*i);
                (n.id(), n.member(&n.id()).expect("knows itself").meta)
            })
            .collect();
        let mut problems = Vec::new();
        for &i in &up {
            let n = self.node(i);
            for (id, meta) in &truth {
                match n.member(id) {
                    None => {
                        problems.push(format!("node {i} does not know node {:?}", self.index(id)))
                    }
                    Some(m) if matches!(m.state, MemberState::Failed | MemberState::Left) => {
                        problems.push(format!(
                            "node {i} has live node {:?} as {:?}",
                            self.index(id),
                            m.state
                        ))
                    }
                    Some(m) if &m.meta != meta => problems.push(format!(
                        "node {i} has stale metadata for node {:?}: {:?} vs {:?}",
                        self.index(id),
                        m.meta,
                        meta
                    )),
                    Some(_) => {}
                }
            }
            if problems.len() > 10 {
                break;
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Checks that every up node sees every node in `gone` in `state` (failed or left).
    pub fn check_gone(&self, gone: &[Idx], state: MemberState) -> Result<(), String> {
        self.check_gone_for(&self.sim.up(), gone, state)
    }

    /// Checks that each of `observers` sees every node in `gone` in `state` (for one side
    /// of a partition, which the other side's own nodes do not see that way).
    pub fn check_gone_for(
        &self,
        observers: &[Idx],
        gone: &[Idx],
        state: MemberState,
    ) -> Result<(), String> {
        let mut problems = Vec::new();
        for &i in observers {
            let n = self.node(i);
            for g in gone {
                let s = n.member(&self.id(*g)).map(|m| m.state);
                // A forgotten tombstone is also "gone"; only a live view of it is wrong.
                if s.is_some() && s != Some(state) {
                    problems.push(format!(
                        "node {i} sees node {g} as {s:?}, expected {state:?}"
                    ));
                }
            }
            if problems.len() > 10 {
                break;
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Checks that active views are symmetric: if a lists b as neighbor, b lists a
    /// (allowing connections that are being set up or torn down right now: `slack` of them).
    pub fn asymmetric_links(&self) -> usize {
        let up = self.sim.up();
        let mut bad = 0;
        for &i in &up {
            for nb in self.node(i).neighbors() {
                let Some(j) = self.index(&nb) else { continue };
                if !self.sim.is_up(j) || !self.node(j).neighbors().contains(&self.id(i)) {
                    bad += 1;
                }
            }
        }
        bad
    }

    /// Groups of live nodes linked by active views (one group: the overlay is connected).
    pub fn overlay_components(&self) -> Vec<Vec<Idx>> {
        let up = self.sim.up();
        let mut seen = std::collections::BTreeSet::new();
        let mut groups = Vec::new();
        for &start in &up {
            if !seen.insert(start) {
                continue;
            }
            let mut group = vec![start];
            let mut next = 0;
            while next < group.len() {
                let i = group[next];
                next += 1;
                for nb in self.node(i).neighbors() {
                    let Some(j) = self.index(&nb) else { continue };
                    if self.sim.is_up(j) && seen.insert(j) {
                        group.push(j);
                    }
                }
            }
            group.sort_unstable();
            groups.push(group);
        }
        groups
    }

    /// The overlay of the live nodes as a graph of their active links.
    pub fn overlay_graph(&self) -> Graph {
        let lists = self.sim.up().into_iter().map(|i| {
            let ids = self.node(i).neighbors();
            (i, ids.iter().filter_map(|id| self.index(id)).collect())
        });
        Graph::from_lists(self.sim.len(), lists)
    }

    /// Runs until `check` passes (checked every `step` ms) or `limit` ms pass; returns the
    /// time it took, or the last failure.
    pub fn run_until_ok(
        &mut self,
        step: u64,
        limit: u64,
        check: impl Fn(&World) -> Result<(), String>,
    ) -> Result<u64, String> {
        let start = self.sim.now();
        loop {
            match check(self) {
                Ok(()) => return Ok(self.sim.now() - start),
                Err(e) if self.sim.now() - start >= limit => return Err(e),
                Err(_) => {
                    self.sim.run_for(step);
                }
            }
        }
    }
}
