//! The shipper (group commit at the network boundary) against `MemStore`: commits queued while a
//! batch is in flight go together in the next one, in order; a batch whose reply is lost is
//! resent and applied once; a batch that stays unknown poisons the shipper, so nothing is sent
//! after commits that may be lost; a refused commit does not stop later ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use in_mem_core_types::{AgentId, RunId, Timestamp, Version};
use in_mem_remote::{
    BeginRun, CatchUp, CommitId, CommitOutcome, CommitRequest, GcReport, MemStore, MemStoreFault,
    RemoteError, RemoteResult, RemoteRunQuery, RemoteStore, RemoteView, RemoteWrite, RunRow,
    RunStart, RunUpdate, Shipper, ShipperOptions, StoredVersion,
};

/// A `MemStore` whose commit batches can be held at a gate, and which records their sizes.
struct GatedStore {
    inner: MemStore,
    held: Mutex<bool>,
    opened: Condvar,
    /// Batches that reached the gate.
    arrived: AtomicUsize,
    sizes: Mutex<Vec<usize>>,
    /// Errors the next batches get instead of reaching the store, in order.
    failures: Mutex<std::collections::VecDeque<RemoteError>>,
    /// The threads that sent each batch.
    senders: Mutex<Vec<std::thread::ThreadId>>,
    /// The next batch panics in the store.
    panic_next: std::sync::atomic::AtomicBool,
}

impl GatedStore {
    fn new() -> Self {
        GatedStore {
            inner: MemStore::new(),
            held: Mutex::new(false),
            opened: Condvar::new(),
            arrived: AtomicUsize::new(0),
            sizes: Mutex::new(Vec::new()),
            failures: Mutex::new(std::collections::VecDeque::new()),
            senders: Mutex::new(Vec::new()),
            panic_next: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn senders(&self) -> Vec<std::thread::ThreadId> {
        self.senders.lock().expect("senders").clone()
    }

    /// The next batch gets `error` without reaching the store.
    fn fail_next(&self, error: RemoteError) {
        self.failures.lock().expect("failures").push_back(error);
    }

    fn hold(&self) {
        *self.held.lock().expect("gate") = true;
    }

    fn release(&self) {
        *self.held.lock().expect("gate") = false;
        self.opened.notify_all();
    }

    fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    fn sizes(&self) -> Vec<usize> {
        self.sizes.lock().expect("sizes").clone()
    }
}

impl RemoteStore for GatedStore {
    fn describe(&self) -> String {
        "gated MemStore".into()
    }
    fn now(&self) -> RemoteResult<Timestamp> {
        self.inner.now()
    }
    fn renew_lease(&self, host: &str, ttl: Duration) -> RemoteResult<()> {
        self.inner.renew_lease(host, ttl)
    }
    fn begin_run(&self, begin: &BeginRun) -> RemoteResult<RunStart> {
        self.inner.begin_run(begin)
    }
    fn take_over_run(&self, run: RunId, host: &str) -> RemoteResult<RunStart> {
        self.inner.take_over_run(run, host)
    }
    fn owned_runs(&self, host: &str) -> RemoteResult<Vec<(RunId, u64)>> {
        self.inner.owned_runs(host)
    }
    fn update_run(&self, update: &RunUpdate) -> RemoteResult<RunRow> {
        self.inner.update_run(update)
    }
    fn commit_batch(&self, batch: &[CommitRequest]) -> RemoteResult<Vec<CommitOutcome>> {
        self.senders
            .lock()
            .expect("senders")
            .push(std::thread::current().id());
        assert!(
            !self.panic_next.swap(false, Ordering::SeqCst),
            "the store panics, as the test asked"
        );
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut held = self.held.lock().expect("gate");
        let since = Instant::now();
        // A failed test may never release the gate: it opens by itself after a while.
        while *held && since.elapsed() < Duration::from_secs(10) {
            // Woken by `release`.
            held = self
                .opened
                .wait_timeout(held, Duration::from_secs(1))
                .expect("gate")
                .0;
        }
        drop(held);
        if let Some(error) = self.failures.lock().expect("failures").pop_front() {
            return Err(error);
        }
        self.sizes.lock().expect("sizes").push(batch.len());
        self.inner.commit_batch(batch)
    }
    fn commit_status(&self, agent: &AgentId, commit: CommitId) -> RemoteResult<Option<Version>> {
        self.inner.commit_status(agent, commit)
    }
    fn clock(&self, agent: &AgentId) -> RemoteResult<Version> {
        self.inner.clock(agent)
    }
    fn catch_up(&self, agent: &AgentId, after: Version, through: Version) -> RemoteResult<CatchUp> {
        self.inner.catch_up(agent, after, through)
    }
    fn get(
        &self,
        agent: &AgentId,
        key: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Option<StoredVersion>> {
        self.inner.get(agent, key, view)
    }
    fn scan(
        &self,
        agent: &AgentId,
        prefix: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Vec<StoredVersion>> {
        self.inner.scan(agent, prefix, view)
    }
    fn run(&self, run: RunId) -> RemoteResult<Option<RunRow>> {
        self.inner.run(run)
    }
    fn runs(&self, query: &RemoteRunQuery) -> RemoteResult<Vec<RunRow>> {
        self.inner.runs(query)
    }
    fn collect_garbage(
        &self,
        agent: &AgentId,
        policy: &in_mem_remote::GcPolicy,
    ) -> RemoteResult<Option<GcReport>> {
        self.inner.collect_garbage(agent, policy)
    }

    fn stats(&self) -> RemoteResult<in_mem_remote::StoreStats> {
        self.inner.stats()
    }
}

fn begun(store: &dyn RemoteStore) -> (AgentId, RunId, u64) {
    let agent = AgentId::new("t", "shipper", RunId::new().to_string());
    let run = RunId::new();
    store
        .renew_lease("host", Duration::from_secs(60))
        .expect("lease");
    let start = store
        .begin_run(&BeginRun::new(agent.clone(), run, "host"))
        .expect("begin");
    (agent, run, start.epoch)
}

fn request(agent: &AgentId, run: RunId, epoch: u64, n: u64) -> CommitRequest {
    CommitRequest {
        agent: agent.clone(),
        run,
        epoch,
        commit: CommitId::new(),
        writes: vec![RemoteWrite::put(format!("k{n}"), n.to_string())],
    }
}

fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("gave up waiting");
}

#[test]
fn commits_queued_behind_a_batch_in_flight_go_together_in_the_next() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(store.clone(), ShipperOptions::default()).expect("start");
    store.hold();
    std::thread::scope(|scope| {
        let first = scope.spawn(|| shipper.commit(request(&agent, run, epoch, 0)));
        wait_until(|| store.arrived() == 1);
        let later: Vec<_> = (1..=10)
            .map(|n| {
                let (shipper, agent) = (&shipper, &agent);
                scope.spawn(move || shipper.commit(request(agent, run, epoch, n)))
            })
            .collect();
        wait_until(|| shipper.queued() == 10);
        store.release();
        let first = first.join().expect("no panic").expect("commit");
        assert_eq!(first.version(), Some(Version::new(1)));
        let mut versions: Vec<u64> = later
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("no panic")
                    .expect("commit")
                    .version()
                    .expect("committed")
                    .get()
            })
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, (2..=11).collect::<Vec<u64>>());
    });
    assert_eq!(
        store.sizes(),
        vec![1, 10],
        "one batch in flight, the rest in the next"
    );
    assert_eq!(shipper.batches(), 2);
}

#[test]
fn a_batch_whose_reply_was_lost_is_resent_and_applied_once() {
    let store = Arc::new(MemStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(
        store.clone(),
        ShipperOptions {
            retry_pause: Duration::from_millis(1),
            ..ShipperOptions::default()
        },
    )
    .expect("start");
    store.inject(MemStoreFault::LoseCommitReply);
    store.inject(MemStoreFault::LoseCommitRequest);
    let outcome = shipper
        .commit(request(&agent, run, epoch, 1))
        .expect("commit");
    assert_eq!(
        outcome,
        CommitOutcome::AlreadyCommitted {
            version: Version::new(1)
        },
        "applied by the first send, recognised by the third"
    );
    let next = shipper
        .commit(request(&agent, run, epoch, 2))
        .expect("commit");
    assert_eq!(next.version(), Some(Version::new(2)));
    assert_eq!(store.clock(&agent).expect("clock"), Version::new(2));
}

#[test]
fn a_batch_that_stays_unknown_poisons_the_shipper() {
    let store = Arc::new(MemStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(
        store.clone(),
        ShipperOptions {
            retry_for: Duration::ZERO,
            ..ShipperOptions::default()
        },
    )
    .expect("start");
    store.inject(MemStoreFault::LoseCommitRequest);
    assert!(matches!(
        shipper.commit(request(&agent, run, epoch, 1)),
        Err(RemoteError::OutcomeUnknown(_))
    ));
    assert!(shipper.poisoned().is_some());
    assert!(matches!(
        shipper.commit(request(&agent, run, epoch, 2)),
        Err(RemoteError::Poisoned(_))
    ));
    assert_eq!(
        store.clock(&agent).expect("clock"),
        Version::ZERO,
        "nothing sent after the unknown batch"
    );
}

#[test]
fn a_refused_batch_fails_its_commits_and_later_ones_still_go() {
    let store = Arc::new(MemStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(store.clone(), ShipperOptions::default()).expect("start");
    let fenced = shipper
        .commit(request(&agent, run, epoch + 1, 1))
        .expect("an outcome");
    assert_eq!(fenced, CommitOutcome::Fenced { current: epoch });
    let next = shipper
        .commit(request(&agent, run, epoch, 2))
        .expect("commit");
    assert_eq!(next.version(), Some(Version::new(1)));
}

#[test]
fn a_batch_refused_after_a_send_with_an_unknown_outcome_poisons_the_shipper() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(store.clone(), ShipperOptions::default()).expect("start");
    // The first send may have landed; the resend's refusal does not prove it did not.
    store.fail_next(RemoteError::OutcomeUnknown("connection lost".into()));
    store.fail_next(RemoteError::Store("refused".into()));
    assert!(matches!(
        shipper.commit(request(&agent, run, epoch, 1)),
        Err(RemoteError::OutcomeUnknown(_))
    ));
    assert!(shipper.poisoned().is_some());
    assert!(matches!(
        shipper.commit(request(&agent, run, epoch, 2)),
        Err(RemoteError::Poisoned(_))
    ));
}

#[test]
fn a_store_unreachable_for_the_whole_retry_window_refuses_the_batch_without_poisoning() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(
        store.clone(),
        ShipperOptions {
            retry_for: Duration::from_millis(50),
            retry_pause: Duration::from_millis(5),
            ..ShipperOptions::default()
        },
    )
    .expect("start");
    for _ in 0..1_000 {
        store.fail_next(RemoteError::Unavailable("connection refused".into()));
    }
    // Nothing reached the store: the commit fails, saying so, and the shipper goes on.
    assert!(matches!(
        shipper.commit(request(&agent, run, epoch, 1)),
        Err(RemoteError::Unavailable(_))
    ));
    assert!(shipper.poisoned().is_none());
    store.failures.lock().expect("failures").clear();
    let next = shipper
        .commit(request(&agent, run, epoch, 2))
        .expect("commit");
    assert_eq!(next.version(), Some(Version::new(1)));
}

#[test]
fn a_lone_committer_sends_its_own_commits() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(store.clone(), ShipperOptions::default()).expect("start");
    for n in 1..=20 {
        let outcome = shipper
            .commit(request(&agent, run, epoch, n))
            .expect("commit");
        assert_eq!(outcome.version(), Some(Version::new(n)));
    }
    // Handing each commit to the shipping thread and being woken with its outcome costs two
    // thread wake-ups a commit; with nobody else sending, the committer sends it itself.
    let me = std::thread::current().id();
    assert_eq!(store.senders(), vec![me; 20]);
}

#[test]
fn a_commit_queued_that_nobody_waits_for_is_sent_by_the_shipping_thread() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(store.clone(), ShipperOptions::default()).expect("start");
    let ticket = shipper
        .enqueue(request(&agent, run, epoch, 1))
        .expect("enqueue");
    wait_until(|| store.arrived() == 1);
    assert_ne!(store.senders(), vec![std::thread::current().id()]);
    assert_eq!(
        shipper.wait(ticket).expect("commit").version(),
        Some(Version::new(1))
    );
}

#[test]
fn a_committer_that_panics_while_sending_poisons_the_shipper_instead_of_stalling_it() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper =
        Arc::new(Shipper::start(store.clone(), ShipperOptions::default()).expect("start"));
    store.panic_next.store(true, Ordering::SeqCst);
    let panicked = std::thread::spawn({
        let (shipper, agent) = (Arc::clone(&shipper), agent.clone());
        move || shipper.commit(request(&agent, run, epoch, 1))
    })
    .join();
    assert!(
        panicked.is_err(),
        "the committer sent its commit and panicked with the store"
    );
    // The batch in flight was never answered: a later commit must fail at once (its outcome
    // cannot follow one that is unknown), not wait for that answer forever.
    let (answer, answered) = std::sync::mpsc::channel();
    std::thread::spawn({
        let shipper = Arc::clone(&shipper);
        move || {
            let _ = answer.send(shipper.commit(request(&agent, run, epoch, 2)));
        }
    });
    let later = answered
        .recv_timeout(Duration::from_secs(20))
        .expect("a commit after the panic is answered");
    assert!(matches!(later, Err(RemoteError::Poisoned(_))), "{later:?}");
}

/// Commits when dropped, as code that records a failure on the way out might.
struct CommitOnDrop<'a> {
    shipper: &'a Shipper,
    request: Option<CommitRequest>,
    outcome: &'a Mutex<Option<RemoteResult<CommitOutcome>>>,
}

impl Drop for CommitOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(request) = self.request.take() {
            *self.outcome.lock().expect("outcome") = Some(self.shipper.commit(request));
        }
    }
}

#[test]
fn a_commit_sent_from_a_drop_during_a_panic_keeps_its_outcome() {
    let store = Arc::new(GatedStore::new());
    let (agent, run, epoch) = begun(&*store);
    let shipper = Shipper::start(store.clone(), ShipperOptions::default()).expect("start");
    let outcome = Mutex::new(None);
    std::thread::scope(|scope| {
        let panicked = scope
            .spawn(|| {
                let _on_drop = CommitOnDrop {
                    shipper: &shipper,
                    request: Some(request(&agent, run, epoch, 1)),
                    outcome: &outcome,
                };
                panic!("the committer's own panic, not the shipper's");
            })
            .join();
        assert!(panicked.is_err());
    });
    let sent = outcome
        .lock()
        .expect("outcome")
        .take()
        .expect("committed on drop");
    assert_eq!(sent.expect("commit").version(), Some(Version::new(1)));
    assert_eq!(
        shipper
            .commit(request(&agent, run, epoch, 2))
            .expect("a later commit, with no poisoning")
            .version(),
        Some(Version::new(2))
    );
}
