//! The log's shared state and its three paths: append (into an in-memory buffer, under the log
//! lock), write (the buffer to the OS, one pwrite per segment touched, under the write lock),
//! and sync (fdatasync, leader/follower group commit).
//!
//! Protocol (see also `docs/FORMAT.md` for what lands on disk):
//! - LSNs count bytes appended since this open; a ticket's LSN is the end of its record.
//!   `written_lsn` and `synced_lsn` only move forward, over prefixes.
//! - Writing: whoever takes the write lock takes *everything* pending and writes it, so
//!   concurrent `Written` waiters share one system call per segment (group write).
//! - Syncing: a waiter that finds nobody syncing becomes the leader: it writes what is
//!   pending (publishing the LSN its sync covers as it takes the buffer), snapshots
//!   `written_lsn` with the segments written since the last sync, fdatasyncs them in sequence
//!   order, publishes `synced_lsn` and wakes the waiters it covered. A waiter that finds a sync
//!   in flight sleeps on the condvar of the sync that will cover it (the one in flight, or the
//!   next), so a finished sync wakes only threads it covered, plus one to lead the next.
//! - Gathering window: the committers a sync released (its leader included, if it is a
//!   committer rather than `flush` or the sync thread) usually come right back with their
//!   next commit, and waking a thread costs tens of microseconds on these
//!   machines. So for a short window after a sync (half of it, at most `GATHER_WINDOW_MAX`)
//!   a waiter that finds nobody syncing sleeps while some of them are still out; the last one
//!   back leads, for everyone, and one sleeper holds a timer to lead when the window closes.
//!   It is a blocking wait, never a spin, and a lone committer never meets it: the only
//!   thread its sync released is itself. It turned 2 and 8 concurrent committers from 1.0x
//!   and 3x the single-committer rate into about 1.7x and 4.2x (PERF.md targets 1.3x, 4x).
//! - A failed write or fdatasync poisons the log; nothing is retried, since a retried fsync can
//!   report success for data the kernel already dropped.

use std::io;
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use in_mem_core_types::Version;

use super::format::{
    FRAME_PREFIX_BYTES_MAX, HEADER_BYTES, SegmentHeader, frame_prefix, frame_prefix_len,
};
use super::record::CommitBody;
use super::recovery::Recovered;
use super::segment::{self, Segment};
use super::{SyncPolicy, Ticket};
use crate::error::{Error, Result};
use crate::sync::{AtomicBool, Clock, Condvar, Mutex, MutexGuard, Ordering};
use crate::vfs::{Vfs, write_all_at};

/// Pending bytes at which the sync thread writes them out early, so that an `Async` log does
/// not sit on a large buffer until its next sync.
pub(crate) const EARLY_WRITE_BYTES: usize = 4 << 20;
/// Pending bytes at which an appender writes them out itself: back-pressure when the disk is
/// slower than the appenders.
const PENDING_BYTES_HARD_MAX: usize = 64 << 20;
/// Buffers kept for reuse, and the largest kept.
const FREE_BUFFERS_MAX: usize = 4;
const FREE_BUFFER_BYTES_MAX: usize = 8 << 20;

/// Longest a sync may wait for the committers the last one released (see `sync_through`).
const GATHER_WINDOW_MAX: Duration = Duration::from_micros(200);

const _: () = assert!(EARLY_WRITE_BYTES < PENDING_BYTES_HARD_MAX);

/// Everything the `Wal` handle, its threads and its policy guards share.
pub(crate) struct Shared {
    pub(super) vfs: Arc<dyn Vfs>,
    pub(super) dir: PathBuf,
    pub(super) segment_bytes: u64,
    state: Mutex<State>,
    /// Held while bytes are handed to the OS, so that writes happen in log order.
    write_lock: Mutex<()>,
    /// Waiters for sync number `s` sleep on `synced[s % 2]`; its leader signals it when it
    /// finishes (and both are signalled when the log is poisoned).
    synced: [Condvar; 2],
    /// Wakes the sync thread.
    pub(super) sync_thread: Condvar,
    /// Signalled when the spare segment is wanted or becomes ready.
    pub(super) spare_changed: Condvar,
    /// Mirrors `State::poison.is_some()` for the lock-free `Buffered` wait.
    poisoned: AtomicBool,
    /// Time, for the gathering window and the sync cadence (a logical clock under loom).
    pub(super) clock: Clock,
}

/// State behind the log lock.
pub(super) struct State {
    active: Option<Active>,
    pub(super) spare: SpareState,
    /// Sequence of the next segment to create.
    pub(super) next_sequence: u64,
    last_version: Version,

    pub(super) appended_lsn: u64,
    pub(super) appended_commits: u64,
    pending: Vec<Chunk>,
    pub(super) pending_bytes: usize,
    free_buffers: Vec<Vec<u8>>,

    written_lsn: u64,
    written_commits: u64,
    /// Version of the last record written to the OS.
    written_version: Version,
    /// Segments written since the last sync snapshot, in sequence order.
    dirty: Vec<Arc<Segment>>,

    pub(super) synced_lsn: u64,
    pub(super) synced_commits: u64,
    /// Version of the last record a completed fdatasync covered (everything recovery found
    /// counts: recovery syncs what it keeps). Every frame records it, which is how recovery
    /// tells an unsynced tail that reached the disk out of order from damage to durable data.
    synced_version: Version,
    /// True while a leader is writing and syncing.
    pub(super) syncing: bool,
    /// Number of the sync in flight, or of the next one.
    sync_seq: u64,
    /// While syncing: the LSN the sync in flight covers, once its leader has taken the buffer.
    sync_target: Option<u64>,
    /// Threads asleep on each of `Shared::synced`.
    sync_waiters: [u32; 2],
    /// Of those, committers (not `flush` or the sync thread, which do not come back to commit).
    commit_waiters: [u32; 2],
    /// Committers the last sync released (with its leader, if a committer) that have not asked
    /// for a sync since.
    released: u32,
    /// The sync whose slot a thread sleeps on with the gathering window's timer, if any.
    gather_timer: Option<u64>,
    /// When the last sync finished, and how long it took.
    last_sync_end: Option<Instant>,
    last_sync_took: Duration,
    /// When the oldest unsynced record was appended (tracked only while a policy exists).
    pub(super) first_unsynced_at: Option<Instant>,

    policies: Vec<(u64, SyncPolicy)>,
    next_policy_id: u64,
    pub(super) interval_min: Option<Duration>,
    pub(super) max_commits_min: Option<u64>,
    pub(super) thread_wait: ThreadWait,

    pub(super) poison: Option<(&'static str, String)>,
    pub(super) closed: bool,
    pub(super) shutdown: bool,
}

/// What the sync thread is doing, so appenders wake it only when it needs waking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ThreadWait {
    /// Awake: it will look at the state again before sleeping.
    Busy,
    /// Asleep until this instant.
    Until(Instant),
    /// Asleep until notified.
    Forever,
}

/// The segment appends go to.
struct Active {
    segment: Arc<Segment>,
    /// Where the next frame goes.
    offset: u64,
    capacity: u64,
    /// True until its header (which names its first version) is appended.
    fresh: bool,
}

/// A prepared, unused segment.
pub(super) struct Spare {
    segment: Segment,
    capacity: u64,
}

pub(super) enum SpareState {
    Missing,
    /// Someone (the preallocation thread or an appender) is creating or growing it.
    Preparing,
    Ready(Spare),
}

/// Appended bytes not yet handed to the OS, for one contiguous range of one segment.
struct Chunk {
    segment: Arc<Segment>,
    offset: u64,
    bytes: Vec<u8>,
    end_lsn: u64,
    end_commits: u64,
    end_version: Version,
}

/// Waits on `cv`, recovering the guard as [`Shared::lock`] does.
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

impl State {
    fn usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.poison_error().map_or(Ok(()), Err)
    }

    fn poison_error(&self) -> Option<Error> {
        self.poison.as_ref().map(|(op, cause)| Error::Poisoned {
            op,
            cause: cause.clone(),
        })
    }

    /// Bytes of the frame of `body` if it were appended now (the durable lag in its prefix
    /// depends on the next version and the synced one).
    fn frame_len(&self, body: &CommitBody) -> u64 {
        let next = self.last_version.next();
        (frame_prefix_len(next, self.synced_version) + body.bytes().len()) as u64
    }

    /// True if a frame of `frame_len` bytes fits in the active segment.
    fn fits(&self, frame_len: u64) -> bool {
        self.active.as_ref().is_some_and(|a| {
            let header = if a.fresh { HEADER_BYTES as u64 } else { 0 };
            a.offset + header + frame_len <= a.capacity
        })
    }

    /// Appends `parts` at `offset` of `segment` to the pending buffer.
    fn push(&mut self, segment: &Arc<Segment>, offset: u64, parts: &[&[u8]]) {
        let extends = self.pending.last().is_some_and(|c| {
            Arc::ptr_eq(&c.segment, segment) && c.offset + c.bytes.len() as u64 == offset
        });
        if !extends {
            let bytes = self.free_buffers.pop().unwrap_or_default();
            self.pending.push(Chunk {
                segment: Arc::clone(segment),
                offset,
                bytes,
                end_lsn: self.appended_lsn,
                end_commits: self.appended_commits,
                end_version: self.last_version,
            });
        }
        let chunk = self
            .pending
            .last_mut()
            .expect("a chunk was found or pushed above");
        for part in parts {
            chunk.bytes.extend_from_slice(part);
            self.pending_bytes += part.len();
            self.appended_lsn += part.len() as u64;
        }
        chunk.end_lsn = self.appended_lsn;
    }

    fn recompute_policies(&mut self) {
        self.interval_min = self.policies.iter().map(|(_, p)| p.interval).min();
        self.max_commits_min = self
            .policies
            .iter()
            .filter_map(|(_, p)| p.max_commits)
            .min()
            .map(|m| m.max(1));
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
            state: Mutex::new(State {
                active,
                spare,
                next_sequence: recovered.next_sequence,
                last_version: recovered.last_version,
                appended_lsn: 0,
                appended_commits: 0,
                pending: Vec::new(),
                pending_bytes: 0,
                free_buffers: Vec::new(),
                written_lsn: 0,
                written_commits: 0,
                written_version: recovered.last_version,
                dirty: Vec::new(),
                synced_lsn: 0,
                synced_commits: 0,
                synced_version: recovered.last_version,
                syncing: false,
                sync_seq: 0,
                sync_target: None,
                sync_waiters: [0, 0],
                commit_waiters: [0, 0],
                released: 0,
                gather_timer: None,
                last_sync_end: None,
                last_sync_took: Duration::ZERO,
                first_unsynced_at: None,
                policies: Vec::new(),
                next_policy_id: 0,
                interval_min: None,
                max_commits_min: None,
                thread_wait: ThreadWait::Busy,
                poison: None,
                closed: false,
                shutdown: false,
            }),
            write_lock: Mutex::new(()),
            synced: [Condvar::new(), Condvar::new()],
            sync_thread: Condvar::new(),
            spare_changed: Condvar::new(),
            poisoned: AtomicBool::new(false),
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
        self.lock().last_version
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
            if st.fits(st.frame_len(body)) {
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
            if st.fits(st.frame_len(body)) {
                // Another appender rotated while this one waited for the spare.
                break;
            }
            let SpareState::Ready(spare) = mem::replace(&mut st.spare, SpareState::Missing) else {
                unreachable!("ensure_spare returns with a ready spare");
            };
            st.active = Some(Active {
                segment: Arc::new(spare.segment),
                offset: 0,
                capacity: spare.capacity,
                fresh: true,
            });
            // Wake the preallocation thread to prepare the next one.
            self.spare_changed.notify_all();
        }

        // From here on nothing can fail: the version is allocated only now.
        let version = allocate();
        assert_eq!(
            version,
            st.last_version.next(),
            "versions must be allocated contiguously, in log order"
        );
        let prefix = frame_prefix(version, st.synced_version, body.bytes(), body.crc());
        let prefix = prefix.as_bytes();
        let frame_len = (prefix.len() + body.bytes().len()) as u64;
        let active = st
            .active
            .as_mut()
            .expect("fits() holds only with an active segment");
        let segment = Arc::clone(&active.segment);
        let header = active.fresh.then(|| {
            SegmentHeader {
                sequence: segment.sequence,
                first_version: version,
            }
            .encode()
        });
        let offset = if header.is_some() { 0 } else { active.offset };
        active.offset = offset + header.map_or(0, |h| h.len() as u64) + frame_len;
        active.fresh = false;
        match &header {
            Some(h) => st.push(&segment, offset, &[&h[..], prefix, body.bytes()]),
            None => st.push(&segment, offset, &[prefix, body.bytes()]),
        }
        st.appended_commits += 1;
        let commits = st.appended_commits;
        let chunk = st.pending.last_mut().expect("pushed above");
        chunk.end_commits = commits;
        chunk.end_version = version;
        st.last_version = version;
        let ticket = Ticket {
            version,
            lsn: st.appended_lsn,
        };

        let mut wake = false;
        if st.interval_min.is_some() && st.first_unsynced_at.is_none() {
            st.first_unsynced_at = Some(self.clock.now());
            wake = st.thread_wait == ThreadWait::Forever;
        }
        if st
            .max_commits_min
            .is_some_and(|m| commits - st.synced_commits >= m)
        {
            wake = true;
        }
        if st.pending_bytes >= EARLY_WRITE_BYTES {
            wake = true;
        }
        if wake && st.thread_wait != ThreadWait::Busy {
            st.thread_wait = ThreadWait::Busy;
            self.sync_thread.notify_one();
        }
        let overfull = st.pending_bytes > PENDING_BYTES_HARD_MAX;
        drop(st);
        if overfull {
            // The record is in the log either way; a failure poisons it and shows at the wait.
            let _ = self.write_pending();
        }
        Ok(ticket)
    }

    /// Returns with a ready spare of at least `min_capacity` bytes (`Ok`), creating or growing
    /// one if needed, with the lock released during the I/O.
    pub(super) fn ensure_spare<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        min_capacity: u64,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        loop {
            match &st.spare {
                SpareState::Ready(spare) if spare.capacity >= min_capacity => return (st, Ok(())),
                SpareState::Preparing => {
                    st = wait(&self.spare_changed, st);
                    continue;
                }
                SpareState::Ready(_) | SpareState::Missing => {}
            }
            let capacity = min_capacity.max(self.segment_bytes);
            let result = match mem::replace(&mut st.spare, SpareState::Preparing) {
                SpareState::Ready(spare) => {
                    drop(st);
                    let grown = segment::grow(&spare.segment, spare.capacity, capacity);
                    st = self.lock();
                    match grown {
                        Ok(()) => {
                            st.spare = SpareState::Ready(Spare {
                                segment: spare.segment,
                                capacity,
                            });
                            Ok(())
                        }
                        Err(e) => {
                            // Still a valid (all-zero) spare, just not large enough.
                            st.spare = SpareState::Ready(spare);
                            Err(e)
                        }
                    }
                }
                SpareState::Missing => {
                    let sequence = st.next_sequence;
                    st.next_sequence += 1;
                    drop(st);
                    let created = segment::create(&*self.vfs, &self.dir, sequence, capacity);
                    st = self.lock();
                    match created {
                        Ok(segment) => {
                            st.spare = SpareState::Ready(Spare { segment, capacity });
                            Ok(())
                        }
                        Err(e) => {
                            st.spare = SpareState::Missing;
                            st.next_sequence = sequence;
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

    /// Hands everything pending to the OS, in log order.
    pub(super) fn write_pending(&self) -> Result<()> {
        self.write_out(false)
    }

    /// [`Shared::write_pending`]; a sync leader (`for_sync`) also publishes, when it takes the
    /// buffer, the LSN its sync will cover.
    fn write_out(&self, for_sync: bool) -> Result<()> {
        let _writer = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let chunks = {
            let mut st = self.lock();
            if let Some(e) = st.poison_error() {
                return Err(e);
            }
            if for_sync {
                // Holding the write lock, every earlier chunk is written: after this write,
                // everything appended so far is.
                st.sync_target = Some(st.appended_lsn);
            }
            if st.pending.is_empty() {
                return Ok(());
            }
            st.pending_bytes = 0;
            mem::take(&mut st.pending)
        };
        for chunk in &chunks {
            if let Err(e) = write_all_at(&*chunk.segment.file, &chunk.bytes, chunk.offset) {
                return Err(self.poison("write", &chunk.segment.path, &e));
            }
        }
        let mut st = self.lock();
        let last = chunks.last().expect("not empty");
        st.written_lsn = last.end_lsn;
        st.written_commits = last.end_commits;
        st.written_version = last.end_version;
        for chunk in chunks {
            if !st
                .dirty
                .last()
                .is_some_and(|s| Arc::ptr_eq(s, &chunk.segment))
            {
                st.dirty.push(chunk.segment);
            }
            let mut bytes = chunk.bytes;
            if st.free_buffers.len() < FREE_BUFFERS_MAX && bytes.capacity() <= FREE_BUFFER_BYTES_MAX
            {
                bytes.clear();
                st.free_buffers.push(bytes);
            }
        }
        Ok(())
    }

    /// Returns once the record ending at `lsn` is in the in-process buffer (at once), unless
    /// the log was poisoned before it was written.
    pub(crate) fn wait_buffered(&self, lsn: u64) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let st = self.lock();
        if st.written_lsn >= lsn {
            return Ok(());
        }
        st.poison_error().map_or(Ok(()), Err)
    }

    /// Returns once the record ending at `lsn` (of commit `version`) is written to the OS,
    /// writing it if needed.
    ///
    /// `Batched` promises to lose at most `max_commits` acknowledged commits on power loss, so
    /// a committer whose record would leave more than the smallest registered `max_commits`
    /// written but unsynced joins a sync before it returns. Waking the sync thread alone is not
    /// enough: under load it runs late, and every commit acknowledged meanwhile widens the
    /// window.
    pub(crate) fn wait_written(&self, lsn: u64, version: Version) -> Result<()> {
        loop {
            {
                let st = self.lock();
                assert!(lsn <= st.appended_lsn, "ticket from another log");
                if st.written_lsn >= lsn {
                    let unsynced = version.get().saturating_sub(st.synced_version.get());
                    if st.max_commits_min.is_some_and(|max| unsynced > max) {
                        drop(st);
                        return self.sync_through(lsn, true);
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

    /// Returns once a completed fdatasync covers the record ending at `lsn`.
    ///
    /// Group commit, leader/follower. A caller that finds a sync in flight sleeps until the
    /// sync that covers its record finishes: the one in flight if its leader took the record,
    /// else the next one. A caller that finds nobody syncing leads a sync of everything
    /// appended so far, with one refinement (a *gathering window*): the threads a sync just
    /// released usually come straight back with their next commit, and waking a thread takes
    /// tens of microseconds here, so if some of them (counting the leader) have not come back
    /// yet, and the window (half the last sync, at most `GATHER_WINDOW_MAX`) since that sync
    /// is still open, the caller sleeps instead and the last of them to come back leads, with
    /// everyone's records. One sleeper holds a timer and leads when the window closes if they
    /// do not all come back. The window is a blocking wait, never a spin, and a lone committer
    /// never meets it (the only thread its sync released is itself).
    ///
    /// `committer` is true for a commit's wait, false for `flush` and the sync thread, which
    /// are not expected back with another commit.
    pub(crate) fn sync_through(&self, lsn: u64, committer: bool) -> Result<()> {
        let mut st = self.lock();
        assert!(lsn <= st.appended_lsn, "ticket from another log");
        if committer && st.released > 0 {
            st.released -= 1;
        }
        loop {
            if st.synced_lsn >= lsn {
                return Ok(());
            }
            if let Some(e) = st.poison_error() {
                return Err(e);
            }
            let (seq, timeout) = if st.syncing {
                // Covered by the sync in flight if its leader has not yet taken the buffer
                // (the record is in it) or took it after this record.
                let current = st.sync_target.is_none_or(|target| lsn <= target);
                (st.sync_seq + u64::from(!current), None)
            } else {
                let now = self.clock.now();
                let window = (st.last_sync_took / 2).min(GATHER_WINDOW_MAX);
                let open = st
                    .last_sync_end
                    .map(|end| end + window)
                    .filter(|&until| now < until);
                match open {
                    Some(until) if st.released > 0 => {
                        let timer = st.gather_timer.is_none();
                        if timer {
                            st.gather_timer = Some(st.sync_seq);
                        }
                        (st.sync_seq, timer.then(|| until - now))
                    }
                    _ => {
                        st = self.lead(st, committer);
                        continue;
                    }
                }
            };
            let slot = (seq % 2) as usize;
            st.sync_waiters[slot] += 1;
            st.commit_waiters[slot] += u32::from(committer);
            st = match timeout {
                Some(t) => {
                    let mut st = self.wait_timeout(&self.synced[slot], st, t);
                    // Back from the timer: the loop leads if the window has closed.
                    if st.gather_timer == Some(seq) {
                        st.gather_timer = None;
                    }
                    st
                }
                None => wait(&self.synced[slot], st),
            };
            st.sync_waiters[slot] -= 1;
            st.commit_waiters[slot] -= u32::from(committer);
        }
    }

    /// Leads one sync (the caller found nobody syncing); returns with the lock held again.
    /// A failure is recorded as poison, which the caller's loop then reports.
    fn lead<'a>(&'a self, mut st: MutexGuard<'a, State>, committer: bool) -> MutexGuard<'a, State> {
        st.syncing = true;
        st.sync_target = None;
        drop(st);
        let started = self.clock.now();
        let led = self.lead_sync();
        let ended = self.clock.now();
        st = self.lock();
        // Every failure of the leader's path poisons the log; the caller's loop reports it.
        debug_assert!(led.is_ok() || st.poison.is_some());
        st.syncing = false;
        st.sync_target = None;
        st.last_sync_end = Some(ended);
        st.last_sync_took = ended - started;
        if let Ok((lsn_done, commits_done, version_done)) = led {
            st.synced_lsn = st.synced_lsn.max(lsn_done);
            st.synced_commits = st.synced_commits.max(commits_done);
            st.synced_version = st.synced_version.max(version_done);
            // Records not covered were appended after this sync began.
            st.first_unsynced_at =
                (st.appended_lsn > st.synced_lsn && st.interval_min.is_some()).then_some(started);
        }
        let done = (st.sync_seq % 2) as usize;
        st.sync_seq += 1;
        // The threads this sync covered, and this one, may come back to commit again.
        st.released = st.commit_waiters[done] + u32::from(committer);
        if st.sync_waiters[done] > 0 {
            self.synced[done].notify_all();
        }
        if st.gather_timer == Some(st.sync_seq - 1) {
            // Its holder was covered by this sync.
            st.gather_timer = None;
        }
        if st.sync_waiters[1 - done] > 0 {
            // Threads wait for the next sync, but this one may have covered some of them: its
            // leader synced everything written when it looked, which can include records that
            // others wrote after it took its target. Wake them all to check; those not covered
            // go back to sleep, one of them holding the gathering timer or leading.
            self.synced[1 - done].notify_all();
        }
        st
    }

    /// The leader's work: write everything pending, then fdatasync every segment written since
    /// the last sync, in sequence order (so a segment is durable before any later one counts).
    fn lead_sync(&self) -> Result<(u64, u64, Version)> {
        self.write_out(true)?;
        let (lsn, commits, version, dirty) = {
            let mut st = self.lock();
            // A concurrent write may have failed since: then nothing more is synced.
            if let Some(e) = st.poison_error() {
                return Err(e);
            }
            (
                st.written_lsn,
                st.written_commits,
                st.written_version,
                mem::take(&mut st.dirty),
            )
        };
        for segment in &dirty {
            segment
                .file
                .sync_data()
                .map_err(|e| self.poison("fdatasync", &segment.path, &e))?;
        }
        Ok((lsn, commits, version))
    }

    /// Everything appended so far, written and synced.
    pub(crate) fn flush(&self) -> Result<()> {
        let lsn = self.lock().appended_lsn;
        self.sync_through(lsn, false)
    }

    /// Records the first failure and wakes everyone; returns the error for the failing caller.
    fn poison(&self, op: &'static str, path: &Path, e: &io::Error) -> Error {
        let mut st = self.lock();
        if st.poison.is_none() {
            let cause = format!("{}: {e}", path.display());
            tracing::error!(op, %cause, "write-ahead log poisoned");
            st.poison = Some((op, cause));
            self.poisoned.store(true, Ordering::Release);
        }
        for cv in &self.synced {
            cv.notify_all();
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
        let id = st.next_policy_id;
        st.next_policy_id += 1;
        st.policies.push((id, policy));
        st.recompute_policies();
        if st.appended_lsn > st.synced_lsn && st.first_unsynced_at.is_none() {
            st.first_unsynced_at = Some(self.clock.now());
        }
        st.thread_wait = ThreadWait::Busy;
        self.sync_thread.notify_one();
        id
    }

    /// Removes the cadence registered under `id`.
    pub(crate) fn remove_policy(&self, id: u64) {
        let mut st = self.lock();
        st.policies.retain(|(i, _)| *i != id);
        st.recompute_policies();
        if st.interval_min.is_none() {
            st.first_unsynced_at = None;
        }
        st.thread_wait = ThreadWait::Busy;
        self.sync_thread.notify_one();
    }
}

#[cfg(test)]
mod tests;
