//! Drives a [foca](https://docs.rs/foca) node (SWIM membership) in the simulator, so that
//! Rumor's scenarios can be run side by side with it.
//!
//! foca is connectionless: its packets travel as [`Act::Datagram`]s, and connection inputs
//! are ignored. Its timers are kept in the peer and fired on [`Input::Timeout`], in
//! simulated milliseconds. It runs with [`Config::new_lan`], foca's own preset, unchanged
//! (see [`FocaPeer::config`]), and the postcard codec foca ships.
//!
//! What is reported as [`Seen`]:
//! - `MemberUp` → [`Seen::Alive`];
//! - `MemberDown` → [`Seen::Failed`]. A graceful [`FocaPeer::leave`] also arrives as
//!   `MemberDown` (foca spreads a Down record about itself), so foca never reports
//!   [`Seen::Left`];
//! - a suspicion → [`Seen::Suspect`]. foca has no notification for it: by default only the
//!   accuser reports it (seen when foca schedules its suspect-to-down timer); with
//!   [`FocaPeer::observe_all_suspicions`] every node that learns of it does, and a refuted
//!   suspicion is reported as [`Seen::Updated`];
//! - `Rename` (a restarted or renewed node replacing its old identity) with no change of
//!   liveness → [`Seen::Updated`] when the new identity is active.
//!
//! foca's notifications about the node itself (`Active`, `Idle`, `Defunct`, `Rejoin`) are
//! kept in [`FocaPeer::active`], [`FocaPeer::defunct`] and [`FocaPeer::rejoins`].
//!
//! foca's join is a single announce; [`FocaPeer::announce_retry`] optionally repeats it
//! until the node is in, for lossy networks.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::time::Duration;

use foca::{
    Config, Foca, Identity, Incarnation, NoCustomBroadcast, Notification, OwnedNotification,
    PostcardCodec, Runtime, State, Timer,
};
use serde::{Deserialize, Serialize};

use crate::sim::{Act, Idx, Input, Peer, Seen};

/// A simulated node's foca identity: its index, and a bump that tells the node's successive
/// identities apart (after a restart, or when foca renews an identity declared down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FocaId {
    /// The node's index in the simulation; foca's address for it.
    pub idx: u32,
    /// Which identity of this node this is; among identities of the same node, the higher
    /// bump wins.
    pub bump: u32,
}

impl Identity for FocaId {
    type Addr = u32;

    fn renew(&self) -> Option<Self> {
        let bump = self.bump.checked_add(1)?;
        Some(FocaId {
            idx: self.idx,
            bump,
        })
    }

    fn addr(&self) -> u32 {
        self.idx
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// foca's random source.
pub type FocaRng = crate::rng::SimRng;

/// The foca instance a [`FocaPeer`] drives.
pub type FocaNode = Foca<FocaId, PostcardCodec, FocaRng, NoCustomBroadcast>;

/// Timers foca asked for, by (deadline in ms, submission order).
type Timers = BTreeMap<(u64, u64), Timer<FocaId>>;

/// foca's [`Runtime`] for one call: collects packets, timers and notifications.
struct Rt<'a> {
    now: u64,
    seq: &'a mut u64,
    timers: &'a mut Timers,
    acts: &'a mut Vec<Act>,
    notes: &'a mut Vec<OwnedNotification<FocaId>>,
    suspicions: &'a mut Vec<(FocaId, Incarnation)>,
}

impl Runtime<FocaId> for Rt<'_> {
    fn notify(&mut self, notification: Notification<'_, FocaId>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: FocaId, data: &[u8]) {
        self.acts.push(Act::Datagram {
            to: to.idx as Idx,
            bytes: data.to_vec(),
        });
    }

    fn submit_after(&mut self, event: Timer<FocaId>, after: Duration) {
        // foca schedules this only when it has just suspected a member itself.
        if let Timer::ChangeSuspectToDown {
            member_id,
            incarnation,
            ..
        } = &event
        {
            self.suspicions.push((*member_id, *incarnation));
        }
        // Round up: a timer must not fire before its delay has passed.
        let ms = u64::try_from(after.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        *self.seq += 1;
        self.timers
            .insert((self.now.saturating_add(ms), *self.seq), event);
    }
}

/// A foca node in the simulator.
pub struct FocaPeer {
    /// The protocol state machine.
    pub foca: FocaNode,
    idx: Idx,
    timers: Timers,
    seq: u64,
    notes: Vec<OwnedNotification<FocaId>>,
    suspicions: Vec<(FocaId, Incarnation)>,
    /// The last suspicion reported per node, as (bump, incarnation), so that each one is
    /// reported once.
    reported: HashMap<u32, (u32, Incarnation)>,
    /// Report every suspicion this node learns of, and refutations, by scanning foca's
    /// member list after every input (costs O(members) per input). Off by default: only
    /// the node that raised a suspicion reports it.
    pub observe_all_suspicions: bool,
    /// Errors foca returned (bad packets, incomplete probe cycles, ...); the node goes on.
    pub errors: u64,
    /// True while foca knows at least one active member and is not declared down.
    pub active: bool,
    /// True when foca found itself declared down and could not rejoin.
    pub defunct: bool,
    /// Times foca renewed its identity and rejoined after being declared down.
    pub rejoins: u64,
    /// After [`FocaPeer::announce`], announce again to the same node every this many ms
    /// until foca reports itself active (or defunct). foca announces once: if the announce
    /// or its reply is lost, the node stays alone for good. `None`, the default, is foca as
    /// its examples run it; lossy scenarios may want the retry an application would add.
    pub announce_retry: Option<u64>,
    /// The pending retry: (when, to whom).
    retry: Option<(u64, Idx)>,
}

impl FocaPeer {
    /// The configuration nodes use: foca's LAN preset for `cluster_size_hint` nodes.
    ///
    /// The simulated links have 10–50 ms one-way latency, so round trips of 20–100 ms: the
    /// LAN preset (probe every 1 s, 500 ms to answer before indirect probes, suspicion
    /// 4 × max(1, log10 n) s) covers that with a wide margin. The WAN preset (probe every
    /// 5 s, 3 s probe RTT, suspicion 30 × max(1, log10 n) s) is meant for round trips of
    /// seconds and would only make foca slower to detect failures here.
    pub fn config(cluster_size_hint: usize) -> Config {
        let n = u32::try_from(cluster_size_hint).unwrap_or(u32::MAX).max(1);
        Config::new_lan(NonZeroU32::new(n).expect("at least 1"))
    }

    /// A node for index `idx` started at `now` (ms), with [`FocaPeer::config`]. Its
    /// identity's bump is `now`, so a node restarted later wins over its previous identity.
    pub fn new(idx: Idx, seed: u64, cluster_size_hint: usize, now: u64) -> Self {
        Self::with_config(idx, seed, Self::config(cluster_size_hint), now)
    }

    /// Like [`FocaPeer::new`] with a given foca configuration.
    pub fn with_config(idx: Idx, seed: u64, config: Config, now: u64) -> Self {
        let id = FocaId {
            idx: u32::try_from(idx).expect("index fits in u32"),
            bump: u32::try_from(now).unwrap_or(u32::MAX),
        };
        let rng_seed = seed
            .wrapping_mul(31)
            .wrapping_add(idx as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ now;
        let rng = FocaRng::seed_from_u64(rng_seed);
        FocaPeer {
            foca: Foca::new(id, config, rng, PostcardCodec),
            idx,
            timers: BTreeMap::new(),
            seq: 0,
            notes: Vec::new(),
            suspicions: Vec::new(),
            reported: HashMap::new(),
            observe_all_suspicions: false,
            errors: 0,
            active: false,
            defunct: false,
            rejoins: 0,
            announce_retry: None,
            retry: None,
        }
    }

    /// This node's index.
    pub fn idx(&self) -> Idx {
        self.idx
    }

    /// This node's current foca identity.
    pub fn id(&self) -> FocaId {
        *self.foca.identity()
    }

    /// Joins the cluster through node `to` (foca's announce).
    pub fn announce(
        &mut self,
        to: Idx,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        // foca accepts an announce addressed to any identity with the right address, so
        // the bump does not matter here.
        let dst = FocaId {
            idx: u32::try_from(to).expect("index fits in u32"),
            bump: 0,
        };
        self.call(now, acts, seen, |foca, rt| foca.announce(dst, rt));
        self.retry = self
            .announce_retry
            .map(|every| (now.saturating_add(every.max(1)), to));
    }

    /// Leaves the cluster gracefully (foca's leave_cluster: it tells a few members it is
    /// down, then stops taking part).
    pub fn leave(&mut self, now: u64, acts: &mut Vec<Act>, seen: &mut Vec<(Idx, Seen)>) {
        self.retry = None;
        self.call(now, acts, seen, |foca, rt| foca.leave_cluster(rt));
    }

    /// Indices of the nodes foca considers active members (alive or suspect), sorted,
    /// without this node.
    pub fn members(&self) -> Vec<Idx> {
        let mut v: Vec<Idx> = self
            .foca
            .iter_members()
            .map(|m| m.id().idx as Idx)
            .filter(|i| *i != self.idx)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Runs one foca call with a runtime for this node, then reports what it observed.
    fn call(
        &mut self,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
        f: impl FnOnce(&mut FocaNode, &mut Rt<'_>) -> Result<(), foca::Error>,
    ) {
        let mut rt = Rt {
            now,
            seq: &mut self.seq,
            timers: &mut self.timers,
            acts,
            notes: &mut self.notes,
            suspicions: &mut self.suspicions,
        };
        if f(&mut self.foca, &mut rt).is_err() {
            self.errors += 1;
        }
        self.observe(seen);
    }

    /// Fires every timer due at `now`, including ones those timers set for `now`.
    fn fire_timers(&mut self, now: u64, acts: &mut Vec<Act>, seen: &mut Vec<(Idx, Seen)>) {
        loop {
            let mut due = Vec::new();
            while let Some(entry) = self.timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if due.is_empty() {
                return;
            }
            // Timers delivered together go in foca's order (indirect probes before the
            // next probe), as foca asks of runtimes that lag; the sort is stable, so
            // otherwise they keep deadline order.
            due.sort();
            for timer in due {
                self.call(now, acts, seen, |foca, rt| foca.handle_timer(timer, rt));
            }
        }
    }

    /// Turns what foca reported during the last call into observations.
    fn observe(&mut self, seen: &mut Vec<(Idx, Seen)>) {
        let notes = std::mem::take(&mut self.notes);
        for (i, note) in notes.iter().enumerate() {
            match note {
                OwnedNotification::MemberUp(id) => seen.push((id.idx as Idx, Seen::Alive)),
                OwnedNotification::MemberDown(id) => seen.push((id.idx as Idx, Seen::Failed)),
                OwnedNotification::Rename(_, new) => {
                    // A liveness change comes as MemberUp/MemberDown right after; without
                    // one, both identities are active (report it) or both down (nothing).
                    let changed = notes[i + 1..].iter().any(|n| {
                        matches!(n, OwnedNotification::MemberUp(x) | OwnedNotification::MemberDown(x) if x == new)
                    });
                    if !changed && self.foca.iter_members().any(|m| m.id() == new) {
                        seen.push((new.idx as Idx, Seen::Updated));
                    }
                }
                OwnedNotification::Active => self.active = true,
                OwnedNotification::Idle => self.active = false,
                OwnedNotification::Defunct => {
                    self.active = false;
                    self.defunct = true;
                }
                OwnedNotification::Rejoin(_) => {
                    self.defunct = false;
                    self.rejoins += 1;
                }
            }
        }
        // Give the buffer back to reuse its allocation.
        self.notes = notes;
        self.notes.clear();

        for (id, incarnation) in self.suspicions.drain(..) {
            if self.reported.get(&id.idx) != Some(&(id.bump, incarnation)) {
                self.reported.insert(id.idx, (id.bump, incarnation));
                seen.push((id.idx as Idx, Seen::Suspect));
            }
        }

        if self.observe_all_suspicions {
            for m in self.foca.iter_membership_state() {
                let (id, inc) = (*m.id(), m.incarnation());
                let last = self.reported.get(&id.idx).copied();
                match m.state() {
                    State::Suspect => {
                        if last != Some((id.bump, inc)) {
                            self.reported.insert(id.idx, (id.bump, inc));
                            seen.push((id.idx as Idx, Seen::Suspect));
                        }
                    }
                    State::Alive => {
                        if let Some((bump, suspected)) = last {
                            self.reported.remove(&id.idx);
                            if bump == id.bump && inc > suspected {
                                seen.push((id.idx as Idx, Seen::Updated));
                            }
                        }
                    }
                    State::Down => {}
                }
            }
        }
    }
}

impl Peer for FocaPeer {
    fn handle(
        &mut self,
        input: Input<'_>,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    ) {
        match input {
            // The sender is in foca's own header.
            Input::Message { bytes, .. } => {
                self.call(now, acts, seen, |foca, rt| foca.handle_data(bytes, rt))
            }
            Input::Timeout => {
                self.fire_timers(now, acts, seen);
                if let Some((at, to)) = self.retry {
                    if at <= now {
                        self.retry = None;
                        if !self.active && !self.defunct {
                            self.announce(to, now, acts, seen);
                        }
                    }
                }
            }
            Input::Connected(_) | Input::Disconnected(_) | Input::DialFailed(_) => {}
        }
    }

    fn next_timeout(&self) -> Option<u64> {
        let timer = self.timers.keys().next().map(|(at, _)| *at);
        let retry = self.retry.map(|(at, _)| at);
        match (timer, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{NetConfig, Sim};

    const SEED: u64 = 0xf0ca;

    /// `n` nodes started at time 0; every node but 0 announces to node 0.
    fn cluster(n: usize) -> Sim<FocaPeer> {
        let mut sim = Sim::new(SEED, NetConfig::default());
        for _ in 0..n {
            let idx = sim.reserve();
            let peer = FocaPeer::new(idx, SEED, n, sim.now());
            if idx == 0 {
                sim.start(idx, peer, |_, _, _, _| {});
            } else {
                sim.start(idx, peer, |p, now, acts, seen| {
                    p.announce(0, now, acts, seen)
                });
            }
        }
        sim
    }

    fn members(sim: &Sim<FocaPeer>, idx: Idx) -> Vec<Idx> {
        sim.peer(idx).expect("node is up").members()
    }

    #[test]
    fn foca_forms_a_cluster_and_detects_crashes() {
        let n = 20;
        let mut sim = cluster(n);
        sim.run_for(60_000);
        for i in 0..n {
            let m = members(&sim, i);
            assert_eq!(m.len(), n - 1, "node {i} sees {m:?}");
            assert!(sim.peer(i).expect("up").active, "node {i} is not active");
        }

        let crashed = [4, 13];
        for c in crashed {
            sim.crash(c);
        }
        let t0 = sim.now();
        sim.run_for(60_000);
        for i in sim.up() {
            let m = members(&sim, i);
            assert_eq!(m.len(), n - 3, "node {i} sees {m:?}");
            assert!(
                crashed.iter().all(|c| !m.contains(c)),
                "node {i} sees {m:?}"
            );
            for c in crashed {
                let failed = sim.observations.iter().any(|o| {
                    o.time >= t0 && o.observer == i && o.subject == c && o.seen == Seen::Failed
                });
                assert!(failed, "node {i} never reported node {c} failed");
            }
        }
        // Someone suspected each crashed node before it was declared down.
        for c in crashed {
            assert!(sim
                .observations
                .iter()
                .any(|o| o.time >= t0 && o.subject == c && o.seen == Seen::Suspect));
        }
    }

    #[test]
    fn foca_leave_is_seen_as_failed_and_restart_rejoins() {
        let n = 8;
        let mut sim = cluster(n);
        sim.run_for(30_000);
        for i in 0..n {
            assert_eq!(members(&sim, i).len(), n - 1, "node {i}");
        }

        // Node 5 leaves gracefully: the others see foca's MemberDown (no Left).
        let t0 = sim.now();
        sim.with(5, |p, now, acts, seen| p.leave(now, acts, seen));
        sim.crash(5);
        sim.run_for(10_000);
        for i in sim.up() {
            assert!(!members(&sim, i).contains(&5), "node {i} still has 5");
            let failed = sim.observations.iter().any(|o| {
                o.time >= t0 && o.observer == i && o.subject == 5 && o.seen == Seen::Failed
            });
            assert!(failed, "node {i} never reported node 5 down");
        }
        assert!(!sim.observations.iter().any(|o| o.seen == Seen::Left));

        // It comes back with a fresh identity (bump = restart time) and is taken back in.
        let peer = FocaPeer::new(5, SEED + 1, n, sim.now());
        sim.start(5, peer, |p, now, acts, seen| p.announce(0, now, acts, seen));
        sim.run_for(30_000);
        for i in 0..n {
            assert_eq!(
                members(&sim, i).len(),
                n - 1,
                "node {i} sees {:?}",
                members(&sim, i)
            );
        }
    }

    #[test]
    fn foca_announce_retry_joins_under_loss() {
        let n = 20;
        let net = NetConfig {
            loss: 0.2,
            ..NetConfig::default()
        };
        let mut sim = Sim::new(SEED, net);
        for _ in 0..n {
            let idx = sim.reserve();
            let mut peer = FocaPeer::new(idx, SEED, n, sim.now());
            peer.announce_retry = Some(1_000);
            if idx == 0 {
                sim.start(idx, peer, |_, _, _, _| {});
            } else {
                sim.start(idx, peer, |p, now, acts, seen| {
                    p.announce(0, now, acts, seen)
                });
            }
        }
        sim.run_for(60_000);
        for i in 0..n {
            assert!(sim.peer(i).expect("up").active, "node {i} never got in");
        }
    }

    #[test]
    fn foca_runs_are_deterministic() {
        let run = || {
            let mut sim = cluster(10);
            sim.run_for(20_000);
            sim.crash(3);
            sim.run_for(20_000);
            sim.observations
                .iter()
                .map(|o| (o.time, o.observer, o.subject, o.seen))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
