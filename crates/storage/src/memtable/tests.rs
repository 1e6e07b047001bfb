//! Unit tests of apply and get: visibility, own writes, expiry, out-of-order arrival.

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::*;
use crate::MutationKind;

const NOW: Timestamp = Timestamp::from_micros(1_000);

fn v(n: u64) -> Version {
    Version::new(n)
}

/// Applies and publishes one commit of `mutations` at the next version.
fn commit(memtable: &Memtable, writer: RunId, mutations: &[Mutation]) -> Version {
    let version = memtable.versions().allocate();
    memtable.apply(version, writer, NOW, mutations);
    memtable.versions().publish(version);
    version
}

fn value_at(memtable: &Memtable, key: &[u8], view: &ReadView) -> Option<Vec<u8>> {
    memtable.get(key, view, NOW).map(|read| read.value.to_vec())
}

#[test]
fn get_returns_the_newest_version_the_snapshot_sees() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    for value in [&b"one"[..], b"two", b"three"] {
        commit(&memtable, run, &[Mutation::put(&b"k"[..], value)]);
    }
    assert_eq!(value_at(&memtable, b"k", &ReadView::at(v(0))), None);
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(v(1))).unwrap(),
        b"one"
    );
    // Snapshots older than the newest version take the skiplist path.
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(v(2))).unwrap(),
        b"two"
    );
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(v(3))).unwrap(),
        b"three"
    );
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(Version::MAX)).unwrap(),
        b"three"
    );
    let read = memtable.get(b"k", &ReadView::at(v(2)), NOW).unwrap();
    assert_eq!(
        (read.version, read.writer, read.timestamp),
        (v(2), run, NOW)
    );
    assert_eq!(value_at(&memtable, b"other", &ReadView::at(v(3))), None);
}

#[test]
fn a_run_sees_its_own_writes_above_its_snapshot_and_nobody_elses() {
    let memtable = Memtable::new(Version::ZERO);
    let (mine, theirs) = (RunId::new(), RunId::new());
    commit(&memtable, theirs, &[Mutation::put(&b"k"[..], &b"base"[..])]); // v1
    let mine_v2 = commit(&memtable, mine, &[Mutation::put(&b"k"[..], &b"mine"[..])]);
    commit(
        &memtable,
        theirs,
        &[Mutation::put(&b"k"[..], &b"theirs"[..])],
    ); // v3
    let my_view = ReadView::for_run(v(1), mine, mine_v2);
    assert_eq!(value_at(&memtable, b"k", &my_view).unwrap(), b"mine");
    let their_view = ReadView::for_run(v(1), theirs, v(3));
    assert_eq!(value_at(&memtable, b"k", &their_view).unwrap(), b"theirs");
    // A third run that began at v1 sees neither later write.
    let other_view = ReadView::for_run(v(1), RunId::new(), v(3));
    assert_eq!(value_at(&memtable, b"k", &other_view).unwrap(), b"base");
}

#[test]
fn own_writes_below_another_runs_newer_version_are_found() {
    // The index's newest version is another run's; the run's own older write lies below it.
    let memtable = Memtable::new(Version::ZERO);
    let (mine, theirs) = (RunId::new(), RunId::new());
    let mine_v1 = commit(&memtable, mine, &[Mutation::put(&b"k"[..], &b"mine"[..])]);
    for _ in 0..20 {
        commit(
            &memtable,
            theirs,
            &[Mutation::put(&b"k"[..], &b"theirs"[..])],
        );
    }
    let view = ReadView::for_run(Version::ZERO, mine, mine_v1);
    assert_eq!(value_at(&memtable, b"k", &view).unwrap(), b"mine");
}

#[test]
fn a_tombstone_hides_older_versions() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    commit(&memtable, run, &[Mutation::put(&b"k"[..], &b"x"[..])]);
    let deleted = commit(&memtable, run, &[Mutation::delete(&b"k"[..])]);
    assert_eq!(value_at(&memtable, b"k", &ReadView::at(deleted)), None);
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(v(1))).unwrap(),
        b"x"
    );
    assert_eq!(memtable.key_count(), 1, "stored until swept");
    assert_eq!(memtable.newest_version(b"k"), Some(deleted));
}

#[test]
fn an_expired_value_reads_as_absent_and_hides_older_versions() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    commit(&memtable, run, &[Mutation::put(&b"k"[..], &b"old"[..])]);
    let expiring = Mutation::put_expiring(&b"k"[..], &b"new"[..], Timestamp::from_micros(50));
    let latest = ReadView::at(commit(&memtable, run, &[expiring]));
    let at = |micros| memtable.get(b"k", &latest, Timestamp::from_micros(micros));
    assert_eq!(&at(49).unwrap().value[..], b"new");
    assert_eq!(at(49).unwrap().expires_at, Some(Timestamp::from_micros(50)));
    assert!(at(50).is_none(), "expired at expires_at itself");
    assert!(at(51).is_none(), "the older value must not show through");
}

#[test]
fn versions_of_a_key_applied_out_of_order_leave_the_newest_in_the_index() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    let (first, second, third) = (
        memtable.versions().allocate(),
        memtable.versions().allocate(),
        memtable.versions().allocate(),
    );
    memtable.apply(third, run, NOW, &[Mutation::put(&b"k"[..], &b"3"[..])]);
    memtable.apply(first, run, NOW, &[Mutation::put(&b"k"[..], &b"1"[..])]);
    memtable.apply(second, run, NOW, &[Mutation::delete(&b"k"[..])]);
    for version in [second, third, first] {
        memtable.versions().publish(version);
    }
    assert_eq!(memtable.newest_version(b"k"), Some(third));
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(third)).unwrap(),
        b"3"
    );
    assert_eq!(value_at(&memtable, b"k", &ReadView::at(second)), None);
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(first)).unwrap(),
        b"1"
    );
    assert_eq!(memtable.version_count(), 3);
    assert_eq!(memtable.key_count(), 1);
}

#[test]
fn apply_does_not_publish() {
    let memtable = Memtable::new(Version::ZERO);
    let version = memtable.versions().allocate();
    memtable.apply(
        version,
        RunId::new(),
        NOW,
        &[Mutation::put(&b"k"[..], &b"x"[..])],
    );
    assert_eq!(memtable.versions().visible(), Version::ZERO);
    assert!(
        memtable
            .get(b"k", &ReadView::at(memtable.versions().visible()), NOW)
            .is_none()
    );
}

#[test]
fn a_later_write_of_a_key_in_one_commit_wins_in_both_structures() {
    let memtable = Memtable::new(Version::ZERO);
    let version = commit(
        &memtable,
        RunId::new(),
        &[
            Mutation::put(&b"k"[..], &b"first"[..]),
            Mutation::put(&b"k"[..], &b"second"[..]),
        ],
    );
    // The index answers this one...
    assert_eq!(
        value_at(&memtable, b"k", &ReadView::at(version)).unwrap(),
        b"second"
    );
    // ...and a scan walks the skiplist.
    let scanned: Vec<_> = memtable
        .scan_prefix(b"k", ReadView::at(version), NOW)
        .collect();
    assert_eq!(scanned.len(), 1);
    assert_eq!(&scanned[0].1.value[..], b"second");
    assert_eq!(memtable.version_count(), 1);
}

#[test]
fn all_versions_of_a_key_share_one_key_allocation() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    for _ in 0..3 {
        // A fresh allocation of the same key bytes every time, as the engine would pass.
        commit(
            &memtable,
            run,
            &[Mutation::put(b"shared".to_vec(), b"x".to_vec())],
        );
    }
    let keys: Vec<Arc<[u8]>> = memtable.iter_versions().map(|stored| stored.key).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.windows(2).all(|pair| Arc::ptr_eq(&pair[0], &pair[1])));
}

#[test]
fn iter_versions_yields_everything_in_order_and_rebuilds_the_memtable() {
    let memtable = Memtable::new(Version::ZERO);
    let (a, b) = (RunId::new(), RunId::new());
    commit(
        &memtable,
        a,
        &[
            Mutation::put(&b"y"[..], &b"1"[..]),
            Mutation::put(&b"x"[..], &b"1"[..]),
        ],
    );
    commit(&memtable, b, &[Mutation::delete(&b"x"[..])]);
    commit(
        &memtable,
        a,
        &[Mutation::put_expiring(
            &b"x"[..],
            &b"3"[..],
            Timestamp::from_micros(5),
        )],
    );
    let stored: Vec<StoredVersion> = memtable.iter_versions().collect();
    let order: Vec<(&[u8], u64)> = stored
        .iter()
        .map(|s| (&s.key[..], s.version.get()))
        .collect();
    assert_eq!(order, [(&b"x"[..], 3), (b"x", 2), (b"x", 1), (b"y", 1)]);
    assert_eq!(stored[1].kind, MutationKind::Delete);
    assert_eq!(stored[1].writer, b);

    let rebuilt = Memtable::new(memtable.versions().visible());
    for version in &stored {
        let mutation = Mutation {
            key: Arc::clone(&version.key),
            kind: version.kind.clone(),
        };
        rebuilt.apply(
            version.version,
            version.writer,
            version.timestamp,
            &[mutation],
        );
    }
    assert_eq!(rebuilt.iter_versions().collect::<Vec<_>>(), stored);
    for snapshot in 0..=3 {
        let view = ReadView::at(v(snapshot));
        for key in [&b"x"[..], b"y"] {
            assert_eq!(rebuilt.get(key, &view, NOW), memtable.get(key, &view, NOW));
        }
    }
}

#[test]
fn the_memtable_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Memtable>();
    assert_send_sync::<VersionCounter>();
}

#[test]
fn lookup_names_the_version_seen_even_when_it_is_a_tombstone_or_expired() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    let put = commit(&memtable, run, &[Mutation::put(&b"k"[..], &b"v"[..])]);
    let delete = commit(&memtable, run, &[Mutation::delete(&b"k"[..])]);
    let expiring = commit(
        &memtable,
        run,
        &[Mutation::put_expiring(&b"e"[..], &b"x"[..], NOW)],
    );
    let latest = ReadView::at(Version::MAX);
    let tomb = memtable.lookup(b"k", &latest, NOW).unwrap();
    assert_eq!((tomb.version, tomb.live), (delete, None));
    // An older view takes the skiplist path and sees the put, live.
    let old = memtable.lookup(b"k", &ReadView::at(put), NOW).unwrap();
    assert_eq!(old.version, put);
    assert_eq!(&*old.live.unwrap().value, b"v");
    let expired = memtable.lookup(b"e", &latest, NOW).unwrap();
    assert_eq!((expired.version, expired.live), (expiring, None));
    assert_eq!(memtable.lookup(b"absent", &latest, NOW), None);
    assert_eq!(
        memtable.lookup(b"k", &ReadView::at(Version::ZERO), NOW),
        None
    );
}

#[test]
fn remove_prefix_takes_every_version_of_the_range_and_nothing_beside_it() {
    let memtable = Memtable::new(Version::ZERO);
    let run = RunId::new();
    for round in 0..3u8 {
        commit(
            &memtable,
            run,
            &[
                Mutation::put(&b"a/1"[..], &[round][..]),
                Mutation::put(&b"b/1"[..], &[round][..]),
                Mutation::put(&b"b/2"[..], &[round][..]),
                Mutation::put(&b"b0"[..], &[round][..]),
                Mutation::put(&b"c/1"[..], &[round][..]),
            ],
        );
    }
    commit(&memtable, run, &[Mutation::delete(&b"b/2"[..])]);
    let now = ReadView::at(memtable.versions().visible());

    // Three versions of b/1, three values and a tombstone of b/2.
    assert_eq!(memtable.remove_prefix(b"b/"), 7);

    assert_eq!(value_at(&memtable, b"b/1", &now), None);
    assert_eq!(memtable.newest_version(b"b/1"), None);
    assert_eq!(memtable.newest_version(b"b/2"), None);
    assert_eq!(memtable.scan_prefix(b"b/", now.clone(), NOW).count(), 0);
    for kept in [&b"a/1"[..], b"b0", b"c/1"] {
        assert_eq!(value_at(&memtable, kept, &now).unwrap(), [2]);
        assert_eq!(memtable.newest_version(kept), Some(v(3)));
    }
    assert_eq!(memtable.key_count(), 3);
    assert_eq!(memtable.version_count(), 9);
    // The range can be filled again, at versions it held before.
    memtable.apply(v(2), run, NOW, &[Mutation::put(&b"b/1"[..], &b"again"[..])]);
    assert_eq!(value_at(&memtable, b"b/1", &now).unwrap(), b"again");
}
