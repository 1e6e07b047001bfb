//! Many threads at once: writers apply and publish multi-key commits while readers check that no
//! view ever shows a version above its snapshot or half of a commit, and a sweeper reclaims
//! versions below the oldest snapshot in use.

#![cfg(not(inmem_loom))]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation, ReadView};

const WRITERS: usize = 8;
const READERS: usize = 3;
const COMMITS_PER_WRITER: u64 = 1_000;
const GROUPS: u64 = 5;
const KEYS_PER_GROUP: u64 = 3;
const NOW: Timestamp = Timestamp::from_micros(1);

fn key(group: u64, i: u64) -> Arc<[u8]> {
    Arc::from(format!("g{group}/k{i}").into_bytes())
}

/// Snapshots in use, so the sweeper never passes a horizon above one (as the engine's run
/// registry does): a snapshot is taken and registered under the same lock the sweeper reads.
#[derive(Default)]
struct Snapshots {
    in_use: Mutex<BTreeMap<u64, usize>>,
}

impl Snapshots {
    fn take(&self, memtable: &Memtable) -> Version {
        let mut in_use = self.in_use.lock().expect("a reader panicked");
        let snapshot = memtable.versions().visible();
        *in_use.entry(snapshot.get()).or_default() += 1;
        snapshot
    }

    fn release(&self, snapshot: Version) {
        let mut in_use = self.in_use.lock().expect("a reader panicked");
        let count = in_use
            .get_mut(&snapshot.get())
            .expect("released snapshots were taken");
        *count -= 1;
        if *count == 0 {
            in_use.remove(&snapshot.get());
        }
    }

    fn horizon(&self, memtable: &Memtable) -> Version {
        let in_use = self.in_use.lock().expect("a reader panicked");
        let visible = memtable.versions().visible();
        in_use
            .keys()
            .next()
            .map_or(visible, |oldest| Version::new(*oldest))
    }
}

#[test]
fn readers_never_see_a_version_above_their_snapshot_nor_half_a_commit() {
    let memtable = Arc::new(Memtable::new(Version::ZERO));
    let snapshots = Arc::new(Snapshots::default());
    let writers_done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS as u64)
        .map(|w| {
            let memtable = Arc::clone(&memtable);
            thread::spawn(move || {
                let run = RunId::new();
                for i in 0..COMMITS_PER_WRITER {
                    let versions = memtable.versions();
                    let version = versions.allocate();
                    let group = (w * 7 + i) % GROUPS;
                    // Every commit writes every key of one group, with the version as the value
                    // (or deletes them all), so a reader can tell commits apart.
                    let mutations: Vec<Mutation> = (0..KEYS_PER_GROUP)
                        .map(|k| {
                            if i % 5 == 4 {
                                Mutation::delete(key(group, k))
                            } else {
                                Mutation::put(key(group, k), version.get().to_le_bytes().to_vec())
                            }
                        })
                        .collect();
                    if i % 3 == 0 {
                        thread::yield_now(); // let later versions overtake this one
                    }
                    memtable.apply(version, run, NOW, &mutations);
                    versions.publish(version);
                    versions.wait_visible(version);
                    // Read-your-writes: the group now shows this commit or a later one.
                    let view = ReadView::at(versions.visible());
                    let seen = memtable
                        .get(&key(group, 0), &view, NOW)
                        .map(|read| read.version);
                    assert!(
                        seen.is_none_or(|seen| seen >= version),
                        "writer saw {seen:?} after committing {version}"
                    );
                }
            })
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let memtable = Arc::clone(&memtable);
            let snapshots = Arc::clone(&snapshots);
            let writers_done = Arc::clone(&writers_done);
            thread::spawn(move || {
                let mut last_seen = [Version::ZERO; GROUPS as usize];
                let mut last_snapshot = Version::ZERO;
                let mut reads = 0u64;
                while !writers_done.load(Ordering::SeqCst) || reads < 100 {
                    reads += 1;
                    let snapshot = snapshots.take(&memtable);
                    assert!(snapshot >= last_snapshot, "visible went backwards");
                    last_snapshot = snapshot;
                    let view = ReadView::at(snapshot);
                    for group in 0..GROUPS {
                        check_group(
                            &memtable,
                            group,
                            snapshot,
                            view.clone(),
                            &mut last_seen[group as usize],
                        );
                    }
                    snapshots.release(snapshot);
                }
            })
        })
        .collect();

    let sweeper = {
        let memtable = Arc::clone(&memtable);
        let snapshots = Arc::clone(&snapshots);
        let writers_done = Arc::clone(&writers_done);
        thread::spawn(move || {
            let mut removed = 0;
            while !writers_done.load(Ordering::SeqCst) {
                removed += memtable
                    .sweep(snapshots.horizon(&memtable), NOW)
                    .versions_removed;
                thread::yield_now();
            }
            removed
        })
    };

    for writer in writers {
        writer.join().unwrap();
    }
    writers_done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.join().unwrap();
    }
    let removed_while_running = sweeper.join().unwrap();

    let total = Version::new(WRITERS as u64 * COMMITS_PER_WRITER);
    assert_eq!(memtable.versions().visible(), total);
    assert!(
        removed_while_running > 0,
        "the sweeper never reclaimed anything"
    );
    // With no reader left, one sweep leaves at most one (live) version per key.
    memtable.sweep(total, NOW);
    assert!(memtable.version_count() <= (GROUPS * KEYS_PER_GROUP) as usize);
    assert_eq!(memtable.version_count(), memtable.key_count());
}

/// Reads every key of `group` at `view` (by get and by scan) and checks the group shows one
/// whole commit at or below the snapshot, never older than what this reader saw before.
fn check_group(
    memtable: &Memtable,
    group: u64,
    snapshot: Version,
    view: ReadView,
    last_seen: &mut Version,
) {
    let gets: Vec<Option<Version>> = (0..KEYS_PER_GROUP)
        .map(|k| {
            memtable.get(&key(group, k), &view, NOW).map(|read| {
                assert_eq!(
                    read.value[..],
                    read.version.get().to_le_bytes(),
                    "value of another commit"
                );
                read.version
            })
        })
        .collect();
    let first = gets[0];
    assert!(
        gets.iter().all(|seen| *seen == first),
        "half a commit: group {group} at {snapshot} shows {gets:?}"
    );
    if let Some(version) = first {
        assert!(version <= snapshot, "saw {version} at snapshot {snapshot}");
        assert!(
            version >= *last_seen,
            "group {group} went back from {last_seen} to {version}"
        );
        *last_seen = version;
    }
    let prefix = format!("g{group}/");
    let scanned: Vec<Version> = memtable
        .scan_prefix(prefix.as_bytes(), view, NOW)
        .map(|(_, read)| read.version)
        .collect();
    match first {
        Some(version) => assert_eq!(scanned, vec![version; KEYS_PER_GROUP as usize]),
        // Deleted at this snapshot: the scan lists none of the group's keys.
        None => assert!(
            scanned.is_empty(),
            "scan shows {scanned:?} where get shows none"
        ),
    }
}
