//! Unit tests of prefix and range scans: boundaries, hidden keys, skipping many versions.

use std::ops::Bound;

use in_mem_core_types::{RunId, Timestamp, Version};

use crate::{Memtable, Mutation, ReadView};

const NOW: Timestamp = Timestamp::from_micros(1_000);

fn commit(memtable: &Memtable, writer: RunId, mutations: &[Mutation]) -> Version {
    let version = memtable.versions().allocate();
    memtable.apply(version, writer, NOW, mutations);
    memtable.versions().publish(version);
    version
}

fn puts(keys: &[&[u8]]) -> Vec<Mutation> {
    keys.iter().map(|key| Mutation::put(*key, *key)).collect()
}

fn keys_of(scan: impl Iterator<Item = (std::sync::Arc<[u8]>, crate::StoredValue)>) -> Vec<Vec<u8>> {
    scan.map(|(key, _)| key.to_vec()).collect()
}

fn memtable_with(keys: &[&[u8]]) -> (Memtable, ReadView) {
    let memtable = Memtable::new(Version::ZERO);
    let version = commit(&memtable, RunId::new(), &puts(keys));
    (memtable, ReadView::at(version))
}

#[test]
fn a_prefix_scan_yields_exactly_the_keys_under_the_prefix_in_order() {
    let (memtable, view) = memtable_with(&[b"b", b"abc", b"a", b"ab", b"aa\xff", b"ac", b""]);
    let scan = |prefix: &[u8]| keys_of(memtable.scan_prefix(prefix, view.clone(), NOW));
    assert_eq!(scan(b"ab"), [b"ab".to_vec(), b"abc".to_vec()]);
    assert_eq!(
        scan(b"a"),
        [
            b"a".to_vec(),
            b"aa\xff".to_vec(),
            b"ab".to_vec(),
            b"abc".to_vec(),
            b"ac".to_vec()
        ]
    );
    assert_eq!(scan(b"").len(), 7, "the empty prefix is everything");
    assert!(scan(b"abcd").is_empty());
    assert!(scan(b"z").is_empty());
}

#[test]
fn a_prefix_of_ff_bytes_stops_at_the_end_of_the_map() {
    let (memtable, view) = memtable_with(&[b"\xfe", b"\xff", b"\xff\xff", b"\xff\xff\x00"]);
    let scan = |prefix: &[u8]| keys_of(memtable.scan_prefix(prefix, view.clone(), NOW));
    assert_eq!(
        scan(b"\xff\xff"),
        [b"\xff\xff".to_vec(), b"\xff\xff\x00".to_vec()]
    );
    assert_eq!(scan(b"\xff").len(), 3);
}

#[test]
fn a_scan_skips_deleted_and_expired_keys_but_not_keys_live_in_its_view() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    let before = commit(&memtable, run, &puts(&[b"p1", b"p2", b"p3", b"p4"]));
    commit(
        &memtable,
        run,
        &[
            Mutation::delete(&b"p2"[..]),
            Mutation::put_expiring(&b"p3"[..], &b"soon"[..], Timestamp::from_micros(10)),
        ],
    );
    let after = ReadView::at(memtable.versions().visible());
    let at =
        |view, micros| keys_of(memtable.scan_prefix(b"p", view, Timestamp::from_micros(micros)));
    assert_eq!(
        at(after.clone(), 9),
        [b"p1".to_vec(), b"p3".to_vec(), b"p4".to_vec()]
    );
    assert_eq!(at(after.clone(), 10), [b"p1".to_vec(), b"p4".to_vec()]);
    assert_eq!(
        at(ReadView::at(before), 10).len(),
        4,
        "the old view predates both"
    );
    let values: Vec<_> = memtable
        .scan_prefix(b"p3", after.clone(), Timestamp::from_micros(9))
        .map(|(_, read)| read.value.to_vec())
        .collect();
    assert_eq!(values, [b"soon".to_vec()]);
}

#[test]
fn a_scan_over_keys_with_many_versions_returns_each_keys_visible_version() {
    // More versions per key than the scan steps over before seeking, above and below the view.
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    let mut middle = Version::ZERO;
    for round in 0u8..40 {
        let mutations: Vec<Mutation> = [&b"m1"[..], b"m2", b"m3"]
            .iter()
            .map(|key| Mutation::put(*key, vec![round]))
            .collect();
        let version = commit(&memtable, run, &mutations);
        if round == 19 {
            middle = version;
        }
    }
    for (view, expected) in [
        (ReadView::at(middle), 19u8),
        (ReadView::at(Version::MAX), 39),
    ] {
        let scanned: Vec<_> = memtable.scan_prefix(b"m", view, NOW).collect();
        let got: Vec<(Vec<u8>, Vec<u8>)> = scanned
            .iter()
            .map(|(k, r)| (k.to_vec(), r.value.to_vec()))
            .collect();
        assert_eq!(
            got,
            [
                (b"m1".to_vec(), vec![expected]),
                (b"m2".to_vec(), vec![expected]),
                (b"m3".to_vec(), vec![expected])
            ]
        );
    }
}

#[test]
fn keys_with_long_short_and_single_histories_mixed_each_come_back_once() {
    // The scan seeks after one step for the keys that follow a long history, and steps fully
    // again later: every mix of history lengths must still yield each live key once, in order,
    // with its newest value (deleted keys not at all).
    let lengths: [u8; 14] = [20, 3, 1, 12, 2, 9, 1, 1, 30, 8, 40, 4, 1, 15];
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    for round in 0u8..40 {
        let mutations: Vec<Mutation> = (0u8..70)
            .filter(|k| round < lengths[usize::from(k % 14)])
            .map(|k| {
                let key = vec![b'k', k];
                // Every fifth key's last version deletes it.
                if k % 5 == 4 && round + 1 == lengths[usize::from(k % 14)] {
                    Mutation::delete(key)
                } else {
                    Mutation::put(key, vec![round])
                }
            })
            .collect();
        commit(&memtable, run, &mutations);
    }
    let expected: Vec<(Vec<u8>, Vec<u8>)> = (0u8..70)
        .filter(|k| k % 5 != 4)
        .map(|k| (vec![b'k', k], vec![lengths[usize::from(k % 14)] - 1]))
        .collect();
    let scanned: Vec<(Vec<u8>, Vec<u8>)> = memtable
        .scan_prefix(b"k", ReadView::at(Version::MAX), NOW)
        .map(|(k, r)| (k.to_vec(), r.value.to_vec()))
        .collect();
    assert_eq!(scanned, expected);
}

#[test]
fn a_run_scans_its_own_writes_among_many_foreign_versions() {
    let memtable = Memtable::new(Version::ZERO);
    let (mine, theirs) = (RunId::new(), RunId::new());
    commit(&memtable, theirs, &puts(&[b"k1", b"k2"]));
    let snapshot = memtable.versions().visible();
    let mut own = Version::ZERO;
    for round in 0u8..30 {
        let writer = if round == 5 { mine } else { theirs };
        let version = commit(&memtable, writer, &[Mutation::put(&b"k1"[..], vec![round])]);
        if writer == mine {
            own = version;
        }
    }
    let view = ReadView::for_run(snapshot, mine, own);
    let got: Vec<(Vec<u8>, Vec<u8>)> = memtable
        .scan_prefix(b"k", view, NOW)
        .map(|(k, r)| (k.to_vec(), r.value.to_vec()))
        .collect();
    assert_eq!(
        got,
        [(b"k1".to_vec(), vec![5]), (b"k2".to_vec(), b"k2".to_vec())]
    );
}

#[test]
fn a_key_whose_versions_are_all_invisible_is_skipped() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    let first = commit(&memtable, run, &puts(&[b"a", b"c"]));
    for _ in 0..12 {
        commit(&memtable, run, &puts(&[b"b"]));
    }
    let scanned = keys_of(memtable.scan_prefix(b"", ReadView::at(first), NOW));
    assert_eq!(scanned, [b"a".to_vec(), b"c".to_vec()]);
}

#[test]
fn a_range_scan_honours_each_kind_of_bound() {
    let (memtable, view) = memtable_with(&[b"a", b"b", b"c", b"d"]);
    let scan = |start, end| keys_of(memtable.scan_range(start, end, view.clone(), NOW));
    let (b, c): (&[u8], &[u8]) = (b"b", b"c");
    assert_eq!(
        scan(Bound::Included(b), Bound::Included(c)),
        [b.to_vec(), c.to_vec()]
    );
    assert_eq!(
        scan(Bound::Excluded(b), Bound::Excluded(c)),
        Vec::<Vec<u8>>::new()
    );
    assert_eq!(
        scan(Bound::Excluded(b), Bound::Unbounded),
        [c.to_vec(), b"d".to_vec()]
    );
    assert_eq!(
        scan(Bound::Unbounded, Bound::Excluded(c)),
        [b"a".to_vec(), b.to_vec()]
    );
    assert_eq!(scan(Bound::Unbounded, Bound::Unbounded).len(), 4);
    assert_eq!(
        scan(Bound::Included(b"bb"), Bound::Unbounded),
        [c.to_vec(), b"d".to_vec()]
    );
}

#[test]
fn a_scan_is_fused_once_it_ends() {
    let (memtable, view) = memtable_with(&[b"a", b"b"]);
    let mut scan = memtable.scan_prefix(b"a", view, NOW);
    assert!(scan.next().is_some());
    assert!(scan.next().is_none());
    assert!(scan.next().is_none());
}
