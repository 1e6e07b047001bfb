//! The oracle in shared mode, fed synthetic logs: versions are per agent (a thread's versions
//! increase only within an agent, a key is compared with its agent's newest version), calls
//! that return no version are placed by the promise alone, there is no recovery report, and
//! an agent's newest version never goes back.

use super::*;

impl Log {
    /// A shared-mode begin of `run` in `agent`: it returns no version (`AckVersion::Unbounded`).
    fn begin_shared(&mut self, thread: u16, agent: AgentIdx, run: RunId) -> OpId {
        self.push(
            thread,
            Op::Begin {
                agent,
                how: BeginHow::In,
            },
            Some((AckVersion::Unbounded, AckResult::Run(run))),
        )
    }

    /// A put of `key` in `agent` through `run`, acknowledged at `version` (`None`: in flight).
    fn put_in(
        &mut self,
        thread: u16,
        run: RunId,
        agent: AgentIdx,
        key: &str,
        version: Option<u64>,
    ) -> OpId {
        self.push(
            thread,
            Op::Put {
                run,
                agent,
                key: key.to_owned(),
                payload: Payload::Bytes(40),
                ttl_ms: None,
            },
            version.map(|v| (AckVersion::Exact(v), AckResult::Nothing)),
        )
    }
}

/// What the check found in shared mode: each agent's newest version, no recovery report.
fn shared_observed(versions: &[(AgentIdx, u64)]) -> Observed {
    let versions: AgentVersions = versions.iter().copied().collect();
    let mut obs = observed(versions.values().copied().max().unwrap_or(0));
    obs.agent_versions = Some(versions.clone());
    obs.final_agent_versions = versions;
    obs
}

/// One thread, two runs in agents 1 and 2: puts at versions 7 (agent 1), 3 (agent 2) and 8
/// (agent 1), all acknowledged.
fn two_agents() -> (Log, [OpId; 3]) {
    let mut log = Log::new();
    let (first, second) = (run_id(1), run_id(2));
    log.begin_shared(0, 1, first);
    log.begin_shared(0, 2, second);
    let a = log.put_in(0, first, 1, "t0/a", Some(7));
    let b = log.put_in(0, second, 2, "t0/b", Some(3));
    let c = log.put_in(0, first, 1, "t0/c", Some(8));
    (log, [a, b, c])
}

/// Everything of `two_agents` there, its runs Interrupted (their host's lease ran out).
fn all_of_two_agents(log: &Log, [a, b, c]: [OpId; 3]) -> Observed {
    let mut obs = shared_observed(&[(1, 8), (2, 3)]);
    obs.kv.insert((1, "t0/a".to_owned()), stored_of(log, a, 7));
    obs.kv.insert((2, "t0/b".to_owned()), stored_of(log, b, 3));
    obs.kv.insert((1, "t0/c".to_owned()), stored_of(log, c, 8));
    obs.runs.insert(run_id(1), interrupted(1));
    obs.runs.insert(run_id(2), interrupted(2));
    obs
}

#[test]
fn versions_need_only_increase_within_an_agent() {
    let (log, ops) = two_agents();
    let obs = all_of_two_agents(&log, ops);
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_passes(&verdict);
    assert_eq!(verdict.acked_commits, 5);
    assert_eq!(verdict.next_base.agent_versions, obs.final_agent_versions);
    // The same versions from one counter (embedded mode) go back: 7, then 3.
    let mut embedded = obs;
    embedded.agent_versions = None;
    embedded.interrupted = vec![run_id(1), run_id(2)];
    let verdict = check(&lossless(), &State::default(), &log.records, &embedded);
    assert_fails(&verdict, "not above its thread's previous commit");
}

#[test]
fn a_put_above_its_agents_newest_version_is_a_lost_commit() {
    let (log, ops) = two_agents();
    // Agent 2 ends at version 2: the put acknowledged at 3 is not there.
    let mut obs = all_of_two_agents(&log, ops);
    obs.kv.remove(&(2, "t0/b".to_owned()));
    obs.agent_versions = Some([(1, 8), (2, 2)].into_iter().collect());
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "acknowledged commits lost");
    assert_eq!(verdict.lost, 1);
}

#[test]
fn a_key_is_compared_with_its_own_agents_newest_version() {
    let (log, ops) = two_agents();
    // Agent 2's key reads at version 3 while agent 2 is said to be at 2 (the highest version
    // of any agent, 8, would hide it).
    let mut obs = all_of_two_agents(&log, ops);
    obs.agent_versions = Some([(1, 8), (2, 2)].into_iter().collect());
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "above its agent's newest version 2");
}

#[test]
fn an_acknowledged_call_without_a_version_must_be_there() {
    let (mut log, ops) = two_agents();
    log.push(
        0,
        Op::End { run: run_id(2) },
        Some((AckVersion::Unbounded, AckResult::Nothing)),
    );
    // The end was acknowledged, but the run reads Interrupted.
    let obs = all_of_two_agents(&log, ops);
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "no prefix of its operations explains");
    // In flight at the kill, either is right.
    let mut in_flight = Log {
        records: log.records[..5].to_vec(),
        line: log.line,
    };
    in_flight.push(0, Op::End { run: run_id(2) }, None);
    assert_passes(&check(
        &lossless(),
        &State::default(),
        &in_flight.records,
        &obs,
    ));
    let mut ended = obs;
    ended.runs.get_mut(&run_id(2)).expect("listed").status = RunStatus::Completed;
    assert_passes(&check(
        &lossless(),
        &State::default(),
        &in_flight.records,
        &ended,
    ));
}

#[test]
fn a_run_still_active_after_its_hosts_lease_fails() {
    let (log, ops) = two_agents();
    let mut obs = all_of_two_agents(&log, ops);
    obs.runs.get_mut(&run_id(1)).expect("listed").status = RunStatus::Active;
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "is active after recovery");
}

#[test]
fn an_agents_newest_version_never_goes_back() {
    let base = State {
        agent_versions: [(1, 10)].into_iter().collect(),
        ..State::default()
    };
    let obs = shared_observed(&[(1, 9)]);
    let verdict = check(&lossless(), &base, &[], &obs);
    assert_fails(&verdict, "below the 10 the previous check left");
}

#[test]
fn a_begin_made_again_through_an_outage_may_leave_the_run_of_its_failed_try() {
    // `--failover`: the begin failed once with the store out of reach, then returned run 1.
    let (mut log, ops) = two_agents();
    log.records[0].retries = 1;
    let mut obs = all_of_two_agents(&log, ops);
    // The failed try's run, registered before its answer was lost, Interrupted with its host.
    let stranger = run_id(9);
    obs.runs.insert(stranger, interrupted(1));
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));
    // Not without the failed try, not of another agent, and one run per failed try.
    let mut once = log.records.clone();
    once[0].retries = 0;
    assert_fails(
        &check(&lossless(), &State::default(), &once, &obs),
        "never begun",
    );
    obs.runs.insert(stranger, interrupted(2));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "never begun",
    );
    obs.runs.insert(stranger, interrupted(1));
    obs.runs.insert(run_id(10), interrupted(1));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "never begun",
    );
}
