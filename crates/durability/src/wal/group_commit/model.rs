//! An exhaustive model of the group commit: every interleaving of a few threads (`Strict` and
//! `Batched` committers, the sync thread, a flush) around the pure [`GroupCommit`], with the
//! leader's I/O in its real steps (write everything pending, look at what is written,
//! fdatasync, report), a `Batched` committer's own write running ahead of a sync's target,
//! the gathering timer firing, the window closing, spurious wake-ups and failed writes and
//! fdatasyncs. Depth first, each state visited once.
//!
//! Checked after every step, in every interleaving:
//! - the machine's invariants: one leader, one timer holder at most, and no waiter asleep
//!   without a sync in flight, a timer holder or an awake uncovered waiter to wake it;
//! - a thread told done is covered by fdatasyncs that completed, and reported, before any
//!   poisoning (the model's own account of the disk, not the machine's);
//! - a `Batched` committer acknowledged leaves at most `max_commits` commits unsynced;
//! - a thread fails only on a poisoned log, and after poisoning nothing more is appended;
//! - nobody is left waiting: in a state where nothing can happen, every thread has finished.
//!
//! The model sees LSNs only: one commit is one LSN, and its version is its LSN. Segments and
//! their rotation are invisible to the machine and are exercised by the loom tests of the
//! real writer (`tests/loom.rs`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use in_mem_core_types::Version;

use super::{GroupCommit, Status, Step, WaiterId};
use crate::wal::marks::Mark;

/// How long a modelled fdatasync takes (it opens a gathering window of half that).
const SYNC_MICROS: u64 = 100;

fn at(micros: u64) -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now) + Duration::from_micros(micros)
}

fn micros_of(instant: Instant) -> u64 {
    (instant - at(0)).as_micros() as u64
}

fn mark(lsn: u64) -> Mark {
    Mark {
        lsn,
        commits: lsn,
        version: Version::new(lsn),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Appends, then waits `Synced`.
    Strict,
    /// Appends, writes, and joins a sync only if `max_commits` says so.
    Batched,
    /// Syncs everything appended, once, when something is unsynced.
    SyncThread,
    /// Syncs everything appended, once, at any moment.
    Flush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    /// Write everything pending.
    Write,
    /// Look at what is written: the sync covers that.
    Snapshot,
    /// fdatasync, covering this LSN.
    Sync(u64),
    /// Report to the machine: the LSN covered, or `None` after a failure.
    End(Option<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pc {
    /// About to start its next operation (if any is left).
    Ready,
    /// Appended the record ending at this LSN; about to wait for it.
    Appended(u64),
    Waiting(WaiterId, u64),
    Leading {
        id: WaiterId,
        lsn: u64,
        started: u64,
        phase: Phase,
    },
    /// Stopped by a failure.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Thread {
    kind: Kind,
    /// Operations left: commits, or syncs.
    left: u8,
    pc: Pc,
}

/// What may happen next.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Thread `i` takes its next step (its I/O succeeding, if it does any).
    Step(usize),
    /// Thread `i`'s write or fdatasync fails.
    Fail(usize),
    /// The gathering timer of thread `i` fires.
    Timer(usize),
    /// Thread `i` wakes up without being woken.
    Spurious(usize),
    /// Time passes until the gathering window closes.
    WindowCloses,
}

/// A set of threads and what the environment may do.
struct Scenario {
    threads: Vec<(Kind, u8)>,
    max_commits: Option<u64>,
    /// I/O failures that may be injected (each makes its own branch).
    faults: u8,
    spurious: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct World {
    gc: GroupCommit,
    now: u64,
    appended: u64,
    written: u64,
    /// The highest LSN completed fdatasyncs made durable.
    durable: u64,
    /// The highest LSN a thread may be told is done: covered by a sync reported before any
    /// poisoning.
    ackable: u64,
    poisoned: bool,
    faults: u8,
    max_commits: Option<u64>,
    threads: Vec<Thread>,
}

impl World {
    fn new(scenario: &Scenario) -> World {
        World {
            gc: GroupCommit::new(mark(0)),
            now: 0,
            appended: 0,
            written: 0,
            durable: 0,
            ackable: 0,
            poisoned: false,
            faults: scenario.faults,
            max_commits: scenario.max_commits,
            threads: scenario
                .threads
                .iter()
                .map(|&(kind, left)| Thread {
                    kind,
                    left,
                    pc: Pc::Ready,
                })
                .collect(),
        }
    }

    fn events(&self, scenario: &Scenario) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, thread) in self.threads.iter().enumerate() {
            let io_may_fail = self.faults > 0 && !self.poisoned;
            match thread.pc {
                Pc::Failed => {}
                Pc::Ready if thread.left == 0 => {}
                Pc::Ready => {
                    let idle = thread.kind == Kind::SyncThread
                        && (self.poisoned || self.appended <= self.gc.synced().lsn);
                    if !idle {
                        events.push(Event::Step(i));
                    }
                }
                Pc::Appended(lsn) => {
                    events.push(Event::Step(i));
                    // A `Batched` committer that finds its record unwritten writes it.
                    if thread.kind == Kind::Batched && self.written < lsn && io_may_fail {
                        events.push(Event::Fail(i));
                    }
                }
                Pc::Waiting(id, _) => match self.gc.status(id) {
                    Status::Awake => events.push(Event::Step(i)),
                    Status::Timer(_) => {
                        events.push(Event::Timer(i));
                        if scenario.spurious {
                            events.push(Event::Spurious(i));
                        }
                    }
                    Status::Asleep if scenario.spurious => events.push(Event::Spurious(i)),
                    Status::Asleep => {}
                    Status::Leading => unreachable!("a waiting thread does not lead"),
                },
                Pc::Leading { phase, .. } => {
                    events.push(Event::Step(i));
                    if matches!(phase, Phase::Write | Phase::Sync(_)) && io_may_fail {
                        events.push(Event::Fail(i));
                    }
                }
            }
        }
        if self
            .gc
            .window_end()
            .is_some_and(|end| self.now < micros_of(end))
        {
            events.push(Event::WindowCloses);
        }
        events
    }

    /// The world after `event`, or what went wrong.
    fn apply(&self, event: Event) -> Result<World, String> {
        let mut w = self.clone();
        match event {
            Event::Step(i) => w.step(i)?,
            Event::Fail(i) => {
                w.faults -= 1;
                w.poison();
                match w.threads[i].pc {
                    Pc::Appended(_) => w.threads[i].pc = Pc::Failed,
                    Pc::Leading {
                        id, lsn, started, ..
                    } => {
                        w.threads[i].pc = Pc::Leading {
                            id,
                            lsn,
                            started,
                            phase: Phase::End(None),
                        };
                    }
                    pc => unreachable!("no I/O to fail at {pc:?}"),
                }
            }
            Event::Timer(i) => {
                let Pc::Waiting(id, _) = w.threads[i].pc else {
                    unreachable!("only a waiter holds a timer")
                };
                let Status::Timer(deadline) = w.gc.status(id) else {
                    unreachable!("only the holder's timer fires")
                };
                w.now = w.now.max(micros_of(deadline));
                w.resume(i, id)?;
            }
            Event::Spurious(i) => {
                let Pc::Waiting(id, _) = w.threads[i].pc else {
                    unreachable!("only a waiter wakes")
                };
                w.resume(i, id)?;
            }
            Event::WindowCloses => {
                w.now = micros_of(w.gc.window_end().expect("the window is open"));
            }
        }
        // Notifications: the machine marked the woken awake; they must be asleep no more.
        for id in w.gc.drain_woken().collect::<Vec<_>>() {
            if w.gc.status(id) != Status::Awake {
                return Err(format!("woke {id:?}, which is not awake"));
            }
        }
        w.gc.check_invariants()?;
        Ok(w)
    }

    fn poison(&mut self) {
        self.poisoned = true;
        self.gc.poison();
    }

    fn step(&mut self, i: usize) -> Result<(), String> {
        let thread = self.threads[i].clone();
        let now = at(self.now);
        match thread.pc {
            Pc::Ready => match thread.kind {
                Kind::Strict | Kind::Batched if self.poisoned => {
                    // The append is refused.
                    self.threads[i].pc = Pc::Failed;
                }
                Kind::Strict | Kind::Batched => {
                    self.appended += 1;
                    self.threads[i].pc = Pc::Appended(self.appended);
                }
                Kind::SyncThread | Kind::Flush => {
                    let lsn = self.appended;
                    let step = self.gc.arrive(lsn, false, now);
                    self.outcome(i, lsn, step)?;
                }
            },
            Pc::Appended(lsn) => match thread.kind {
                Kind::Strict => {
                    let step = self.gc.arrive(lsn, true, now);
                    self.outcome(i, lsn, step)?;
                }
                Kind::Batched if self.written >= lsn => {
                    if self.gc.must_join_sync(Version::new(lsn), self.max_commits) {
                        let step = self.gc.arrive(lsn, true, now);
                        self.outcome(i, lsn, step)?;
                    } else {
                        self.acknowledge(i, lsn)?;
                    }
                }
                Kind::Batched if self.poisoned => self.threads[i].pc = Pc::Failed,
                // Its own write: everything pending, possibly ahead of a sync in flight.
                Kind::Batched => self.written = self.appended,
                Kind::SyncThread | Kind::Flush => unreachable!("they do not append"),
            },
            Pc::Waiting(id, _) => self.resume(i, id)?,
            Pc::Leading {
                id,
                lsn,
                started,
                phase,
            } => {
                let phase = match phase {
                    // A leader that finds the log poisoned stops there.
                    Phase::Write | Phase::Snapshot if self.poisoned => Phase::End(None),
                    Phase::Write => {
                        self.written = self.appended;
                        Phase::Snapshot
                    }
                    Phase::Snapshot => Phase::Sync(self.written),
                    Phase::Sync(covers) => {
                        self.now += SYNC_MICROS;
                        self.durable = self.durable.max(covers);
                        Phase::End(Some(covers))
                    }
                    Phase::End(covered) => {
                        if let Some(covers) = covered.filter(|_| !self.poisoned) {
                            self.ackable = self.ackable.max(covers);
                        }
                        self.gc
                            .sync_ended(id, covered.map(mark), now, now - at(started));
                        self.resume(i, id)?;
                        return Ok(());
                    }
                };
                self.threads[i].pc = Pc::Leading {
                    id,
                    lsn,
                    started,
                    phase,
                };
            }
            Pc::Failed => unreachable!("a failed thread takes no step"),
        }
        Ok(())
    }

    fn resume(&mut self, i: usize, id: WaiterId) -> Result<(), String> {
        let lsn = match self.threads[i].pc {
            Pc::Waiting(_, lsn) | Pc::Leading { lsn, .. } => lsn,
            pc => unreachable!("resume at {pc:?}"),
        };
        let step = self.gc.resume(id, at(self.now));
        self.outcome(i, lsn, step)
    }

    /// Carries out what the machine told thread `i`, waiting for `lsn`.
    fn outcome(&mut self, i: usize, lsn: u64, step: Step) -> Result<(), String> {
        let kind = self.threads[i].kind;
        match step {
            Step::Done => {
                if lsn > self.durable {
                    return Err(format!(
                        "{kind:?} told done at {lsn}, durable {}",
                        self.durable
                    ));
                }
                if lsn > self.ackable {
                    return Err(format!(
                        "{kind:?} told done at {lsn}, acknowledgeable {} (poisoned {})",
                        self.ackable, self.poisoned
                    ));
                }
                if kind == Kind::Batched {
                    self.acknowledge(i, lsn)?;
                } else {
                    self.threads[i].left -= 1;
                    self.threads[i].pc = Pc::Ready;
                }
            }
            Step::Failed => {
                if !self.poisoned {
                    return Err(format!("{kind:?} failed on a healthy log"));
                }
                self.threads[i].pc = Pc::Failed;
            }
            Step::Lead(id) => {
                self.threads[i].pc = Pc::Leading {
                    id,
                    lsn,
                    started: self.now,
                    phase: Phase::Write,
                };
            }
            Step::Wait(id, _) => self.threads[i].pc = Pc::Waiting(id, lsn),
        }
        Ok(())
    }

    /// A `Batched` commit returns: checks the bound on what it leaves unsynced.
    fn acknowledge(&mut self, i: usize, lsn: u64) -> Result<(), String> {
        if let Some(max) = self.max_commits
            && lsn.saturating_sub(self.durable) > max
        {
            return Err(format!(
                "Batched acknowledged {lsn} with {} durable (max_commits {max})",
                self.durable
            ));
        }
        self.threads[i].left -= 1;
        self.threads[i].pc = Pc::Ready;
        Ok(())
    }

    /// True when every thread has finished its operations or stopped on a failure (the sync
    /// thread may stay idle).
    fn finished(&self) -> bool {
        self.threads.iter().all(|t| match t.pc {
            Pc::Failed => true,
            Pc::Ready => t.left == 0 || t.kind == Kind::SyncThread,
            _ => false,
        })
    }
}

/// Explores every interleaving of `scenario`; returns the number of states seen.
fn explore(scenario: &Scenario) -> usize {
    let mut seen = HashSet::new();
    let mut path = Vec::new();
    visit(&World::new(scenario), scenario, &mut seen, &mut path);
    seen.len()
}

fn visit(world: &World, scenario: &Scenario, seen: &mut HashSet<World>, path: &mut Vec<String>) {
    if !seen.insert(world.clone()) {
        return;
    }
    let events = world.events(scenario);
    if events.is_empty() && !world.finished() {
        fail("nothing can happen, yet threads wait", world, path);
    }
    for event in events {
        let next = match world.apply(event) {
            Ok(next) => next,
            Err(e) => {
                path.push(format!("{event:?}"));
                fail(&e, world, path);
            }
        };
        path.push(format!("{event:?}"));
        visit(&next, scenario, seen, path);
        path.pop();
    }
}

fn fail(what: &str, world: &World, path: &[String]) -> ! {
    let mut trace = String::new();
    for (n, event) in path.iter().enumerate() {
        let _ = writeln!(trace, "  {n}: {event}");
    }
    panic!("{what}\nafter:\n{trace}in: {world:#?}");
}

/// Three `Strict` committers, two coming back for a second commit: the gathering window, its
/// timer, and the hand-off to the next leader.
#[test]
fn strict_committers_gather_and_none_is_left_waiting() {
    explore(&Scenario {
        threads: vec![(Kind::Strict, 2), (Kind::Strict, 2), (Kind::Strict, 1)],
        max_commits: None,
        faults: 0,
        spurious: false,
    });
}

/// The lost wake-up of the engine's checkpoint test: `Batched` committers joining a sync
/// write their own records ahead of the sync in flight, which then covers them.
#[test]
fn batched_committers_covered_by_a_sync_in_flight_are_all_woken() {
    explore(&Scenario {
        threads: vec![(Kind::Strict, 1), (Kind::Batched, 2), (Kind::Batched, 2)],
        max_commits: Some(1),
        faults: 0,
        spurious: false,
    });
}

/// A committer of each mode, the sync thread and a flush.
#[test]
fn every_kind_of_waiter_together() {
    explore(&Scenario {
        threads: vec![
            (Kind::Strict, 2),
            (Kind::Batched, 1),
            (Kind::SyncThread, 1),
            (Kind::Flush, 1),
        ],
        max_commits: Some(1),
        faults: 0,
        spurious: false,
    });
}

/// One write or fdatasync fails, anywhere: only waiters a sync reported before it covered
/// succeed, and nothing is appended after it.
#[test]
fn a_failure_fails_the_uncovered_and_nothing_after_it_is_acknowledged() {
    for threads in [
        vec![(Kind::Strict, 2), (Kind::Strict, 1), (Kind::Batched, 1)],
        vec![
            (Kind::Strict, 1),
            (Kind::Strict, 1),
            (Kind::Batched, 1),
            (Kind::Flush, 1),
        ],
    ] {
        explore(&Scenario {
            threads,
            max_commits: Some(1),
            faults: 1,
            spurious: false,
        });
    }
}

/// Condition variables may wake a thread that nobody woke; the machine must not mind.
#[test]
fn spurious_wake_ups_change_nothing() {
    explore(&Scenario {
        threads: vec![(Kind::Strict, 2), (Kind::Strict, 1), (Kind::Batched, 1)],
        max_commits: Some(1),
        faults: 0,
        spurious: true,
    });
}
