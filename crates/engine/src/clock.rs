//! Where the engine gets the time (commit timestamps, TTL expiry): the `Clock` trait lives in
//! `in-mem-core-types`, so that the shared-mode store and its tests use the same clocks.

pub use in_mem_core_types::{Clock, ManualClock, SystemClock};
