//! `VersionedValue`: a value with the commit that wrote it.

use std::time::Duration;

use crate::time::Timestamp;
use crate::value::Value;

/// A value as read back: what it is, which commit wrote it, when, and for how long it lives.
///
/// `version` is the commit version as a plain `u64`, as the getting-started guide shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedValue {
    /// The value.
    pub value: Value,
    /// The version of the commit that wrote it.
    pub version: u64,
    /// When that commit happened.
    pub timestamp: Timestamp,
    /// The time to live given when it was written, if any; it expires at `timestamp + ttl`.
    pub ttl: Option<Duration>,
}

impl VersionedValue {
    /// When this value expires, if it has a time to live.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.ttl.map(|ttl| self.timestamp.saturating_add(ttl))
    }
}
