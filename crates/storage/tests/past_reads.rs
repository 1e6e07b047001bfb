//! Reads of past views racing sweeps: a writer overwrites a few keys, a sweeper reclaims
//! everything below a horizon close behind it, and readers read views *below* the horizon (time
//! travel). Whatever a sweep removes meanwhile, an answer the memtable calls exact is the right
//! one: the newest version at or below the view's snapshot. (Inexact answers are the engine's to
//! refuse as `HistoryPruned`.)

#![cfg(not(inmem_loom))]
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation, ReadView};

const KEYS: usize = 4;
const NOW: Timestamp = Timestamp::from_micros(1);
const RUN_FOR: Duration = Duration::from_millis(1500);

fn key(k: usize) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

/// Which versions each key was written at, in order (logged before the version is published,
/// so every version a reader can name is in it).
type Written = RwLock<Vec<Vec<u64>>>;

fn expected(written: &Written, k: usize, snapshot: u64) -> Option<u64> {
    let written = written.read().unwrap();
    written[k].iter().rev().find(|&&v| v <= snapshot).copied()
}

#[test]
fn an_exact_answer_of_a_past_view_is_right_whatever_a_sweep_removes_meanwhile() {
    let memtable = Arc::new(Memtable::new(Version::ZERO));
    let written: Arc<Written> = Arc::new(RwLock::new(vec![Vec::new(); KEYS]));
    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (memtable, written, stop) = (memtable.clone(), written.clone(), stop.clone());
        thread::spawn(move || {
            let run = RunId::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let k = i % KEYS;
                i += 1;
                let version = memtable.versions().allocate();
                let value = version.get().to_be_bytes();
                memtable.apply(version, run, NOW, &[Mutation::put(&key(k)[..], &value[..])]);
                written.write().unwrap()[k].push(version.get());
                memtable.versions().publish(version);
            }
        })
    };
    let sweeper = {
        let (memtable, stop) = (memtable.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let visible = memtable.versions().visible().get();
                memtable.sweep(Version::new(visible.saturating_sub(20)), NOW);
                thread::yield_now();
            }
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|seed| {
            let (memtable, written, stop, checked) = (
                memtable.clone(),
                written.clone(),
                stop.clone(),
                checked.clone(),
            );
            thread::spawn(move || {
                let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                while !stop.load(Ordering::Relaxed) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let visible = memtable.versions().visible().get();
                    // Views around the horizon and below it: where sweeps are removing.
                    let snapshot = visible.saturating_sub(10 + state % 60);
                    let k = (state >> 8) as usize % KEYS;
                    let view = ReadView::at(Version::new(snapshot));
                    let read = memtable.read(&key(k), &view, NOW);
                    if read.exact {
                        let found = read.found.map(|l| l.version.get());
                        assert_eq!(
                            found,
                            expected(&written, k, snapshot),
                            "key {k} at snapshot {snapshot}"
                        );
                        checked.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut scan = memtable.scan_prefix(b"k", view, NOW);
                    let rows: Vec<(Vec<u8>, u64)> = scan
                        .by_ref()
                        .map(|(key, value)| {
                            let bytes: [u8; 8] = value.value[..].try_into().unwrap();
                            (key.to_vec(), u64::from_be_bytes(bytes))
                        })
                        .collect();
                    if scan.is_exact() {
                        let want: Vec<(Vec<u8>, u64)> = (0..KEYS)
                            .filter_map(|k| expected(&written, k, snapshot).map(|v| (key(k), v)))
                            .collect();
                        assert_eq!(rows, want, "scan at snapshot {snapshot}");
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    sweeper.join().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    let checked = checked.load(Ordering::Relaxed);
    eprintln!("{checked} exact answers checked");
    assert!(checked > 0, "some exact answers were checked");
}
