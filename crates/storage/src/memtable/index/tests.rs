//! Unit tests of the newest-version index.

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::*;
use crate::MutationKind;

fn record(version: u64) -> Arc<Record> {
    Arc::new(Record::new(
        Version::new(version),
        RunId::NIL,
        Timestamp::EPOCH,
        MutationKind::Delete,
    ))
}

#[test]
fn the_highest_offered_version_wins_whatever_the_order() {
    let index = NewestIndex::new();
    let key: Arc<[u8]> = Arc::from(&b"k"[..]);
    index.offer(&key, &record(5));
    index.offer(&key, &record(3));
    assert_eq!(index.newest_version(b"k"), Some(Version::new(5)));
    index.offer(&key, &record(9));
    assert_eq!(index.newest_version(b"k"), Some(Version::new(9)));
    assert_eq!(index.len(), 1);
}

#[test]
fn an_offer_returns_the_allocation_the_index_already_holds() {
    let index = NewestIndex::new();
    let first: Arc<[u8]> = Arc::from(&b"k"[..]);
    let second: Arc<[u8]> = Arc::from(&b"k"[..]);
    assert!(Arc::ptr_eq(&index.offer(&first, &record(1)), &first));
    assert!(Arc::ptr_eq(&index.offer(&second, &record(2)), &first));
}

#[test]
fn removal_happens_only_while_the_record_is_still_the_newest() {
    let index = NewestIndex::new();
    let key: Arc<[u8]> = Arc::from(&b"k"[..]);
    let old = record(1);
    index.offer(&key, &old);
    index.offer(&key, &record(2));
    assert!(
        !index.remove_if_newest(b"k", &old),
        "a newer version arrived"
    );
    assert_eq!(index.newest_version(b"k"), Some(Version::new(2)));
    let newest = record(3);
    index.offer(&key, &newest);
    assert!(index.remove_if_newest(b"k", &newest));
    assert_eq!(index.newest_version(b"k"), None);
    assert_eq!(index.len(), 0);
}

#[test]
fn lookups_of_similar_keys_do_not_mix() {
    let index = NewestIndex::new();
    for (n, key) in [&b"a"[..], b"ab", b"", b"b\x00"].into_iter().enumerate() {
        index.offer(&Arc::from(key), &record(n as u64 + 1));
    }
    assert_eq!(index.newest_version(b"a"), Some(Version::new(1)));
    assert_eq!(index.newest_version(b"ab"), Some(Version::new(2)));
    assert_eq!(index.newest_version(b""), Some(Version::new(3)));
    assert_eq!(index.newest_version(b"b\x00"), Some(Version::new(4)));
    assert_eq!(index.newest_version(b"b"), None);
}
