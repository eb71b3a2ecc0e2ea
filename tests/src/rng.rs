//! The random source handed to the libraries compared against Rumor: a [`ChaCha8Rng`]
//! (rand_core 0.6, like the simulator) behind the rand 0.10 traits that foca 2 and
//! iroh-gossip 0.101 expect.

use std::convert::Infallible;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A seeded ChaCha8 generator with rand 0.10's traits.
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// A generator seeded with `seed`.
    pub fn seed_from_u64(seed: u64) -> Self {
        SimRng(ChaCha8Rng::seed_from_u64(seed))
    }
}

impl rand::TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl rand::SeedableRng for SimRng {
    type Seed = [u8; 32];

    fn from_seed(seed: [u8; 32]) -> Self {
        SimRng(ChaCha8Rng::from_seed(seed))
    }
}
