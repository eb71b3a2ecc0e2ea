//! Two real nodes connected by hand, played by the test as their driver: the harness of
//! the membership bad-input tests (bad_input_wire.rs, bad_input_records.rs).

use rumor_core::record::{record_with_meta, Claim, Entry, SignedRecord};
use rumor_core::wire::{encode, Message};
use rumor_core::{
    Config, Event, HandleError, Identity, Instant, Member, MemberState, Node, Output, PeerId, Stats,
};

pub const LIMIT: usize = 16 * 1024;

pub fn ident(n: u8) -> Identity {
    Identity::from_secret([n; 32])
}

/// An entry for `owner`, signed by it; all metadata keys at `ver`.
pub fn entry(owner: &Identity, inc: u64, ver: u64, meta: &[(&str, &str)], claim: Claim) -> Entry {
    Entry {
        signed: SignedRecord::sign(record_with_meta(owner.id(), inc, ver, meta), owner).into(),
        claim,
    }
}

/// A record claiming to be `id`'s, signed by someone else.
pub fn forged(id: PeerId, signer: &Identity, inc: u64, ver: u64, meta: &[(&str, &str)]) -> Entry {
    Entry {
        signed: SignedRecord::sign(record_with_meta(id, inc, ver, meta), signer).into(),
        claim: Claim::Alive,
    }
}

/// What one drain of a node produced, in kinds, up to its `Timeout` (`None` after leave).
#[derive(Debug, Default)]
pub struct Drained {
    pub outputs: Vec<Output>,
    pub timeout: Option<Instant>,
}

impl Drained {
    pub fn events(&self) -> Vec<&Event> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    pub fn transmits(&self) -> Vec<(PeerId, &[u8])> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Transmit { to, bytes } => Some((*to, bytes.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// Only the `Timeout` came out.
    pub fn is_quiet(&self) -> bool {
        self.outputs.is_empty()
    }
}

pub fn drain(node: &mut Node) -> Drained {
    let mut d = Drained::default();
    while let Some(out) = node.poll_output() {
        if let Output::Timeout(at) = out {
            d.timeout = Some(at);
            break;
        }
        d.outputs.push(out);
    }
    d
}

/// Membership events (not neighbor events).
pub fn member_events(events: &[&Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::MemberJoined(_)
                    | Event::MemberUpdated { .. }
                    | Event::MemberSuspected(_)
                    | Event::MemberLeft(_)
                    | Event::MemberFailed(_)
            )
        })
        .count()
}

/// The node's observable state.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub members: Vec<Member>,
    pub neighbors: Vec<PeerId>,
    pub passive: Vec<PeerId>,
    pub stats: Stats,
}

pub fn snap(n: &Node) -> Snapshot {
    Snapshot {
        members: n.members(),
        neighbors: n.neighbors(),
        passive: n.passive_view(),
        stats: n.stats().clone(),
    }
}

/// Two nodes connected by hand: `a` joined through `b`.
pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub ib: Identity,
    pub now: Instant,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
}

impl Pair {
    pub fn new() -> Pair {
        Pair::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Pair {
        let (ia, ib) = (ident(1), ident(2));
        let now = Instant::from_millis(1_000);
        let mut a = Node::new(ia, config.clone(), 11, now);
        let mut b = Node::new(ib.clone(), config, 22, now);
        b.join(vec![], now);
        a.join(vec![b.id()], now);
        let mut p = Pair {
            a,
            b,
            ib,
            now,
            events_a: Vec::new(),
            events_b: Vec::new(),
        };
        p.pump();
        assert_eq!(p.a.neighbors(), vec![p.b.id()], "a lists b as neighbor");
        assert_eq!(p.b.neighbors(), vec![p.a.id()], "b lists a as neighbor");
        assert_eq!(p.a.member(&p.b.id()).unwrap().state, MemberState::Alive);
        assert_eq!(p.b.member(&p.a.id()).unwrap().state, MemberState::Alive);
        let (ida, idb) = (p.a.id(), p.b.id());
        let up_and_joined = |log: &[Event], other: PeerId| {
            log.contains(&Event::NeighborUp(other))
                && log
                    .iter()
                    .any(|e| matches!(e, Event::MemberJoined(m) if m.id == other))
        };
        assert!(up_and_joined(&p.events_a, idb), "a: {:?}", p.events_a);
        assert!(up_and_joined(&p.events_b, ida), "b: {:?}", p.events_b);
        p
    }

    /// Shuttles outputs between the two nodes at `now` until both are quiet.
    pub fn pump(&mut self) {
        for _ in 0..100 {
            let da = drain(&mut self.a);
            let db = drain(&mut self.b);
            if da.is_quiet() && db.is_quiet() {
                return;
            }
            deliver(&mut self.a, &mut self.b, da, self.now, &mut self.events_a);
            deliver(&mut self.b, &mut self.a, db, self.now, &mut self.events_b);
        }
        panic!("the pair did not go quiet");
    }

    /// Like `pump`, but first lets both nodes send what commands queued: `set_meta` only
    /// queues its push, which goes out with the next input, so give each an (early,
    /// harmless) timer call.
    pub fn settle(&mut self) {
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.pump();
    }

    /// `a` sends `msg` to `b` (crafted by the test); returns the result and b's outputs.
    pub fn send_to_b(&mut self, msg: &Message) -> (Result<(), HandleError>, Drained) {
        let bytes = encode(msg);
        self.send_raw_to_b(&bytes)
    }

    pub fn send_raw_to_b(&mut self, bytes: &[u8]) -> (Result<(), HandleError>, Drained) {
        let r = self.b.handle_message(self.a.id(), bytes, self.now);
        (r, drain(&mut self.b))
    }
}

/// Plays the driver for `from`'s outputs, `to` being the only other node.
pub fn deliver(from: &mut Node, to: &mut Node, d: Drained, now: Instant, log: &mut Vec<Event>) {
    let max = from.config().limits.max_message_size;
    for out in d.outputs {
        match out {
            Output::Transmit { to: p, bytes } if p == to.id() => {
                assert!(
                    bytes.len() <= max,
                    "{} sent {} bytes, over the {max}-byte message limit",
                    from.id(),
                    bytes.len()
                );
                to.handle_message(from.id(), &bytes, now)
                    .expect("a node's own messages are accepted by its peer");
            }
            Output::Dial(p) if p == to.id() => {
                from.handle_connected(p, now);
                to.handle_connected(from.id(), now);
            }
            Output::Dial(p) => from.handle_dial_failed(p, now),
            Output::Hangup(p) if p == to.id() => {
                to.handle_disconnected(from.id(), now);
                from.handle_disconnected(p, now);
            }
            Output::Event(e) => log.push(e),
            _ => {}
        }
    }
}

pub fn is_decode(r: &Result<(), HandleError>) -> bool {
    matches!(r, Err(HandleError::Decode(_)))
}
