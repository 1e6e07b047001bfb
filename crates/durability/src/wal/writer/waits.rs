//! Waiting for a record: `Buffered` (at once), `Written` (group write: whoever takes the
//! write lock writes everything pending, so concurrent waiters share one system call per
//! segment) and `Synced` (group sync: the decisions of `group_commit.rs`, carried out here
//! with the log lock, each waiter's condition variable, and the files).
//!
//! Every wait here that can block a user thread names its waker in a comment.

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use in_mem_core_types::Version;

use super::super::group_commit::{Step, WaiterId};
use super::super::marks::Mark;
use super::{Shared, State, wait};
use crate::error::{Error, Result};
use crate::sync::{Condvar, MutexGuard, Ordering};
use crate::vfs::write_all_at;

impl Shared {
    /// Hands everything pending to the OS, in log order.
    pub(crate) fn write_pending(&self) -> Result<()> {
        // Blocks while another thread writes; it releases the lock when its write returns.
        let _writer = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let chunks = {
            let mut st = self.lock();
            if let Some(e) = st.poison_error() {
                return Err(e);
            }
            st.buffer.take()
        };
        let Some(end) = chunks.last().map(|c| c.end) else {
            // Holding the write lock, every earlier chunk is written.
            return Ok(());
        };
        for chunk in &chunks {
            if let Err(e) = write_all_at(&*chunk.segment.file, &chunk.bytes, chunk.offset) {
                return Err(self.poison("write", &chunk.segment.path, &e));
            }
        }
        let mut st = self.lock();
        st.marks.written_through(end);
        st.buffer.written(chunks);
        Ok(())
    }

    /// Returns once the record ending at `lsn` is in the in-process buffer (at once), unless
    /// the log was poisoned before it was written.
    pub(crate) fn wait_buffered(&self, lsn: u64) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let st = self.lock();
        if st.marks.written.lsn >= lsn {
            return Ok(());
        }
        st.poison_error().map_or(Ok(()), Err)
    }

    /// Returns once the record ending at `lsn` (of commit `version`) is written to the OS,
    /// writing it if needed; and, if the smallest registered `max_commits` says so (see
    /// `GroupCommit::must_join_sync`), once it is synced.
    pub(crate) fn wait_written(&self, lsn: u64, version: Version) -> Result<()> {
        loop {
            {
                let st = self.lock();
                assert!(lsn <= st.marks.appended.lsn, "ticket from another log");
                if st.marks.written.lsn >= lsn {
                    if st.group.must_join_sync(version, st.cadence.max_commits_min) {
                        return self.sync_locked(st, lsn, true);
                    }
                    return Ok(());
                }
                if let Some(e) = st.poison_error() {
                    return Err(e);
                }
            }
            self.write_pending()?;
        }
    }

    /// Returns once a completed fdatasync covers the record ending at `lsn`; see
    /// `group_commit.rs` for the protocol. `committer` is true for a commit's wait, false for
    /// `flush` and the sync thread, which are not expected back with another commit.
    pub(crate) fn sync_through(&self, lsn: u64, committer: bool) -> Result<()> {
        let st = self.lock();
        assert!(lsn <= st.marks.appended.lsn, "ticket from another log");
        self.sync_locked(st, lsn, committer)
    }

    /// [`Shared::sync_through`], from under the log lock.
    fn sync_locked<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        lsn: u64,
        committer: bool,
    ) -> Result<()> {
        let mut step = st.group.arrive(lsn, committer, self.clock.now());
        loop {
            step = match step {
                Step::Done => return Ok(()),
                Step::Failed => return Err(poisoned(&st)),
                Step::Lead(id) => {
                    let (guard, synced, started, ended) = self.lead(st);
                    st = guard;
                    let woken = st.sync_ended(id, synced, started, ended);
                    self.note_synced(&st);
                    let next = st.group.resume(id, ended);
                    if let Step::Done | Step::Failed = next {
                        let result = match next {
                            Step::Done => Ok(()),
                            _ => Err(poisoned(&st)),
                        };
                        // The leader is done: it notifies with the lock released, so that the
                        // threads it wakes do not wake only to wait for the lock. Each is
                        // marked awake already, so a notification that lands late (or on the
                        // next owner of its condvar, as a spurious wake-up) loses nothing.
                        // The after-sync hook (the engine applies the commits this sync
                        // covered) runs first, so that they wake to find them visible; the
                        // notifications are a guard's, so that a panic in the hook still wakes
                        // every waiter (marked awake, they would otherwise sleep for good).
                        drop(st);
                        let wake = WakeOnDrop(woken);
                        if let Some(after_sync) = self.after_sync.get() {
                            after_sync(self.synced_version());
                        }
                        drop(wake);
                        return result;
                    }
                    // A sync covers its leader (which wrote its own record before looking)
                    // unless the log was poisoned; were that ever not so, the leader notifies
                    // under the lock and takes its next step like any waiter.
                    for cv in woken {
                        cv.notify_one();
                    }
                    next
                }
                Step::Wait(id, timer) => {
                    let cv = st.waiter_cv(id);
                    st = match timer {
                        // Woken by the leader of the sync in flight when it ends (covered, or
                        // chosen to go on), by a timer holder or woken waiter that leads (its
                        // sync's end), or by poisoning: `GroupCommit` names each waiter it
                        // wakes, and the leader (or `poison`) notifies exactly those.
                        None => wait(&cv, st),
                        // The gathering timer: it wakes itself when the window closes (or is
                        // woken earlier, as above), then leads unless someone else did.
                        Some(until) => {
                            let timeout = until.saturating_duration_since(self.clock.now());
                            self.wait_timeout(&cv, st, timeout)
                        }
                    };
                    st.group.resume(id, self.clock.now())
                }
            };
        }
    }

    /// Leads one sync, with the log lock released: writes everything pending, then fdatasyncs
    /// every segment written since the last sync, in sequence order (so a segment is durable
    /// before any later one counts). Returns with the lock held again, the mark synced (`None`
    /// if a write or fdatasync failed, which poisoned the log), and when it started and ended.
    fn lead<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
    ) -> (MutexGuard<'a, State>, Option<Mark>, Instant, Instant) {
        drop(st);
        let started = self.clock.now();
        let synced = self.lead_sync();
        let ended = self.clock.now();
        let st = self.lock();
        debug_assert!(synced.is_ok() || st.poison.is_some());
        (st, synced.ok(), started, ended)
    }

    /// The leader's I/O; see [`Shared::lead`].
    fn lead_sync(&self) -> Result<Mark> {
        self.write_pending()?;
        let (written, dirty) = {
            let mut st = self.lock();
            // A concurrent write may have failed since: then nothing more is synced.
            if let Some(e) = st.poison_error() {
                return Err(e);
            }
            // Everything written by now, which may be more than this leader wrote: other
            // threads write too (a `Batched` committer joining a sync writes its own record
            // first). The group commit wakes waiters by this mark, not by what was appended
            // when the sync began.
            (st.marks.written, st.buffer.take_dirty())
        };
        for segment in &dirty {
            segment
                .file
                .sync_data()
                .map_err(|e| self.poison("fdatasync", &segment.path, &e))?;
        }
        Ok(written)
    }

    /// Everything appended so far, written and synced.
    pub(crate) fn flush(&self) -> Result<()> {
        let st = self.lock();
        let lsn = st.marks.appended.lsn;
        self.sync_locked(st, lsn, false)
    }
}

impl State {
    /// Records the end of the sync `leader` led (see [`Shared::lead`]); returns the condition
    /// variables of the waiters the group commit wakes, for the leader to notify.
    fn sync_ended(
        &mut self,
        leader: WaiterId,
        synced: Option<Mark>,
        started: Instant,
        ended: Instant,
    ) -> Vec<Arc<Condvar>> {
        self.group.sync_ended(
            leader,
            synced,
            ended,
            ended.saturating_duration_since(started),
        );
        if synced.is_some() {
            // Records this sync did not cover were appended after it began.
            let unsynced = self.marks.appended.lsn > self.group.synced().lsn;
            self.cadence.first_unsynced_at =
                (unsynced && self.cadence.interval_min.is_some()).then_some(started);
        }
        self.take_woken()
    }
}

/// Notifies each condition variable when dropped, on a panic too.
struct WakeOnDrop(Vec<Arc<Condvar>>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        for cv in &self.0 {
            cv.notify_one();
        }
    }
}

/// The error of a poisoned log.
fn poisoned(st: &State) -> Error {
    st.poison_error()
        .expect("the group commit fails a waiter only once the log is poisoned")
}
