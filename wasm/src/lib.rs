//! rumor-wasm: the browser driver for Rumor.
//!
//! It will drive a `rumor_core::Node` from a web page: one `RTCPeerConnection` and data
//! channel per active neighbor, a WebSocket to the signaling server, one `setTimeout`,
//! and a small JS API (`Rumor.join`, `room.publish`, ...). That driver arrives with a
//! later issue; for now this crate only proves that the core builds for
//! `wasm32-unknown-unknown` inside a `cdylib`.

/// The version of the rumor-core this driver is built on.
pub fn core_version() -> &'static str {
    rumor_core::VERSION
}
