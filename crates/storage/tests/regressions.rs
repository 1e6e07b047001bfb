//! Named regressions from a comparable system (docs/TESTING.md): each test is named after the bug.

#![cfg(not(inmem_loom))]

use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation, ReadView};

const NOW: Timestamp = Timestamp::from_micros(1_000);

fn commit(memtable: &Memtable, mutations: &[Mutation]) -> Version {
    let version = memtable.versions().allocate();
    memtable.apply(version, RunId::new(), NOW, mutations);
    memtable.versions().publish(version);
    version
}

fn live_keys(memtable: &Memtable, view: ReadView) -> Vec<Vec<u8>> {
    memtable
        .scan_prefix(b"", view, NOW)
        .map(|(key, _)| key.to_vec())
        .collect()
}

#[test]
fn deleting_a_key_dropped_versions_an_open_snapshot_still_needed() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[Mutation::put(&b"k"[..], &b"first"[..])]);
    let open = commit(&memtable, &[Mutation::put(&b"k"[..], &b"second"[..])]);
    // A run begins here and keeps reading while the key is deleted and the sweeper runs.
    let snapshot = ReadView::at(open);
    let deleted = commit(&memtable, &[Mutation::delete(&b"k"[..])]);

    // The oldest snapshot in use is `open`: the delete lies above it and must not take "second"
    // with it ("first" is hidden by "second" and may go).
    let stats = memtable.sweep(open, NOW);
    assert_eq!(stats.versions_removed, 1);
    let read = memtable
        .get(b"k", &snapshot, NOW)
        .expect("the open snapshot's value");
    assert_eq!(&read.value[..], b"second");
    assert_eq!(live_keys(&memtable, snapshot), [b"k".to_vec()]);
    assert!(memtable.get(b"k", &ReadView::at(deleted), NOW).is_none());

    // Once the snapshot closes, the key goes entirely.
    let stats = memtable.sweep(deleted, NOW);
    assert_eq!((stats.versions_removed, stats.keys_removed), (2, 1));
    assert_eq!(memtable.key_count(), 0);
}

#[test]
fn deleted_keys_still_showed_in_list_and_count() {
    let memtable = Memtable::new(Version::ZERO);
    commit(
        &memtable,
        &[
            Mutation::put(&b"a"[..], &b"1"[..]),
            Mutation::put(&b"b"[..], &b"2"[..]),
            Mutation::put(&b"c"[..], &b"3"[..]),
            Mutation::put_expiring(&b"d"[..], &b"4"[..], NOW),
        ],
    );
    let latest = ReadView::at(commit(&memtable, &[Mutation::delete(&b"b"[..])]));

    // Listing and counting at the latest view show neither the deleted nor the expired key...
    assert_eq!(
        live_keys(&memtable, latest.clone()),
        [b"a".to_vec(), b"c".to_vec()]
    );
    assert_eq!(memtable.scan_prefix(b"", latest.clone(), NOW).count(), 2);
    assert_eq!(memtable.scan_prefix(b"b", latest.clone(), NOW).count(), 0);
    // ...and once swept, they are gone from the stored key count too.
    let stats = memtable.sweep(latest.snapshot, NOW);
    assert_eq!(stats.keys_removed, 2);
    assert_eq!(memtable.key_count(), 2);
    assert_eq!(memtable.version_count(), 2);

    // A deleted key written again is listed again.
    let again = commit(&memtable, &[Mutation::put(&b"b"[..], &b"back"[..])]);
    assert_eq!(
        live_keys(&memtable, ReadView::at(again)),
        [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(memtable.key_count(), 3);
}

#[test]
fn a_past_read_that_sought_past_every_remaining_version_missed_the_cut() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[Mutation::put(&b"k"[..], &b"1"[..])]);
    let past = commit(&memtable, &[Mutation::put(&b"k"[..], &b"2"[..])]);
    let newest = commit(&memtable, &[Mutation::put(&b"k"[..], &b"3"[..])]);
    // A key after "k", so that a seek past k's versions lands on something.
    commit(&memtable, &[Mutation::put(&b"l"[..], &b"x"[..])]);
    memtable.sweep(newest, NOW);
    // A view of the past: its answer ("2") was reclaimed. Its seek for k at or below `past`
    // lands on "l"; only the survivor above ("3", marked "cut below") says versions are gone.
    // It once read as an exact "absent".
    let read = memtable.read(b"k", &ReadView::at(past), NOW);
    assert!(read.found.is_none());
    assert!(
        !read.exact,
        "a reclaimed answer must not read as an exact absence"
    );
    // A view at the newest version is unaffected.
    let read = memtable.read(b"k", &ReadView::at(newest), NOW);
    assert!(read.exact && read.found.is_some());
}

#[test]
fn a_past_scan_that_sought_past_every_remaining_version_missed_the_cut() {
    let memtable = Memtable::new(Version::ZERO);
    commit(&memtable, &[Mutation::put(&b"k"[..], &b"old"[..])]);
    let past = commit(&memtable, &[Mutation::put(&b"k"[..], &b"answer"[..])]);
    // Enough newer versions that a scan seeks instead of stepping down to the view's bound.
    let first_newer = commit(&memtable, &[Mutation::put(&b"k"[..], &b"newer"[..])]);
    for i in 0..20u8 {
        commit(&memtable, &[Mutation::put(&b"k"[..], &[i][..])]);
    }
    commit(&memtable, &[Mutation::put(&b"l"[..], &b"x"[..])]);
    // Keeps what views at `first_newer` and above need (every version from it on): the past
    // view loses "old" and "answer", right below the versions its scan seeks past.
    memtable.sweep(first_newer, NOW);
    let mut scan = memtable.scan_prefix(b"", ReadView::at(past), NOW);
    let keys: Vec<Vec<u8>> = scan.by_ref().map(|(key, _)| key.to_vec()).collect();
    assert!(keys.is_empty(), "{keys:?}");
    assert!(
        !scan.is_exact(),
        "a scan whose seek skipped every remaining version must know the answer may be gone"
    );
}
