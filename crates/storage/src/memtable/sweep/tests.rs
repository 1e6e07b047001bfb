//! Unit tests of the sweeper: what goes, what stays, and sweeping beside writers.

use std::sync::Arc;
use std::thread;

use in_mem_core_types::{RunId, Timestamp, Version};

use crate::{Memtable, Mutation, ReadView, SweepStats};

const NOW: Timestamp = Timestamp::from_micros(1_000);

fn v(n: u64) -> Version {
    Version::new(n)
}

fn commit(memtable: &Memtable, mutations: &[Mutation]) -> Version {
    let version = memtable.versions().allocate();
    memtable.apply(version, RunId::NIL, NOW, mutations);
    memtable.versions().publish(version);
    version
}

fn put(key: &[u8], value: &[u8]) -> Mutation {
    Mutation::put(key, value)
}

fn stored_versions_of(memtable: &Memtable, key: &[u8]) -> Vec<u64> {
    memtable
        .iter_versions()
        .filter(|stored| &stored.key[..] == key)
        .map(|stored| stored.version.get())
        .collect()
}

#[test]
fn versions_hidden_below_the_horizon_go_and_the_newest_at_or_below_it_stays() {
    let memtable = Memtable::new(Version::ZERO);
    for value in [&b"1"[..], b"2", b"3", b"4"] {
        commit(&memtable, &[put(b"k", value)]);
    }
    let stats = memtable.sweep(v(3), NOW);
    assert_eq!(
        stats,
        SweepStats {
            versions_removed: 2,
            keys_removed: 0
        }
    );
    assert_eq!(stored_versions_of(&memtable, b"k"), [4, 3]);
    assert_eq!(
        &memtable.get(b"k", &ReadView::at(v(3)), NOW).unwrap().value[..],
        b"3"
    );
    assert_eq!(
        &memtable.get(b"k", &ReadView::at(v(4)), NOW).unwrap().value[..],
        b"4"
    );
}

#[test]
fn a_tombstone_at_or_below_the_horizon_takes_the_whole_key_with_it() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[put(b"k", b"1"), put(b"other", b"x")]);
    commit(&memtable, &[put(b"k", b"2")]);
    let deleted = commit(&memtable, &[Mutation::delete(&b"k"[..])]);
    let stats = memtable.sweep(deleted, NOW);
    assert_eq!(
        stats,
        SweepStats {
            versions_removed: 3,
            keys_removed: 1
        }
    );
    assert!(stored_versions_of(&memtable, b"k").is_empty());
    assert_eq!(memtable.newest_version(b"k"), None);
    assert_eq!(memtable.key_count(), 1);
    assert_eq!(memtable.version_count(), 1);
    // The key can be written again afterwards.
    let again = commit(&memtable, &[put(b"k", b"again")]);
    assert_eq!(
        &memtable.get(b"k", &ReadView::at(again), NOW).unwrap().value[..],
        b"again"
    );
}

#[test]
fn an_expired_value_at_or_below_the_horizon_goes_once_now_passes_its_expiry() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[put(b"k", b"old")]);
    let expiring = Mutation::put_expiring(&b"k"[..], &b"ttl"[..], Timestamp::from_micros(500));
    let version = commit(&memtable, &[expiring]);
    let early = memtable.sweep(version, Timestamp::from_micros(499));
    assert_eq!(
        early,
        SweepStats {
            versions_removed: 1,
            keys_removed: 0
        },
        "only the old one"
    );
    assert_eq!(stored_versions_of(&memtable, b"k"), [2]);
    let late = memtable.sweep(version, Timestamp::from_micros(500));
    assert_eq!(
        late,
        SweepStats {
            versions_removed: 1,
            keys_removed: 1
        }
    );
    assert_eq!(memtable.key_count(), 0);
}

#[test]
fn versions_above_the_horizon_stay_even_tombstones_and_expired_values() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[put(b"k", b"1")]);
    commit(&memtable, &[Mutation::delete(&b"k"[..])]);
    commit(
        &memtable,
        &[Mutation::put_expiring(
            &b"k"[..],
            &b"3"[..],
            Timestamp::from_micros(1),
        )],
    );
    let stats = memtable.sweep(v(1), NOW);
    assert_eq!(stats, SweepStats::default());
    assert_eq!(stored_versions_of(&memtable, b"k"), [3, 2, 1]);
    assert_eq!(
        &memtable.get(b"k", &ReadView::at(v(1)), NOW).unwrap().value[..],
        b"1"
    );
}

#[test]
fn a_tombstone_below_newer_versions_goes_but_the_key_stays_indexed() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[put(b"k", b"1")]);
    commit(&memtable, &[Mutation::delete(&b"k"[..])]);
    commit(&memtable, &[put(b"k", b"3")]);
    let stats = memtable.sweep(v(2), NOW);
    assert_eq!(
        stats,
        SweepStats {
            versions_removed: 2,
            keys_removed: 0
        }
    );
    assert_eq!(stored_versions_of(&memtable, b"k"), [3]);
    assert_eq!(memtable.newest_version(b"k"), Some(v(3)));
    assert!(memtable.get(b"k", &ReadView::at(v(2)), NOW).is_none());
    assert_eq!(
        &memtable.get(b"k", &ReadView::at(v(3)), NOW).unwrap().value[..],
        b"3"
    );
}

#[test]
fn the_horizon_is_clamped_to_the_visible_version() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[put(b"k", b"1")]);
    let unpublished = memtable.versions().allocate();
    memtable.apply(unpublished, RunId::NIL, NOW, &[Mutation::delete(&b"k"[..])]);
    // A caller passing a horizon above `visible` must not get the in-flight delete swept.
    let stats = memtable.sweep(Version::MAX, NOW);
    assert_eq!(stats, SweepStats::default());
    assert_eq!(stored_versions_of(&memtable, b"k"), [2, 1]);
    memtable.versions().publish(unpublished);
    assert_eq!(memtable.sweep(Version::MAX, NOW).keys_removed, 1);
}

#[test]
fn a_second_sweep_at_the_same_horizon_finds_nothing() {
    let memtable = Memtable::new(Version::ZERO);
    for round in 0u8..5 {
        commit(
            &memtable,
            &[
                put(b"a", &[round]),
                Mutation::delete(&b"b"[..]),
                put(b"c", &[round]),
            ],
        );
    }
    let first = memtable.sweep(v(4), NOW);
    // "b": the tombstone at v4 and everything below; its v5 tombstone keeps it indexed.
    assert_eq!(
        first,
        SweepStats {
            versions_removed: 3 + 4 + 3,
            keys_removed: 0
        }
    );
    assert_eq!(memtable.sweep(v(4), NOW), SweepStats::default());
    assert_eq!(
        memtable.sweep(v(5), NOW),
        SweepStats {
            versions_removed: 3,
            keys_removed: 1
        }
    );
    assert_eq!(memtable.sweep(v(5), NOW), SweepStats::default());
}

#[test]
fn a_version_applied_while_its_key_is_swept_away_stays_readable() {
    // The race the conditional index removal exists for: the sweeper removes a deleted key while
    // a writer applies a new version of it. Whichever wins the index's shard lock, the new
    // version must end up in the index, or gets would miss it forever.
    for _ in 0..300 {
        let memtable = Arc::new(Memtable::new(Version::ZERO));
        commit(&memtable, &[put(b"k", b"old")]);
        let deleted = commit(&memtable, &[Mutation::delete(&b"k"[..])]);
        let revived = memtable.versions().allocate();
        let writer = {
            let memtable = Arc::clone(&memtable);
            thread::spawn(move || {
                memtable.apply(revived, RunId::NIL, NOW, &[put(b"k", b"new")]);
                memtable.versions().publish(revived);
            })
        };
        memtable.sweep(deleted, NOW);
        writer.join().unwrap();
        let read = memtable
            .get(b"k", &ReadView::at(revived), NOW)
            .expect("the new version");
        assert_eq!(&read.value[..], b"new");
        assert_eq!(memtable.newest_version(b"k"), Some(revived));
        assert_eq!(stored_versions_of(&memtable, b"k"), [revived.get()]);
    }
}
