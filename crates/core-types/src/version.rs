//! `Version`: the global commit sequence number.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The commit sequence number: strictly increasing, one per commit, shared by every write of that
/// commit, never reused across restarts. Version 0 means "before the first commit".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Version(u64);

impl Version {
    /// Before any commit: a snapshot at `ZERO` sees nothing.
    pub const ZERO: Version = Version(0);
    /// The largest version; a snapshot at `MAX` sees every commit.
    pub const MAX: Version = Version(u64::MAX);

    /// The version with this number.
    pub const fn new(n: u64) -> Self {
        Version(n)
    }

    /// The number of this version.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after this one.
    ///
    /// # Panics
    /// At `u64::MAX` commits, which a database committing a billion times a second reaches after
    /// five centuries; an invariant, not an input.
    #[must_use]
    pub const fn next(self) -> Self {
        Version(self.0.checked_add(1).expect("version space exhausted"))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl From<Version> for u64 {
    fn from(v: Version) -> u64 {
        v.0
    }
}
