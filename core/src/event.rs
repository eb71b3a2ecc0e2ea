//! What the node hands back to its driver: [`Output`]s, among them application [`Event`]s.

use alloc::string::String;
use alloc::vec::Vec;

use crate::identity::PeerId;
use crate::membership::Member;
use crate::time::Instant;

/// Something the driver must do, or learn, after a `handle_*` call or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` over the open connection to `to`.
    Transmit {
        /// The neighbor to send to.
        to: PeerId,
        /// One encoded message (at most the configured maximum message size).
        bytes: Vec<u8>,
    },
    /// Open a connection to this peer, then call `handle_connected` or `handle_dial_failed`.
    Dial(PeerId),
    /// Close the connection to this peer after sending what was queued for it.
    Hangup(PeerId),
    /// Something the application may want to know.
    Event(Event),
    /// Nothing more to do now: call `handle_timeout` at this instant (one timer suffices).
    Timeout(Instant),
}

/// What the application is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member is now alive in this node's view (new, or back after failing or leaving).
    MemberJoined(Member),
    /// An alive member changed its metadata (`keys` lists the changed keys) or refuted a suspicion.
    MemberUpdated {
        /// The member as it is now.
        member: Member,
        /// Metadata keys whose value changed.
        keys: Vec<String>,
    },
    /// Someone lost contact with this member; it fails unless it refutes in time.
    MemberSuspected(PeerId),
    /// A member left gracefully.
    MemberLeft(PeerId),
    /// A member was declared failed.
    MemberFailed(PeerId),
    /// A message published on a topic this node subscribes to (delivered once per message).
    Message {
        /// The topic.
        topic: String,
        /// The member that published it.
        from: PeerId,
        /// The publisher's sequence number for it (of its first chunk, if it was split).
        seq: u64,
        /// The payload, reassembled if it was split.
        data: Vec<u8>,
        /// Overlay hops it travelled to reach this node.
        hops: u16,
    },
    /// A direct message [`crate::Node::send`] by `from` to this node.
    Direct {
        /// The sender.
        from: PeerId,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// A request from `from`: answer with [`crate::Node::respond`]`(from, id, ..)`.
    Request {
        /// The requester.
        from: PeerId,
        /// The request's id, to pass back in the response.
        id: u64,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The response to this node's request `id`.
    Response {
        /// The member that answered.
        from: PeerId,
        /// The id [`crate::Node::request`] returned.
        id: u64,
        /// The answer.
        data: Vec<u8>,
    },
    /// The target acknowledged direct message `id` (from [`crate::Node::send`]).
    Delivered {
        /// The target.
        to: PeerId,
        /// The id `send` returned.
        id: u64,
    },
    /// No acknowledgement (for a send) or response (for a request) came back within
    /// `DirectConfig::timeout`: the target is gone or unreachable. Nothing more will come.
    DirectFailed {
        /// The target.
        to: PeerId,
        /// The id `send` or `request` returned.
        id: u64,
    },
    /// The leader (lowest id among live members that are candidates) changed; `None` when
    /// no live member is a candidate.
    LeaderChanged(Option<PeerId>),
    /// A connection to this peer became part of the active view.
    NeighborUp(PeerId),
    /// This peer is no longer an active neighbor.
    NeighborDown(PeerId),
}
