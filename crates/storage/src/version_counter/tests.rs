//! Unit tests of the version counter: allocation, in-order publication, waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use super::*;

fn v(n: u64) -> Version {
    Version::new(n)
}

#[test]
fn allocation_continues_after_the_last_version() {
    let counter = VersionCounter::new(v(41));
    assert_eq!(counter.visible(), v(41));
    assert_eq!(counter.allocated(), v(41));
    assert_eq!(counter.allocate(), v(42));
    assert_eq!(counter.allocate(), v(43));
    assert_eq!(counter.allocated(), v(43));
    assert_eq!(counter.visible(), v(41), "allocating publishes nothing");
}

#[test]
fn in_order_publication_advances_visible_one_by_one() {
    let counter = VersionCounter::new(Version::ZERO);
    for n in 1..=5 {
        let version = counter.allocate();
        counter.publish(version);
        assert_eq!(counter.visible(), v(n));
    }
}

#[test]
fn a_publication_above_a_gap_waits_for_the_gap_to_close() {
    let counter = VersionCounter::new(Version::ZERO);
    let versions: Vec<Version> = (0..5).map(|_| counter.allocate()).collect();
    counter.publish(versions[4]);
    counter.publish(versions[2]);
    counter.publish(versions[1]);
    assert_eq!(
        counter.visible(),
        Version::ZERO,
        "v1 is still being applied"
    );
    counter.publish(versions[0]);
    assert_eq!(
        counter.visible(),
        v(3),
        "v1..v3 are contiguous; v4 is missing"
    );
    counter.publish(versions[3]);
    assert_eq!(counter.visible(), v(5));
}

#[test]
#[should_panic(expected = "published twice")]
fn publishing_a_visible_version_again_panics() {
    let counter = VersionCounter::new(Version::ZERO);
    let version = counter.allocate();
    counter.publish(version);
    counter.publish(version);
}

#[test]
#[should_panic(expected = "published twice")]
fn publishing_a_pending_version_again_panics_when_the_gap_closes() {
    let counter = VersionCounter::new(Version::ZERO);
    let first = counter.allocate();
    let second = counter.allocate();
    counter.publish(second);
    counter.publish(second);
    counter.publish(first);
}

#[test]
#[should_panic(expected = "never allocated")]
fn publishing_an_unallocated_version_panics() {
    let counter = VersionCounter::new(v(7));
    counter.publish(v(8));
}

#[test]
#[should_panic(expected = "never allocated")]
fn waiting_for_an_unallocated_version_panics_instead_of_hanging() {
    let counter = VersionCounter::new(v(7));
    counter.wait_visible(v(8));
}

#[test]
fn waiting_for_a_visible_version_returns_at_once() {
    let counter = VersionCounter::new(v(3));
    counter.wait_visible(v(3));
    counter.wait_visible(v(1));
}

#[test]
fn wait_visible_blocks_until_the_version_and_all_below_are_published() {
    let counter = Arc::new(VersionCounter::new(Version::ZERO));
    let first = counter.allocate();
    let second = counter.allocate();
    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let counter = Arc::clone(&counter);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            counter.wait_visible(second);
            done.store(true, Ordering::SeqCst);
            counter.visible()
        })
    };
    counter.publish(second);
    thread::sleep(Duration::from_millis(50));
    assert!(
        !done.load(Ordering::SeqCst),
        "returned while v1 was unpublished"
    );
    counter.publish(first);
    let seen = waiter.join().unwrap();
    assert!(seen >= second);
}

#[test]
fn concurrent_out_of_order_publication_ends_with_everything_visible() {
    const THREADS: usize = 8;
    const COMMITS_PER_THREAD: u64 = 2_000;
    let counter = Arc::new(VersionCounter::new(Version::ZERO));
    let applied: Arc<Vec<AtomicBool>> = Arc::new(
        (0..=THREADS as u64 * COMMITS_PER_THREAD)
            .map(|_| AtomicBool::new(false))
            .collect(),
    );
    let highest_seen = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..THREADS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            let applied = Arc::clone(&applied);
            thread::spawn(move || {
                for i in 0..COMMITS_PER_THREAD {
                    let version = counter.allocate();
                    if i % 7 == 0 {
                        thread::yield_now(); // widen the out-of-order window
                    }
                    applied[version.get() as usize].store(true, Ordering::Relaxed);
                    counter.publish(version);
                    if i % 64 == 0 {
                        counter.wait_visible(version);
                        assert!(counter.visible() >= version);
                    }
                }
            })
        })
        .collect();
    let reader = {
        let counter = Arc::clone(&counter);
        let applied = Arc::clone(&applied);
        let highest_seen = Arc::clone(&highest_seen);
        thread::spawn(move || {
            let total = THREADS as u64 * COMMITS_PER_THREAD;
            let mut last = 0;
            while last < total {
                let seen = counter.visible().get();
                assert!(seen >= last, "visible went backwards: {last} then {seen}");
                for n in last + 1..=seen {
                    assert!(
                        applied[n as usize].load(Ordering::Relaxed),
                        "v{n} visible before it was applied"
                    );
                }
                last = seen;
                highest_seen.store(seen, Ordering::Relaxed);
                thread::yield_now();
            }
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    reader.join().unwrap();
    let total = v(THREADS as u64 * COMMITS_PER_THREAD);
    assert_eq!(counter.visible(), total);
    assert_eq!(counter.allocated(), total);
    assert_eq!(highest_seen.load(Ordering::Relaxed), total.get());
}

#[test]
fn a_reset_starts_over_and_forgets_what_waited_above_a_gap() {
    let counter = VersionCounter::new(v(0));
    counter.allocate_through(v(5));
    for n in [1, 2, 4] {
        counter.publish(v(n));
    }
    assert_eq!(counter.visible(), v(2));
    counter.reset(v(0));
    assert_eq!((counter.visible(), counter.allocated()), (v(0), v(0)));
    // v4, published above the gap at v3 before the reset, must be published again.
    counter.allocate_through(v(4));
    for n in [1, 2, 3] {
        counter.publish(v(n));
    }
    assert_eq!(counter.visible(), v(3));
    counter.publish(v(4));
    assert_eq!(counter.visible(), v(4));
}
