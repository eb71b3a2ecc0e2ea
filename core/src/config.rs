//! Tunables. Every queue, view and timer has a bound here with a documented default.

use core::time::Duration;

/// HyParView overlay parameters. Defaults follow Leitão, Pereira and Rodrigues,
/// "HyParView: a membership protocol for reliable gossip-based broadcast" (DSN 2007), §5:
/// active view log10(n)+1 = 5 and passive view 30 for n = 10,000; ARWL 6, PRWL 3;
/// shuffles of ka = 3 active and kp = 4 passive entries. Shuffles run every 60 s (as in
/// iroh-gossip) rather than every few seconds: with full membership the passive view is
/// also refilled from the member table, and at 10 s the shuffles were 90% of idle traffic.
#[derive(Debug, Clone)]
pub struct OverlayConfig {
    /// Maximum number of neighbors we hold a connection to (the paper's active view).
    pub active_view_capacity: usize,
    /// Maximum number of known-but-unconnected peers kept as replacements.
    pub passive_view_capacity: usize,
    /// Active random walk length: hops a ForwardJoin travels.
    pub active_random_walk_length: u8,
    /// Passive random walk length: the hop at which a ForwardJoin adds the joiner to the passive view.
    pub passive_random_walk_length: u8,
    /// How often a shuffle starts.
    pub shuffle_interval: Duration,
    /// Active-view entries sent in a shuffle.
    pub shuffle_active_count: usize,
    /// Passive-view entries sent in a shuffle.
    pub shuffle_passive_count: usize,
    /// Hops a shuffle walks before it is answered.
    pub shuffle_walk_length: u8,
    /// Dials running at once when filling the active view.
    pub max_concurrent_dials: usize,
    /// A dial that neither connects nor fails by then is given up.
    pub dial_timeout: Duration,
    /// An inbound connection must introduce itself within this time or it is closed.
    pub hello_timeout: Duration,
    /// How long to wait before retrying the seeds when there are no neighbors at all.
    pub join_retry_interval: Duration,
    /// How often a node considers reaching one recently failed member, so partitions
    /// heal (it tries with probability failed / alive members, so the whole group makes
    /// about one attempt per failed member and interval).
    pub heal_interval: Duration,
    /// A node that has neighbors but room for more fills its active view with
    /// low-priority Neighbor requests, which full peers refuse. After a refusal it waits
    /// this long before the next one, twice as long after each further refusal in a row;
    /// gaining or losing a neighbor starts over. Each attempt costs a
    /// whole connection setup (a WebRTC handshake in a browser), so a group whose views
    /// cannot all be full must not retry without pause.
    pub fill_backoff_min: Duration,
    /// The longest pause between two low-priority Neighbor requests.
    pub fill_backoff_max: Duration,
    /// After this many refusals in a row, a node with a single neighbor (and room for
    /// more) asks with high priority, which a full peer accepts by dropping a random
    /// neighbor. Without it, small views can close into full cliques that refuse everyone
    /// outside (e.g. three members with two slots each in a triangle, the fourth left with
    /// the seed alone), and the group stays split. Zero never escalates.
    pub fill_escalate_after: u32,
    /// A node short of neighbors alternates its low-priority Neighbor requests with
    /// `FindSlot` walks over the connections it has, which end at a member with room
    /// (that member dials it). Without them every attempt dials a random passive peer,
    /// and in a group where most views are full most of those handshakes are refused.
    pub find_slot_walks: bool,
    /// After its Join is accepted, a node waits this long before asking anyone else to be
    /// its neighbor: the contact's forward-join walks and the neighbors handed over to it
    /// (`Evict`) are on their way, and members dialed meanwhile would mostly be full and
    /// refuse (a handshake for nothing).
    pub join_fill_delay: Duration,
    /// A member evicted to make room for a new neighbor is told who it is (`Evict`) and
    /// dials it, and a contact starts only as many forward-join walks as fill the joiner's
    /// view that way (docs/protocol.md §3, handover). Off: HyParView's plain eviction and
    /// a walk to every other neighbor of the contact.
    pub handover: bool,
}

impl Default for OverlayConfig {
    fn default() -> Self {
        OverlayConfig {
            active_view_capacity: 5,
            passive_view_capacity: 30,
            active_random_walk_length: 6,
            passive_random_walk_length: 3,
            shuffle_interval: Duration::from_secs(60),
            shuffle_active_count: 3,
            shuffle_passive_count: 4,
            shuffle_walk_length: 3,
            max_concurrent_dials: 3,
            dial_timeout: Duration::from_secs(15),
            hello_timeout: Duration::from_secs(5),
            join_retry_interval: Duration::from_secs(2),
            heal_interval: Duration::from_secs(15),
            fill_backoff_min: Duration::from_secs(1),
            fill_backoff_max: Duration::from_secs(60),
            fill_escalate_after: 2,
            find_slot_walks: true,
            join_fill_delay: Duration::from_secs(2),
            handover: true,
        }
    }
}

/// Failure detection and anti-entropy timing.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// Granularity of the periodic checks (pings, dials, garbage collection).
    pub tick_interval: Duration,
    /// A neighbor silent this long is pinged (every tick while silent). The side with the
    /// higher id waits one tick longer, so that usually only one side pings.
    pub ping_interval: Duration,
    /// A neighbor silent this long is dropped and suspected, unless it has lately kept
    /// silences close to it and answered after all (see `neighbor_timeout_max`).
    pub neighbor_timeout: Duration,
    /// Longest a neighbor may stay silent before it is dropped. A neighbor that kept a
    /// silence of over half of `neighbor_timeout` and was then heard again (its process
    /// starved of CPU on a loaded machine, say) gets its longest recent silence on top of
    /// `neighbor_timeout`, up to this; that silence is forgotten at 1/32 of the time that
    /// passes. Like a phi-accrual detector, the timeout follows what each link has shown.
    pub neighbor_timeout_max: Duration,
    /// How often a node compares its membership with one neighbor while its member table
    /// is changing or an exchange has just found a difference.
    pub sync_interval: Duration,
    /// The longest gap between comparisons once the member table has stayed the same: each
    /// round that finds it unchanged since the last comparison doubles the gap, from
    /// `sync_interval` up to this (set it to `sync_interval` to compare at a steady pace).
    /// An idle group then sends a comparison per node every few seconds, not every second.
    pub sync_interval_max: Duration,
    /// Suspicion timeout once `suspicion_confirmations` independent members suspect.
    pub suspicion_min: Duration,
    /// Suspicion timeout with a single accuser (Lifeguard's dynamic suspicion).
    pub suspicion_max: Duration,
    /// Independent accusers after which the timeout reaches `suspicion_min`.
    pub suspicion_confirmations: usize,
    /// How long left and failed members are remembered before being forgotten.
    pub tombstone_ttl: Duration,
    /// A timer this late means this node itself was stalled (hidden tab, suspended process):
    /// it then doubts itself and restarts its neighbor clocks instead of accusing anyone.
    pub stall_threshold: Duration,
    /// Shortest time between two farewells [`crate::Node::poll_will`] hands out: a record
    /// changing often (metadata set many times a second) renews the will at most this often.
    pub will_renew: Duration,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            tick_interval: Duration::from_millis(250),
            ping_interval: Duration::from_millis(750),
            neighbor_timeout: Duration::from_millis(2_500),
            neighbor_timeout_max: Duration::from_secs(10),
            sync_interval: Duration::from_secs(1),
            sync_interval_max: Duration::from_secs(8),
            suspicion_min: Duration::from_millis(500),
            suspicion_max: Duration::from_secs(5),
            suspicion_confirmations: 3,
            tombstone_ttl: Duration::from_secs(300),
            stall_threshold: Duration::from_secs(2),
            will_renew: Duration::from_secs(1),
        }
    }
}

/// Size bounds on records and messages.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message handed to the transport (a WebRTC data channel frame).
    pub max_message_size: usize,
    /// Metadata keys per member.
    pub max_meta_keys: usize,
    /// Bytes per metadata key.
    pub max_meta_key_len: usize,
    /// Bytes per metadata value.
    pub max_meta_value_len: usize,
    /// Bytes of a whole encoded member record (metadata and topics together), so that any
    /// record fits in one message with room to spare.
    pub max_record_size: usize,
    /// Members remembered at most (alive and tombstoned); news of more is dropped and counted.
    pub max_members: usize,
    /// Outputs queued at most between drains; past it, transmissions are dropped and counted.
    pub max_queued_outputs: usize,
    /// Topics a member may subscribe to.
    pub max_subscriptions: usize,
    /// Bytes in a topic name.
    pub max_topic_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 * 1024,
            max_meta_keys: 32,
            max_meta_key_len: 64,
            max_meta_value_len: 1024,
            max_record_size: 8 * 1024,
            max_members: 100_000,
            max_queued_outputs: 100_000,
            max_subscriptions: 64,
            max_topic_len: 128,
        }
    }
}

/// Plumtree broadcast, topics and history. Defaults follow Leitão, Pereira and Rodrigues,
/// "Epidemic Broadcast Trees" (SRDS 2007) where it gives them (a first graft timeout
/// somewhat above one round trip, a shorter second one), and bound every cache.
#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    /// Wait after the first IHave of a missing message before grafting it.
    pub graft_timeout: Duration,
    /// Wait before grafting from the next announcer when the first graft brought nothing.
    pub graft_retry: Duration,
    /// Grafts sent for one announced message, at most, cycling through its announcers (a
    /// graft or the copy it asks for may be lost, so a lone announcer is asked again);
    /// then the message is left to pull repair.
    pub graft_attempts: u32,
    /// Hops an announced path must save over the tree path before the tree is rewired
    /// through the announcer (Plumtree's optimization step).
    pub optimization_threshold: u16,
    /// Neighbors (besides the one it came from) that get a new origin's first message
    /// eagerly; the others get an announcement and graft it if no copy arrives. The
    /// default, all of them, floods the first message: the tree is then built along the
    /// fastest paths. Fewer (say 3) sends fewer duplicate copies while a tree forms but
    /// makes its paths longer and some first deliveries wait for a graft (figures in
    /// docs/benchmarks.md).
    pub fresh_tree_fanout: usize,
    /// How long a young tree's copies are held back on the links where this end does not
    /// go first. A new origin's first message floods; each link has one end that forwards
    /// it at once, and the other holds its copy back this long and drops it if the
    /// neighbor's copy comes first, so a link outside the tree often carries it once
    /// instead of both ways. Zero sends every copy at once. About the typical one-way link
    /// latency works best: 45 ms against the simulator's links of 10-50 ms each way
    /// (figures in docs/benchmarks.md).
    pub fresh_tree_stagger: Duration,
    /// How long after its first message an origin's tree counts as young (its copies
    /// staggered): until the duplicates of that first flood have pruned it to a tree.
    pub fresh_tree_window: Duration,
    /// Message ids remembered for deduplication, at most.
    pub seen_capacity: usize,
    /// How long message ids are remembered for deduplication.
    pub seen_ttl: Duration,
    /// Messages kept to answer grafts, pulls and history requests, at most.
    pub cache_capacity: usize,
    /// Payload bytes kept in that cache, at most.
    pub cache_bytes: usize,
    /// How long messages are kept (also the longest history a node can serve).
    pub history_ttl: Duration,
    /// Messages kept per topic for history requests.
    pub history_per_topic: usize,
    /// How often a node offers recent ids to one neighbor that may lack them (pull repair).
    pub pull_interval: Duration,
    /// Ids in one pull offer, at most.
    pub pull_max_ids: usize,
    /// Messages younger than this are not offered by pull (push is still under way).
    pub pull_min_age: Duration,
    /// Largest payload `publish` accepts; larger ones are refused with an error.
    pub max_payload: usize,
    /// Payloads being reassembled from chunks at once, at most.
    pub max_reassemblies: usize,
    /// A payload whose chunks have not all arrived by then is dropped.
    pub reassembly_timeout: Duration,
    /// Messages announced but not yet received, tracked at most (bounds IHave floods).
    pub max_missing: usize,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            graft_timeout: Duration::from_millis(400),
            graft_retry: Duration::from_millis(200),
            graft_attempts: 3,
            optimization_threshold: 1,
            fresh_tree_fanout: usize::MAX,
            fresh_tree_stagger: Duration::from_millis(45),
            fresh_tree_window: Duration::from_millis(300),
            seen_capacity: 65_536,
            seen_ttl: Duration::from_secs(600),
            cache_capacity: 4_096,
            cache_bytes: 16 * 1024 * 1024,
            history_ttl: Duration::from_secs(120),
            history_per_topic: 256,
            pull_interval: Duration::from_secs(1),
            pull_max_ids: 512,
            pull_min_age: Duration::from_secs(1),
            max_payload: 256 * 1024,
            max_reassemblies: 64,
            reassembly_timeout: Duration::from_secs(30),
            max_missing: 4_096,
        }
    }
}

/// Direct messages and request/response between members that need not be neighbors.
#[derive(Debug, Clone)]
pub struct DirectConfig {
    /// A send is reported failed, and a request times out, when no acknowledgement or
    /// response came back within this time.
    pub timeout: Duration,
    /// A send or request with no answer after this long is sent again, flooded this time
    /// (the path it took may have changed under it), and again after each further
    /// interval until `timeout`. The target delivers it once and answers every copy.
    /// Zero never sends again.
    pub retry_interval: Duration,
    /// Hops a direct message may be flooded when no neighbor knows a path to its target.
    pub flood_ttl: u8,
    /// Sends and requests awaiting an answer, at most (more are refused with an error).
    pub max_pending: usize,
    /// Routed message ids (origin, id; with the attempts seen of each) remembered to drop
    /// copies (floods, loops), at most.
    pub seen_capacity: usize,
    /// Reverse paths (member → neighbor its messages came through) remembered, at most.
    pub route_capacity: usize,
}

impl Default for DirectConfig {
    fn default() -> Self {
        DirectConfig {
            timeout: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
            flood_ttl: 6,
            max_pending: 1_024,
            seen_capacity: 8_192,
            route_capacity: 4_096,
        }
    }
}

/// Application state sync (pull model, see [`crate::StateSync`]).
#[derive(Debug, Clone)]
pub struct StateSyncConfig {
    /// How often the node runs one pull with a random neighbor (also on every new neighbor).
    pub interval: Duration,
}

impl Default for StateSyncConfig {
    fn default() -> Self {
        StateSyncConfig {
            interval: Duration::from_secs(1),
        }
    }
}

/// Everything a [`crate::Node`] can be tuned with.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Broadcast (Plumtree), topic and history parameters.
    pub broadcast: BroadcastConfig,
    /// Direct message and request/response parameters.
    pub direct: DirectConfig,
    /// Application state sync parameters.
    pub state_sync: StateSyncConfig,
    /// Overlay (HyParView) parameters.
    pub overlay: OverlayConfig,
    /// Membership (failure detection, anti-entropy) parameters.
    pub membership: MembershipConfig,
    /// Size bounds.
    pub limits: Limits,
}
