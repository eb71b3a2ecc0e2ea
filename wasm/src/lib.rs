//! rumor-wasm: the browser driver for Rumor.
//!
//! On `wasm32` it drives a `rumor_core::Node` from a web page: one `RTCPeerConnection` and
//! data channel per neighbor ([`rtc`]), a WebSocket to the signaling server ([`signal`]),
//! one `setTimeout` ([`driver`]), and the JS API (`Rumor.join`, `room.publish`, ...).
//! Natively the crate holds only [`core_version`], so workspace builds stay trivial.

/// The version of the rumor-core this driver is built on.
pub fn core_version() -> &'static str {
    rumor_core::VERSION
}

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod convert;
#[cfg(target_arch = "wasm32")]
pub mod coordination;
#[cfg(target_arch = "wasm32")]
pub mod direct;
#[cfg(target_arch = "wasm32")]
pub mod driver;
#[cfg(target_arch = "wasm32")]
pub mod jsvalue;
#[cfg(target_arch = "wasm32")]
pub mod rtc;
#[cfg(target_arch = "wasm32")]
pub mod signal;
#[cfg(target_arch = "wasm32")]
pub mod sys;
#[cfg(target_arch = "wasm32")]
pub mod types;

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;

/// The package's heap allocator: Talc, a drop-in for Rust's default on wasm32 (dlmalloc)
/// whose code is 1.3 KB against dlmalloc's 7.2 KB (docs/benchmarks.md, package size).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
