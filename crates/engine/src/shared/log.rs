//! `SharedLog`: what a connected database has in place of its log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use std::time::{Duration, Instant};

use in_mem_core_types::{AgentId, RunId, Version};
use in_mem_remote::{
    BeginRun, CommitOutcome, CommitRequest, OnAnswered, RemoteError, RemoteResult, RemoteStore,
    RunStart, RunUpdate, Shipper, ShipperOptions, StoredRunStatus,
};

use super::options::RemoteOptions;
use super::ownership::Ownership;
use super::{AgentCache, COLLECT_AFTER_COMMITS, CacheBudget, CacheStats, Collector};
use crate::background::{Next, Periodic};
use crate::error::{Error, Result};

/// Begins whose outcome stayed unknown that a host keeps to resolve (see `begin_run`).
const UNRESOLVED_BEGINS_MAX: usize = 10_000;

/// The shared store and this host's standing in it.
pub(crate) struct SharedLog {
    pub store: Arc<dyn RemoteStore>,
    /// Group commit at the network boundary: every commit goes through it.
    pub shipper: Shipper,
    pub host: String,
    /// The runs this host owns, with the epoch it owns each at, and whether that is confirmed.
    ownership: Arc<Ownership>,
    /// Every agent this host has cached something of (an evicted one stays, holding nothing).
    agents: Arc<Mutex<HashMap<AgentId, Arc<AgentCache>>>>,
    /// Asks the store to collect the cached agents' garbage (in the background, and on
    /// `sweep`).
    pub collector: Arc<Collector>,
    /// The background collections; stopped at shutdown.
    collecting: Mutex<Option<Periodic>>,
    /// What the cached agents take, against `RemoteOptions::cache_bytes`.
    pub budget: Arc<CacheBudget>,
    /// Stand-in versions for writes sent and not yet answered (see `placeholder`).
    placeholders: AtomicU64,
    /// Renews the host's lease; stopped at shutdown.
    lease: Mutex<Option<Periodic>>,
    /// How long a run change is sent again through an outage (`RemoteOptions::outage_limit`).
    outage_limit: Duration,
    /// Begins whose outcome stayed unknown through the outage limit, by run: beginning the
    /// same run again here sends the same request, which the store answers as it answered the
    /// first (a new request would be refused: the run may exist, registered by the first).
    unresolved_begins: Mutex<HashMap<RunId, BeginRun>>,
}

impl SharedLog {
    /// Registers the host's lease with `store` and starts renewing it and shipping commits.
    pub fn start(store: Arc<dyn RemoteStore>, options: &RemoteOptions) -> Result<Self> {
        let host = options.host_id.clone();
        let ownership = Arc::new(Ownership::new(
            Arc::clone(&store),
            host.clone(),
            options.lease_ttl,
        ));
        ownership.renew_and_confirm()?;
        let agents = Arc::new(Mutex::new(HashMap::new()));
        let shipper = Shipper::start_observed(
            Arc::clone(&store),
            ShipperOptions {
                retry_for: options.outage_limit,
                ..ShipperOptions::default()
            },
            Some(expect_own_commits(Arc::clone(&agents))),
        )?;
        let lease = start_lease_renewal(Arc::clone(&ownership), host.clone(), options.lease_ttl)?;
        let collector = Arc::new(Collector::new(
            Arc::clone(&store),
            Arc::clone(&agents),
            options.gc_policy(),
        ));
        let collecting = if options.collect_every.is_zero() {
            None
        } else {
            let collector = Arc::clone(&collector);
            Some(
                Periodic::start("in-mem-collector", options.collect_every, move || {
                    collector.collect(COLLECT_AFTER_COMMITS);
                    Next::Continue
                })
                .map_err(|e| {
                    Error::Remote(in_mem_remote::RemoteError::Store(format!(
                        "cannot start the collection thread: {e}"
                    )))
                })?,
            )
        };
        Ok(SharedLog {
            store,
            shipper,
            host,
            ownership,
            agents,
            collector,
            collecting: Mutex::new(collecting),
            budget: Arc::new(CacheBudget::new(options.cache_bytes)),
            placeholders: AtomicU64::new(u64::MAX),
            lease: Mutex::new(Some(lease)),
            outage_limit: options.outage_limit,
            unresolved_begins: Mutex::new(HashMap::new()),
        })
    }

    /// The cache state of `agent` (created empty on first use).
    pub fn agent(&self, agent: &AgentId) -> Arc<AgentCache> {
        let mut agents = lock(&self.agents);
        if let Some(cache) = agents.get(agent) {
            return Arc::clone(cache);
        }
        let cache = Arc::new(AgentCache::new(agent.clone(), Arc::clone(&self.budget)));
        agents.insert(agent.clone(), Arc::clone(&cache));
        cache
    }

    /// The agents cached so far (evicted ones included).
    pub fn agents(&self) -> Vec<Arc<AgentCache>> {
        lock(&self.agents).values().cloned().collect()
    }

    /// The cache's state now.
    pub fn cache_stats(&self) -> CacheStats {
        let agents = lock(&self.agents)
            .values()
            .filter(|cache| cache.highest() > Version::ZERO)
            .count();
        CacheStats {
            bytes: self.budget.used(),
            limit: self.budget.limit(),
            agents,
            evictions: self.budget.evictions(),
        }
    }

    /// Notes that this host owns `run` of the agent `cache` is for, at `epoch` (once the
    /// store's answer saying so is in); the agent stays cached while it does.
    pub fn own(&self, run: RunId, epoch: u64, cache: &Arc<AgentCache>) {
        self.ownership.own(run, epoch, cache);
    }

    /// Whether `run` was let go because another host took it over, since the last call here.
    pub fn take_let_go(&self, run: RunId) -> bool {
        self.ownership.take_let_go(run)
    }

    /// Forgets that this host owns `run` (another host took it over, or it ended).
    pub fn disown(&self, run: RunId) {
        self.ownership.disown(run);
    }

    /// Whether this host owns `run`, as far as it knows.
    pub fn owns(&self, run: RunId) -> bool {
        self.ownership.owns(run)
    }

    /// Whether this host owns `run`, confirmed by the store within the lease, so that the run
    /// may be read from this host's cache: a run another host took over is let go here.
    pub fn owns_confirmed(&self, run: RunId) -> Result<bool> {
        Ok(self.ownership.owns_confirmed(run)?)
    }

    /// The epoch this host owns `run` at, or [`Error::NotOwner`] naming its owner.
    pub fn epoch(&self, run: RunId) -> Result<u64> {
        if let Some(epoch) = self.ownership.epoch(run) {
            return Ok(epoch);
        }
        let owner = self.store.run(run)?.map_or_else(
            || "(none: the store has no such run)".to_owned(),
            |row| row.owner,
        );
        Err(Error::NotOwner { run, owner })
    }

    /// Registers `begin`'s run in the store, sending it again through an outage (the same
    /// request, which the store answers as it answered the first send: see
    /// [`RemoteStore::begin_run`]).
    pub fn begin_run(&self, mut begin: BeginRun) -> RemoteResult<RunStart> {
        // Claimed, not read: a second thread beginning the same run meanwhile sends a request
        // of its own, which the store refuses if the first one registered the run (two
        // threads answered "begun" would both go on, and the loser would cancel the run).
        let resent = {
            let mut unresolved = lock(&self.unresolved_begins);
            match unresolved.remove(&begin.run) {
                Some(earlier) if earlier.same_run_as(&begin) => {
                    begin.request = earlier.request;
                    true
                }
                Some(other) => {
                    // Asked with other tags or metadata: refused if the earlier one registered
                    // the run; the earlier request stays for a begin that matches it.
                    unresolved.insert(other.run, other);
                    false
                }
                None => false,
            }
        };
        let result =
            self.through_outage("registering a run", resent, || self.store.begin_run(&begin));
        if let Err(RemoteError::OutcomeUnknown(_)) = &result {
            let mut unresolved = lock(&self.unresolved_begins);
            // Kept for a begin of the same run again, which may never come: bounded, so a long
            // outage that leaves many begins unknown cannot grow it without end (past the bound,
            // a begin again is refused as existing if the first one registered the run).
            if unresolved.len() < UNRESOLVED_BEGINS_MAX {
                unresolved.insert(begin.run, begin);
            }
        }
        result
    }

    /// Makes this host the owner of `run` in the store, sending the takeover again through an
    /// outage (sent again, it takes the run at the next epoch once more, from this host).
    pub fn take_over_run(&self, run: RunId) -> RemoteResult<RunStart> {
        self.through_outage("taking a run over", false, || {
            self.store.take_over_run(run, &self.host)
        })
    }

    /// Sets the stored status of a run this host owns, sending the change again through an
    /// outage (the same change: an end sent again after a lost answer succeeds and changes
    /// nothing more).
    pub fn set_status(
        &self,
        run: RunId,
        status: StoredRunStatus,
        error: Option<String>,
    ) -> Result<()> {
        // Read once: a renewal meanwhile may find an ended run no longer this host's (the
        // store lists unended runs only) and let it go, and the change sent again is the same.
        let mut update = RunUpdate::new(run, self.epoch(run)?);
        update.status = Some(status);
        update.error = error;
        self.through_outage("setting a run's status", false, || {
            self.store.update_run(&update)
        })?;
        if status.is_ended() {
            self.ownership.disown(run);
        }
        Ok(())
    }

    /// Runs `change` (a run change the store makes at most once however often it is sent),
    /// and again while the store is unavailable, its answer lost, or this host's lease lapsed
    /// (during an outage longer than the lease; the renewal thread renews it once the store is
    /// back), for up to the outage limit. Once one send's answer was lost (or, with
    /// `answer_lost_before`, an earlier call's), a later failure that is not a definite answer
    /// (`Unavailable`, `NoLease`, a `Store` error such as too many connections) is reported as
    /// an unknown outcome: that send may have made the change.
    fn through_outage<T>(
        &self,
        what: &str,
        answer_lost_before: bool,
        mut change: impl FnMut() -> RemoteResult<T>,
    ) -> RemoteResult<T> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut lost_answer = answer_lost_before;
        loop {
            match change() {
                Err(
                    e @ (RemoteError::Unavailable(_)
                    | RemoteError::OutcomeUnknown(_)
                    | RemoteError::NoLease(_)),
                ) if started.elapsed() + pause < self.outage_limit => {
                    lost_answer |= matches!(e, RemoteError::OutcomeUnknown(_));
                    tracing::warn!(error = %e, "{what} failed; sending it again");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(
                    e @ (RemoteError::Unavailable(_)
                    | RemoteError::NoLease(_)
                    | RemoteError::Store(_)),
                ) if lost_answer => {
                    return Err(RemoteError::OutcomeUnknown(format!(
                        "{what}: an earlier send's answer was lost, and the last send failed: {e}"
                    )));
                }
                done => return done,
            }
        }
    }

    /// Sets the stored tags of a run this host owns (what run queries of other hosts find),
    /// sending the change again through an outage (the same tags again change nothing).
    pub fn set_tags(&self, run: RunId, tags: Vec<String>) -> Result<()> {
        let mut update = RunUpdate::new(run, self.epoch(run)?);
        update.tags = Some(tags);
        self.through_outage("setting a run's tags", false, || {
            self.store.update_run(&update)
        })?;
        Ok(())
    }

    /// A version no commit will ever have, unique among the writes in flight: it marks a key
    /// written by a commit that is sent and not yet answered in its run's pending map, so that
    /// a transaction of the same run that read the key before fails its validation.
    pub fn placeholder(&self) -> Version {
        Version::new(self.placeholders.fetch_sub(1, Ordering::Relaxed))
    }

    /// Stops renewing the lease (the runs this host owns become Interrupted once it runs out)
    /// and collecting.
    pub fn stop(&self) {
        if let Some(mut collecting) = lock(&self.collecting).take() {
            collecting.stop();
        }
        let lease = lock(&self.lease).take();
        if let Some(mut lease) = lease {
            lease.stop();
        }
    }
}

impl std::fmt::Debug for SharedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLog")
            .field("store", &self.store.describe())
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Drop for SharedLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Renews `host`'s lease every third of `ttl`, so that two renewals in a row can fail before it
/// runs out, and confirms which runs the host still owns. A failure is logged, never fatal: the
/// next round tries again, a read that finds the confirmation too old asks itself, and if the
/// lease does run out, the store fences this host's late commits.
/// Tells each agent's cache which versions the store gave this host's commits of a batch, before
/// their committers wake (see `AgentCache::expect_own`).
fn expect_own_commits(agents: Arc<Mutex<HashMap<AgentId, Arc<AgentCache>>>>) -> OnAnswered {
    Box::new(
        move |requests: &[CommitRequest], outcomes: &[CommitOutcome]| {
            let committed: Vec<(Arc<AgentCache>, Version)> = {
                let agents = lock(&agents);
                requests
                    .iter()
                    .zip(outcomes)
                    .filter_map(|(request, outcome)| match outcome {
                        CommitOutcome::Committed { version, .. } => agents
                            .get(&request.agent)
                            .map(|cache| (Arc::clone(cache), *version)),
                        _ => None,
                    })
                    .collect()
            };
            for (cache, version) in committed {
                cache.expect_own(version);
            }
        },
    )
}

fn start_lease_renewal(ownership: Arc<Ownership>, host: String, ttl: Duration) -> Result<Periodic> {
    Periodic::start("in-mem-lease", ttl / 3, move || {
        if let Err(e) = ownership.renew_and_confirm() {
            tracing::warn!(host = %host, error = %e, "could not renew this host's lease and confirm the runs it owns");
        }
        Next::Continue
    })
    .map_err(|e| {
        Error::Remote(in_mem_remote::RemoteError::Store(format!(
            "cannot start the lease renewal thread: {e}"
        )))
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a single insert or remove.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
