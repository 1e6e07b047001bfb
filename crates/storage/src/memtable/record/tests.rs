//! Unit tests of the stored record and of the skiplist order.

use std::cmp::Ordering;
use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};
use proptest::prelude::*;

use super::*;

fn key(bytes: &[u8], version: u64) -> VersionKey {
    VersionKey {
        key: Arc::from(bytes),
        version: Version::new(version),
    }
}

fn put(value: &[u8], expires_at: Option<u64>) -> MutationKind {
    MutationKind::Put {
        value: Arc::from(value),
        expires_at: expires_at.map(Timestamp::from_micros),
    }
}

#[test]
fn order_is_key_ascending_then_version_descending() {
    let mut keys = [
        key(b"b", 1),
        key(b"a", 1),
        key(b"ab", 9),
        key(b"a", 3),
        key(b"", 2),
        key(b"a", 2),
    ];
    keys.sort();
    let order: Vec<(&[u8], u64)> = keys.iter().map(|k| (&k.key[..], k.version.get())).collect();
    assert_eq!(
        order,
        [
            (&b""[..], 2),
            (b"a", 3),
            (b"a", 2),
            (b"a", 1),
            (b"ab", 9),
            (b"b", 1)
        ]
    );
}

#[test]
fn probes_bracket_all_versions_of_a_key() {
    let first = Probe::before_all_versions_of(b"k");
    let last = Probe::after_all_versions_of(b"k");
    let newest = key(b"k", u64::MAX - 1);
    let oldest = key(b"k", 1);
    let newest: &dyn SeekKey = &newest;
    let oldest: &dyn SeekKey = &oldest;
    assert!((&first as &dyn SeekKey) < newest);
    assert!(oldest < (&last as &dyn SeekKey));
    let shorter = key(b"j\xff", 1);
    let longer = key(b"k\x00", u64::MAX);
    assert!((&shorter as &dyn SeekKey) < (&first as &dyn SeekKey));
    assert!((&last as &dyn SeekKey) < (&longer as &dyn SeekKey));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // `Borrow` demands that the borrowed form orders like the owned one; the skiplist's lookups
    // silently go wrong otherwise.
    #[test]
    fn borrowed_order_matches_owned_order(
        a in prop::collection::vec(any::<u8>(), 0..4),
        av in 0u64..4,
        b in prop::collection::vec(any::<u8>(), 0..4),
        bv in 0u64..4,
    ) {
        let (owned_a, owned_b) = (key(&a, av), key(&b, bv));
        let probe_a = Probe::at(&a, Version::new(av));
        let owned = owned_a.cmp(&owned_b);
        let borrowed = Borrow::<dyn SeekKey>::borrow(&owned_a).cmp(Borrow::<dyn SeekKey>::borrow(&owned_b));
        let probed = (&probe_a as &dyn SeekKey).cmp(Borrow::<dyn SeekKey>::borrow(&owned_b));
        prop_assert_eq!(owned, borrowed);
        prop_assert_eq!(owned, probed);
        let expected = a.cmp(&b).then(bv.cmp(&av));
        prop_assert_eq!(owned, expected);
        prop_assert_eq!(owned == Ordering::Equal, owned_a == owned_b);
    }
}

#[test]
fn a_record_stays_small() {
    // 56 bytes plus the Arc's two counts is 72: one 80-byte allocation per version. Growing it
    // moves every version into a larger size class (see the memory target in docs/PERFORMANCE.md).
    assert_eq!(std::mem::size_of::<Record>(), 56);
    assert_eq!(std::mem::size_of::<VersionKey>(), 24);
}

#[test]
fn a_value_reads_until_it_expires() {
    let record = Record::new(
        Version::new(1),
        RunId::NIL,
        Timestamp::EPOCH,
        put(b"x", Some(10)),
    );
    assert_eq!(
        &record.read(Timestamp::from_micros(9)).unwrap().value[..],
        b"x"
    );
    assert!(
        record.read(Timestamp::from_micros(10)).is_none(),
        "expires_at <= now"
    );
    assert!(!record.is_absent_at(Timestamp::from_micros(9)));
    assert!(record.is_absent_at(Timestamp::from_micros(10)));
}

#[test]
fn a_tombstone_is_always_absent() {
    let record = Record::new(
        Version::new(1),
        RunId::NIL,
        Timestamp::EPOCH,
        MutationKind::Delete,
    );
    assert!(record.read(Timestamp::EPOCH).is_none());
    assert!(record.is_absent_at(Timestamp::EPOCH));
    assert_eq!(record.kind(), MutationKind::Delete);
}

#[test]
fn a_read_returns_every_field_of_the_version() {
    let writer = RunId::new();
    let record = Record::new(
        Version::new(7),
        writer,
        Timestamp::from_micros(99),
        put(b"val", Some(500)),
    );
    let read = record.read(Timestamp::from_micros(100)).unwrap();
    assert_eq!(read.version, Version::new(7));
    assert_eq!(read.writer, writer);
    assert_eq!(read.timestamp, Timestamp::from_micros(99));
    assert_eq!(read.expires_at, Some(Timestamp::from_micros(500)));
    assert_eq!(record.kind(), put(b"val", Some(500)));
}

#[test]
fn an_expiry_at_the_end_of_time_is_no_expiry() {
    let record = Record::new(
        Version::new(1),
        RunId::NIL,
        Timestamp::EPOCH,
        put(b"x", Some(u64::MAX)),
    );
    assert_eq!(record.expires_at(), None);
    assert!(record.read(Timestamp::MAX).is_some());
}

#[test]
fn same_key_compares_bytes_when_allocations_differ() {
    let a: Arc<[u8]> = Arc::from(&b"key"[..]);
    let b: Arc<[u8]> = Arc::from(&b"key"[..]);
    let c: Arc<[u8]> = Arc::from(&b"kez"[..]);
    assert!(same_key(&a, &a));
    assert!(same_key(&a, &b));
    assert!(!same_key(&a, &c));
}
