//! Where a node's random choices come from.

/// A node's source of random numbers: neighbor picks, timer jitter, starting sequence
/// numbers. [`crate::Node::new`] seeds a ChaCha8 generator (deterministic, as the simulator
/// needs); a driver with a cryptographic source of its own (a browser's
/// `crypto.getRandomValues`) can hand the node that instead, through
/// [`crate::Node::with_random`]. Every `rand_core` generator is one.
pub trait Random: Send {
    /// 64 uniformly random bits.
    fn next_u64(&mut self) -> u64;
}

impl<R: rand_core::RngCore + Send> Random for R {
    fn next_u64(&mut self) -> u64 {
        rand_core::RngCore::next_u64(self)
    }
}
