//! The conformance checks of garbage collection: what a collection keeps (views at or above its
//! horizon, a run's newest writes, forks' parents' writes, the policy's windows) and what it
//! records (the horizon catch-ups report, forks refused below it).

use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Version};

use super::{Kit, LEASE, Scene, bytes, check, check_eq, fail, put};
use crate::types::{BeginRun, GcPolicy, GcReport, RemoteError, RemoteResult, RemoteView, RunStart};

/// The policy that keeps the least a collection may: no time windows, each key's newest version,
/// and an Interrupted run's view for `interrupted_grace`.
fn keeping_least(interrupted_grace: Duration) -> GcPolicy {
    GcPolicy {
        keep_for: Duration::ZERO,
        ended_retention: Duration::ZERO,
        keep_min_versions: 1,
        interrupted_grace,
    }
}

/// A collection of `agent` under `policy`, which nobody else is running.
fn collect(kit: &Kit<'_>, agent: &AgentId, policy: &GcPolicy) -> RemoteResult<GcReport> {
    kit.store
        .collect_garbage(agent, policy)?
        .ok_or_else(|| fail("nobody else is collecting this agent"))
}

pub(super) fn garbage_collection_changes_no_answer_at_or_above_the_horizon(
    kit: &Kit<'_>,
) -> RemoteResult<()> {
    let s = Scene::new(kit, "gc")?;
    let policy = keeping_least(Duration::ZERO);
    // The first run writes a twice, then k twice, and is forked between its two writes of k.
    let (first, first_start) = s.begin()?;
    s.commit_ok(first, first_start, vec![put("a", "1"), put("b", "1")])?;
    s.commit_ok(first, first_start, vec![put("a", "2")])?;
    let v1 = s.commit_ok(first, first_start, vec![put("k", "1")])?;
    let fork = RunId::new();
    let fork_start = kit.store.begin_run(&BeginRun {
        parent: Some(first),
        fork_point: Some(v1),
        ..BeginRun::new(s.agent.clone(), fork, s.host.clone())
    })?;
    s.commit_ok(first, first_start, vec![put("k", "2")])?;
    s.end(fork, fork_start)?;
    s.end(first, first_start)?;
    // A later run overwrites a; the newest run is live, and pins the horizon at its snapshot.
    let (second, second_start) = s.begin()?;
    s.commit_ok(second, second_start, vec![put("a", "3")])?;
    s.end(second, second_start)?;
    let (live, live_start) = s.begin()?;
    let horizon = live_start.snapshot;
    let keys = ["a", "b", "k"];
    let answers = |view: RemoteView| -> RemoteResult<Vec<Option<Vec<u8>>>> {
        keys.iter()
            .map(|k| s.value_of(k.as_bytes(), &view))
            .collect::<RemoteResult<_>>()
    };
    let views = || -> RemoteResult<Vec<RemoteView>> {
        Ok(vec![
            s.view(horizon, Some(live))?,
            // Ended runs, past any retention: their own data stays readable.
            s.view(first_start.snapshot, Some(first))?,
            s.view(second_start.snapshot, Some(second))?,
        ])
    };
    let before = views()?
        .into_iter()
        .map(&answers)
        .collect::<RemoteResult<Vec<_>>>()?;
    let report = collect(kit, &s.agent, &policy)?;
    check_eq(
        report.horizon,
        horizon,
        "the horizon: the live run's snapshot",
    )?;
    // a@1 goes (superseded, its run wrote a again before the fork point); a@2 stays (its
    // run's newest write), k@1 stays (the fork, forked right after it, reads it), b@1 and
    // k@2 are newest.
    check_eq(report.removed, 1, "versions removed")?;
    let after = views()?
        .into_iter()
        .map(&answers)
        .collect::<RemoteResult<Vec<_>>>()?;
    check_eq(
        after,
        before,
        "answers of the live run and of ended runs' own data",
    )?;
    check_eq(
        s.value_of(b"k", &s.view(first_start.snapshot, Some(first))?)?,
        Some(bytes("2")),
        "the forked run's newest k",
    )?;
    let caught = kit.store.catch_up(&s.agent, Version::ZERO, horizon)?;
    check_eq(caught.gc_horizon, horizon, "a catch-up reports the horizon")?;
    check_eq(
        kit.store
            .collect_garbage(&s.agent, &policy)?
            .map(|r| r.removed),
        Some(0),
        "a second collection at the same horizon",
    )?;
    // A fork of a run whose lineage began below the horizon would read collected history.
    check(
        matches!(
            kit.store.begin_run(&BeginRun {
                parent: Some(first),
                fork_point: Some(v1),
                ..BeginRun::new(s.agent.clone(), RunId::new(), s.host.clone())
            }),
            Err(RemoteError::ForkPruned { parent, .. }) if parent == first
        ),
        "a fork below the horizon is refused",
    )?;
    // A fork of the live run (its lineage at the horizon) is not.
    kit.store.begin_run(&BeginRun {
        parent: Some(live),
        fork_point: Some(horizon),
        ..BeginRun::new(s.agent.clone(), RunId::new(), s.host.clone())
    })?;
    Ok(())
}

/// Each part of a collection policy holds the horizon back on its own: ended runs within their
/// retention, commits younger than `keep_for`, and `keep_min_versions` versions of each key.
pub(super) fn collections_keep_what_the_policy_keeps(kit: &Kit<'_>) -> RemoteResult<()> {
    let s = Scene::new(kit, "policy")?;
    // k@1 is collectable only at a horizon of 3 or more: its run wrote k again (k@2), and
    // k@3 (another run's) is at or below such a horizon.
    let (first, first_start) = s.begin()?;
    s.commit_ok(first, first_start, vec![put("k", "1")])?;
    s.commit_ok(first, first_start, vec![put("k", "2")])?;
    s.end(first, first_start)?;
    let (second, second_start) = s.begin()?;
    s.commit_ok(second, second_start, vec![put("k", "3")])?;
    s.end(second, second_start)?;
    let (_live, live_start) = s.begin()?;
    let collect_under = |keep_for: u64, retention: u64, keep_min: u32| {
        let policy = GcPolicy {
            keep_for: Duration::from_secs(keep_for),
            ended_retention: Duration::from_secs(retention),
            keep_min_versions: keep_min,
            interrupted_grace: Duration::ZERO,
        };
        collect(kit, &s.agent, &policy)
    };
    let within_retention = collect_under(0, 3600, 1)?;
    check_eq(
        (within_retention.horizon, within_retention.removed),
        (first_start.snapshot, 0),
        "ended runs within their retention hold the horizon at the oldest one's snapshot",
    )?;
    let young = collect_under(3600, 0, 1)?;
    check_eq(young.removed, 0, "commits younger than keep_for")?;
    let three = collect_under(0, 0, 3)?;
    check_eq(
        (three.horizon, three.removed),
        (live_start.snapshot, 0),
        "three versions of k kept",
    )?;
    check_eq(
        collect_under(0, 0, 1)?.removed,
        1,
        "k@1 once nothing keeps it",
    )
}

/// A fork of a fork reads its grandparent up to the lower of the two fork points: that write
/// stays though neither fork point alone keeps it.
pub(super) fn a_fork_of_a_fork_keeps_what_it_reads_of_its_grandparent(
    kit: &Kit<'_>,
) -> RemoteResult<()> {
    let s = Scene::new(kit, "forks")?;
    let fork = |parent: RunId, point: Version| -> RemoteResult<(RunId, RunStart)> {
        let run = RunId::new();
        let start = kit.store.begin_run(&BeginRun {
            parent: Some(parent),
            fork_point: Some(point),
            ..BeginRun::new(s.agent.clone(), run, s.host.clone())
        })?;
        Ok((run, start))
    };
    let (root, root_start) = s.begin()?;
    s.commit_ok(root, root_start, vec![put("k", "1")])?;
    let read_by_grandchild = s.commit_ok(root, root_start, vec![put("k", "2")])?;
    let v3 = s.commit_ok(root, root_start, vec![put("k", "3")])?;
    let (child, child_start) = fork(root, v3)?;
    // Forked from the child at a point below the child's own fork point: it reads k@2.
    let (grandchild, grandchild_start) = fork(child, read_by_grandchild)?;
    s.commit_ok(root, root_start, vec![put("k", "4")])?;
    for (run, start) in [
        (grandchild, grandchild_start),
        (child, child_start),
        (root, root_start),
    ] {
        s.end(run, start)?;
    }
    s.begin()?;
    collect(kit, &s.agent, &keeping_least(Duration::ZERO))?;
    let clock = kit.store.clock(&s.agent)?;
    let left: Vec<Version> = kit
        .store
        .catch_up(&s.agent, Version::ZERO, clock)?
        .versions
        .iter()
        .filter(|v| v.key == bytes("k"))
        .map(|v| v.version)
        .collect();
    check(
        left.contains(&read_by_grandchild),
        "the grandparent's write the fork of a fork reads",
    )
}

/// An Interrupted run (its owner's lease ran out) holds the horizon at its snapshot for its
/// grace, counted from when the lease ran out, and no longer: a host that died and never came
/// back does not keep its agents' superseded versions forever.
pub(super) fn an_interrupted_run_holds_the_horizon_for_its_grace_only(
    kit: &Kit<'_>,
) -> RemoteResult<()> {
    let s = Scene::new(kit, "interrupted")?;
    let gone = format!("{}-gone", s.host);
    kit.store.renew_lease(&gone, LEASE)?;
    // k@1 is collectable once nothing reads below k@2: the run that reads it is the other
    // host's, begun between the two.
    let (writer, writer_start) = s.begin()?;
    s.commit_ok(writer, writer_start, vec![put("k", "1")])?;
    let (_stuck, stuck_start) = s.begin_with(&s.agent, &gone, &[], None)?;
    s.commit_ok(writer, writer_start, vec![put("k", "2")])?;
    s.end(writer, writer_start)?;
    let (_live, live_start) = s.begin()?;
    // The other host's lease runs out now.
    kit.store.renew_lease(&gone, Duration::from_millis(1))?;
    (kit.pass_time)(Duration::from_millis(20));
    let within = collect(kit, &s.agent, &keeping_least(Duration::from_secs(3600)))?;
    check_eq(
        (within.horizon, within.removed),
        (stuck_start.snapshot, 0),
        "an Interrupted run within its grace holds the horizon at its snapshot",
    )?;
    let past = collect(kit, &s.agent, &keeping_least(Duration::ZERO))?;
    check_eq(
        (past.horizon, past.removed),
        (live_start.snapshot, 1),
        "an Interrupted run past its grace holds nothing: k@1 goes",
    )
}
