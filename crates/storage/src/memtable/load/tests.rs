//! The loader builds the memtable that applies would have built: the same versions in the
//! skiplist, the same newest version per key in the index, cut marks set, keys shared.

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use crate::{Cuts, Memtable, Mutation, MutationKind, ReadView, StoredVersion};

const NOW: Timestamp = Timestamp::from_micros(1_000);

/// Versions of `keys` keys, several per key, in checkpoint order (key by key, newest first)
/// unless `shuffled`, with tombstones, expiries and cut marks mixed in.
fn versions(keys: u64, shuffled: bool) -> Vec<StoredVersion> {
    let writer = RunId::new();
    let mut out = Vec::new();
    for k in 0..keys {
        let key: Arc<[u8]> = Arc::from(format!("key{k:08}").into_bytes());
        for n in (0..=k % 3).rev() {
            let version = Version::new(1 + k * 3 + n);
            let kind = match (k + n) % 5 {
                0 => MutationKind::Delete,
                1 => MutationKind::Put {
                    value: Arc::from(&b"expired"[..]),
                    expires_at: Some(Timestamp::from_micros(500)),
                },
                _ => MutationKind::Put {
                    value: Arc::from(format!("value {k} {n}").into_bytes()),
                    expires_at: None,
                },
            };
            let cuts = Cuts {
                below: (k + n) % 7 == 0,
                above: (k + n) % 11 == 0,
            };
            out.push(StoredVersion {
                key: Arc::clone(&key),
                version,
                writer,
                timestamp: Timestamp::from_micros(version.get()),
                kind,
                cuts,
            });
        }
    }
    if shuffled {
        // A fixed permutation: reversed halves interleaved.
        let (a, b) = out.split_at(out.len() / 2);
        let mut mixed = Vec::with_capacity(out.len());
        for i in 0..a.len().max(b.len()) {
            if let Some(x) = b.get(b.len().wrapping_sub(i + 1)) {
                mixed.push(x.clone());
            }
            if let Some(x) = a.get(i) {
                mixed.push(x.clone());
            }
        }
        out = mixed;
    }
    out
}

/// An empty memtable whose counter is past every version of `versions`.
fn empty_for(versions: &[StoredVersion]) -> Memtable {
    let last = versions.iter().map(|v| v.version).max();
    Memtable::new(last.unwrap_or(Version::ZERO))
}

fn loaded(versions: &[StoredVersion]) -> Memtable {
    let memtable = empty_for(versions);
    memtable.load(|loader| {
        for v in versions {
            // A fresh allocation per version, as a checkpoint reader makes them.
            let key: Arc<[u8]> = Arc::from(&v.key[..]);
            loader.push(v.version, v.writer, v.timestamp, key, &v.kind, v.cuts);
        }
    });
    memtable
}

fn applied(versions: &[StoredVersion]) -> Memtable {
    let memtable = empty_for(versions);
    for v in versions {
        let mutation = Mutation {
            key: Arc::clone(&v.key),
            kind: v.kind.clone(),
        };
        memtable.apply(v.version, v.writer, v.timestamp, &[mutation]);
        memtable.restore_cuts(&v.key, v.version, v.cuts);
    }
    memtable
}

fn assert_same(loaded: &Memtable, applied: &Memtable, keys: u64) {
    let stored: Vec<StoredVersion> = loaded.iter_versions().collect();
    assert_eq!(stored, applied.iter_versions().collect::<Vec<_>>());
    assert_eq!(loaded.key_count(), applied.key_count());
    let last = applied.versions().visible().get();
    for k in 0..keys {
        let key = format!("key{k:08}").into_bytes();
        assert_eq!(loaded.newest_version(&key), applied.newest_version(&key));
        for at in [0, last / 3, last / 2, last] {
            let view = ReadView::at(Version::new(at));
            assert_eq!(
                loaded.read(&key, &view, NOW),
                applied.read(&key, &view, NOW)
            );
        }
    }
}

#[test]
fn loading_in_checkpoint_order_builds_what_applies_build() {
    // Enough versions for many batches to cross to the index thread.
    let versions = versions(20_000, false);
    assert_same(&loaded(&versions), &applied(&versions), 20_000);
}

#[test]
fn loading_in_any_order_keeps_each_keys_newest_version_in_the_index() {
    let versions = versions(5_000, true);
    assert_same(&loaded(&versions), &applied(&versions), 5_000);
}

#[test]
fn versions_of_a_key_loaded_together_share_one_key_allocation() {
    let memtable = loaded(&versions(30, false));
    let stored: Vec<StoredVersion> = memtable.iter_versions().collect();
    for pair in stored.windows(2) {
        if pair[0].key == pair[1].key {
            assert!(Arc::ptr_eq(&pair[0].key, &pair[1].key));
        }
    }
}

#[test]
fn an_empty_load_returns_what_fill_returned() {
    let memtable = Memtable::new(Version::ZERO);
    assert_eq!(memtable.load(|_| 7), 7);
    assert_eq!(memtable.key_count(), 0);
}
