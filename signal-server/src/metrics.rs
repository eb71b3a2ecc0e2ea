//! Prometheus metrics through the `metrics` crate, rendered at `/metrics`.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder), so several
//! servers in one process (as in the tests) share the counters. Names:
//!
//! | metric | kind | meaning |
//! | --- | --- | --- |
//! | `rumor_signal_connections` | gauge | WebSocket connections open |
//! | `rumor_signal_connections_total` | counter | WebSocket connections accepted |
//! | `rumor_signal_rooms` | gauge | rooms in use |
//! | `rumor_signal_members` | gauge | clients joined to a room (seed peers not counted) |
//! | `rumor_signal_signals_relayed_total` | counter | signals delivered to a recipient's queue |
//! | `rumor_signal_wills_released_total` | counter | connections that ended leaving a will that was relayed |
//! | `rumor_signal_refusals_total{reason}` | counter | errors sent, by [`ErrorCode`] name |
//! | `rumor_signal_seed_neighbors` | gauge | WebRTC neighbors of all seed peers |
//! | `rumor_signal_seed_members` | gauge | members known alive by all seed peers (themselves included) |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rumor_signal_proto::ErrorCode;

/// Gauge: connections open.
pub const CONNECTIONS: &str = "rumor_signal_connections";
/// Counter: connections accepted.
pub const CONNECTIONS_TOTAL: &str = "rumor_signal_connections_total";
/// Gauge: rooms in use.
pub const ROOMS: &str = "rumor_signal_rooms";
/// Gauge: clients joined.
pub const MEMBERS: &str = "rumor_signal_members";
/// Counter: signals relayed.
pub const SIGNALS_RELAYED: &str = "rumor_signal_signals_relayed_total";
/// Counter: connections that ended leaving a will that was relayed.
pub const WILLS_RELEASED: &str = "rumor_signal_wills_released_total";
/// Counter: refusals by reason.
pub const REFUSALS: &str = "rumor_signal_refusals_total";
/// Gauge: seed-peer neighbors (sum over rooms).
pub const SEED_NEIGHBORS: &str = "rumor_signal_seed_neighbors";
/// Gauge: seed-peer membership size (sum over rooms).
pub const SEED_MEMBERS: &str = "rumor_signal_seed_members";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; the handle then renders
            // nothing of ours, which is visible at /metrics rather than fatal.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_gauge!(CONNECTIONS, "WebSocket connections open");
    metrics::describe_counter!(CONNECTIONS_TOTAL, "WebSocket connections accepted");
    metrics::describe_gauge!(ROOMS, "Rooms in use");
    metrics::describe_gauge!(MEMBERS, "Clients joined to a room (seed peers not counted)");
    metrics::describe_counter!(SIGNALS_RELAYED, "Signals delivered to a recipient's queue");
    metrics::describe_counter!(
        WILLS_RELEASED,
        "Connections that ended leaving a will that was relayed"
    );
    metrics::describe_counter!(REFUSALS, "Errors sent to clients, by reason");
    metrics::describe_gauge!(SEED_NEIGHBORS, "WebRTC neighbors of all seed peers");
    metrics::describe_gauge!(SEED_MEMBERS, "Members known alive by all seed peers");
    for code in ErrorCode::ALL {
        metrics::counter!(REFUSALS, "reason" => code.as_str()).absolute(0);
    }
    for gauge in [CONNECTIONS, ROOMS, MEMBERS, SEED_NEIGHBORS, SEED_MEMBERS] {
        metrics::gauge!(gauge).increment(0.0);
    }
    metrics::counter!(CONNECTIONS_TOTAL).absolute(0);
    metrics::counter!(SIGNALS_RELAYED).absolute(0);
    metrics::counter!(WILLS_RELEASED).absolute(0);
}

/// Counts one refusal.
pub fn refusal(code: ErrorCode) {
    metrics::counter!(REFUSALS, "reason" => code.as_str()).increment(1);
}
