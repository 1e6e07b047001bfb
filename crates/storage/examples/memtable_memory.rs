//! Resident memory per entry of a memtable of 1M entries (24-byte keys, 100-byte values), beside
//! a raw `SkipMap<Vec<u8>, Vec<u8>>` and a raw `DashMap` holding the same data.
//!
//! Each structure is measured in its own process (memory freed inside a process is not always
//! returned to the system, which would blur a second measurement):
//! `cargo run --release -p in-mem-storage --example memtable_memory -- [memtable|skipmap|dashmap]`.
//! The budget (docs/PERFORMANCE.md) is 2.5x the raw key and value bytes.

// Byte counts here are far below 2^52, where an f64 starts to round.
#![allow(clippy::cast_precision_loss)]

use std::sync::Arc;

use crossbeam_skiplist::SkipMap;
use dashmap::DashMap;
use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation};

const ENTRIES: u64 = 1_000_000;
const KEY_BYTES: usize = 24;
const VALUE_BYTES: usize = 100;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages in statm");
    pages * 4096
}

/// Key `i` in a scattered order, so the build is a random-key build.
fn key(i: u64) -> [u8; KEY_BYTES] {
    let scattered = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut key = [0u8; KEY_BYTES];
    key[..8].copy_from_slice(b"kv:agent");
    key[8..16].copy_from_slice(&scattered.to_be_bytes());
    key[16..24].copy_from_slice(&i.to_be_bytes());
    key
}

fn main() {
    let structure = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memtable".to_owned());
    let value = [7u8; VALUE_BYTES];
    let before = resident_bytes();
    let keep: Box<dyn std::any::Any> = match structure.as_str() {
        "memtable" => {
            let memtable = Memtable::new(Version::ZERO);
            let run = RunId::new();
            for i in 0..ENTRIES {
                // Fresh key and value allocations per entry, as the engine hands them over.
                let mutation = Mutation::put(
                    Arc::<[u8]>::from(&key(i)[..]),
                    Arc::<[u8]>::from(&value[..]),
                );
                memtable.apply(
                    Version::new(i + 1),
                    run,
                    Timestamp::from_micros(i),
                    &[mutation],
                );
            }
            assert_eq!(memtable.key_count() as u64, ENTRIES);
            Box::new(memtable)
        }
        "skipmap" => {
            let skipmap = SkipMap::new();
            for i in 0..ENTRIES {
                skipmap.insert(key(i).to_vec(), value.to_vec());
            }
            Box::new(skipmap)
        }
        "dashmap" => {
            let dashmap = DashMap::new();
            for i in 0..ENTRIES {
                dashmap.insert(key(i).to_vec(), value.to_vec());
            }
            Box::new(dashmap)
        }
        other => panic!("unknown structure {other}: memtable, skipmap or dashmap"),
    };
    let after = resident_bytes();
    let per_entry = (after - before) as f64 / ENTRIES as f64;
    let raw = (KEY_BYTES + VALUE_BYTES) as f64;
    println!(
        "{structure}: {ENTRIES} entries, {per_entry:.1} resident bytes per entry, {:.2}x the {raw} raw key+value bytes (budget 2.5x)",
        per_entry / raw
    );
    drop(keep);
}
