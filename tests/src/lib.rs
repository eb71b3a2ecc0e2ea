//! Rumor's deterministic simulator, the adapters that drive protocol implementations in
//! it (Rumor itself and, for comparison, foca), and scenario helpers shared by the tests
//! and the `bench` binary.

pub mod bench_broadcast;
pub mod bench_membership;
pub mod foca_peer;
pub mod graph;
pub mod iroh_peer;
pub mod rng;
pub mod rumor_peer;
pub mod sim;
pub mod world;
