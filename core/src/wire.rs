//! The wire format: one [`Message`] enum behind a version byte, encoded with postcard.
//!
//! `encode` and `decode` and nothing else; protocol logic only ever sees typed messages.
//! docs/protocol.md describes every message.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::identity::PeerId;
use crate::record::{Digest, Entry};

/// The protocol version written in front of every message.
pub const PROTOCOL_VERSION: u8 = 1;

/// Why a connection was opened; sent by the dialer as its first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intent {
    /// A new node entering through this contact (HyParView JOIN); always accepted.
    Join,
    /// Asks to become an active neighbor. `high` is set when the asker has no neighbor at
    /// all, and must then be accepted (HyParView NEIGHBOR with priority).
    Neighbor {
        /// Accept even if the active view is full.
        high: bool,
    },
    /// Only checks that the callee is alive; it answers and the dialer hangs up.
    Probe,
}

/// A broadcast message's identity: its origin and the origin's sequence number.
/// Sending the same bytes twice gives two ids and two deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId {
    /// The member that published it.
    pub origin: PeerId,
    /// The origin's sequence number, counting from 1.
    pub seq: u64,
}

/// Where a chunk sits in a payload that was split across several messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Sequence number of the first chunk; chunk `index` has sequence `first + index`.
    pub first: u64,
    /// This chunk's position, from 0.
    pub index: u16,
    /// Number of chunks in the payload.
    pub count: u16,
}

/// One broadcast message (or one chunk of a large one) as it travels the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gossip {
    /// Origin and sequence number.
    pub id: MsgId,
    /// Hops from the origin so far.
    pub round: u16,
    /// The topic it was published on.
    pub topic: String,
    /// Set when the payload was split into chunks.
    pub part: Option<Part>,
    /// The payload (or this chunk of it).
    pub data: Vec<u8>,
}

/// Every message peers exchange over a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// First message from the dialer: why it connected.
    Hello {
        /// What the dialer wants.
        intent: Intent,
    },
    /// The callee's answer to [`Message::Hello`]. When not accepted the dialer hangs up.
    Welcome {
        /// True when the callee added the dialer to its active view.
        accepted: bool,
    },
    /// HyParView FORWARDJOIN: a random walk announcing a new node.
    ForwardJoin {
        /// The node that joined.
        joiner: PeerId,
        /// Hops left.
        ttl: u8,
    },
    /// The sender drops this connection on purpose; the receiver must not suspect it.
    Disconnect {
        /// True when the sender is leaving the group altogether.
        leaving: bool,
    },
    /// HyParView SHUFFLE: a random walk carrying a sample of the origin's views.
    Shuffle {
        /// Nodes the walk went through, starting with its origin; the reply retraces it.
        path: Vec<PeerId>,
        /// Hops left.
        ttl: u8,
        /// The sample.
        peers: Vec<PeerId>,
    },
    /// HyParView SHUFFLEREPLY, retracing the walk back to its origin.
    ShuffleReply {
        /// Hops still to go back; empty when it reached the origin.
        route: Vec<PeerId>,
        /// The answering node's sample.
        peers: Vec<PeerId>,
    },
    /// The sender's active view, so neighbors can repair around it if it fails.
    Views {
        /// The sender's current active neighbors.
        active: Vec<PeerId>,
    },
    /// Liveness check of a neighbor that has been silent.
    Ping {
        /// Echoed in the pong.
        nonce: u32,
    },
    /// Answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u32,
    },
    /// Pushed fresh membership changes (records and liveness claims).
    Update {
        /// The changed entries.
        entries: Vec<Entry>,
    },
    /// Anti-entropy, step 1: the summary of the sender's whole member table.
    SyncRoot {
        /// Sum of all bucket hashes.
        hash: u64,
        /// Number of members (alive and tombstoned).
        count: u32,
    },
    /// Anti-entropy, step 2: the roots differ, so here are my per-bucket hashes.
    SyncBuckets {
        /// One hash per bucket.
        hashes: Vec<u64>,
    },
    /// Anti-entropy, step 3: my digests for the buckets that differ.
    SyncDigest {
        /// Bit i set = bucket i is covered by this message in full.
        buckets: u64,
        /// One digest per member in those buckets.
        digests: Vec<Digest>,
    },
    /// Anti-entropy, step 4: entries the other side lacks, and ids whose entries I lack.
    SyncDelta {
        /// Entries newer here than on the receiver.
        entries: Vec<Entry>,
        /// Members whose entries the sender wants.
        want: Vec<PeerId>,
    },
    /// Plumtree eager push: a broadcast message along the tree.
    Gossip(Gossip),
    /// Plumtree lazy push (and periodic pull): ids the sender holds, with their rounds.
    IHave {
        /// Announced messages and the round each would have at the receiver.
        ids: Vec<(MsgId, u16)>,
    },
    /// Plumtree GRAFT: send me these messages, and make our link part of the tree.
    Graft {
        /// The messages wanted.
        ids: Vec<MsgId>,
    },
    /// Plumtree PRUNE: I received a duplicate from you; for messages from `origin`,
    /// announce lazily to me from now on.
    Prune {
        /// Whose messages the pruning is about (each origin can have its own tree).
        origin: PeerId,
    },
    /// The optimization's graft without a message: push messages from `origin` to me
    /// eagerly from now on (I found a shorter path through you).
    Adopt {
        /// Whose messages.
        origin: PeerId,
    },
    /// Asks a neighbor for the recent messages of a topic.
    HistoryRequest {
        /// The topic.
        topic: String,
        /// Only messages the neighbor received at most this long ago.
        max_age_ms: u64,
    },
    /// Answer to a history request: delivered if unseen, never forwarded.
    History {
        /// The messages (chunks included), oldest first.
        messages: Vec<Gossip>,
    },
    /// A direct message on its way to one member, possibly through others.
    Routed(Routed),
    /// Application state sync: the sender's pull request (opaque to Rumor).
    StatePull {
        /// What the application produced (e.g. a digest of its state).
        data: Vec<u8>,
    },
    /// Application state sync: the answer to a [`Message::StatePull`].
    StatePush {
        /// What the application answered.
        data: Vec<u8>,
    },
    /// A random walk looking for a member with room in its active view, on behalf of a
    /// member short of neighbors: the first node with room dials the seeker, so no
    /// connection is set up just to be refused.
    FindSlot {
        /// The member short of neighbors.
        seeker: PeerId,
        /// Hops left.
        ttl: u8,
    },
    /// The sender drops this connection to make room for `successor`, a new neighbor that
    /// has room for more: the receiver may connect to it instead (so the link the sender
    /// dropped is split in two rather than lost). Sent instead of `Disconnect { leaving:
    /// false }`, just before the hang-up.
    Evict {
        /// The neighbor taken in, whom the evicted one may dial.
        successor: PeerId,
    },
}

/// A direct message addressed to one member; relayed hop by hop over the overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// The member that sent it.
    pub origin: PeerId,
    /// The member it is for.
    pub target: PeerId,
    /// Unique among the origin's routed messages.
    pub id: u64,
    /// 0 for the first transmission, counted up by each retransmission of a send or
    /// request that got no answer in time. Copies with the same (origin, id, attempt) are
    /// dropped; a retransmission floods, and its target delivers it only once.
    pub attempt: u8,
    /// Flooding hops left, for when no neighbor knows a path to the target.
    pub ttl: u8,
    /// What it carries.
    pub body: RoutedBody,
}

/// The content of a [`Routed`] message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoutedBody {
    /// Application bytes from `send`; the target answers with [`RoutedBody::Ack`].
    Send(Vec<u8>),
    /// The target got the `Send` with this id.
    Ack {
        /// The id of the acknowledged `Send`.
        of: u64,
    },
    /// Application bytes from `request`; the target's application answers.
    Request(Vec<u8>),
    /// The answer to a request.
    Response {
        /// The id of the request answered.
        request: u64,
        /// The application's answer.
        data: Vec<u8>,
    },
}

/// Why bytes could not be decoded. In every case the node's state was left untouched.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes arrived; state untouched.
    #[error("empty message (state untouched)")]
    Empty,
    /// The version byte names a protocol this build does not speak; state untouched.
    #[error(
        "unsupported protocol version {0}, this build speaks {PROTOCOL_VERSION} (state untouched)"
    )]
    UnsupportedVersion(u8),
    /// The message is larger than the configured maximum; state untouched.
    #[error("message of {0} bytes exceeds the size limit (state untouched)")]
    TooLarge(usize),
    /// The bytes are not a valid message; state untouched.
    #[error("malformed message: {0} (state untouched)")]
    Malformed(#[from] postcard::Error),
    /// A valid message followed by extra bytes; state untouched.
    #[error("{0} trailing bytes after the message (state untouched)")]
    Trailing(usize),
}

/// Encodes `msg` with the version byte in front.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(PROTOCOL_VERSION);
    // Not `expect`, as in `SignedRecord::sign`.
    postcard::to_extend(msg, out)
        .unwrap_or_else(|_| unreachable!("encoding into a Vec cannot fail"))
}

/// Decodes one message, refusing anything over `max_len` bytes.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<Message, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let (msg, rest) = postcard::take_from_bytes::<Message>(body)?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;

    use super::*;
    use crate::identity::Identity;
    use crate::record::{record_with_meta, Claim, SignedRecord};
    use proptest::prelude::*;

    fn sample_messages() -> Vec<Message> {
        let id = Identity::from_secret([5; 32]);
        let entry = Entry {
            signed: Arc::new(SignedRecord::sign(
                record_with_meta(id.id(), 2, 7, &[("name", "x")]),
                &id,
            )),
            claim: Claim::Suspect { by: id.id() },
        };
        let gossip = Gossip {
            id: MsgId {
                origin: id.id(),
                seq: 9,
            },
            round: 2,
            topic: "chat".into(),
            part: Some(Part {
                first: 8,
                index: 1,
                count: 3,
            }),
            data: vec![1, 2, 3],
        };
        vec![
            Message::Hello {
                intent: Intent::Neighbor { high: true },
            },
            Message::Welcome { accepted: false },
            Message::ForwardJoin {
                joiner: id.id(),
                ttl: 6,
            },
            Message::Disconnect { leaving: true },
            Message::Shuffle {
                path: vec![id.id()],
                ttl: 3,
                peers: vec![id.id(); 3],
            },
            Message::ShuffleReply {
                route: vec![],
                peers: vec![id.id()],
            },
            Message::Views {
                active: vec![id.id()],
            },
            Message::Ping { nonce: 9 },
            Message::Pong { nonce: 9 },
            Message::Update {
                entries: vec![entry.clone()],
            },
            Message::SyncRoot {
                hash: u64::MAX,
                count: 3,
            },
            Message::SyncBuckets {
                hashes: vec![1, 2, 3],
            },
            Message::SyncDigest {
                buckets: 0b101,
                digests: vec![entry.digest()],
            },
            Message::SyncDelta {
                entries: vec![entry],
                want: vec![id.id()],
            },
            Message::Gossip(gossip.clone()),
            Message::IHave {
                ids: vec![(gossip.id, 3)],
            },
            Message::Graft {
                ids: vec![gossip.id],
            },
            Message::Prune { origin: id.id() },
            Message::Adopt { origin: id.id() },
            Message::HistoryRequest {
                topic: "chat".into(),
                max_age_ms: 60_000,
            },
            Message::History {
                messages: vec![gossip],
            },
            Message::Evict { successor: id.id() },
            Message::FindSlot {
                seeker: id.id(),
                ttl: 6,
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for msg in sample_messages() {
            let bytes = encode(&msg);
            assert_eq!(decode(&bytes, 16 * 1024).unwrap(), msg);
        }
    }

    #[test]
    fn framing_errors_are_typed() {
        assert!(matches!(decode(&[], 100), Err(DecodeError::Empty)));
        assert!(matches!(
            decode(&[2, 0], 100),
            Err(DecodeError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            decode(&[1; 200], 100),
            Err(DecodeError::TooLarge(200))
        ));
        let mut bytes = encode(&Message::Ping { nonce: 1 });
        bytes.push(0);
        assert!(matches!(decode(&bytes, 100), Err(DecodeError::Trailing(1))));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, 16 * 1024);
        }

        #[test]
        fn decode_never_panics_after_version(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut framed = vec![PROTOCOL_VERSION];
            framed.extend(bytes);
            let _ = decode(&framed, 16 * 1024);
        }

        #[test]
        fn round_trip_ping_and_sync(nonce in any::<u32>(), hash in any::<u64>(), count in any::<u32>()) {
            for msg in [Message::Ping { nonce }, Message::Pong { nonce }, Message::SyncRoot { hash, count }] {
                prop_assert_eq!(decode(&encode(&msg), 1024).unwrap(), msg);
            }
        }
    }
}
