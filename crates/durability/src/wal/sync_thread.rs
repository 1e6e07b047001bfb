//! The log's two background threads: the sync thread (writes and fdatasyncs on the cadence of
//! the registered policies, and writes a large buffer out early) and the preallocation thread
//! (prepares the next segment before it is needed).
//!
//! They are separate so that a sync is never delayed behind the zero-fill of a new segment,
//! which takes tens of milliseconds for a full-size one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cadence::ThreadWait;
use super::rotation::SpareState;
use super::writer::{EARLY_WRITE_BYTES, Shared, State, wait};

/// How long the preallocation thread waits after a failure before trying again.
const PREPARE_RETRY_DELAY: Duration = Duration::from_secs(1);

/// What the sync thread does next.
enum Action {
    Sync,
    Write,
    Sleep(Option<Instant>),
}

/// Decides, from the state, whether a policy asks for a sync now.
fn decide(st: &State, now: Instant) -> Action {
    if st.poison.is_some() {
        return Action::Sleep(None);
    }
    let mut deadline = None;
    let (appended, synced, cadence) = (st.marks.appended, st.group.synced(), &st.cadence);
    if appended.lsn > synced.lsn {
        if cadence
            .max_commits_min
            .is_some_and(|m| appended.commits - synced.commits >= m)
        {
            return Action::Sync;
        }
        if let (Some(interval), Some(since)) = (cadence.interval_min, cadence.first_unsynced_at) {
            let due = since + interval;
            if now >= due {
                return Action::Sync;
            }
            deadline = Some(due);
        }
    }
    if st.buffer.pending_bytes() >= EARLY_WRITE_BYTES {
        return Action::Write;
    }
    Action::Sleep(deadline)
}

/// The sync thread's loop; returns at shutdown.
pub(crate) fn run_sync_thread(shared: &Arc<Shared>) {
    let mut st = shared.lock();
    loop {
        if st.shutdown {
            return;
        }
        let now = shared.clock.now();
        match decide(&st, now) {
            Action::Sync => {
                let target = st.marks.appended.lsn;
                st.cadence.thread_wait = ThreadWait::Busy;
                drop(st);
                // A failure poisons the log and is reported to the waiters; nothing to add.
                if let Err(e) = shared.sync_through(target, false) {
                    tracing::debug!(error = %e, "background sync failed");
                }
                st = shared.lock();
            }
            Action::Write => {
                st.cadence.thread_wait = ThreadWait::Busy;
                drop(st);
                if let Err(e) = shared.write_pending() {
                    tracing::debug!(error = %e, "background write failed");
                }
                st = shared.lock();
            }
            Action::Sleep(deadline) => {
                st.cadence.thread_wait = deadline.map_or(ThreadWait::Forever, ThreadWait::Until);
                // Woken by an appender whose record makes a sync or write due sooner than
                // `thread_wait` says the thread would look (it reads `thread_wait` under this
                // lock), by a policy added or removed, by poisoning, or by shutdown.
                st = match deadline {
                    Some(d) => shared.wait_timeout(
                        &shared.sync_thread,
                        st,
                        d.saturating_duration_since(now),
                    ),
                    None => wait(&shared.sync_thread, st),
                };
                st.cadence.thread_wait = ThreadWait::Busy;
            }
        }
    }
}

/// The preallocation thread's loop: keeps a spare segment ready; returns at shutdown.
pub(crate) fn run_prealloc_thread(shared: &Arc<Shared>) {
    let mut retry_at: Option<Instant> = None;
    let mut st = shared.lock();
    loop {
        if st.shutdown {
            return;
        }
        let now = shared.clock.now();
        let wanted =
            matches!(st.rotation.spare, SpareState::Missing) && st.poison.is_none() && !st.closed;
        match retry_at {
            // Woken by a rotation (which takes the spare), an appender that failed to prepare
            // it, poisoning, or shutdown: each notifies `spare_changed` under this lock.
            _ if !wanted => st = wait(&shared.spare_changed, st),
            Some(at) if now < at => {
                st = shared.wait_timeout(&shared.spare_changed, st, at - now);
            }
            _ => {
                let (guard, result) = shared.ensure_spare(st, shared.segment_bytes);
                st = guard;
                retry_at = match result {
                    Ok(()) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot prepare the next log segment; will retry");
                        Some(shared.clock.now() + PREPARE_RETRY_DELAY)
                    }
                };
            }
        }
    }
}
