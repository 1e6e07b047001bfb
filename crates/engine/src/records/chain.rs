//! The event log's hash chain: what each event's hash covers, and how it is computed.
//!
//! ```text
//! hash = SHA-256( HASH_VERSION (1 byte)
//!               | previous event's hash (32 bytes; zeros for event 0)
//!               | sequence (u64 big-endian)
//!               | timestamp (u64 big-endian, microseconds)
//!               | event type length (u32 big-endian) | event type (UTF-8)
//!               | payload length (u32 big-endian) | payload (canonical Value encoding) )
//! ```
//!
//! Every field is fixed-width or length-prefixed, so no two different events hash the same
//! input; the payload's encoding is canonical (maps in key order, NaN refused), so the hash does
//! not depend on the order a map was built in or on the process that built it.

use in_mem_core_types::{Timestamp, Value};
use sha2::{Digest, Sha256};

use crate::error::Result;

/// Bumped if the hashed layout ever changes; part of every hash.
pub(crate) const HASH_VERSION: u8 = 1;

/// The hash "before" the first event.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// The hash of an event.
pub(crate) fn event_hash(
    prev: &[u8; 32],
    sequence: u64,
    timestamp: Timestamp,
    event_type: &str,
    payload: &Value,
) -> Result<[u8; 32]> {
    Ok(event_hash_encoded(
        prev,
        sequence,
        timestamp,
        event_type,
        &payload.encode()?,
    ))
}

/// The hash of an event whose payload is encoded already (what the append stores as well).
pub(crate) fn event_hash_encoded(
    prev: &[u8; 32],
    sequence: u64,
    timestamp: Timestamp,
    event_type: &str,
    payload: &[u8],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([HASH_VERSION]);
    hasher.update(prev);
    hasher.update(sequence.to_be_bytes());
    hasher.update(timestamp.as_micros().to_be_bytes());
    hasher.update(length(event_type.len()).to_be_bytes());
    hasher.update(event_type.as_bytes());
    hasher.update(length(payload.len()).to_be_bytes());
    hasher.update(payload);
    hasher.finalize().into()
}

fn length(n: usize) -> u32 {
    // Event types are at most 128 bytes and payloads at most VALUE_BYTES_MAX (4 MiB).
    u32::try_from(n).expect("bounded by the value limit")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write;
        bytes.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    #[test]
    fn the_hash_of_a_known_event_never_changes() {
        // A golden value: if this changes, every stored chain stops verifying. Change it only
        // together with HASH_VERSION.
        let payload = Value::Map(BTreeMap::from([
            ("tool".to_owned(), Value::from("search")),
            ("hits".to_owned(), Value::I64(3)),
        ]));
        let hash = event_hash(
            &GENESIS,
            0,
            Timestamp::from_micros(1_700_000_000_000_000),
            "observed",
            &payload,
        )
        .unwrap();
        assert_eq!(hex(&hash), GOLDEN);
    }

    /// Computed independently (Python's hashlib over the layout in the module docs) when the
    /// chain was introduced.
    const GOLDEN: &str = "e38634230707b48c108db1476a73268dfc6814d79ab9f4af1b51655bb4fc80e6";

    #[test]
    fn a_map_built_in_any_order_hashes_the_same() {
        // Named regression (docs/TESTING.md): a hash over a HashMap encoding changed between
        // processes. HashMap iteration order is randomized per process; BTreeMap is not.
        let pairs: Vec<(String, i64)> = (0..50).map(|i| (format!("key{i}"), i)).collect();
        let hashed: HashMap<String, i64> = pairs.iter().cloned().collect();
        let reversed: BTreeMap<String, Value> = pairs
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), Value::I64(*v)))
            .collect();
        let from_hash_map: BTreeMap<String, Value> = hashed
            .into_iter()
            .map(|(k, v)| (k, Value::I64(v)))
            .collect();
        let t = Timestamp::from_micros(5);
        assert_eq!(
            event_hash(&GENESIS, 1, t, "x", &Value::Map(reversed)).unwrap(),
            event_hash(&GENESIS, 1, t, "x", &Value::Map(from_hash_map)).unwrap()
        );
    }

    #[test]
    fn every_field_is_covered() {
        let t = Timestamp::from_micros(5);
        let base = event_hash(&GENESIS, 1, t, "x", &Value::I64(1)).unwrap();
        let changed = [
            event_hash(&[1; 32], 1, t, "x", &Value::I64(1)).unwrap(),
            event_hash(&GENESIS, 2, t, "x", &Value::I64(1)).unwrap(),
            event_hash(&GENESIS, 1, Timestamp::from_micros(6), "x", &Value::I64(1)).unwrap(),
            event_hash(&GENESIS, 1, t, "y", &Value::I64(1)).unwrap(),
            event_hash(&GENESIS, 1, t, "x", &Value::I64(2)).unwrap(),
            // Length prefixes keep ("ab", "c...") from colliding with ("a", "bc...").
            event_hash(&GENESIS, 1, t, "x1", &Value::I64(1)).unwrap(),
        ];
        for other in changed {
            assert_ne!(other, base);
        }
    }
}
