//! `Now`: the time a read judges expiry by, taken only if the read needs it.
//!
//! Most values have no time to live, and a point read that lands on one never needs the time;
//! reading the clock first cost ~28 ns of a ~1 us get here. A read takes a `Now` instead of a
//! `Timestamp`, and asks it only when the version it lands on can expire.

use in_mem_core_types::Timestamp;

/// A source of the current time for one read (see the module docs).
pub trait Now: Copy {
    /// The time now.
    fn now(self) -> Timestamp;
}

/// A time already taken.
impl Now for Timestamp {
    fn now(self) -> Timestamp {
        self
    }
}
