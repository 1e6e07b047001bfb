//! The log's shared state and its append path: `Shared` (what the `Wal` handle, its threads
//! and its policy guards share), the `State` behind the log lock as a composition of parts
//! that each own their data, appending a record (rotating to the spare segment when it does
//! not fit), preparing the spare, poisoning and closing. The waits, with group write and group
//! sync, are in `writer/waits.rs`; the group commit's decisions in `group_commit.rs`.
//!
//! Locks, in the order they are taken: `write_lock` (held while bytes are handed to the OS, so
//! writes land in log order), then `state` (the log lock, held only for bookkeeping, never
//! across a system call). See `docs/CONCURRENCY.md` for the whole protocol.

use std::io;
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use in_mem_core_types::Version;

use super::buffer::Buffer;
use super::cadence::{Cadence, ThreadWait};
use super::format::{
    FRAME_PREFIX_BYTES_MAX, HEADER_BYTES, SegmentHeader, frame_prefix, frame_prefix_len,
};
use super::group_commit::{GroupCommit, WaiterId};
use super::marks::{Mark, Marks};
use super::record::CommitBody;
use super::recovery::Recovered;
use super::rotation::{Active, Rotation, Spare, SpareState};
use super::segment;
use super::{SyncPolicy, Ticket};
use crate::error::{Error, Result};
use crate::identity::Stamp;
use crate::sync::{AtomicBool, AtomicU64, Clock, Condvar, Mutex, MutexGuard, Ordering};
use crate::vfs::Vfs;

mod waits;

/// Pending bytes at which the sync thread writes them out early, so that an `Async` log does
/// not sit on a large buffer until its next sync.
pub(crate) const EARLY_WRITE_BYTES: usize = 4 << 20;
/// Pending bytes at which an appender writes them out itself: back-pressure when the disk is
/// slower than the appenders.
const PENDING_BYTES_HARD_MAX: usize = 64 << 20;

const _: () = assert!(EARLY_WRITE_BYTES < PENDING_BYTES_HARD_MAX);

/// Everything the `Wal` handle, its threads and its policy guards share.
pub(crate) struct Shared {
    pub(super) vfs: Arc<dyn Vfs>,
    pub(super) dir: PathBuf,
    pub(super) segment_bytes: u64,
    /// The database and log generation every new segment's header names.
    stamp: Stamp,
    state: Mutex<State>,
    /// Held while bytes are handed to the OS, so that writes happen in log order.
    write_lock: Mutex<()>,
    /// Wakes the sync thread.
    pub(super) sync_thread: Condvar,
    /// Signalled when the spare segment is wanted or becomes ready.
    pub(super) spare_changed: Condvar,
    /// Mirrors `State::poison.is_some()` for the lock-free `Buffered` wait.
    poisoned: AtomicBool,
    /// Mirrors the version of `GroupCommit::synced` (what the last fdatasync completed before
    /// any poisoning covered), for [`Shared::synced_version`] without the log lock.
    synced_version: AtomicU64,
    /// Called by a sync's leader after the sync, before it wakes the threads it covered.
    pub(super) after_sync: std::sync::OnceLock<AfterSync>,
    /// Time, for the gathering window and the sync cadence (a logical clock under loom).
    pub(super) clock: Clock,
}

/// What [`Wal::set_after_sync`](super::Wal::set_after_sync) installs.
pub type AfterSync = Box<dyn Fn(Version) + Send + Sync>;

/// State behind the log lock, one part per concern.
pub(super) struct State {
    /// How far the log is appended and written.
    pub(super) marks: Marks,
    /// Active and spare segments.
    pub(super) rotation: Rotation,
    /// Bytes appended but not yet written, and segments written but not yet synced.
    pub(super) buffer: Buffer,
    /// Background sync policies and the sync thread's schedule.
    pub(super) cadence: Cadence,
    /// Who leads, waits and wakes; what is synced.
    pub(super) group: GroupCommit,
    /// The condition variable of each group-commit waiter, by [`WaiterId`]: each sleeps on
    /// its own, so a finished sync wakes exactly the threads the group commit names.
    waiter_cvs: Vec<Arc<Condvar>>,
    pub(super) poison: Option<Poison>,
    pub(super) closed: bool,
    pub(super) shutdown: bool,
}

/// Waits on `cv` until notified (or woken spuriously: every caller re-checks the state).
pub(super) fn wait<'a>(cv: &Condvar, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    cv.wait(st).unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Waits on `cv` (a condition variable of this log) for at most `timeout`.
    pub(super) fn wait_timeout<'a>(
        &'a self,
        cv: &Condvar,
        st: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        crate::sync::wait_timeout(cv, st, &self.state, timeout, &self.clock)
    }
}

/// The first failed write or fdatasync, which poisoned the log.
#[derive(Debug)]
pub(super) struct Poison {
    op: &'static str,
    file: PathBuf,
    cause: Arc<io::Error>,
}

impl State {
    fn usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.poison_error().map_or(Ok(()), Err)
    }

    pub(super) fn poison_error(&self) -> Option<Error> {
        self.poison.as_ref().map(|poison| Error::Poisoned {
            op: poison.op,
            file: poison.file.clone(),
            cause: Arc::clone(&poison.cause),
        })
    }

    /// Bytes of the frame of `body` if it were appended now (the durable lag in its prefix
    /// depends on the next version and the synced one).
    fn frame_len(&self, body: &CommitBody) -> u64 {
        let next = self.marks.appended.version.next();
        (frame_prefix_len(next, self.group.synced().version) + body.bytes().len()) as u64
    }

    /// The condition variable waiter `id` sleeps on (made when an id is first used).
    fn waiter_cv(&mut self, id: WaiterId) -> Arc<Condvar> {
        while self.waiter_cvs.len() <= id.index() {
            self.waiter_cvs.push(Arc::new(Condvar::new()));
        }
        Arc::clone(&self.waiter_cvs[id.index()])
    }

    /// Notifies the waiters the group commit has just woken.
    fn notify_woken(&mut self) {
        for cv in self.take_woken() {
            cv.notify_one();
        }
    }

    /// The condition variables of the waiters the group commit has just woken, for the caller
    /// to notify (with the lock released, if it can).
    fn take_woken(&mut self) -> Vec<Arc<Condvar>> {
        let cvs = &self.waiter_cvs;
        self.group
            .drain_woken()
            // A waiter is woken only while asleep, which it is only on its own condvar.
            .filter_map(|id| cvs.get(id.index()).map(Arc::clone))
            .collect()
    }
}

impl Shared {
    /// The shared state of a log recovered as `recovered`.
    pub(crate) fn new(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        segment_bytes: u64,
        recovered: Recovered,
        clock: Clock,
    ) -> Shared {
        let active = recovered.active.map(|a| Active {
            segment: Arc::new(a.segment),
            offset: a.offset,
            capacity: a.capacity,
            fresh: false,
        });
        let spare = match recovered.spare {
            Some(s) => SpareState::Ready(Spare {
                segment: s.segment,
                capacity: s.capacity,
            }),
            None => SpareState::Missing,
        };
        Shared {
            vfs,
            dir,
            segment_bytes,
            stamp: recovered.stamp,
            state: Mutex::new(State {
                marks: Marks::new(recovered.last_version),
                rotation: Rotation {
                    active,
                    spare,
                    next_sequence: recovered.next_sequence,
                },
                buffer: Buffer::default(),
                cadence: Cadence::new(),
                // Recovery syncs what it keeps: everything it found is durable.
                group: GroupCommit::new(Mark::start(recovered.last_version)),
                waiter_cvs: Vec::new(),
                poison: None,
                closed: false,
                shutdown: false,
            }),
            write_lock: Mutex::new(()),
            sync_thread: Condvar::new(),
            spare_changed: Condvar::new(),
            poisoned: AtomicBool::new(false),
            synced_version: AtomicU64::new(recovered.last_version.get()),
            after_sync: std::sync::OnceLock::new(),
            clock,
        }
    }

    /// Takes the log lock. A panic while it was held (only a broken `allocate` callback can
    /// cause one, before any state changed) leaves the state consistent, so the lock is
    /// recovered rather than propagated.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn last_version(&self) -> Version {
        self.lock().marks.appended.version
    }

    /// Every record at or below this version is durable, covered by an fdatasync that
    /// completed before any poisoning: each of their commits is acknowledged whatever its
    /// wait. Loaded without the log lock; never goes down.
    pub(crate) fn synced_version(&self) -> Version {
        Version::new(self.synced_version.load(Ordering::Acquire))
    }

    /// Publishes `GroupCommit::synced` to [`Shared::synced_version`]; called under the log
    /// lock after every sync, before the threads it covered are woken.
    pub(super) fn note_synced(&self, st: &State) {
        self.synced_version
            .fetch_max(st.group.synced().version.get(), Ordering::Release);
    }

    /// Appends a record: rotates if it does not fit, then allocates its version and buffers it.
    pub(crate) fn append(
        &self,
        body: &CommitBody,
        allocate: impl FnOnce() -> Version,
    ) -> Result<Ticket> {
        let mut st = self.lock();
        loop {
            st.usable()?;
            if st.rotation.fits(st.frame_len(body)) {
                break;
            }
            // Sized for the longest frame this body can have: the durable-lag field in its
            // prefix may grow while the lock is released to create the segment (other
            // appenders move the lag), and a record that then no longer fits would leave the
            // fresh segment empty in the middle of the log.
            let needed = (HEADER_BYTES + FRAME_PREFIX_BYTES_MAX + body.bytes().len()) as u64;
            let (guard, ready) = self.ensure_spare(st, needed);
            st = guard;
            ready?;
            st.usable()?;
            if st.rotation.fits(st.frame_len(body)) {
                // Another appender rotated while this one waited for the spare.
                break;
            }
            st.rotation.rotate();
            // Wake the preallocation thread to prepare the next one.
            self.spare_changed.notify_all();
        }

        // From here on nothing can fail: the version is allocated only now.
        let version = allocate();
        assert_eq!(
            version,
            st.marks.appended.version.next(),
            "versions must be allocated contiguously, in log order"
        );
        let prefix = frame_prefix(version, st.group.synced().version, body.bytes(), body.crc());
        let prefix = prefix.as_bytes();
        let frame_len = (prefix.len() + body.bytes().len()) as u64;
        // One borrow of the guarded state, so that its parts can be borrowed apart.
        let state = &mut *st;
        let active = state
            .rotation
            .active
            .as_mut()
            .expect("fits() holds only with an active segment");
        let segment = Arc::clone(&active.segment);
        let header = active.fresh.then(|| {
            SegmentHeader {
                stamp: self.stamp,
                sequence: segment.sequence,
                first_version: version,
            }
            .encode()
        });
        let offset = if header.is_some() { 0 } else { active.offset };
        let header_len = header.map_or(0, |h| h.len() as u64);
        active.offset = offset + header_len + frame_len;
        active.fresh = false;
        let appended = Mark {
            lsn: state.marks.appended.lsn + header_len + frame_len,
            commits: state.marks.appended.commits + 1,
            version,
        };
        let parts: &[&[u8]] = match &header {
            Some(h) => &[&h[..], prefix, body.bytes()],
            None => &[prefix, body.bytes()],
        };
        state.buffer.push(&segment, offset, parts, appended);
        state.marks.appended = appended;
        let ticket = Ticket {
            version,
            lsn: appended.lsn,
        };
        self.wake_sync_thread_if_due(state);
        let overfull = st.buffer.pending_bytes() > PENDING_BYTES_HARD_MAX;
        drop(st);
        if overfull {
            // The record is in the log either way; a failure poisons it and shows at the wait.
            let _ = self.write_pending();
        }
        Ok(ticket)
    }

    /// Wakes the sync thread after an append if a policy now wants a sync or a write sooner
    /// than the thread would look by itself.
    fn wake_sync_thread_if_due(&self, st: &mut State) {
        let cadence = &mut st.cadence;
        let mut wake = false;
        if cadence.interval_min.is_some() && cadence.first_unsynced_at.is_none() {
            cadence.first_unsynced_at = Some(self.clock.now());
            wake = cadence.thread_wait == ThreadWait::Forever;
        }
        let unsynced = st.marks.appended.commits - st.group.synced().commits;
        if cadence.max_commits_min.is_some_and(|m| unsynced >= m) {
            wake = true;
        }
        if st.buffer.pending_bytes() >= EARLY_WRITE_BYTES {
            wake = true;
        }
        if wake && cadence.thread_wait != ThreadWait::Busy {
            cadence.thread_wait = ThreadWait::Busy;
            self.sync_thread.notify_one();
        }
    }

    /// Returns with a ready spare of at least `min_capacity` bytes (`Ok`), creating or growing
    /// one if needed, with the lock released during the I/O.
    pub(super) fn ensure_spare<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        min_capacity: u64,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        loop {
            match &st.rotation.spare {
                SpareState::Ready(spare) if spare.capacity >= min_capacity => return (st, Ok(())),
                SpareState::Preparing => {
                    // Woken by whoever is preparing it (the preallocation thread or another
                    // appender): it notifies `spare_changed` once it has published the spare,
                    // or its failure, under the lock.
                    st = wait(&self.spare_changed, st);
                    continue;
                }
                SpareState::Ready(_) | SpareState::Missing => {}
            }
            let capacity = min_capacity.max(self.segment_bytes);
            let result = match mem::replace(&mut st.rotation.spare, SpareState::Preparing) {
                SpareState::Ready(spare) => {
                    drop(st);
                    let grown = segment::grow(&spare.segment, spare.capacity, capacity);
                    st = self.lock();
                    match grown {
                        Ok(()) => {
                            st.rotation.spare = SpareState::Ready(Spare {
                                segment: spare.segment,
                                capacity,
                            });
                            Ok(())
                        }
                        Err(e) => {
                            // Still a valid (all-zero) spare, just not large enough.
                            st.rotation.spare = SpareState::Ready(spare);
                            Err(e)
                        }
                    }
                }
                SpareState::Missing => {
                    let sequence = st.rotation.next_sequence;
                    st.rotation.next_sequence += 1;
                    drop(st);
                    let created = segment::create(&*self.vfs, &self.dir, sequence, capacity);
                    st = self.lock();
                    match created {
                        Ok(segment) => {
                            st.rotation.spare = SpareState::Ready(Spare { segment, capacity });
                            Ok(())
                        }
                        Err(e) => {
                            st.rotation.spare = SpareState::Missing;
                            st.rotation.next_sequence = sequence;
                            Err(e)
                        }
                    }
                }
                SpareState::Preparing => unreachable!("handled above"),
            };
            self.spare_changed.notify_all();
            if result.is_err() {
                return (st, result);
            }
        }
    }

    /// Records the first failure and wakes everyone; returns the error for the failing caller.
    fn poison(&self, op: &'static str, path: &Path, e: &io::Error) -> Error {
        let mut st = self.lock();
        if st.poison.is_none() {
            tracing::error!(op, file = %path.display(), error = %e, "write-ahead log poisoned");
            st.poison = Some(Poison {
                op,
                file: path.to_path_buf(),
                // The caller keeps `e`; the log keeps an equal error (the OS error when there
                // is one) for every later caller.
                cause: Arc::new(e.raw_os_error().map_or_else(
                    || io::Error::new(e.kind(), e.to_string()),
                    io::Error::from_raw_os_error,
                )),
            });
            self.poisoned.store(true, Ordering::Release);
            st.group.poison();
            st.notify_woken();
        }
        self.sync_thread.notify_all();
        self.spare_changed.notify_all();
        st.poison_error().expect("set above")
    }

    /// Marks the log closed; false if it already was.
    pub(crate) fn begin_close(&self) -> bool {
        let mut st = self.lock();
        !mem::replace(&mut st.closed, true)
    }

    /// Asks the background threads to stop.
    pub(crate) fn request_shutdown(&self) {
        let mut st = self.lock();
        st.shutdown = true;
        self.sync_thread.notify_all();
        self.spare_changed.notify_all();
    }

    /// Registers a sync cadence; returns its id.
    pub(crate) fn add_policy(&self, policy: SyncPolicy) -> u64 {
        let mut st = self.lock();
        let id = st.cadence.add(policy);
        if st.marks.appended.lsn > st.group.synced().lsn && st.cadence.first_unsynced_at.is_none() {
            st.cadence.first_unsynced_at = Some(self.clock.now());
        }
        st.cadence.thread_wait = ThreadWait::Busy;
        self.sync_thread.notify_one();
        id
    }

    /// Removes the cadence registered under `id`.
    pub(crate) fn remove_policy(&self, id: u64) {
        let mut st = self.lock();
        st.cadence.remove(id);
        st.cadence.thread_wait = ThreadWait::Busy;
        self.sync_thread.notify_one();
    }
}

#[cfg(test)]
mod tests;
