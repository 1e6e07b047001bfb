//! The synchronization primitives and the clock of the group-commit protocol: std's, or, under
//! `--cfg inmem_loom`, loom's and a logical clock, so that `tests/loom.rs` model-checks the
//! real code of `wal/writer.rs` and `wal/writer/waits.rs` (see `docs/CONCURRENCY.md`).
//!
//! The cfg is namespaced (`inmem_loom`, not `loom`) so that dependencies which react to
//! `--cfg loom` are not switched into their own loom mode. Only the log's state lock, write
//! lock, condition variables and poison flag come from here; the threads that own a log and
//! the file system are not model-checked (the loom test drives the log from its own threads,
//! over the simulated file system).

#[cfg(inmem_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(inmem_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(inmem_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(inmem_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

use std::time::{Duration, Instant};

/// The time source of the group commit's gathering window.
#[cfg(not(inmem_loom))]
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock;

#[cfg(not(inmem_loom))]
impl Clock {
    pub(crate) fn new() -> Clock {
        Clock
    }

    #[allow(clippy::unused_self)] // The loom clock reads its own state.
    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Under loom, a logical clock: time stands still except when someone advances it (the loom
/// test's file system, for the duration of an fdatasync; a timed wait, by its timeout). Loom
/// needs every execution of a model to be deterministic, which real time is not.
#[cfg(inmem_loom)]
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicU64>);

#[cfg(inmem_loom)]
impl Clock {
    /// A clock at its start.
    pub fn new() -> Clock {
        Clock::default()
    }

    pub(crate) fn now(&self) -> Instant {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let nanos = self.0.load(std::sync::atomic::Ordering::SeqCst);
        *BASE.get_or_init(Instant::now) + Duration::from_nanos(nanos)
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits on `cv` for at most `timeout` (`mutex` is the mutex `guard` locks).
///
/// Under loom (whose condition variables never time out) the timer is taken to fire as soon as
/// the lock is released: the waiter unlocks, the clock moves on by `timeout`, and it locks
/// again, so other threads may run in between. The code around every timed wait re-checks the
/// state in a loop, as it must for spurious wake-ups, so this explores its timeout path; what
/// it does not explore is a notification arriving before the timer.
#[cfg(not(inmem_loom))]
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    _mutex: &'a Mutex<T>,
    timeout: Duration,
    _clock: &Clock,
) -> MutexGuard<'a, T> {
    cv.wait_timeout(guard, timeout)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0
}

#[cfg(inmem_loom)]
pub(crate) fn wait_timeout<'a, T>(
    _cv: &Condvar,
    guard: MutexGuard<'a, T>,
    mutex: &'a Mutex<T>,
    timeout: Duration,
    clock: &Clock,
) -> MutexGuard<'a, T> {
    drop(guard);
    clock.advance(timeout);
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
