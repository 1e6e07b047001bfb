//! `VersionCounter`: hands out commit versions and makes them visible in order.
//!
//! Two numbers. *Allocated* is the last version handed out; taking one is a single atomic add.
//! *Visible* is the highest version `v` such that every version `<= v` has been applied and
//! published; readers take their snapshot there. Commits finish applying in any order, so a
//! publication that arrives ahead of a gap waits in a small min-heap until the gap closes. The
//! protocol is described in `docs/CONCURRENCY.md` ("Storage: version publication and the memtable")
//! and model-checked by `tests/loom.rs`.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::PoisonError;

use in_mem_core_types::Version;

use crate::sync::{AtomicU64, Condvar, Mutex, MutexGuard, Ordering};

/// How many times `wait_visible` re-checks before it blocks. A commit's apply takes about a
/// microsecond, so a short spin often wins; a long one would steal one of two cores from the very
/// thread being waited for.
#[cfg(not(inmem_loom))]
const WAIT_SPIN_ROUNDS_MAX: u32 = 64;

/// Allocates commit versions and publishes them in order.
///
/// A commit calls [`allocate`](Self::allocate), applies its writes, then calls
/// [`publish`](Self::publish) exactly once with that version. [`visible`](Self::visible) advances
/// only over a contiguous run of published versions, so a reader that snapshots at `visible()` sees
/// every commit up to it in full and nothing after it: never half a commit, never a later commit
/// before an earlier one.
///
/// ```
/// use in_mem_core_types::Version;
/// use in_mem_storage::VersionCounter;
///
/// let counter = VersionCounter::new(Version::new(10));
/// let a = counter.allocate();
/// let b = counter.allocate();
/// assert_eq!((a, b), (Version::new(11), Version::new(12)));
/// counter.publish(b); // b finished first, but a is still being applied
/// assert_eq!(counter.visible(), Version::new(10));
/// counter.publish(a);
/// assert_eq!(counter.visible(), Version::new(12));
/// ```
pub struct VersionCounter {
    /// The last version handed out.
    allocated: AtomicU64,
    /// A copy of `Pending::visible` for readers, who load it without a lock (Acquire, pairing
    /// with the Release store in `publish`).
    visible: AtomicU64,
    /// Publications waiting for a gap below them to close, and the count of blocked waiters.
    pending: Mutex<Pending>,
    /// Signalled when `visible` advances while someone waits.
    advanced: Condvar,
}

/// The state behind the counter's lock.
struct Pending {
    /// Every version up to this one is published: the counter's truth, which `visible` mirrors.
    /// Only `publish` changes it, with the lock held, so the lock orders all publications.
    visible: u64,
    /// Published versions above `visible + 1`, lowest first.
    published: BinaryHeap<Reverse<u64>>,
    /// Threads blocked in `wait_visible`; `publish` notifies only when this is non-zero, which
    /// keeps a futex wake-up off the commit path when nobody waits.
    waiters: usize,
}

impl VersionCounter {
    /// A counter whose last committed (and visible) version is `last`.
    pub fn new(last: Version) -> Self {
        VersionCounter {
            allocated: AtomicU64::new(last.get()),
            visible: AtomicU64::new(last.get()),
            pending: Mutex::new(Pending {
                visible: last.get(),
                published: BinaryHeap::new(),
                waiters: 0,
            }),
            advanced: Condvar::new(),
        }
    }

    /// Takes the next version. Every allocated version must later be passed to `publish` once.
    ///
    /// # Panics
    /// When the version space is exhausted (`u64::MAX` commits): an invariant, not an input.
    pub fn allocate(&self) -> Version {
        // Relaxed: the number is the only thing handed over; the data of the commit is published
        // through `visible`, not through this counter.
        let previous = self.allocated.fetch_add(1, Ordering::Relaxed);
        assert!(previous < u64::MAX, "version space exhausted");
        Version::new(previous + 1)
    }

    /// Accounts for versions handed out elsewhere, up to `v`: in shared mode a remote store
    /// gives each commit its version, and this counter only publishes them. Every version up to
    /// `v` not yet published must later be passed to `publish` once.
    pub fn allocate_through(&self, v: Version) {
        self.allocated.fetch_max(v.get(), Ordering::Relaxed);
    }

    /// Marks `v` applied; `visible` advances over every contiguous applied version.
    ///
    /// Call it after every write of commit `v` is in the memtable: whoever advances `visible`
    /// over `v` publishes those writes to every reader that later loads `visible`.
    ///
    /// # Panics
    /// If `v` was never allocated or is published twice; both are bugs in the caller, and going on
    /// would either hide a commit or stall every later one.
    pub fn publish(&self, v: Version) {
        let v = v.get();
        let mut pending = self.lock();
        let visible = pending.visible;
        assert!(
            v > visible,
            "version v{v} published twice (visible is v{visible})"
        );
        assert!(
            v <= self.allocated.load(Ordering::Relaxed),
            "version v{v} published but never allocated"
        );
        if v != visible + 1 {
            // A version below `v` is still being applied: `v` waits for that gap to close.
            pending.published.push(Reverse(v));
            return;
        }
        let mut new_visible = v;
        while let Some(&Reverse(next)) = pending.published.peek() {
            match next.cmp(&(new_visible + 1)) {
                CmpOrdering::Equal => {
                    pending.published.pop();
                    new_visible = next;
                }
                CmpOrdering::Greater => break,
                CmpOrdering::Less => panic!("version v{next} published twice"),
            }
        }
        pending.visible = new_visible;
        // Release: a reader that loads this value (Acquire) also sees every write applied before
        // each of these versions was published; the lock carries the other publishers' writes to
        // us.
        self.visible.store(new_visible, Ordering::Release);
        if pending.waiters > 0 {
            self.advanced.notify_all();
        }
    }

    /// Starts the counter over at `last`, which may be below where it stands: for a cache that
    /// dropped everything it held (shared mode's eviction of an agent) and will be filled again
    /// from the start. Versions published above `last` are forgotten.
    ///
    /// # Panics
    /// If a thread waits in `wait_visible`: it waits for a version the reset takes back. The
    /// caller must also keep `allocate` and `publish` from running meanwhile.
    pub fn reset(&self, last: Version) {
        let mut pending = self.lock();
        assert_eq!(pending.waiters, 0, "a version counter reset under a waiter");
        pending.visible = last.get();
        pending.published.clear();
        self.allocated.store(last.get(), Ordering::Relaxed);
        self.visible.store(last.get(), Ordering::Release);
    }

    /// Every version up to this one is applied; readers snapshot here.
    pub fn visible(&self) -> Version {
        Version::new(self.visible.load(Ordering::Acquire))
    }

    /// The last version handed out by `allocate`.
    pub fn allocated(&self) -> Version {
        Version::new(self.allocated.load(Ordering::Relaxed))
    }

    /// Blocks until `visible() >= v`.
    ///
    /// Spins briefly (a commit applies in about a microsecond), then sleeps on a condition
    /// variable that `publish` signals.
    ///
    /// # Panics
    /// If `v` was never allocated: nobody could ever publish it, so the wait would never end.
    pub fn wait_visible(&self, v: Version) {
        let target = v.get();
        if self.visible.load(Ordering::Acquire) >= target {
            return;
        }
        assert!(
            target <= self.allocated.load(Ordering::Relaxed),
            "waiting for version v{target}, which was never allocated"
        );
        // Loom gains nothing from spinning (it explores the blocking path instead).
        #[cfg(not(inmem_loom))]
        for _ in 0..WAIT_SPIN_ROUNDS_MAX {
            std::hint::spin_loop();
            if self.visible.load(Ordering::Acquire) >= target {
                return;
            }
        }
        let mut pending = self.lock();
        pending.waiters += 1;
        // `Pending::visible` only changes under the lock, and `publish` reads `waiters` under the
        // same lock after changing it, so a publication is either seen by this check or followed
        // by a notification: no lost wake-up.
        while pending.visible < target {
            pending = self
                .advanced
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        pending.waiters -= 1;
    }

    /// Locks the pending state. The only panics while it is held are the assertions against a
    /// caller's double publication, which already report the bug; later calls go on with the
    /// state as it was left, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for VersionCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionCounter")
            .field("allocated", &self.allocated())
            .field("visible", &self.visible())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(inmem_loom)))]
mod tests;
