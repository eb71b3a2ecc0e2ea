//! Counters of what a node did and what it refused.

/// Monotonic counters, readable at any time with [`crate::Node::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages decoded successfully.
    pub messages_in: u64,
    /// Messages queued for sending.
    pub messages_out: u64,
    /// Bytes of decoded messages.
    pub bytes_in: u64,
    /// Bytes queued for sending.
    pub bytes_out: u64,
    /// Inputs that failed to decode (state untouched).
    pub decode_errors: u64,
    /// Messages from peers with no connection (ignored).
    pub unknown_peer: u64,
    /// Messages not allowed in the connection's state (ignored).
    pub unexpected_messages: u64,
    /// Records whose signature did not verify (dropped).
    pub bad_signatures: u64,
    /// Records over a size limit (dropped).
    pub rejected_records: u64,
    /// News of members beyond `max_members` (dropped).
    pub members_over_limit: u64,
    /// Times this node raised its incarnation to refute a claim about itself.
    pub refutations: u64,
    /// Late timers taken as a stall of this node.
    pub stalls: u64,
    /// Connections this node asked its driver to open (each one a WebRTC handshake in a
    /// browser).
    pub dials: u64,
    /// Of those, dials that ended without a neighbor exchange: the connection failed,
    /// timed out (`dial_timeout`, `hello_timeout`) or closed before the callee answered.
    pub dial_failures: u64,
    /// Of those, dials whose connection opened but brought no `Welcome` within
    /// `hello_timeout` (the rest failed to connect at all).
    pub welcome_timeouts: u64,
    /// Of the dials, probes of members that a failed neighbor had been watching and that
    /// nobody near this node watches (one failure can cost several handshakes).
    pub probe_dials: u64,
    /// Of the dials, attempts to reach a member declared failed (`heal_interval`).
    pub heal_dials: u64,
    /// Neighbors dropped and suspected for silence (`neighbor_timeout`).
    pub neighbor_timeouts: u64,
    /// Neighbors lost because their connection closed or failed (not for silence, not
    /// by a `Disconnect` or `Evict`): suspected like the silent ones.
    pub neighbors_lost: u64,
    /// Neighbors this node dropped (with an `Evict`, or a `Disconnect` with the handover
    /// off) to make room for a new one.
    pub evictions: u64,
    /// Times a neighbor dropped this node to make room for a new one.
    pub evicted: u64,
    /// Of the dials, connections to the successor an evicting neighbor named (`Evict`).
    pub handover_dials: u64,
    /// Neighbor requests the callee refused (in a browser, a handshake for nothing).
    pub neighbor_refusals: u64,
    /// `FindSlot` walks started to find room for this node without dialing blindly.
    pub slot_walks: u64,
    /// Genuine farewells taken in by [`crate::Node::handle_farewell`] (leaves that came by
    /// another path than the overlay, such as the signaling server).
    pub farewells: u64,
    /// Member records that were news, taken in from snapshots by
    /// [`crate::Node::handle_member_snapshot`] (before any connection, typically).
    pub snapshot_records: u64,
    /// Transmissions dropped because the output queue was full.
    pub dropped_outputs: u64,
    /// Malformed overlay messages (over-long walks or samples), ignored.
    pub bad_overlay_messages: u64,
    /// Broadcast payload copies received (duplicates included).
    pub gossip_received: u64,
    /// Broadcast payload copies that were duplicates.
    pub gossip_duplicates: u64,
    /// Messages delivered to the application.
    pub messages_delivered: u64,
    /// Malformed broadcast messages (bad chunk headers, absurd topics), ignored.
    pub bad_broadcast_messages: u64,
    /// Unfinished chunked payloads dropped (timeout or too many at once).
    pub reassemblies_dropped: u64,
    /// Announcements ignored because too many messages were already missing.
    pub ihave_dropped: u64,
    /// Messages grafted: announced by a neighbor but not pushed in time (each a delivery
    /// delayed by at least the graft timeout).
    pub grafts: u64,
    /// Grafts for messages no longer held.
    pub graft_unknown: u64,
    /// Periodic anti-entropy comparisons this node started (a `SyncRoot` to a random
    /// neighbor; the one each new neighbor gets is not counted).
    pub sync_rounds: u64,
    /// Pull offers sent.
    pub pull_offers: u64,
    /// Tree rewirings by Plumtree's optimization step.
    pub tree_optimizations: u64,
    /// Direct messages relayed for other members.
    pub direct_relayed: u64,
    /// Copies of direct messages dropped as already seen (floods, loops).
    pub direct_duplicates: u64,
    /// Direct messages dropped with no path left (flood hops used up).
    pub direct_dropped: u64,
    /// Acknowledgements and responses that matched nothing pending (late, forged, or a
    /// second answer to a retransmitted send or request).
    pub direct_unmatched: u64,
    /// Sends and requests sent again (flooded) because no answer came within
    /// `DirectConfig::retry_interval`.
    pub direct_retries: u64,
    /// Application state-sync messages not sent or not taken: larger than one frame, or
    /// arriving with no handler set.
    pub state_sync_refused: u64,
}
