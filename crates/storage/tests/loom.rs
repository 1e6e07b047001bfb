//! Loom model of the version counter's publication protocol.
//!
//! Run with
//! `RUSTFLAGS="--cfg inmem_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p in-mem-storage --test loom --release`.
//!
//! Each writer takes a version, marks it applied (a Relaxed store, standing in for the memtable
//! writes of the commit) and publishes it. The flags are read with Relaxed loads too, so a reader
//! finds them set only if the counter's own ordering carries the writes to it: that is the
//! property under test. Loom explores every interleaving (up to the preemption bound) and every
//! value a Relaxed load may return.

#![cfg(inmem_loom)]

use in_mem_core_types::Version;
use in_mem_storage::VersionCounter;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// Applied flags for versions 1..=N (index 0 unused).
fn flags<const N: usize>() -> Arc<[AtomicBool; N]> {
    Arc::new(std::array::from_fn(|_| AtomicBool::new(false)))
}

/// A writer: take a version, apply it, publish it.
fn commit(counter: &VersionCounter, applied: &[AtomicBool]) -> Version {
    let version = counter.allocate();
    applied[version.get() as usize].store(true, Ordering::Relaxed);
    counter.publish(version);
    version
}

/// Every version up to what `visible` says must be applied.
fn check_visible_prefix(counter: &VersionCounter, applied: &[AtomicBool]) -> u64 {
    let seen = counter.visible().get();
    for n in 1..=seen {
        assert!(
            applied[n as usize].load(Ordering::Relaxed),
            "v{n} visible but not applied (visible v{seen})"
        );
    }
    seen
}

#[test]
fn a_reader_never_sees_a_version_before_it_and_all_below_are_applied() {
    loom::model(|| {
        let counter = Arc::new(VersionCounter::new(Version::ZERO));
        let applied = flags::<4>();
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (counter, applied) = (Arc::clone(&counter), Arc::clone(&applied));
                thread::spawn(move || {
                    commit(&counter, &applied[..]);
                })
            })
            .collect();
        let first = check_visible_prefix(&counter, &applied[..]);
        let second = check_visible_prefix(&counter, &applied[..]);
        assert!(
            second >= first,
            "visible went backwards: v{first} then v{second}"
        );
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(counter.visible(), Version::new(3));
        assert_eq!(counter.allocated(), Version::new(3));
    });
}

#[test]
fn three_out_of_order_publications_end_with_everything_visible() {
    loom::model(|| {
        let counter = Arc::new(VersionCounter::new(Version::ZERO));
        let applied = flags::<4>();
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (counter, applied) = (Arc::clone(&counter), Arc::clone(&applied));
                thread::spawn(move || {
                    commit(&counter, &applied[..]);
                    check_visible_prefix(&counter, &applied[..]);
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(counter.visible(), Version::new(3));
        check_visible_prefix(&counter, &applied[..]);
    });
}

#[test]
fn wait_visible_returns_only_once_every_version_below_is_applied() {
    loom::model(|| {
        let counter = Arc::new(VersionCounter::new(Version::ZERO));
        let applied = flags::<3>();
        // Both versions are handed out first, so the waiter may wait for either.
        let first = counter.allocate();
        let second = counter.allocate();
        let publishers: Vec<_> = [first, second]
            .into_iter()
            .map(|version| {
                let (counter, applied) = (Arc::clone(&counter), Arc::clone(&applied));
                thread::spawn(move || {
                    applied[version.get() as usize].store(true, Ordering::Relaxed);
                    counter.publish(version);
                })
            })
            .collect();
        counter.wait_visible(second);
        assert!(counter.visible() >= second);
        assert!(applied[1].load(Ordering::Relaxed) && applied[2].load(Ordering::Relaxed));
        for publisher in publishers {
            publisher.join().unwrap();
        }
    });
}
