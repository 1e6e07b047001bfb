//! The group commit's decisions, with no I/O, no locks and no clock of its own: who leads a
//! sync, who waits and until when, whom a finished sync wakes, the gathering window and its
//! timer, the `Batched` join-a-sync rule, and what poisoning changes. The writer
//! (`writer/waits.rs`) calls it under the log lock and carries out what it returns with its
//! condition variables and file system; the exhaustive model in `group_commit/model.rs` drives
//! it through every interleaving of a few committers, a leader's I/O and the timer.
//!
//! # Protocol
//!
//! A thread that needs the log synced through `lsn` *arrives*. If a completed fdatasync covers
//! `lsn` it is done; if the log is poisoned it fails. Otherwise it is registered as a waiter
//! (an id, its LSN, whether it is a committer) and gets one of two answers:
//!
//! - **Lead**, if no sync is in flight and no gathering window holds it back: it writes and
//!   fdatasyncs everything written so far and reports the mark its fdatasyncs covered to
//!   [`GroupCommit::sync_ended`].
//! - **Wait** on its own condition variable, until it is woken, or until the gathering
//!   timer's deadline if it holds the timer.
//!
//! A woken thread (or one whose timer fired, or woken spuriously) *resumes*: the same
//! decision again. Every waiter always has someone responsible for waking it:
//!
//! - while a sync is in flight, its end: [`GroupCommit::sync_ended`] wakes every waiter whose
//!   LSN the mark *actually synced* covers (the leader syncs all that was written when it
//!   looked, which can be more than was appended when it began: a `Batched` committer joining
//!   a sync writes its own record first), and, if uncovered waiters remain and none of them is
//!   already awake, one of them, which will lead the next sync or hold the timer. Waiters that
//!   arrive during a sync need no guess about which sync covers them.
//! - with no sync in flight, the gathering timer's holder (it wakes itself at the deadline and
//!   leads), or an uncovered waiter already woken (it will lead or take the timer).
//!
//! `GroupCommit::check_invariants` (built for tests) states this, and the model checks it after
//! every step.
//!
//! Why waking one uncovered waiter is enough: a waiter registered before a sync began had
//! appended its record before, and the leader writes everything appended before it looks at
//! what is written, so that sync covers it. Only waiters that arrived during a sync can be
//! left uncovered at its end, and the one woken leads (at once, or when the window closes, or
//! through the last committer back) a sync that covers all of them.
//!
//! # `Batched`
//!
//! A `Batched` commit needs its record written, not synced, but the mode promises to lose at
//! most `max_commits` acknowledged commits on power loss. So a committer whose record would
//! leave more than that unsynced joins a sync ([`GroupCommit::must_join_sync`]) as a committer
//! like any other, before it returns.
//!
//! # Gathering window
//!
//! The committers a sync released (its leader included) usually come straight back with their
//! next commit, and waking a thread costs tens of microseconds on these machines. So for a
//! short window after a sync (half its duration, at most [`GATHER_WINDOW_MAX`]) a thread that
//! finds nobody syncing waits while some of those committers have not come back; the last one
//! back leads, for everyone, and one waiter holds a timer to lead when the window closes if
//! they do not all come back. It is a blocking wait, never a spin, and a lone committer never
//! meets it: the only committer its sync released is itself. It turned 2 and 8 concurrent
//! `Strict` committers from 1.0x and 3x the single-committer rate into about 1.7x and 4.2x.
//!
//! # Poisoning and close
//!
//! A failed write or fdatasync poisons the log ([`GroupCommit::poison`]): every waiter is
//! woken, and from then on a thread returns done only if a sync that completed *before* the
//! poisoning covered it, else it fails. A sync that completes after the poisoning counts for
//! nothing (its leader saw a consistent log when it began, but nothing more is acknowledged
//! once anything failed). Closing is not a state of the machine: a closed log refuses appends
//! and its last flush goes through here like any other caller.

use std::time::{Duration, Instant};

use in_mem_core_types::Version;

use super::marks::Mark;

/// Longest a sync may wait for the committers the last one released.
pub(super) const GATHER_WINDOW_MAX: Duration = Duration::from_micros(200);

/// A thread registered with the group commit, from its arrival until it is told done or
/// failed (leading included); each has a condition variable of its own in the writer, so a
/// wake-up is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct WaiterId(usize);

impl WaiterId {
    /// A small index, reused once the waiter is gone.
    pub(super) fn index(self) -> usize {
        self.0
    }
}

/// What a thread that arrives or resumes does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A completed fdatasync covers its record: return `Ok`.
    Done,
    /// The log is poisoned and no sync completed before covered its record: return the error.
    Failed,
    /// Lead a sync now, then report it with [`GroupCommit::sync_ended`] and resume.
    Lead(WaiterId),
    /// Sleep on the waiter's own condition variable until woken, or until the instant given
    /// (it holds the gathering timer), then resume.
    Wait(WaiterId, Option<Instant>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Status {
    /// Asleep until the sync in flight ends, or a timer holder or woken waiter leads.
    Asleep,
    /// Asleep holding the gathering timer: it wakes itself at this instant.
    Timer(Instant),
    /// Woken, or about to decide: it will resume and take the next step.
    Awake,
    /// Leading the sync in flight.
    Leading,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Waiter {
    lsn: u64,
    /// A commit's wait (not `flush` or the sync thread): expected back with another commit.
    committer: bool,
    status: Status,
}

/// The group commit's state; see the module documentation for the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct GroupCommit {
    /// What the last completed fdatasync covered (before any poisoning).
    synced: Mark,
    /// Registered threads by id; `None` for a free id.
    waiters: Vec<Option<Waiter>>,
    /// The leader of the sync in flight.
    leader: Option<WaiterId>,
    /// Committers the last sync covered, its leader included, that have not arrived since.
    released: u32,
    /// When the gathering window after the last sync closes.
    window_end: Option<Instant>,
    poisoned: bool,
    /// The waiters woken since the caller last took them, for it to notify.
    woken: Vec<WaiterId>,
}

impl GroupCommit {
    /// A group commit with everything up to `synced` durable and nobody waiting.
    pub(super) fn new(synced: Mark) -> GroupCommit {
        GroupCommit {
            synced,
            waiters: Vec::new(),
            leader: None,
            released: 0,
            window_end: None,
            poisoned: false,
            woken: Vec::new(),
        }
    }

    /// What the last completed fdatasync covered.
    pub(super) fn synced(&self) -> Mark {
        self.synced
    }

    /// The `Batched` rule: a committer whose record (of `version`, just written) would leave
    /// more than `max_commits` acknowledged commits unsynced joins a sync before it returns.
    /// Leaving it to the sync thread is not enough: under load that thread runs late, and
    /// every commit acknowledged meanwhile widens the window a power loss can take.
    pub(super) fn must_join_sync(&self, version: Version, max_commits: Option<u64>) -> bool {
        let unsynced = version.get().saturating_sub(self.synced.version.get());
        max_commits.is_some_and(|max| unsynced > max)
    }

    /// A thread needs the log synced through `lsn`; `committer` is true for a commit's wait.
    pub(super) fn arrive(&mut self, lsn: u64, committer: bool, now: Instant) -> Step {
        if committer {
            self.released = self.released.saturating_sub(1);
        }
        if let Some(step) = self.settled(lsn) {
            return step;
        }
        let waiter = Waiter {
            lsn,
            committer,
            status: Status::Awake,
        };
        let id = if let Some(free) = self.waiters.iter().position(Option::is_none) {
            self.waiters[free] = Some(waiter);
            WaiterId(free)
        } else {
            self.waiters.push(Some(waiter));
            WaiterId(self.waiters.len() - 1)
        };
        self.decide(id, now)
    }

    /// Waiter `id` is back from a wait (woken, timed out or spuriously), or from leading.
    pub(super) fn resume(&mut self, id: WaiterId, now: Instant) -> Step {
        self.decide(id, now)
    }

    /// The sync led by `leader` ended: `synced` is the mark its fdatasyncs covered, `None` if
    /// one failed (the log was poisoned first). Wakes whom it should; see [`Self::drain_woken`].
    pub(super) fn sync_ended(
        &mut self,
        leader: WaiterId,
        synced: Option<Mark>,
        ended: Instant,
        took: Duration,
    ) {
        assert_eq!(self.leader, Some(leader), "only the leader ends its sync");
        assert!(
            synced.is_some() || self.poisoned,
            "a failed sync poisons first"
        );
        self.leader = None;
        if let Some(mark) = synced.filter(|m| !self.poisoned && m.lsn > self.synced.lsn) {
            self.synced = mark;
        }
        self.window_end = Some(ended + (took / 2).min(GATHER_WINDOW_MAX));
        // The leader is its caller's thread: awake, never notified.
        self.waiter_mut(leader).status = Status::Awake;
        self.released = 0;
        let synced = self.synced.lsn;
        let mut uncovered = None;
        let mut uncovered_awake = false;
        for (index, slot) in self.waiters.iter_mut().enumerate() {
            let Some(waiter) = slot else { continue };
            let covered = waiter.lsn <= synced;
            if covered {
                self.released += u32::from(waiter.committer);
            }
            if covered || self.poisoned {
                if waiter.status != Status::Awake {
                    waiter.status = Status::Awake;
                    self.woken.push(WaiterId(index));
                }
            } else if waiter.status == Status::Awake {
                uncovered_awake = true;
            } else if uncovered.is_none() {
                uncovered = Some(index);
            }
        }
        // Waiters remain for a later sync: one of them leads it or holds the timer.
        if let (Some(index), false) = (uncovered, uncovered_awake) {
            self.waiter_mut(WaiterId(index)).status = Status::Awake;
            self.woken.push(WaiterId(index));
        }
    }

    /// The log was poisoned: wakes every waiter (see [`Self::drain_woken`]); none will be covered.
    pub(super) fn poison(&mut self) {
        self.poisoned = true;
        for (index, slot) in self.waiters.iter_mut().enumerate() {
            if let Some(waiter) = slot
                && matches!(waiter.status, Status::Asleep | Status::Timer(_))
            {
                waiter.status = Status::Awake;
                self.woken.push(WaiterId(index));
            }
        }
    }

    /// Takes the waiters that [`Self::sync_ended`] or [`Self::poison`] woke: the caller
    /// notifies each one's condition variable.
    pub(super) fn drain_woken(&mut self) -> std::vec::Drain<'_, WaiterId> {
        self.woken.drain(..)
    }

    /// Done or failed if settled, whatever the rest of the state.
    fn settled(&self, lsn: u64) -> Option<Step> {
        if lsn <= self.synced.lsn {
            Some(Step::Done)
        } else if self.poisoned {
            Some(Step::Failed)
        } else {
            None
        }
    }

    /// The step of registered waiter `id`, which is awake (or asleep and back early).
    fn decide(&mut self, id: WaiterId, now: Instant) -> Step {
        let lsn = self.waiter(id).lsn;
        assert!(
            self.leader != Some(id),
            "a leader resumes only after its sync ended"
        );
        if let Some(step) = self.settled(lsn) {
            self.waiters[id.0] = None;
            return step;
        }
        if self.leader.is_some() {
            // The sync in flight wakes this waiter when it ends: covered, or to go on.
            self.waiter_mut(id).status = Status::Asleep;
            return Step::Wait(id, None);
        }
        let window = self
            .window_end
            .filter(|&end| now < end && self.released > 0);
        if let Some(end) = window {
            let held = self.waiters.iter().enumerate().any(|(index, slot)| {
                index != id.0
                    && slot
                        .as_ref()
                        .is_some_and(|w| matches!(w.status, Status::Timer(_)))
            });
            return if held {
                self.waiter_mut(id).status = Status::Asleep;
                Step::Wait(id, None)
            } else {
                self.waiter_mut(id).status = Status::Timer(end);
                Step::Wait(id, Some(end))
            };
        }
        // Lead. The sync in flight is now responsible for every waiter: the timer is void.
        for waiter in self.waiters.iter_mut().flatten() {
            if matches!(waiter.status, Status::Timer(_)) {
                waiter.status = Status::Asleep;
            }
        }
        self.waiter_mut(id).status = Status::Leading;
        self.leader = Some(id);
        Step::Lead(id)
    }

    fn waiter(&self, id: WaiterId) -> &Waiter {
        self.waiters
            .get(id.0)
            .and_then(Option::as_ref)
            .expect("a waiter id is used only while registered")
    }

    fn waiter_mut(&mut self, id: WaiterId) -> &mut Waiter {
        self.waiters
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .expect("a waiter id is used only while registered")
    }

    /// The protocol's invariants, or the first that does not hold; the model checks them
    /// after every step.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) -> std::result::Result<(), String> {
        let waiters = || {
            self.waiters
                .iter()
                .enumerate()
                .filter_map(|(i, w)| Some((i, w.as_ref()?)))
        };
        let leading: Vec<usize> = waiters()
            .filter(|(_, w)| w.status == Status::Leading)
            .map(|(i, _)| i)
            .collect();
        if leading != self.leader.map(|l| vec![l.0]).unwrap_or_default() {
            return Err(format!("leaders {leading:?}, leader {:?}", self.leader));
        }
        let timers = waiters()
            .filter(|(_, w)| matches!(w.status, Status::Timer(_)))
            .count();
        if timers > 1 || (timers == 1 && self.leader.is_some()) {
            return Err(format!(
                "{timers} timer holders beside leader {:?}",
                self.leader
            ));
        }
        let asleep = |w: &Waiter| matches!(w.status, Status::Asleep | Status::Timer(_));
        for (i, w) in waiters() {
            if asleep(w) && (w.lsn <= self.synced.lsn || self.poisoned) {
                return Err(format!("waiter {i} asleep, yet covered or poisoned"));
            }
        }
        let responsible = self.leader.is_some()
            || timers == 1
            || waiters().any(|(_, w)| w.status == Status::Awake && w.lsn > self.synced.lsn);
        if !responsible && waiters().any(|(_, w)| asleep(w)) {
            return Err("waiters asleep with nobody to wake them".to_owned());
        }
        Ok(())
    }

    /// The status of waiter `id`, for the model.
    #[cfg(test)]
    pub(super) fn status(&self, id: WaiterId) -> Status {
        self.waiter(id).status
    }

    /// When the gathering window closes, for the model.
    #[cfg(test)]
    pub(super) fn window_end(&self) -> Option<Instant> {
        self.window_end
    }
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
