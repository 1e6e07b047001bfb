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
            loader.push(
                v.version,
                v.writer,
                v.timestamp,
                key,
                v.kind.clone(),
                v.cuts,
            );
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
fn versions_of_a_key_share_one_key_allocation_in_any_order() {
    for shuffled in [false, true] {
        let memtable = loaded(&versions(300, shuffled));
        let stored: Vec<StoredVersion> = memtable.iter_versions().collect();
        let mut pairs_of_one_key = 0;
        for pair in stored.windows(2) {
            if pair[0].key == pair[1].key {
                assert!(Arc::ptr_eq(&pair[0].key, &pair[1].key), "{pair:?}");
                pairs_of_one_key += 1;
            }
        }
        assert!(pairs_of_one_key > 100, "{pairs_of_one_key}");
    }
}

#[test]
fn settle_makes_everything_pushed_so_far_readable_while_loading() {
    let writer = RunId::new();
    let memtable = Memtable::new(Version::new(20_000));
    let put = |n: u64| MutationKind::Put {
        value: Arc::from(n.to_le_bytes().as_slice()),
        expires_at: None,
    };
    memtable.load(|loader| {
        // More than a batch, so that most of it has crossed to the helpers.
        for n in 1..=10_000u64 {
            let key: Arc<[u8]> = Arc::from(format!("key{n:08}").into_bytes());
            loader.push(Version::new(n), writer, NOW, key, put(n), Cuts::NONE);
        }
        loader.settle();
        let view = ReadView::at(Version::new(20_000));
        assert_eq!(memtable.key_count(), 10_000);
        assert_eq!(
            memtable.scan_prefix(b"key", view.clone(), NOW).count(),
            10_000
        );
        let last = memtable
            .get(b"key00010000", &view, NOW)
            .expect("pushed before the settle");
        assert_eq!(&last.value[..], 10_000u64.to_le_bytes().as_slice());
        // The load goes on after a settle.
        let key: Arc<[u8]> = Arc::from(&b"key00000001"[..]);
        loader.push(
            Version::new(10_001),
            writer,
            NOW,
            key,
            MutationKind::Delete,
            Cuts::NONE,
        );
    });
    let view = ReadView::at(Version::new(20_000));
    assert!(memtable.get(b"key00000001", &view, NOW).is_none());
    assert_eq!(memtable.key_count(), 10_000);
}

#[test]
fn a_version_pushed_twice_keeps_the_later_push() {
    // What a replayed commit that writes one key twice does; other keys pushed between the two
    // (before and after "k" in key order) make the window's sort move them around it.
    let writer = RunId::new();
    let memtable = Memtable::new(Version::new(1));
    let put = |value: &[u8]| MutationKind::Put {
        value: Arc::from(value),
        expires_at: None,
    };
    memtable.load(|loader| {
        for (key, value) in [
            (&b"k"[..], &b"first"[..]),
            (b"z", b"z"),
            (b"a", b"a"),
            (b"k", b"second"),
            (b"b", b"b"),
        ] {
            loader.push(
                Version::new(1),
                writer,
                NOW,
                Arc::from(key),
                put(value),
                Cuts::NONE,
            );
        }
    });
    let read = memtable.get(b"k", &ReadView::at(Version::new(1)), NOW);
    assert_eq!(&read.expect("stored").value[..], b"second");
    assert_eq!(memtable.iter_versions().count(), 4);
}

#[test]
fn an_empty_load_returns_what_fill_returned() {
    let memtable = Memtable::new(Version::ZERO);
    assert_eq!(memtable.load(|_| 7), 7);
    assert_eq!(memtable.key_count(), 0);
}
