//! The conformance suite of the backend boundary: every [`RemoteStore`] implementation runs
//! these checks (the engine's tests against [`MemStore`](super::MemStore), `in-mem-pg`'s
//! against a real PostgreSQL). Each check uses agents, runs and hosts of its own, so that all of
//! them can share one store, and panics with what it found when the store breaks a rule.
//!
//! Time: leases and TTLs need time to pass. A check asks its [`Kit`] to let time pass; a store
//! on a manual clock moves the clock, a real one sleeps.

use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, TypeTag, Version};

mod collections;

use super::RemoteStore;
use super::types::{
    BeginRun, CommitId, CommitOutcome, CommitRequest, RemoteError, RemoteResult, RemoteRunQuery,
    RemoteView, RemoteWrite, RunRow, RunStart, RunUpdate, StoreStats, StoredRunStatus,
};
use collections::{
    a_fork_of_a_fork_keeps_what_it_reads_of_its_grandparent,
    an_interrupted_run_holds_the_horizon_for_its_grace_only,
    collections_keep_what_the_policy_keeps,
    garbage_collection_changes_no_answer_at_or_above_the_horizon,
};

/// What a check needs: the store, and a way to let time pass on the store's clock.
pub struct Kit<'a> {
    /// The store under test.
    pub store: &'a dyn RemoteStore,
    /// Lets at least the given time pass on the store's clock.
    pub pass_time: &'a dyn Fn(Duration),
}

/// One check: its name and what it runs.
pub type Check = (&'static str, fn(&Kit<'_>) -> RemoteResult<()>);

/// Every check, by name.
pub const CHECKS: &[Check] = &[
    ("versions_are_dense_per_agent", versions_are_dense_per_agent),
    (
        "a_runs_snapshot_is_its_agents_clock_at_begin",
        a_runs_snapshot_is_its_agents_clock_at_begin,
    ),
    ("a_commit_id_is_applied_once", a_commit_id_is_applied_once),
    (
        "a_takeover_fences_the_former_owner",
        a_takeover_fences_the_former_owner,
    ),
    (
        "an_ended_run_takes_no_changes",
        an_ended_run_takes_no_changes,
    ),
    (
        "create_only_keys_are_written_once",
        create_only_keys_are_written_once,
    ),
    (
        "a_batchs_commits_have_their_own_outcomes",
        a_batchs_commits_have_their_own_outcomes,
    ),
    (
        "reads_see_the_newest_version_of_their_view",
        reads_see_the_newest_version_of_their_view,
    ),
    (
        "a_lapsed_lease_interrupts_its_active_runs",
        a_lapsed_lease_interrupts_its_active_runs,
    ),
    (
        "run_queries_filter_and_keep_begin_order",
        run_queries_filter_and_keep_begin_order,
    ),
    (
        "run_queries_filter_by_tenant_and_app",
        run_queries_filter_by_tenant_and_app,
    ),
    (
        "garbage_collection_changes_no_answer_at_or_above_the_horizon",
        garbage_collection_changes_no_answer_at_or_above_the_horizon,
    ),
    (
        "beginning_needs_a_lease_and_a_new_id",
        beginning_needs_a_lease_and_a_new_id,
    ),
    (
        "a_batch_resends_fences_deletes_and_expires",
        a_batch_resends_fences_deletes_and_expires,
    ),
    (
        "a_batch_answers_odd_requests_one_by_one",
        a_batch_answers_odd_requests_one_by_one,
    ),
    (
        "run_changes_sent_again_are_made_once",
        run_changes_sent_again_are_made_once,
    ),
    ("stats_count_what_was_written", stats_count_what_was_written),
    (
        "collections_keep_what_the_policy_keeps",
        collections_keep_what_the_policy_keeps,
    ),
    (
        "a_fork_of_a_fork_keeps_what_it_reads_of_its_grandparent",
        a_fork_of_a_fork_keeps_what_it_reads_of_its_grandparent,
    ),
    (
        "an_interrupted_run_holds_the_horizon_for_its_grace_only",
        an_interrupted_run_holds_the_horizon_for_its_grace_only,
    ),
];

/// Runs every check, naming the one that fails.
///
/// # Panics
///
/// When a check fails: the message names it, the store, and what it found.
pub fn run_all(kit: &Kit<'_>) {
    for (name, check) in CHECKS {
        if let Err(e) = check(kit) {
            panic!(
                "conformance check {name} failed on {}: {e}",
                kit.store.describe()
            );
        }
    }
}

const LEASE: Duration = Duration::from_secs(60);

/// A fresh agent and host for one check.
struct Scene<'a> {
    kit: &'a Kit<'a>,
    agent: AgentId,
    host: String,
}

impl<'a> Scene<'a> {
    fn new(kit: &'a Kit<'a>, check: &str) -> RemoteResult<Self> {
        let unique = RunId::new().to_string();
        let host = format!("host-{}", &unique[..8]);
        kit.store.renew_lease(&host, LEASE)?;
        Ok(Scene {
            kit,
            agent: AgentId::new("conformance", check, unique),
            host,
        })
    }

    fn store(&self) -> &dyn RemoteStore {
        self.kit.store
    }

    fn begin(&self) -> RemoteResult<(RunId, RunStart)> {
        self.begin_with(&self.agent, &self.host, &[], None)
    }

    fn begin_with(
        &self,
        agent: &AgentId,
        host: &str,
        tags: &[&str],
        parent: Option<RunId>,
    ) -> RemoteResult<(RunId, RunStart)> {
        let run = RunId::new();
        let start = self.store().begin_run(&BeginRun {
            parent,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..BeginRun::new(agent.clone(), run, host)
        })?;
        Ok((run, start))
    }

    /// Ends `run` (begun with `start`) as completed.
    fn end(&self, run: RunId, start: RunStart) -> RemoteResult<RunRow> {
        self.store().update_run(&RunUpdate {
            status: Some(StoredRunStatus::Completed),
            ..RunUpdate::new(run, start.epoch)
        })
    }

    /// Commits one request and returns its outcome.
    fn commit(&self, request: CommitRequest) -> RemoteResult<CommitOutcome> {
        let mut outcomes = self.store().commit_batch(&[request])?;
        check(outcomes.len() == 1, "a batch of one got one outcome")?;
        Ok(outcomes.remove(0))
    }

    fn request(&self, run: RunId, start: RunStart, writes: Vec<RemoteWrite>) -> CommitRequest {
        CommitRequest {
            agent: self.agent.clone(),
            run,
            epoch: start.epoch,
            commit: CommitId::new(),
            writes,
        }
    }

    /// Commits writes that must be committed; returns the version.
    fn commit_ok(
        &self,
        run: RunId,
        start: RunStart,
        writes: Vec<RemoteWrite>,
    ) -> RemoteResult<Version> {
        match self.commit(self.request(run, start, writes))? {
            CommitOutcome::Committed { version, .. } => Ok(version),
            other => Err(fail(format!("expected a commit, got {other:?}"))),
        }
    }

    fn view(&self, snapshot: Version, own: Option<RunId>) -> RemoteResult<RemoteView> {
        Ok(RemoteView {
            snapshot,
            own,
            now: self.store().now()?,
        })
    }

    fn value_of(&self, key: &[u8], view: &RemoteView) -> RemoteResult<Option<Vec<u8>>> {
        Ok(self
            .store()
            .get(&self.agent, key, view)?
            .filter(|v| v.is_live_at(view.now))
            .and_then(|v| v.value))
    }

    fn scan_pairs(
        &self,
        prefix: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .store()
            .scan(&self.agent, prefix, view)?
            .into_iter()
            .map(|v| (v.key, v.value.unwrap_or_default()))
            .collect())
    }
}

fn put(key: &str, value: &str) -> RemoteWrite {
    RemoteWrite::put(key, value)
}

fn delete(key: &str) -> RemoteWrite {
    RemoteWrite::delete(key)
}

fn event(key: &str, value: &str) -> RemoteWrite {
    RemoteWrite {
        tag: TypeTag::Event,
        ..put(key, value)
    }
}

fn fail(message: impl Into<String>) -> RemoteError {
    RemoteError::Store(format!("conformance: {}", message.into()))
}

fn check(condition: bool, what: &str) -> RemoteResult<()> {
    if condition {
        Ok(())
    } else {
        Err(fail(format!("expected: {what}")))
    }
}

#[allow(clippy::needless_pass_by_value)] // Called with temporaries; by value reads better.
fn check_eq<T: PartialEq + std::fmt::Debug>(found: T, expected: T, what: &str) -> RemoteResult<()> {
    if found == expected {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: expected {expected:?}, found {found:?}"
        )))
    }
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn versions_are_dense_per_agent(kit: &Kit<'_>) -> RemoteResult<()> {
    let a = Scene::new(kit, "dense-a")?;
    let b = Scene::new(kit, "dense-b")?;
    let (run_a, start_a) = a.begin()?;
    let (run_b, start_b) = b.begin()?;
    check_eq(start_a.snapshot, Version::ZERO, "a new agent's clock")?;
    let mut found = Vec::new();
    for i in 0..3 {
        found.push(a.commit_ok(
            run_a,
            start_a,
            vec![put("k", &i.to_string()), put("other", "x")],
        )?);
        found.push(b.commit_ok(run_b, start_b, vec![put("k", &i.to_string())])?);
    }
    let expected: Vec<Version> = [1, 1, 2, 2, 3, 3].into_iter().map(Version::new).collect();
    check_eq(found, expected, "versions of two agents committing in turn")?;
    check_eq(
        kit.store.clock(&a.agent)?,
        Version::new(3),
        "agent a's clock",
    )?;
    let caught = kit
        .store
        .catch_up(&a.agent, Version::new(1), Version::new(3))?;
    caught.check_dense(&a.agent, Version::new(1), Version::new(3))?;
    let rows: Vec<(u64, Vec<u8>)> = caught
        .versions
        .iter()
        .map(|v| (v.version.get(), v.key.clone()))
        .collect();
    check_eq(
        rows,
        vec![
            (2, bytes("k")),
            (2, bytes("other")),
            (3, bytes("k")),
            (3, bytes("other")),
        ],
        "catch-up rows in version then key order",
    )?;
    check(
        caught.commits.iter().all(|c| c.run == run_a),
        "every commit names its run",
    )?;
    check(
        caught
            .check_dense(&a.agent, Version::ZERO, Version::new(3))
            .is_err(),
        "a range missing version 1 is not dense",
    )
}

fn a_runs_snapshot_is_its_agents_clock_at_begin(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "snapshot")?;
    let (early, early_start) = s.begin()?;
    let (writer, writer_start) = s.begin()?;
    let v1 = s.commit_ok(writer, writer_start, vec![put("memory", "one")])?;
    let (late, late_start) = s.begin()?;
    check_eq(
        late_start.snapshot,
        v1,
        "a run begun after a commit starts at it",
    )?;
    let own = s.commit_ok(early, early_start, vec![put("mine", "early")])?;
    check_eq(
        s.value_of(b"memory", &s.view(early_start.snapshot, Some(early))?)?,
        None,
        "a run begun before a commit does not see it",
    )?;
    check_eq(
        s.value_of(b"memory", &s.view(late_start.snapshot, Some(late))?)?,
        Some(bytes("one")),
        "a run begun after a commit sees it",
    )?;
    check_eq(
        s.value_of(b"mine", &s.view(early_start.snapshot, Some(early))?)?,
        Some(bytes("early")),
        "a run sees its own write above its snapshot",
    )?;
    check_eq(
        s.value_of(b"mine", &s.view(late_start.snapshot, Some(late))?)?,
        None,
        "a run does not see a concurrent run's write",
    )?;
    check(
        own > late_start.snapshot,
        "the concurrent write is above the later snapshot",
    )
}

fn a_commit_id_is_applied_once(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "idempotent")?;
    let (run, start) = s.begin()?;
    let request = s.request(run, start, vec![put("k", "v")]);
    let first = s.commit(request.clone())?;
    let again = s.commit(request.clone())?;
    let version = first
        .version()
        .ok_or_else(|| fail("the first send commits"))?;
    check_eq(
        again,
        CommitOutcome::AlreadyCommitted { version },
        "a resend",
    )?;
    check_eq(
        kit.store.clock(&s.agent)?,
        version,
        "the clock after a resend",
    )?;
    check_eq(
        kit.store.commit_status(&s.agent, request.commit)?,
        Some(version),
        "the status of a commit",
    )?;
    check_eq(
        kit.store.commit_status(&s.agent, CommitId::new())?,
        None,
        "the status of a commit never sent",
    )
}

fn a_takeover_fences_the_former_owner(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "fencing")?;
    let other = format!("{}-b", s.host);
    kit.store.renew_lease(&other, LEASE)?;
    let (run, start) = s.begin()?;
    s.commit_ok(run, start, vec![put("k", "a")])?;
    check_eq(
        kit.store.owned_runs(&s.host)?,
        vec![(run, start.epoch)],
        "the runs the owner holds",
    )?;
    check_eq(
        kit.store.owned_runs(&other)?,
        vec![],
        "the runs another host holds",
    )?;
    let taken = kit.store.take_over_run(run, &other)?;
    check_eq(taken.epoch, start.epoch + 1, "the epoch after a takeover")?;
    // The former owner's lease (a minute) had almost all of it to run.
    check(
        taken.former_lease_left > LEASE / 2 && taken.former_lease_left <= LEASE,
        "a takeover from a live owner reports what its lease had left",
    )?;
    check_eq(
        kit.store.owned_runs(&s.host)?,
        vec![],
        "the runs the former owner holds",
    )?;
    check_eq(
        kit.store.owned_runs(&other)?,
        vec![(run, taken.epoch)],
        "the runs the new owner holds",
    )?;
    // Sent again (its reply lost, or by another thread of the new owner): the handover is
    // the same, and so is what is left to wait out.
    let again = kit.store.take_over_run(run, &other)?.former_lease_left;
    check(
        again > Duration::ZERO && again <= taken.former_lease_left,
        "a takeover sent again waits out the same handover",
    )?;
    let taken = RunStart {
        epoch: taken.epoch + 1,
        ..taken
    };
    check_eq(
        taken.snapshot,
        start.snapshot,
        "a takeover keeps the snapshot",
    )?;
    let clock = kit.store.clock(&s.agent)?;
    check_eq(
        s.commit(s.request(run, start, vec![put("k", "late")]))?,
        CommitOutcome::Fenced {
            current: taken.epoch,
        },
        "a commit by the former owner",
    )?;
    check_eq(
        kit.store.clock(&s.agent)?,
        clock,
        "a fenced commit takes no version",
    )?;
    match kit.store.update_run(&RunUpdate {
        status: Some(StoredRunStatus::Completed),
        ..RunUpdate::new(run, start.epoch)
    }) {
        Err(RemoteError::Fenced { held, current, .. }) => {
            check_eq(
                (held, current),
                (start.epoch, taken.epoch),
                "the fenced epochs",
            )?;
        }
        other => return Err(fail(format!("an update by the former owner: {other:?}"))),
    }
    s.commit_ok(run, taken, vec![put("k", "b")])?;
    let row = kit.store.run(run)?.ok_or_else(|| fail("the run exists"))?;
    check_eq(
        (row.owner.as_str(), row.epoch),
        (other.as_str(), taken.epoch),
        "the new owner",
    )
}

fn an_ended_run_takes_no_changes(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "ended")?;
    let (run, start) = s.begin()?;
    s.commit_ok(run, start, vec![put("k", "v")])?;
    let row = kit.store.update_run(&RunUpdate {
        status: Some(StoredRunStatus::Failed),
        error: Some("tool crashed".into()),
        ..RunUpdate::new(run, start.epoch)
    })?;
    check_eq(
        row.status,
        StoredRunStatus::Failed,
        "the status after failing",
    )?;
    check_eq(row.error.as_deref(), Some("tool crashed"), "the error")?;
    check(row.ended_at.is_some(), "an ended run has an end time")?;
    let clock = kit.store.clock(&s.agent)?;
    check_eq(
        s.commit(s.request(run, start, vec![put("k", "after")]))?,
        CommitOutcome::RunNotWritable,
        "a commit after the end",
    )?;
    check_eq(
        kit.store.clock(&s.agent)?,
        clock,
        "a refused commit takes no version",
    )?;
    check(
        matches!(
            kit.store.update_run(&RunUpdate::new(run, start.epoch)),
            Err(RemoteError::RunEnded { .. })
        ),
        "an ended run takes no update",
    )?;
    check(
        matches!(
            kit.store.take_over_run(run, &s.host),
            Err(RemoteError::RunEnded { .. })
        ),
        "an ended run cannot be taken over",
    )?;
    let (paused, paused_start) = s.begin()?;
    kit.store.update_run(&RunUpdate {
        status: Some(StoredRunStatus::Paused),
        ..RunUpdate::new(paused, paused_start.epoch)
    })?;
    check_eq(
        s.commit(s.request(paused, paused_start, vec![put("k", "paused")]))?,
        CommitOutcome::RunNotWritable,
        "a commit of a paused run",
    )?;
    check(
        matches!(
            kit.store.update_run(&RunUpdate {
                status: Some(StoredRunStatus::Interrupted),
                ..RunUpdate::new(paused, paused_start.epoch)
            }),
            Err(RemoteError::Store(_))
        ),
        "Interrupted cannot be set",
    )
}

fn create_only_keys_are_written_once(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "create-only")?;
    let (run, start) = s.begin()?;
    s.commit_ok(run, start, vec![event("e1", "first")])?;
    let clock = kit.store.clock(&s.agent)?;
    check_eq(
        s.commit(s.request(run, start, vec![put("k", "v"), event("e1", "again")]))?,
        CommitOutcome::CreateOnlyExists { key: bytes("e1") },
        "a second write of an event key",
    )?;
    check_eq(
        kit.store.clock(&s.agent)?,
        clock,
        "a refused commit takes no version",
    )?;
    let view = s.view(kit.store.clock(&s.agent)?, Some(run))?;
    check_eq(
        s.value_of(b"k", &view)?,
        None,
        "a refused commit writes nothing",
    )?;
    check_eq(s.value_of(b"e1", &view)?, Some(bytes("first")), "the event")?;
    check(
        matches!(
            s.commit(s.request(run, start, vec![event("e2", "x"), event("e2", "y")]))?,
            CommitOutcome::CreateOnlyExists { .. }
        ),
        "one commit writing an event key twice is refused",
    )
}

/// Two agents' scenes, a run of each, and a run of the first that has ended, after a first batch
/// of one commit of each: the first agent's clock is at 1, the second's at 1.
struct Batches<'a> {
    s: Scene<'a>,
    other: Scene<'a>,
    run: (RunId, RunStart),
    run_o: (RunId, RunStart),
    first: CommitRequest,
}

impl<'a> Batches<'a> {
    fn new(kit: &'a Kit<'a>, name: &str) -> RemoteResult<Self> {
        let s = Scene::new(kit, name)?;
        let other = Scene::new(kit, &format!("{name}-other"))?;
        let run = s.begin()?;
        let run_o = other.begin()?;
        let first = s.request(run.0, run.1, vec![put("a", "1")]);
        let batch = [
            first.clone(),
            other.request(run_o.0, run_o.1, vec![put("c", "1")]),
        ];
        kit.store.commit_batch(&batch)?;
        Ok(Batches {
            s,
            other,
            run,
            run_o,
            first,
        })
    }
}

fn versions_of(outcomes: &[CommitOutcome]) -> Vec<Option<u64>> {
    outcomes
        .iter()
        .map(|o| o.version().map(Version::get))
        .collect()
}

fn a_batchs_commits_have_their_own_outcomes(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "batch")?;
    let other = Scene::new(kit, "batch-other")?;
    let (run, start) = s.begin()?;
    let (ended, ended_start) = s.begin()?;
    let (run_o, start_o) = other.begin()?;
    kit.store.update_run(&RunUpdate {
        status: Some(StoredRunStatus::Completed),
        ..RunUpdate::new(ended, ended_start.epoch)
    })?;
    let batch = vec![
        s.request(run, start, vec![put("a", "1")]),
        s.request(ended, ended_start, vec![put("b", "1")]),
        other.request(run_o, start_o, vec![put("c", "1")]),
        s.request(run, start, vec![put("a", "2")]),
    ];
    let outcomes = kit.store.commit_batch(&batch)?;
    check_eq(
        versions_of(&outcomes),
        vec![Some(1), None, Some(1), Some(2)],
        "a batch's versions",
    )?;
    check_eq(
        &outcomes[1],
        &CommitOutcome::RunNotWritable,
        "the ended run's commit",
    )?;
    check_eq(kit.store.commit_batch(&[])?.len(), 0, "an empty batch")?;
    Ok(())
}

fn a_batch_resends_fences_deletes_and_expires(kit: &Kit<'_>) -> RemoteResult<()> {
    let b = Batches::new(kit, "batch-again")?;
    let ((run, start), (run_o, start_o)) = (b.run, b.run_o);
    let mut stale = b.s.request(run, start, vec![put("x", "1")]);
    stale.epoch += 1;
    let mut short = put("t", "short");
    short.ttl = Some(Duration::from_secs(3600));
    let again = [
        b.first.clone(),
        stale,
        b.s.request(run, start, vec![delete("a"), short]),
        b.other.request(run_o, start_o, vec![put("c", "2")]),
    ];
    let outcomes = kit.store.commit_batch(&again)?;
    check_eq(
        &outcomes[..2],
        &[
            CommitOutcome::AlreadyCommitted {
                version: Version::new(1),
            },
            CommitOutcome::Fenced {
                current: start.epoch,
            },
        ][..],
        "a commit sent again in a later batch, and one with a stale epoch",
    )?;
    check_eq(
        versions_of(&outcomes[2..]),
        vec![Some(2), Some(2)],
        "the new commits' versions",
    )?;
    check_eq(kit.store.clock(&b.s.agent)?, Version::new(2), "the clock")?;
    check_eq(
        kit.store.clock(&b.other.agent)?,
        Version::new(2),
        "the other agent's clock",
    )?;
    let view = b.s.view(Version::new(2), None)?;
    check_eq(b.s.value_of(b"a", &view)?, None, "a key deleted in a batch")?;
    check_eq(
        b.s.value_of(b"t", &view)?,
        Some(bytes("short")),
        "a value with a TTL",
    )?;
    let stored = kit.store.get(&b.s.agent, b"t", &view)?;
    check(
        stored.is_some_and(|v| v.expires_at.is_some()),
        "a value written with a TTL in a batch expires",
    )
}

fn a_batch_answers_odd_requests_one_by_one(kit: &Kit<'_>) -> RemoteResult<()> {
    let b = Batches::new(kit, "batch-odd")?;
    let ((run, start), (run_o, start_o)) = (b.run, b.run_o);
    // One commit twice in a batch (resent by a caller of its own).
    let twice = b.s.request(run, start, vec![put("d", "1")]);
    let outcomes = kit.store.commit_batch(&[twice.clone(), twice])?;
    check(
        matches!(outcomes[0], CommitOutcome::Committed { version, .. } if version.get() == 2),
        "a commit twice in a batch: the first is committed",
    )?;
    check_eq(
        &outcomes[1],
        &CommitOutcome::AlreadyCommitted {
            version: Version::new(2),
        },
        "a commit twice in a batch: the second",
    )?;
    // A run never begun and a run named with another agent, between two good commits.
    let mut foreign = b.other.request(run_o, start_o, vec![put("e", "1")]);
    foreign.agent = b.s.agent.clone();
    let odd = [
        b.s.request(run, start, vec![put("g", "1")]),
        b.s.request(RunId::new(), start, vec![put("f", "1")]),
        foreign,
        b.s.request(run, start, vec![put("g", "2")]),
    ];
    let outcomes = kit.store.commit_batch(&odd)?;
    check_eq(
        versions_of(&outcomes),
        vec![Some(3), None, None, Some(4)],
        "a run never begun and a run named with another agent take no version",
    )?;
    check_eq(
        &outcomes[1..3],
        &[CommitOutcome::RunNotWritable, CommitOutcome::RunNotWritable][..],
        "a run never begun, a run named with another agent",
    )?;
    check_eq(
        kit.store.clock(&b.s.agent)?,
        Version::new(4),
        "the clock after them",
    )?;
    check_eq(
        kit.store.clock(&b.other.agent)?,
        Version::new(1),
        "the other agent's clock",
    )
}

fn reads_see_the_newest_version_of_their_view(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "reads")?;
    let (run, start) = s.begin()?;
    let v1 = s.commit_ok(
        run,
        start,
        vec![
            put("p/a", "a1"),
            put("p/b", "b1"),
            put("p/c", "c1"),
            put("q", "q1"),
        ],
    )?;
    let v2 = s.commit_ok(run, start, vec![put("p/a", "a2"), delete("p/b")])?;
    let mut short = put("p/d", "d1");
    short.ttl = Some(Duration::from_millis(300));
    let v3 = s.commit_ok(run, start, vec![short])?;
    let at = |v| s.view(v, None);
    check_eq(
        s.scan_pairs(b"p/", &at(v1)?)?,
        vec![
            (bytes("p/a"), bytes("a1")),
            (bytes("p/b"), bytes("b1")),
            (bytes("p/c"), bytes("c1")),
        ],
        "a scan at the first commit",
    )?;
    check_eq(
        s.scan_pairs(b"p/", &at(v3)?)?,
        vec![
            (bytes("p/a"), bytes("a2")),
            (bytes("p/c"), bytes("c1")),
            (bytes("p/d"), bytes("d1")),
        ],
        "a scan at the last commit: deleted keys are gone",
    )?;
    let deleted = kit
        .store
        .get(&s.agent, b"p/b", &at(v3)?)?
        .ok_or_else(|| fail("a get returns a deletion"))?;
    check_eq((deleted.version, deleted.value), (v2, None), "the deletion")?;
    let with_ttl = kit
        .store
        .get(&s.agent, b"p/d", &at(v3)?)?
        .ok_or_else(|| fail("the value with a TTL"))?;
    check(
        with_ttl.expires_at.is_some(),
        "a value with a TTL has an expiry",
    )?;
    check_eq(
        kit.store.get(&s.agent, b"p/", &at(v3)?)?,
        None,
        "a get of a prefix",
    )?;
    (kit.pass_time)(Duration::from_millis(400));
    check_eq(
        s.scan_pairs(b"p/", &at(v3)?)?,
        vec![(bytes("p/a"), bytes("a2")), (bytes("p/c"), bytes("c1"))],
        "a scan after the TTL",
    )?;
    check_eq(
        s.scan_pairs(b"nothing", &at(v3)?)?,
        vec![],
        "a scan of an empty prefix",
    )?;
    check_eq(
        s.scan_pairs(b"", &at(v3)?)?.len(),
        3,
        "a scan of everything",
    )
}

fn a_lapsed_lease_interrupts_its_active_runs(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "lease")?;
    let brief = format!("{}-brief", s.host);
    kit.store.renew_lease(&brief, Duration::from_millis(300))?;
    let (run, start) = s.begin_with(&s.agent, &brief, &[], None)?;
    let (paused, paused_start) = s.begin_with(&s.agent, &brief, &[], None)?;
    kit.store.update_run(&RunUpdate {
        status: Some(StoredRunStatus::Paused),
        ..RunUpdate::new(paused, paused_start.epoch)
    })?;
    let status = |run| -> RemoteResult<StoredRunStatus> {
        Ok(kit
            .store
            .run(run)?
            .ok_or_else(|| fail("the run exists"))?
            .status)
    };
    check_eq(status(run)?, StoredRunStatus::Active, "within the lease")?;
    (kit.pass_time)(Duration::from_millis(400));
    check_eq(
        status(run)?,
        StoredRunStatus::Interrupted,
        "after the lease",
    )?;
    check_eq(
        status(paused)?,
        StoredRunStatus::Paused,
        "a paused run stays paused",
    )?;
    let interrupted = kit.store.runs(&RemoteRunQuery {
        agent: Some(s.agent.clone()),
        status: Some(StoredRunStatus::Interrupted),
        ..RemoteRunQuery::default()
    })?;
    check_eq(
        interrupted.iter().map(|r| r.run).collect::<Vec<_>>(),
        vec![run],
        "the interrupted runs",
    )?;
    check(
        matches!(
            s.begin_with(&s.agent, &brief, &[], None),
            Err(RemoteError::NoLease(_))
        ),
        "a host whose lease lapsed begins no run",
    )?;
    let taken = kit.store.take_over_run(run, &s.host)?;
    check_eq(
        taken.former_lease_left,
        Duration::ZERO,
        "the wait for a former owner whose lease ran out",
    )?;
    check_eq(status(run)?, StoredRunStatus::Active, "after a takeover")?;
    s.commit_ok(run, taken, vec![put("k", "resumed")])?;
    check_eq(
        s.commit(s.request(run, start, vec![put("k", "late")]))?,
        CommitOutcome::Fenced {
            current: taken.epoch,
        },
        "the lapsed owner's commit",
    )?;
    Ok(())
}

fn run_queries_filter_and_keep_begin_order(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "queries")?;
    let (first, _) = s.begin_with(&s.agent, &s.host, &["nightly", "eval"], None)?;
    let (second, second_start) = s.begin_with(&s.agent, &s.host, &["nightly"], Some(first))?;
    let (third, _) = s.begin_with(&s.agent, &s.host, &[], Some(first))?;
    kit.store.update_run(&RunUpdate {
        status: Some(StoredRunStatus::Completed),
        tags: Some(vec!["nightly".into(), "done".into(), "nightly".into()]),
        metadata: Some(vec![1, 2, 3]),
        ..RunUpdate::new(second, second_start.epoch)
    })?;
    let ids = |query: RemoteRunQuery| -> RemoteResult<Vec<RunId>> {
        Ok(kit
            .store
            .runs(&RemoteRunQuery {
                agent: Some(s.agent.clone()),
                ..query
            })?
            .into_iter()
            .map(|r| r.run)
            .collect())
    };
    check_eq(
        ids(RemoteRunQuery::default())?,
        vec![first, second, third],
        "the agent's runs",
    )?;
    check_eq(
        ids(RemoteRunQuery {
            tag: Some("nightly".into()),
            ..RemoteRunQuery::default()
        })?,
        vec![first, second],
        "by tag",
    )?;
    check_eq(
        ids(RemoteRunQuery {
            parent: Some(first),
            ..RemoteRunQuery::default()
        })?,
        vec![second, third],
        "by parent",
    )?;
    check_eq(
        ids(RemoteRunQuery {
            status: Some(StoredRunStatus::Active),
            limit: Some(1),
            ..RemoteRunQuery::default()
        })?,
        vec![first],
        "by status, limited",
    )?;
    let row = kit
        .store
        .run(second)?
        .ok_or_else(|| fail("the run exists"))?;
    check_eq(
        row.tags,
        vec!["done".to_owned(), "nightly".to_owned()],
        "tags, sorted and once each",
    )?;
    check_eq(row.metadata, Some(vec![1, 2, 3]), "metadata")?;
    check_eq(
        (row.parent, row.agent),
        (Some(first), s.agent.clone()),
        "lineage",
    )?;
    check_eq(kit.store.run(RunId::new())?, None, "an unknown run")
}

fn run_queries_filter_by_tenant_and_app(kit: &Kit<'_>) -> RemoteResult<()> {
    // A tenant, and an app in it, without the agent: an app whose name extends another's, and
    // a tenant whose name extends this one's, are not theirs.
    let s = Scene::new(kit, "tenants")?;
    // A fresh tenant: the scene's unique agent name.
    let tenant = s.agent.agent().to_owned();
    let in_app = AgentId::new(tenant.clone(), "app", "a");
    let (in_app_run, _) = s.begin_with(&in_app, &s.host, &[], None)?;
    let (longer_app_run, _) = s.begin_with(
        &AgentId::new(tenant.clone(), "appx", "a"),
        &s.host,
        &[],
        None,
    )?;
    let (other_tenant_run, _) = s.begin_with(
        &AgentId::new(format!("{tenant}x"), "app", "a"),
        &s.host,
        &[],
        None,
    )?;
    let by_tenant = |app: Option<&str>| -> RemoteResult<Vec<RunId>> {
        Ok(kit
            .store
            .runs(&RemoteRunQuery {
                tenant_app: Some((tenant.clone(), app.map(str::to_owned))),
                ..RemoteRunQuery::default()
            })?
            .into_iter()
            .map(|r| r.run)
            .collect())
    };
    check_eq(
        by_tenant(None)?,
        vec![in_app_run, longer_app_run],
        "by tenant",
    )?;
    check_eq(
        by_tenant(Some("app"))?,
        vec![in_app_run],
        "by tenant and app",
    )?;
    check(
        !by_tenant(None)?.contains(&other_tenant_run),
        "a tenant whose name extends another's is not that tenant",
    )?;
    Ok(())
}

fn beginning_needs_a_lease_and_a_new_id(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "begin")?;
    check(
        matches!(
            s.begin_with(&s.agent, "a-host-never-seen", &[], None),
            Err(RemoteError::NoLease(_))
        ),
        "a host without a lease begins no run",
    )?;
    let (run, _) = s.begin()?;
    let again = kit
        .store
        .begin_run(&BeginRun::new(s.agent.clone(), run, s.host.clone()));
    check(
        matches!(again, Err(RemoteError::RunExists(r)) if r == run),
        "an id in use",
    )?;
    check(
        matches!(
            kit.store.take_over_run(RunId::new(), &s.host),
            Err(RemoteError::NoSuchRun(_))
        ),
        "taking over an unknown run",
    )
}

/// A begin or an end sent again after a lost answer (the same request) answers as the first
/// send did, and makes no second change; another request for the same run is still refused.
fn run_changes_sent_again_are_made_once(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "resend")?;
    let run = RunId::new();
    let begin = BeginRun::new(s.agent.clone(), run, s.host.clone());
    let first = kit.store.begin_run(&begin)?;
    let (other, other_start) = s.begin()?;
    s.commit_ok(other, other_start, vec![put("k", "moves the clock")])?;
    check_eq(
        kit.store.begin_run(&begin)?,
        first,
        "the same begin sent again (the first snapshot, epoch 1)",
    )?;
    check(
        matches!(
            kit.store.begin_run(&BeginRun::new(s.agent.clone(), run, s.host.clone())),
            Err(RemoteError::RunExists(r)) if r == run
        ),
        "another begin of the same run",
    )?;
    let end = RunUpdate {
        status: Some(StoredRunStatus::Completed),
        ..RunUpdate::new(run, first.epoch)
    };
    let ended = kit.store.update_run(&end)?;
    let again = kit.store.update_run(&end)?;
    check_eq(
        again.status,
        StoredRunStatus::Completed,
        "the end sent again",
    )?;
    check_eq(
        again.ended_at,
        ended.ended_at,
        "an end sent again changes nothing",
    )?;
    check(
        matches!(
            kit.store.update_run(&RunUpdate {
                status: Some(StoredRunStatus::Failed),
                ..RunUpdate::new(run, first.epoch)
            }),
            Err(RemoteError::RunEnded {
                status: StoredRunStatus::Completed,
                ..
            })
        ),
        "an ended run takes no other end",
    )?;
    // Once the run has changed (ended here), its begin sent again is no longer "begun".
    check(
        matches!(kit.store.begin_run(&begin), Err(RemoteError::RunExists(r)) if r == run),
        "the same begin sent again after the run ended",
    )
}

/// A new agent's run, commit and versions show in the counts, one for one.
fn stats_count_what_was_written(kit: &Kit<'_>) -> RemoteResult<()> {
    let before = kit.store.stats()?;
    let s = Scene::new(kit, "stats")?;
    let (run, start) = s.begin()?;
    s.commit_ok(run, start, vec![put("a", "1"), put("b", "2")])?;
    s.commit_ok(run, start, vec![put("a", "3")])?;
    let after = kit.store.stats()?;
    check_eq(after.agents, before.agents + 1, "agents")?;
    check_eq(after.commits, before.commits + 2, "commits")?;
    check_eq(after.versions, before.versions + 3, "versions")?;
    check_eq(after.keys, before.keys + 2, "keys")?;
    check_eq(after.total_runs(), before.total_runs() + 1, "runs")?;
    let active = |stats: &StoreStats| {
        stats
            .runs
            .iter()
            .find(|(status, _)| *status == StoredRunStatus::Active)
            .map_or(0, |(_, n)| *n)
    };
    check_eq(active(&after), active(&before) + 1, "active runs")?;
    check(after.live_hosts >= 1, "the scene's host holds a lease")?;
    check(
        after.bytes.is_none_or(|bytes| bytes > 0),
        "bytes on disk, where told",
    )
}
