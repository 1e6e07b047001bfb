//! The shipper: group commit at the network boundary. Committers queue their commit and wait;
//! whoever finds no batch in flight sends everything queued as one batch
//! ([`RemoteStore::commit_batch`]: one round trip, one durable flush), then wakes the committers
//! with their outcomes. A lone committer (nothing in flight, the last batch a single commit)
//! sends its own commit on its own thread, with no thread wake-up on the way; under load, and
//! for commits nobody waits for and what is queued at close, the shipping thread sends.
//! While a batch is in flight, new commits queue, and the next batch takes them all, so the
//! commit rate grows with the number of committers instead of each paying a round trip of its
//! own. When a batch has just been answered, its committers are about to queue
//! their next commits: the sender waits for them a moment ([`ShipperOptions::linger`]) if fewer
//! are queued than it sent last time, so that batches stay full.
//!
//! Order and failures, as the log's: batches are sent one at a time, in the order commits were
//! queued. A batch whose outcome is unknown (the connection broke, the store did not answer) is
//! sent again unchanged, for up to [`ShipperOptions::retry_for`]: commits carry their ids, so a
//! batch that had landed comes back `AlreadyCommitted` and nothing is applied twice. If it still
//! has no answer, its commits fail with `OutcomeUnknown` and the shipper poisons itself: every
//! later commit fails with `Poisoned` rather than landing after commits that may be lost, so
//! what survives of one host's commits is always a prefix of its acknowledgements.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::RemoteStore;
use super::types::{CommitOutcome, CommitRequest, RemoteError, RemoteResult};

/// How the shipper batches and retries.
#[derive(Debug, Clone)]
pub struct ShipperOptions {
    /// At most this many commits in one batch.
    pub max_batch_commits: usize,
    /// At most about this many bytes of keys and values in one batch (a single larger commit
    /// goes alone).
    pub max_batch_bytes: usize,
    /// How long a batch with an unknown outcome is sent again before the shipper gives up.
    pub retry_for: Duration,
    /// The pause between two sends of a batch with an unknown outcome.
    pub retry_pause: Duration,
    /// How long the shipper waits, with fewer commits queued than it sent last time, for the
    /// committers of the last batch to queue their next ones (they are about to: their commits
    /// have just been answered), so that batches stay full. A lone committer never waits: it
    /// sent a batch of one.
    pub linger: Duration,
}

impl Default for ShipperOptions {
    fn default() -> Self {
        ShipperOptions {
            max_batch_commits: 256,
            max_batch_bytes: 8 << 20,
            retry_for: Duration::from_secs(30),
            retry_pause: Duration::from_millis(100),
            linger: Duration::from_micros(200),
        }
    }
}

/// Told of every batch the store answered, before the batch's committers wake: its requests
/// and their outcomes, in order. It runs on the thread that sent the batch (the shipping thread,
/// or a committer sending its own), so it must be quick; a panic in it reaches that thread.
pub type OnAnswered = Box<dyn Fn(&[CommitRequest], &[CommitOutcome]) + Send + Sync>;

/// A queued commit, to wait for with [`Shipper::wait`].
#[derive(Debug)]
#[must_use = "a queued commit's outcome is known only by waiting for it"]
pub struct Ticket(u64);

/// The shipping thread and its queue. Dropping it sends what is queued, then stops the thread.
pub struct Shipper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    store: Arc<dyn RemoteStore>,
    options: ShipperOptions,
    on_answered: Option<OnAnswered>,
    state: Mutex<State>,
    /// Wakes the shipping thread: the shipper is closing, a commit was queued while the next
    /// batch is the thread's, or a committer's batch was answered with commits queued behind
    /// it. Not for a commit its committer will send itself; commits that nobody waits for are
    /// sent by the thread within [`RECHECK`].
    work: Condvar,
    /// Wakes a sender lingering over a batch: a commit was queued, or the shipper is closing.
    queued: Condvar,
    /// Wakes committers: a batch was answered (or its sender panicked), the shipper poisoned
    /// itself, or the shipping thread stopped.
    done: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(u64, CommitRequest)>,
    next_ticket: u64,
    finished: HashMap<u64, Finished>,
    /// Why the shipper stopped sending.
    poisoned: Option<String>,
    closing: bool,
    /// Whether a batch is in flight, and whose the next is.
    turn: Turn,
    /// False once the shipping thread has exited (normally or not).
    running: bool,
    batches: u64,
    /// Commits in the batch sent last, and when it was answered.
    last_batch: usize,
    answered_at: Option<Instant>,
}

/// Who may send the next batch.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Turn {
    /// Whoever comes first: the shipping thread, or a waiting committer (see
    /// [`State::thread_sends_next`]).
    #[default]
    Open,
    /// A batch is being gathered or sent (by the thread or a committer): no other may start
    /// until it is answered, so batches go one at a time, in queue order.
    Sending,
    /// A committer sent the last batch and left commits queued behind it: the thread, woken for
    /// them, sends the next.
    Thread,
}

impl State {
    fn sending(&self) -> bool {
        self.turn == Turn::Sending
    }

    /// Whether the next batch is the shipping thread's to send rather than a waiting
    /// committer's: after a batch of several (under load the thread goes from batch to batch
    /// without sleeping, where committers taking turns would each need waking), or when a
    /// committer's batch left commits queued behind it (the thread was woken for them).
    fn thread_sends_next(&self) -> bool {
        self.last_batch > 1 || self.turn == Turn::Thread
    }
}

/// What became of a commit, kept until its committer collects it.
enum Finished {
    Outcome(CommitOutcome),
    Unknown(String),
    /// Nothing was applied: the store refused the batch, or was never reached.
    Refused(RemoteError),
    Poisoned(String),
}

/// How often a waiting committer re-checks that the shipping thread is still there, and the
/// longest a queued commit that nobody waits for stays unsent.
const RECHECK: Duration = Duration::from_secs(1);

impl Shipper {
    /// Starts the shipping thread for `store`.
    pub fn start(store: Arc<dyn RemoteStore>, options: ShipperOptions) -> RemoteResult<Self> {
        Self::start_observed(store, options, None)
    }

    /// [`Shipper::start`], telling `on_answered` of every batch the store answers.
    pub fn start_observed(
        store: Arc<dyn RemoteStore>,
        options: ShipperOptions,
        on_answered: Option<OnAnswered>,
    ) -> RemoteResult<Self> {
        let shared = Arc::new(Shared {
            store,
            options,
            on_answered,
            state: Mutex::new(State {
                running: true,
                ..State::default()
            }),
            work: Condvar::new(),
            queued: Condvar::new(),
            done: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("in-mem-shipper".into())
            .spawn(move || {
                let _stopped = Stopped(&thread_shared);
                thread_shared.ship_until_closed();
            })
            .map_err(|e| RemoteError::Store(format!("cannot start the shipping thread: {e}")))?;
        Ok(Shipper {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `request`, waits until its batch has been sent, and returns its outcome.
    pub fn commit(&self, request: CommitRequest) -> RemoteResult<CommitOutcome> {
        let ticket = self.enqueue(request)?;
        self.wait(ticket)
    }

    /// Queues `request` and returns at once; [`Shipper::wait`] returns its outcome. Commits are
    /// sent in the order they are queued, so of two commits of one agent queued one after the
    /// other by this shipper, the first gets the lower version.
    pub fn enqueue(&self, request: CommitRequest) -> RemoteResult<Ticket> {
        let mut state = self.shared.lock();
        if let Some(why) = &state.poisoned {
            return Err(RemoteError::Poisoned(why.clone()));
        }
        if state.closing || !state.running {
            return Err(RemoteError::Unavailable("the shipper has stopped".into()));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back((ticket, request));
        self.shared.queued.notify_all();
        if !state.sending() && state.thread_sends_next() {
            self.shared.work.notify_one();
        }
        Ok(Ticket(ticket))
    }

    /// Waits until the batch of the commit `ticket` names has been sent, sending it on this
    /// thread if no batch is in flight; its outcome. A panic in the store or in `on_answered`
    /// while this thread sends reaches this thread (after poisoning the shipper).
    #[allow(clippy::needless_pass_by_value)] // Taken, so that each ticket is waited for once.
    pub fn wait(&self, ticket: Ticket) -> RemoteResult<CommitOutcome> {
        let Ticket(ticket) = ticket;
        let mut state = self.shared.lock();
        loop {
            if let Some(finished) = state.finished.remove(&ticket) {
                return match finished {
                    Finished::Outcome(outcome) => Ok(outcome),
                    Finished::Unknown(why) => Err(RemoteError::OutcomeUnknown(why)),
                    Finished::Refused(error) => Err(error),
                    Finished::Poisoned(why) => Err(RemoteError::Poisoned(why)),
                };
            }
            if !state.running {
                return Err(RemoteError::Unavailable(
                    "the shipping thread stopped before sending this commit".into(),
                ));
            }
            if !state.sending()
                && !state.thread_sends_next()
                && !state.queue.is_empty()
                && state.poisoned.is_none()
            {
                // Nobody is sending, and the last batch was a lone commit: this committer sends
                // the next batch itself rather than wake the shipping thread and wait to be
                // woken in turn, two thread wake-ups of tens of microseconds each. Under load
                // (batches of several) the thread sends: it goes from batch to batch without
                // sleeping, where committers taking turns would each need waking.
                let batch = self.shared.gather(state);
                self.shared.ship(batch, Sender::Committer);
                state = self.shared.lock();
                continue;
            }
            // Woken after each batch (`done`); the timeout re-checks that the thread is still
            // running.
            state = self
                .shared
                .done
                .wait_timeout(state, RECHECK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Commits queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Batches sent so far (each counted once, however often it was resent).
    pub fn batches(&self) -> u64 {
        self.shared.lock().batches
    }

    /// Why the shipper stopped sending, if it did.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.lock().poisoned.clone()
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.work.notify_all();
        self.shared.queued.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread sends what is queued, then exits.
            let _ = thread.join();
        }
    }
}

/// Marks the shipping thread stopped and wakes every committer, however the thread ends.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = false;
        let why = "the shipping thread stopped".to_owned();
        for (ticket, _) in std::mem::take(&mut state.queue) {
            state
                .finished
                .insert(ticket, Finished::Poisoned(why.clone()));
        }
        drop(state);
        self.0.done.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is changed only in small steps that a panic cannot leave half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ship_until_closed(&self) {
        while let Some(batch) = self.next_batch() {
            self.ship(batch, Sender::Thread);
        }
    }

    /// Sends a gathered batch, records its commits' outcomes, and wakes their committers, the
    /// shipping thread and any committer that may lead the next batch.
    fn ship(&self, batch: Vec<(u64, CommitRequest)>, sender: Sender) {
        let (tickets, requests): (Vec<u64>, Vec<CommitRequest>) = batch.into_iter().unzip();
        let mut in_flight = InFlight {
            shared: self,
            tickets: tickets.clone(),
            answered: false,
        };
        let sent = self.send(&requests);
        let result = sent.result;
        if let (Ok(outcomes), Some(on_answered)) = (&result, &self.on_answered)
            && outcomes.len() == requests.len()
        {
            on_answered(&requests, outcomes);
        }
        let mut state = self.lock();
        state.batches += 1;
        state.answered_at = Some(Instant::now());
        match result {
            Ok(outcomes) if outcomes.len() == tickets.len() => {
                for (ticket, outcome) in tickets.into_iter().zip(outcomes) {
                    state.finished.insert(ticket, Finished::Outcome(outcome));
                }
            }
            Ok(outcomes) => {
                let why = format!(
                    "the store answered a batch of {} commits with {} outcomes",
                    tickets.len(),
                    outcomes.len()
                );
                poison(&mut state, &tickets, &why);
            }
            Err(error @ (RemoteError::Store(_) | RemoteError::Unavailable(_)))
                if !sent.maybe_applied =>
            {
                // Refused as a whole, or never reached the store: nothing was applied, so
                // later commits may still go.
                for ticket in tickets {
                    state
                        .finished
                        .insert(ticket, Finished::Refused(error.clone()));
                }
            }
            Err(e) => poison(&mut state, &tickets, &e.to_string()),
        }
        in_flight.answered = true;
        // The thread, having sent this batch, goes straight on to the next.
        let wake_thread = sender == Sender::Committer && !state.queue.is_empty();
        state.turn = if wake_thread {
            Turn::Thread
        } else {
            Turn::Open
        };
        drop(state);
        self.done.notify_all();
        if wake_thread {
            self.work.notify_one();
        }
    }

    /// The shipping thread's next batch, waiting for one that no committer is sending; `None`
    /// once closing with nothing queued.
    fn next_batch(&self) -> Option<Vec<(u64, CommitRequest)>> {
        let mut state = self.lock();
        loop {
            if state.poisoned.is_some() {
                return None;
            }
            if !state.queue.is_empty() && !state.sending() {
                break;
            }
            if state.closing && state.queue.is_empty() && !state.sending() {
                return None;
            }
            // Woken by `drop` (closing), by `enqueue` when the next batch is the thread's, and
            // after a committer's batch with commits queued behind it; the timeout sends,
            // within it, commits that nobody waits for.
            state = self
                .work
                .wait_timeout(state, RECHECK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Some(self.gather(state))
    }

    /// Takes the next batch off a non-empty queue, marking it in flight (`Turn::Sending`). When fewer
    /// commits are queued than the last batch held, waits up to `linger` after that batch's
    /// answer for its committers' next ones.
    fn gather(&self, mut state: MutexGuard<'_, State>) -> Vec<(u64, CommitRequest)> {
        state.turn = Turn::Sending;
        // Woken by each commit queued; the deadline, from the last answer, bounds the wait (so a
        // commit after a quiet spell goes at once).
        let deadline = state
            .answered_at
            .map_or_else(Instant::now, |at| at + self.options.linger);
        while state.queue.len() < state.last_batch && !state.closing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .queued
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some((_, next)) = state.queue.front() {
            let size = next
                .writes
                .iter()
                .map(|w| w.key.len() + w.value.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
            let full = batch.len() >= self.options.max_batch_commits
                || (!batch.is_empty() && bytes + size > self.options.max_batch_bytes);
            if full {
                break;
            }
            bytes += size;
            batch.extend(state.queue.pop_front());
        }
        state.last_batch = batch.len();
        batch
    }

    /// Sends a batch, and again while its outcome is unknown, for up to `retry_for`.
    fn send(&self, requests: &[CommitRequest]) -> Sent {
        let started = Instant::now();
        let mut maybe_applied = false;
        loop {
            let result = self.store.commit_batch(requests);
            let why = match &result {
                Err(RemoteError::OutcomeUnknown(why)) => {
                    maybe_applied = true;
                    why
                }
                Err(RemoteError::Unavailable(why)) => why,
                _ => "",
            };
            match result {
                Err(RemoteError::OutcomeUnknown(_) | RemoteError::Unavailable(_))
                    if started.elapsed() < self.options.retry_for =>
                {
                    tracing::warn!("in-mem shipper: resending a batch after: {why}");
                    std::thread::sleep(self.options.retry_pause);
                }
                other => {
                    return Sent {
                        result: other,
                        maybe_applied,
                    };
                }
            }
        }
    }
}

/// Who sends a batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    Thread,
    /// A committer waiting for its commit, which found nobody sending.
    Committer,
}

/// A batch being sent. Unwinding out of [`Shared::ship`] (a panic in the store or in
/// `on_answered`, on the shipping thread or a committer leading a batch) leaves the batch's
/// outcome unknown: the shipper is poisoned and the batch no longer in flight, so that nobody
/// waits for an answer that will never come.
struct InFlight<'a> {
    shared: &'a Shared,
    tickets: Vec<u64>,
    /// Set once the batch's outcomes are recorded. Not `std::thread::panicking()`: a
    /// committer may send a batch from a `Drop` that runs during a panic of its own, and that
    /// batch, answered, must keep its outcomes.
    answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            let mut state = self.shared.lock();
            poison(&mut state, &self.tickets, "the batch's sender panicked");
            state.turn = Turn::Open;
            drop(state);
            self.shared.done.notify_all();
            self.shared.work.notify_all();
        }
    }
}

/// Fails the batch as unknown and everything queued behind it as poisoned.
fn poison(state: &mut State, tickets: &[u64], why: &str) {
    let why = format!("a batch of commits has an unknown outcome: {why}");
    for ticket in tickets {
        state
            .finished
            .insert(*ticket, Finished::Unknown(why.clone()));
    }
    for (ticket, _) in std::mem::take(&mut state.queue) {
        state
            .finished
            .insert(ticket, Finished::Poisoned(why.clone()));
    }
    state.poisoned = Some(why);
}

/// What sending a batch (and resending it) came to.
struct Sent {
    result: RemoteResult<Vec<CommitOutcome>>,
    /// Whether some send had an unknown outcome: the batch may be applied whatever the last
    /// send said, so a refusal then is not proof that nothing was.
    maybe_applied: bool,
}
