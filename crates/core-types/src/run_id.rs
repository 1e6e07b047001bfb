//! `RunId`: the 128-bit random identifier of one agent execution.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Identifies one run (one agent execution). A random UUID v4, shown in its hyphenated form.
///
/// `RunId` is `Copy`: it is passed by value to every operation. Its order is the order of its
/// big-endian bytes, which is the order of its key encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunId(uuid::Uuid);

impl RunId {
    /// The nil id. It never names a run: keys under it hold an agent's shared memory.
    pub const NIL: RunId = RunId(uuid::Uuid::nil());

    /// A fresh random run id (UUID v4).
    #[allow(clippy::new_without_default)] // a default that is random would surprise.
    pub fn new() -> Self {
        RunId(uuid::Uuid::new_v4())
    }

    /// The id with these 16 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        RunId(uuid::Uuid::from_bytes(bytes))
    }

    /// The 16 big-endian bytes of this id.
    pub const fn to_bytes(self) -> [u8; 16] {
        *self.0.as_bytes()
    }

    /// True for [`RunId::NIL`].
    pub fn is_nil(self) -> bool {
        self.0.is_nil()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({})", self.0.hyphenated())
    }
}

impl FromStr for RunId {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        uuid::Uuid::parse_str(input)
            .map(RunId)
            .map_err(|e| Error::InvalidRunId {
                input: input.to_owned(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trips_through_parse() {
        let id = RunId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36, "hyphenated form");
        assert_eq!(text.parse::<RunId>().unwrap(), id);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let err = "not-a-run".parse::<RunId>().unwrap_err();
        assert!(matches!(err, Error::InvalidRunId { .. }), "{err}");
    }

    #[test]
    fn order_is_byte_order() {
        let a = RunId::from_bytes([0; 16]);
        let mut high = [0; 16];
        high[0] = 1;
        let b = RunId::from_bytes(high);
        assert!(a < b);
        assert!(a.to_bytes() < b.to_bytes());
    }

    #[test]
    fn fresh_ids_are_never_nil_and_differ() {
        let a = RunId::new();
        assert!(!a.is_nil());
        assert_ne!(a, RunId::new());
    }
}
