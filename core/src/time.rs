//! Time as the core sees it: milliseconds on the driver's monotonic clock.
//!
//! The core never reads a clock. Drivers map `performance.now()` or
//! `tokio::time::Instant` onto [`Instant`] and pass it into every call.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the driver's monotonic clock, in whole milliseconds since the driver's epoch.
///
/// Unlike `std::time::Instant` this works on `wasm32-unknown-unknown` and is plain data,
/// so simulations can construct any instant they like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The driver's epoch.
    pub const ZERO: Instant = Instant(0);
    /// An instant later than any real one; used for "no deadline".
    pub const MAX: Instant = Instant(u64::MAX);

    /// Builds an instant from milliseconds since the driver's epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the driver's epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_sub(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(1_000);
        assert_eq!((t + Duration::from_millis(500)).as_millis(), 1_500);
        assert_eq!((t - Duration::from_secs(5)).as_millis(), 0);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(
            t.saturating_since(Instant::from_millis(2_000)),
            Duration::ZERO
        );
    }
}
