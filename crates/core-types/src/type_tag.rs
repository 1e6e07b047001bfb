//! `TypeTag`: which primitive a key belongs to. One byte, frozen on disk.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The primitive a key belongs to. The byte values are part of the on-disk format and never
/// change; new primitives take values that are unused today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
#[non_exhaustive]
pub enum TypeTag {
    /// Key-value data: an agent's memory (the byte API and `KVStore`).
    Kv = 0x01,
    /// Events of a run's append-only event log.
    Event = 0x02,
    /// Cells of a run's state machines.
    State = 0x03,
    /// Spans of a run's trace.
    Trace = 0x04,
    /// Run metadata: one entry per run.
    Run = 0x05,
    /// Secondary index entries and bookkeeping of the primitives (event-log heads, span
    /// indexes), written in the same commit as the data they describe.
    Index = 0x06,
}

impl TypeTag {
    /// Every tag in byte order.
    pub const ALL: [TypeTag; 6] = [
        TypeTag::Kv,
        TypeTag::Event,
        TypeTag::State,
        TypeTag::Trace,
        TypeTag::Run,
        TypeTag::Index,
    ];

    /// The byte stored on disk for this tag.
    pub const fn as_byte(self) -> u8 {
        self as u8
    }

    /// Short lower-case name, used in messages.
    pub const fn name(self) -> &'static str {
        match self {
            TypeTag::Kv => "kv",
            TypeTag::Event => "event",
            TypeTag::State => "state",
            TypeTag::Trace => "trace",
            TypeTag::Run => "run",
            TypeTag::Index => "index",
        }
    }
}

impl TryFrom<u8> for TypeTag {
    type Error = Error;

    fn try_from(byte: u8) -> Result<Self, Error> {
        TypeTag::ALL
            .into_iter()
            .find(|t| t.as_byte() == byte)
            .ok_or(Error::UnknownTypeTag(byte))
    }
}

impl fmt::Display for TypeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_unknown_bytes_are_errors() {
        for tag in TypeTag::ALL {
            assert_eq!(TypeTag::try_from(tag.as_byte()).unwrap(), tag);
        }
        assert_eq!(TypeTag::try_from(0), Err(Error::UnknownTypeTag(0)));
        assert_eq!(TypeTag::try_from(0xff), Err(Error::UnknownTypeTag(0xff)));
    }

    #[test]
    fn on_disk_bytes_are_frozen() {
        let bytes: Vec<u8> = TypeTag::ALL.iter().map(|t| t.as_byte()).collect();
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6]);
    }
}
