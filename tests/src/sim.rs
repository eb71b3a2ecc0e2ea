//! A deterministic discrete-event network simulator.
//!
//! Nodes are any [`Peer`]: a state machine fed inputs and asked for its next timer. The
//! network gives every pair of nodes a fixed latency (drawn from a range by the seed), drops
//! messages with a loss probability, splits nodes into partitions, and crashes, restarts
//! and stalls nodes. Connections are modelled like WebRTC data channels: a dial succeeds
//! after a few round trips when the callee is up and reachable, messages are ordered per
//! connection, a hang-up reaches the other side after the in-flight messages, and a crashed
//! peer's connections go silent (closing only after `silent_close_after`, like ICE failure).
//! Connectionless peers (like foca over UDP) use [`Act::Datagram`].
//!
//! Same seed and same calls give the same run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A node's index in the simulation.
pub type Idx = usize;

/// What a node asks the network to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Send over the open connection to a peer (dropped if there is none).
    Send {
        /// Destination.
        to: Idx,
        /// Payload.
        bytes: Vec<u8>,
    },
    /// Send without a connection, like a UDP datagram.
    Datagram {
        /// Destination.
        to: Idx,
        /// Payload.
        bytes: Vec<u8>,
    },
    /// Open a connection.
    Dial(Idx),
    /// Close a connection.
    Hangup(Idx),
}

/// What the network hands a node.
#[derive(Debug)]
pub enum Input<'a> {
    /// Bytes from a peer.
    Message {
        /// Sender.
        from: Idx,
        /// Payload.
        bytes: &'a [u8],
    },
    /// A connection to this peer opened (either side dialed).
    Connected(Idx),
    /// The connection to this peer closed.
    Disconnected(Idx),
    /// A dial to this peer failed.
    DialFailed(Idx),
    /// The node's timer fired.
    Timeout,
}

/// What an observer node reports about a subject, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seen {
    /// The subject is alive in the observer's view (joined or came back).
    Alive,
    /// The subject is suspected.
    Suspect,
    /// The subject was declared failed.
    Failed,
    /// The subject left.
    Left,
    /// The subject's metadata changed.
    Updated,
    /// A broadcast message from `subject` (its origin) with sequence number `seq` was
    /// delivered to the application, `hops` overlay hops from its origin.
    Delivered {
        /// The origin's sequence number (or any per-origin message number).
        seq: u64,
        /// Hops from the origin (the last delivery hop statistic).
        hops: u16,
    },
    /// A copy of a broadcast payload from `subject` arrived (duplicates included), for
    /// relative message redundancy.
    PayloadReceived,
}

/// One observation: at `time`, `observer` saw `subject` become `seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Simulated milliseconds.
    pub time: u64,
    /// The node that saw it.
    pub observer: Idx,
    /// The node seen.
    pub subject: Idx,
    /// What was seen.
    pub seen: Seen,
}

/// A protocol implementation the simulator can drive.
pub trait Peer {
    /// Handles one input at `now` (ms), pushing network actions to `acts` and what it
    /// observed about other nodes to `seen` as `(subject, seen)`.
    fn handle(
        &mut self,
        input: Input<'_>,
        now: u64,
        acts: &mut Vec<Act>,
        seen: &mut Vec<(Idx, Seen)>,
    );
    /// When the node next wants a [`Input::Timeout`], in ms.
    fn next_timeout(&self) -> Option<u64>;
}

/// Network parameters.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// One-way latency range in ms; each pair of nodes draws a fixed value from it.
    pub latency_ms: (u64, u64),
    /// Probability that any one message is lost.
    pub loss: f64,
    /// Round trips a successful dial takes (signaling, ICE, DTLS).
    pub dial_round_trips: u64,
    /// How long a dial to a crashed node takes to fail, in ms.
    pub dial_fail_dead_ms: u64,
    /// How long a dial across a partition takes to fail, in ms.
    pub dial_fail_partition_ms: u64,
    /// After this long, a connection whose other end crashed or was cut off by a
    /// partition is reported closed (ICE failure); `None` never.
    pub silent_close_after: Option<u64>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_ms: (10, 50),
            loss: 0.0,
            dial_round_trips: 3,
            dial_fail_dead_ms: 1_000,
            dial_fail_partition_ms: 10_000,
            silent_close_after: Some(30_000),
        }
    }
}

#[derive(Debug)]
enum Ev {
    Deliver {
        from: Idx,
        to: Idx,
        bytes: Vec<u8>,
        epoch: u64,
    },
    Datagram {
        from: Idx,
        to: Idx,
        bytes: Vec<u8>,
    },
    Connected {
        a: Idx,
        b: Idx,
        epoch: u64,
    },
    DialFailed {
        node: Idx,
        peer: Idx,
        life: u64,
    },
    Closed {
        node: Idx,
        peer: Idx,
        epoch: u64,
    },
    SilentCheck {
        a: Idx,
        b: Idx,
        epoch: u64,
    },
    Timer {
        node: Idx,
        generation: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Conn {
    epoch: u64,
    open: bool,
    lives: (u64, u64),
}

/// Traffic counters per node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    /// Messages sent.
    pub msgs_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

struct Slot<P> {
    peer: Option<P>,
    life: u64,
    timer: Option<(u64, u64)>,
    generation: u64,
    stall_until: u64,
    /// Messages to this node wait until then (a process starved of CPU).
    frozen_until: u64,
}

/// The simulation: nodes, the network between them, and the event queue.
pub struct Sim<P: Peer> {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    nodes: Vec<Slot<P>>,
    conns: BTreeMap<(Idx, Idx), Conn>,
    /// Epochs of connections hung up whose in-flight messages still arrive.
    closing: std::collections::BTreeSet<u64>,
    partition: Vec<u32>,
    epoch: u64,
    rng: ChaCha8Rng,
    seed: u64,
    /// Network parameters; may be changed between steps.
    pub net: NetConfig,
    /// Everything nodes reported seeing, in time order.
    pub observations: Vec<Observation>,
    /// Keep the membership observations (alive, suspect, failed, left, updated) in
    /// `observations`; on by default. Off for runs that measure only broadcast: a group of
    /// n records n² of them while it forms.
    pub observe_membership: bool,
    /// Traffic per node.
    pub traffic: Vec<Traffic>,
    /// Messages dropped by loss or partition.
    pub dropped: u64,
    /// Messages delivered.
    pub delivered: u64,
}

fn key(a: Idx, b: Idx) -> (Idx, Idx) {
    (a.min(b), a.max(b))
}

impl<P: Peer> Sim<P> {
    /// An empty simulation whose randomness comes from `seed`.
    pub fn new(seed: u64, net: NetConfig) -> Self {
        Sim {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            nodes: Vec::new(),
            conns: BTreeMap::new(),
            closing: Default::default(),
            partition: Vec::new(),
            epoch: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            seed,
            net,
            observations: Vec::new(),
            observe_membership: true,
            traffic: Vec::new(),
            dropped: 0,
            delivered: 0,
        }
    }

    /// Simulated time in ms.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// A random number from the simulation's stream (for scenario choices).
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Number of node slots (crashed ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Reserves the next index for a node that will be added with [`Sim::start`].
    pub fn reserve(&mut self) -> Idx {
        self.nodes.push(Slot {
            peer: None,
            life: 0,
            timer: None,
            generation: 0,
            stall_until: 0,
            frozen_until: 0,
        });
        self.partition.push(0);
        self.traffic.push(Traffic::default());
        self.nodes.len() - 1
    }

    /// Starts (or restarts) node `idx` with `peer`, then runs `init` on it (for commands
    /// like join), and processes its actions.
    pub fn start(
        &mut self,
        idx: Idx,
        peer: P,
        init: impl FnOnce(&mut P, u64, &mut Vec<Act>, &mut Vec<(Idx, Seen)>),
    ) {
        self.drop_connections(idx);
        let slot = &mut self.nodes[idx];
        slot.life += 1;
        slot.peer = Some(peer);
        slot.timer = None;
        let (mut acts, mut seen) = (Vec::new(), Vec::new());
        let now = self.now;
        init(
            self.nodes[idx].peer.as_mut().expect("just set"),
            now,
            &mut acts,
            &mut seen,
        );
        self.after(idx, acts, seen);
    }

    /// Runs a command on a live node (ignored if it is down).
    pub fn with(
        &mut self,
        idx: Idx,
        f: impl FnOnce(&mut P, u64, &mut Vec<Act>, &mut Vec<(Idx, Seen)>),
    ) {
        let now = self.now;
        let (mut acts, mut seen) = (Vec::new(), Vec::new());
        if let Some(p) = self.nodes[idx].peer.as_mut() {
            f(p, now, &mut acts, &mut seen);
            self.after(idx, acts, seen);
        }
    }

    /// The node at `idx`, if up.
    pub fn peer(&self, idx: Idx) -> Option<&P> {
        self.nodes[idx].peer.as_ref()
    }

    /// True when node `idx` is up.
    pub fn is_up(&self, idx: Idx) -> bool {
        self.nodes[idx].peer.is_some()
    }

    /// Indices of nodes that are up.
    pub fn up(&self) -> Vec<Idx> {
        (0..self.nodes.len()).filter(|i| self.is_up(*i)).collect()
    }

    /// Crashes node `idx`: it stops at once and tells no one.
    pub fn crash(&mut self, idx: Idx) {
        self.nodes[idx].peer = None;
        self.nodes[idx].timer = None;
        self.drop_connections(idx);
    }

    /// Puts node `idx` in partition `group`; nodes in different groups cannot talk.
    pub fn set_partition(&mut self, idx: Idx, group: u32) {
        self.partition[idx] = group;
        let affected: Vec<(Idx, Idx)> = self
            .conns
            .keys()
            .filter(|(a, b)| *a == idx || *b == idx)
            .copied()
            .collect();
        for (a, b) in affected {
            if self.partition[a] != self.partition[b] {
                self.schedule_silent_close(a, b);
            }
        }
    }

    /// Makes node `idx`'s timers fire no earlier than `until` (a throttled background tab).
    pub fn stall(&mut self, idx: Idx, until: u64) {
        self.nodes[idx].stall_until = until;
        self.nodes[idx].timer = None;
        self.rearm(idx);
    }

    /// Makes node `idx` do nothing until `until`: its timers wait, and so do the messages
    /// sent to it (taken in, in order, when it thaws), as with a browser tab starved of CPU
    /// on a loaded machine. Its connections stay open.
    pub fn freeze(&mut self, idx: Idx, until: u64) {
        self.nodes[idx].frozen_until = until;
        self.stall(idx, until);
    }

    /// The fixed one-way latency between two nodes.
    pub fn latency(&self, a: Idx, b: Idx) -> u64 {
        let (lo, hi) = self.net.latency_ms;
        let (x, y) = key(a, b);
        let mut h = (x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (y as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ self.seed;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        lo + h % (hi - lo + 1)
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.queue.push(Reverse((at, self.seq)));
    }

    fn reachable(&self, a: Idx, b: Idx) -> bool {
        self.is_up(a) && self.is_up(b) && self.partition[a] == self.partition[b]
    }

    fn drop_connections(&mut self, idx: Idx) {
        let affected: Vec<(Idx, Idx)> = self
            .conns
            .keys()
            .filter(|(a, b)| *a == idx || *b == idx)
            .copied()
            .collect();
        for (a, b) in affected {
            let other = if a == idx { b } else { a };
            let conn = self.conns.remove(&(a, b)).expect("listed");
            // Re-insert as a connection only the survivor still believes in.
            if self.is_up(other) && conn.open {
                self.conns.insert((a, b), conn);
                self.schedule_silent_close(a, b);
            }
        }
    }

    fn schedule_silent_close(&mut self, a: Idx, b: Idx) {
        if let (Some(after), Some(c)) = (self.net.silent_close_after, self.conns.get(&(a, b))) {
            let epoch = c.epoch;
            self.push(self.now + after, Ev::SilentCheck { a, b, epoch });
        }
    }

    fn after(&mut self, idx: Idx, acts: Vec<Act>, seen: Vec<(Idx, Seen)>) {
        let now = self.now;
        for (subject, s) in seen {
            let membership = !matches!(s, Seen::Delivered { .. } | Seen::PayloadReceived);
            if membership && !self.observe_membership {
                continue;
            }
            self.observations.push(Observation {
                time: now,
                observer: idx,
                subject,
                seen: s,
            });
        }
        for act in acts {
            self.act(idx, act);
        }
        self.rearm(idx);
    }

    fn rearm(&mut self, idx: Idx) {
        let Some(p) = self.nodes[idx].peer.as_ref() else {
            return;
        };
        let Some(at) = p.next_timeout() else { return };
        let at = at.max(self.now).max(self.nodes[idx].stall_until);
        let slot = &mut self.nodes[idx];
        if slot.timer.is_some_and(|(t, _)| t == at) {
            return;
        }
        slot.generation += 1;
        let generation = slot.generation;
        slot.timer = Some((at, generation));
        self.push(
            at,
            Ev::Timer {
                node: idx,
                generation,
            },
        );
    }

    fn act(&mut self, from: Idx, act: Act) {
        match act {
            Act::Send { to, bytes } => {
                self.traffic[from].msgs_out += 1;
                self.traffic[from].bytes_out += bytes.len() as u64;
                let Some(conn) = self.conns.get(&key(from, to)).copied() else {
                    return;
                };
                if !conn.open {
                    return;
                }
                if !self.reachable(from, to) || self.lost() {
                    self.dropped += 1;
                    return;
                }
                let at = self.now + self.latency(from, to);
                self.push(
                    at,
                    Ev::Deliver {
                        from,
                        to,
                        bytes,
                        epoch: conn.epoch,
                    },
                );
            }
            Act::Datagram { to, bytes } => {
                self.traffic[from].msgs_out += 1;
                self.traffic[from].bytes_out += bytes.len() as u64;
                if to >= self.nodes.len() || !self.reachable(from, to) || self.lost() {
                    self.dropped += 1;
                    return;
                }
                let at = self.now + self.latency(from, to);
                self.push(at, Ev::Datagram { from, to, bytes });
            }
            Act::Dial(to) => {
                if to >= self.nodes.len() || to == from {
                    let life = self.nodes[from].life;
                    self.push(
                        self.now,
                        Ev::DialFailed {
                            node: from,
                            peer: to,
                            life,
                        },
                    );
                    return;
                }
                if let Some(c) = self.conns.get(&key(from, to)).copied() {
                    if c.lives == self.lives(from, to) {
                        return; // glare or duplicate: the existing connection serves both
                    }
                    // A connection from a previous life of one side: the survivor learns
                    // that it closed, then the new dial proceeds.
                    self.conns.remove(&key(from, to));
                    if c.open && self.is_up(to) {
                        self.deliver(to, Input::Disconnected(from));
                    }
                }
                let life = self.nodes[from].life;
                if !self.is_up(to) {
                    let at = self.now + self.net.dial_fail_dead_ms;
                    self.push(
                        at,
                        Ev::DialFailed {
                            node: from,
                            peer: to,
                            life,
                        },
                    );
                } else if self.partition[from] != self.partition[to] {
                    let at = self.now + self.net.dial_fail_partition_ms;
                    self.push(
                        at,
                        Ev::DialFailed {
                            node: from,
                            peer: to,
                            life,
                        },
                    );
                } else {
                    self.epoch += 1;
                    let epoch = self.epoch;
                    let lives = self.lives(from, to);
                    self.conns.insert(
                        key(from, to),
                        Conn {
                            epoch,
                            open: false,
                            lives,
                        },
                    );
                    let at = self.now + 2 * self.latency(from, to) * self.net.dial_round_trips;
                    self.push(
                        at,
                        Ev::Connected {
                            a: from,
                            b: to,
                            epoch,
                        },
                    );
                }
            }
            Act::Hangup(to) => {
                if let Some(conn) = self.conns.remove(&key(from, to)) {
                    if conn.open || self.is_up(to) {
                        // Messages already sent still arrive; the close comes after them.
                        self.closing.insert(conn.epoch);
                        let at = self.now + self.latency(from, to);
                        self.push(
                            at,
                            Ev::Closed {
                                node: to,
                                peer: from,
                                epoch: conn.epoch,
                            },
                        );
                    }
                    if !conn.open {
                        // The dial never completed: the dialer (whichever side) learns of it.
                        let life = self.nodes[to].life;
                        self.push(
                            self.now,
                            Ev::DialFailed {
                                node: to,
                                peer: from,
                                life,
                            },
                        );
                    }
                }
            }
        }
    }

    fn lives(&self, a: Idx, b: Idx) -> (u64, u64) {
        let (x, y) = key(a, b);
        (self.nodes[x].life, self.nodes[y].life)
    }

    fn lost(&mut self) -> bool {
        self.net.loss > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < self.net.loss
    }

    fn deliver(&mut self, idx: Idx, input: Input<'_>) {
        let now = self.now;
        let (mut acts, mut seen) = (Vec::new(), Vec::new());
        let Some(p) = self.nodes[idx].peer.as_mut() else {
            return;
        };
        p.handle(input, now, &mut acts, &mut seen);
        self.after(idx, acts, seen);
    }

    /// Processes events until simulated time `until` (ms); returns events processed.
    pub fn run_until(&mut self, until: u64) -> u64 {
        let mut n = 0;
        while let Some(&Reverse((at, seq))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            n += 1;
            let ev = self.events.remove(&seq).expect("queued event");
            self.process(ev);
        }
        self.now = until;
        n
    }

    /// Processes events for `ms` more simulated milliseconds.
    pub fn run_for(&mut self, ms: u64) -> u64 {
        let until = self.now + ms;
        self.run_until(until)
    }

    fn process(&mut self, ev: Ev) {
        if let Ev::Deliver { to, .. } | Ev::Datagram { to, .. } = &ev {
            let until = self.nodes[*to].frozen_until;
            if self.now < until {
                self.push(until, ev);
                return;
            }
        }
        match ev {
            Ev::Deliver {
                from,
                to,
                bytes,
                epoch,
            } => {
                let ok = self
                    .conns
                    .get(&key(from, to))
                    .is_some_and(|c| c.open && c.epoch == epoch)
                    || self.closing.contains(&epoch);
                if ok && self.is_up(to) && self.partition[from] == self.partition[to] {
                    self.delivered += 1;
                    self.deliver(
                        to,
                        Input::Message {
                            from,
                            bytes: &bytes,
                        },
                    );
                } else {
                    self.dropped += 1;
                }
            }
            Ev::Datagram { from, to, bytes } => {
                if self.is_up(to) {
                    self.delivered += 1;
                    self.deliver(
                        to,
                        Input::Message {
                            from,
                            bytes: &bytes,
                        },
                    );
                }
            }
            Ev::Connected { a, b, epoch } => {
                let current = self.conns.get(&key(a, b)).is_some_and(|c| c.epoch == epoch);
                if !current {
                    return;
                }
                if !self.reachable(a, b) {
                    self.conns.remove(&key(a, b));
                    let life = self.nodes[a].life;
                    self.push(
                        self.now,
                        Ev::DialFailed {
                            node: a,
                            peer: b,
                            life,
                        },
                    );
                    return;
                }
                let lives = self.lives(a, b);
                self.conns.insert(
                    key(a, b),
                    Conn {
                        epoch,
                        open: true,
                        lives,
                    },
                );
                self.deliver(a, Input::Connected(b));
                self.deliver(b, Input::Connected(a));
            }
            Ev::DialFailed { node, peer, life } => {
                if self.nodes[node].life == life {
                    self.deliver(node, Input::DialFailed(peer));
                }
            }
            Ev::Closed { node, peer, epoch } => {
                self.closing.remove(&epoch);
                self.deliver(node, Input::Disconnected(peer));
            }
            Ev::SilentCheck { a, b, epoch } => {
                let same = self.conns.get(&(a, b)).is_some_and(|c| c.epoch == epoch);
                if same && !self.reachable(a, b) {
                    self.conns.remove(&(a, b));
                    for (x, y) in [(a, b), (b, a)] {
                        if self.is_up(x) {
                            self.deliver(x, Input::Disconnected(y));
                        }
                    }
                }
            }
            Ev::Timer { node, generation } => {
                let slot = &mut self.nodes[node];
                if slot.timer.is_some_and(|(_, g)| g == generation) {
                    slot.timer = None;
                    self.deliver(node, Input::Timeout);
                }
            }
        }
    }
}
