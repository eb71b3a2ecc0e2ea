//! A few real nodes connected by hand, with crafted broadcast messages: the harness of
//! the broadcast bad-input tests (broadcast_bad_input.rs, broadcast_repair_input.rs).

use core::time::Duration;

use rumor_core::wire::{decode, encode, Gossip, Message, MsgId, Part};
use rumor_core::{Config, Event, HandleError, Identity, Instant, Node, Output, PeerId};

pub const STEP: Duration = Duration::from_millis(50);
pub const KIB: usize = 1024;

pub fn ident(n: u8) -> Identity {
    Identity::from_secret([n; 32])
}

/// An origin that is not part of the network: messages "from" it are crafted by the tests.
pub fn stranger() -> PeerId {
    ident(99).id()
}

pub fn id(origin: PeerId, seq: u64) -> MsgId {
    MsgId { origin, seq }
}

pub fn gossip(origin: PeerId, seq: u64, topic: &str, data: &[u8]) -> Gossip {
    Gossip {
        id: id(origin, seq),
        round: 0,
        topic: topic.into(),
        part: None,
        data: data.to_vec(),
    }
}

pub fn chunk(origin: PeerId, seq: u64, part: Part, topic: &str, data: &[u8]) -> Gossip {
    Gossip {
        part: Some(part),
        ..gossip(origin, seq, topic, data)
    }
}

pub fn part(first: u64, index: u16, count: u16) -> Part {
    Part {
        first,
        index,
        count,
    }
}

/// `n` announcements of distinct ids of `origin`, from `from_seq` on.
pub fn ihave(origin: PeerId, from_seq: u64, n: usize) -> Message {
    Message::IHave {
        ids: (0..n as u64)
            .map(|i| (id(origin, from_seq + i), 1))
            .collect(),
    }
}

/// One frame a node sent, as routed by [`Net`].
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub from: usize,
    pub to: usize,
    pub len: usize,
    pub msg: Message,
}

/// A few real nodes connected by hand. Node 0 is the hub every other node joins through;
/// with `star`, connections between other nodes are refused (their dials fail), so the
/// topology stays a star and every crafted message takes the path the test intends.
pub struct Net {
    pub nodes: Vec<Node>,
    pub ids: Vec<PeerId>,
    pub now: Instant,
    pub star: bool,
    pub logs: Vec<Vec<Event>>,
    pub sent: Vec<Sent>,
    /// Frames over the sender's `max_message_size`: logged in `sent`, never delivered.
    pub oversized: Vec<Sent>,
}

impl Net {
    pub fn star(n: usize) -> Net {
        Net::new(n, Config::default(), true)
    }

    pub fn new(n: usize, config: Config, star: bool) -> Net {
        let now = Instant::from_millis(1_000);
        let nodes: Vec<Node> = (0..n)
            .map(|i| Node::new(ident(i as u8 + 1), config.clone(), 100 + i as u64, now))
            .collect();
        let ids = nodes.iter().map(|n| n.id()).collect();
        let mut net = Net {
            nodes,
            ids,
            now,
            star,
            logs: vec![Vec::new(); n],
            sent: Vec::new(),
            oversized: Vec::new(),
        };
        net.nodes[0].join(vec![], now);
        for i in 1..n {
            let hub = net.ids[0];
            net.nodes[i].join(vec![hub], now);
            net.pump();
        }
        for i in 1..n {
            assert!(
                net.nodes[0].neighbors().contains(&net.ids[i]),
                "hub lists node {i}"
            );
            assert!(
                net.nodes[i].neighbors().contains(&net.ids[0]),
                "node {i} lists hub"
            );
        }
        net
    }

    pub fn idx(&self, p: PeerId) -> Option<usize> {
        self.ids.iter().position(|x| *x == p)
    }

    pub fn drain(&mut self, i: usize) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.nodes[i].poll_output() {
            if matches!(o, Output::Timeout(_)) {
                break;
            }
            out.push(o);
        }
        out
    }

    /// Plays the driver for node `from`'s outputs.
    pub fn route(&mut self, from: usize, outs: Vec<Output>) {
        let (fid, now) = (self.ids[from], self.now);
        for out in outs {
            match out {
                Output::Transmit { to, bytes } => {
                    let j = self.idx(to).expect("nodes only send to nodes of the net");
                    let msg = decode(&bytes, usize::MAX).expect("a node's own frames decode");
                    let s = Sent {
                        at: now,
                        from,
                        to: j,
                        len: bytes.len(),
                        msg,
                    };
                    self.sent.push(s.clone());
                    if bytes.len() > self.nodes[from].config().limits.max_message_size {
                        self.oversized.push(s);
                        continue;
                    }
                    match self.nodes[j].handle_message(fid, &bytes, now) {
                        Ok(()) | Err(HandleError::UnknownPeer(_)) => {}
                        Err(e) => panic!("node {j} refused a frame of node {from}: {e}"),
                    }
                }
                Output::Dial(p) => match self.idx(p) {
                    Some(j) if !self.star || from == 0 || j == 0 => {
                        self.nodes[from].handle_connected(p, now);
                        self.nodes[j].handle_connected(fid, now);
                    }
                    _ => self.nodes[from].handle_dial_failed(p, now),
                },
                Output::Hangup(p) => {
                    if let Some(j) = self.idx(p) {
                        self.nodes[j].handle_disconnected(fid, now);
                    }
                    self.nodes[from].handle_disconnected(p, now);
                }
                Output::Event(e) => self.logs[from].push(e),
                Output::Timeout(_) => {}
            }
        }
    }

    /// Shuttles outputs between the nodes until all are quiet.
    pub fn pump(&mut self) {
        for _ in 0..1_000 {
            let mut quiet = true;
            for i in 0..self.nodes.len() {
                let outs = self.drain(i);
                if !outs.is_empty() {
                    quiet = false;
                    self.route(i, outs);
                }
            }
            if quiet {
                return;
            }
        }
        panic!("the net did not go quiet");
    }

    /// Moves the clock forward in steps of 50 ms, firing every node's timer at each step.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while self.now < target {
            self.now = (self.now + STEP).min(target);
            for i in 0..self.nodes.len() {
                let now = self.now;
                self.nodes[i].handle_timeout(now);
            }
            self.pump();
        }
    }

    /// Node `to` receives `msg` as if node `from` had sent it; returns what `to` output
    /// right away (which is then routed as usual).
    pub fn inject(&mut self, from: usize, to: usize, msg: &Message) -> Vec<Output> {
        let bytes = encode(msg);
        let fid = self.ids[from];
        let now = self.now;
        self.nodes[to]
            .handle_message(fid, &bytes, now)
            .expect("the crafted message decodes");
        let outs = self.drain(to);
        self.route(to, outs.clone());
        self.pump();
        outs
    }

    /// Application messages node `i` received: (topic, origin, seq, data).
    pub fn delivered(&self, i: usize) -> Vec<(String, PeerId, u64, Vec<u8>)> {
        self.logs[i]
            .iter()
            .filter_map(|e| match e {
                Event::Message {
                    topic,
                    from,
                    seq,
                    data,
                    ..
                } => Some((topic.clone(), *from, *seq, data.clone())),
                _ => None,
            })
            .collect()
    }

    /// Frames node `from` sent to node `to`.
    pub fn frames(&self, from: usize, to: usize) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|s| s.from == from && s.to == to)
            .collect()
    }

    /// Ids node `from` grafted from node `to`, one list per Graft frame.
    pub fn grafts(&self, from: usize, to: usize) -> Vec<Vec<MsgId>> {
        self.frames(from, to)
            .into_iter()
            .filter_map(|s| match &s.msg {
                Message::Graft { ids } => Some(ids.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn stats(&self, i: usize) -> rumor_core::Stats {
        self.nodes[i].stats().clone()
    }
}

pub fn transmits(outs: &[Output]) -> Vec<(PeerId, Message)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit { to, bytes } => Some((*to, decode(bytes, usize::MAX).unwrap())),
            _ => None,
        })
        .collect()
}

pub fn is_gossip(m: &Message) -> bool {
    matches!(m, Message::Gossip(_))
}

pub fn ihave_ids(m: &Message) -> Vec<MsgId> {
    match m {
        Message::IHave { ids } => ids.iter().map(|(i, _)| *i).collect(),
        _ => Vec::new(),
    }
}

pub const B: usize = 0;
pub const A: usize = 1;
pub const C: usize = 2;
