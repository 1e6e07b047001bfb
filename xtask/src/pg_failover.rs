//! The failover drill (part of `cargo xtask pg-test`): writers commit through `PgStore` with
//! `synchronous_commit = on` to a primary that has a synchronous standby; at a seeded moment the
//! primary is killed with SIGKILL and the standby promoted; the writers reconnect (their URL
//! names both servers, `target_session_attrs=read-write`) and go on. Then every acknowledged
//! commit must be on the promoted server with its value, at the version it was acknowledged
//! at; each agent's versions must be dense; and each commit must be there once, however often
//! it was resent while its outcome was unknown.
//!
//! `INMEM_FAILOVER_SEED=<n>` repeats a drill (the seed picks the moment of the kill).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use in_mem_core_types::{AgentId, RunId, Version};
use in_mem_engine::remote::{
    BeginRun, CommitId, CommitOutcome, CommitRequest, RemoteError, RemoteStore, RemoteWrite,
};
use in_mem_pg::{PgOptions, PgStore, SynchronousCommit};

use crate::pg::Cluster;

const WRITERS: usize = 4;
/// Commits each writer makes after the promotion before the drill ends.
const AFTER_PROMOTION: u64 = 20;
/// How long a writer keeps resending one commit before the drill fails.
const OUTAGE_LIMIT: Duration = Duration::from_mins(1);
const HOST: &str = "failover-drill";

/// What one writer had acknowledged.
struct Acknowledged {
    agent: AgentId,
    /// (sequence number, version) of each acknowledged commit, in order.
    commits: Vec<(u64, Version)>,
    /// Sends whose outcome was unknown (or the server unreachable), resent under the same id.
    unknown: u64,
}

pub fn drill() -> Result<(), String> {
    let seed = seed("INMEM_FAILOVER_SEED")?;
    let kill_after = Duration::from_millis(300 + seed % 1_200);
    eprintln!("failover drill: seed {seed} (INMEM_FAILOVER_SEED={seed} repeats it)");
    let (primary, standby, url) = synchronous_pair("primary")?;
    let store = Arc::new(
        PgStore::connect(
            &url,
            &PgOptions {
                schema: Some("drill".into()),
                application_name: "inmem-failover-drill".into(),
                connections: WRITERS,
                synchronous_commit: SynchronousCommit::On,
                request_timeout: Duration::from_secs(5),
                ..PgOptions::default()
            },
        )
        .map_err(|e| format!("connect: {e}"))?,
    );
    store
        .renew_lease(HOST, Duration::from_mins(10))
        .map_err(|e| format!("lease: {e}"))?;

    let promoted = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, promoted) = (Arc::clone(&store), Arc::clone(&promoted));
            std::thread::spawn(move || write(&*store, i, &promoted))
        })
        .collect();

    std::thread::sleep(kill_after);
    primary.kill()?;
    let killed = Instant::now();
    standby.promote()?;
    let promotion = killed.elapsed();
    promoted.store(true, Ordering::SeqCst);

    let mut results = Vec::new();
    for writer in writers {
        results.push(
            writer
                .join()
                .map_err(|_| "a writer panicked".to_owned())??,
        );
    }
    let acknowledged: usize = results.iter().map(|r| r.commits.len()).sum();
    let unknown: u64 = results.iter().map(|r| r.unknown).sum();
    for result in &results {
        check(&*store, result)?;
    }
    eprintln!(
        "failover drill passed: seed {seed}; 1 SIGKILL of the primary {} ms into the load, \
         promotion of the synchronous standby in {} ms; {acknowledged} acknowledged Strict \
         commits by {WRITERS} writers checked on the promoted server, {unknown} sends with an \
         unknown outcome resent by commit id; lost: 0, applied twice: 0",
        kill_after.as_millis(),
        promotion.as_millis()
    );
    drop(store);
    drop(standby);
    drop(primary);
    Ok(())
}

/// A primary named `name` with a synchronous standby, and a URL that names both (so that a
/// client reconnects to whichever of them takes writes).
pub fn synchronous_pair(name: &str) -> Result<(Cluster, Cluster, String), String> {
    let primary = Cluster::start(name)?;
    let (standby, url) = synchronous_standby(&primary, "s1")?;
    Ok((primary, standby, url))
}

/// A new standby of `primary` named `name`, made its synchronous standby (the only one), and a
/// URL that names both. The crash test's failover chain (`crash/failover.rs`) calls it again on
/// each promoted standby: the base backup is taken before the primary names its synchronous
/// standby, so the new standby does not inherit that setting, and once promoted it takes
/// commits without a standby of its own, as the drills' promoted servers do.
pub fn synchronous_standby(primary: &Cluster, name: &str) -> Result<(Cluster, String), String> {
    let standby = Cluster::standby_of(primary, name)?;
    primary.psql(&[
        &format!("ALTER SYSTEM SET synchronous_standby_names = '{name}'"),
        "SELECT pg_reload_conf()",
    ])?;
    wait_for(
        Duration::from_secs(30),
        "the standby to be synchronous",
        || {
            primary
                .psql(&[&format!(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
                )])
                .is_ok_and(|state| state == "sync")
        },
    )?;
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    Ok((standby, url))
}

/// The seed of a drill: `variable`'s value, or one from the clock.
pub fn seed(variable: &str) -> Result<u64, String> {
    match std::env::var(variable) {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("{variable}={text:?} is not a number")),
        Err(_) => Ok(u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        )),
    }
}

/// One writer: its own agent and run, one commit at a time, each resent under the same commit
/// id until it is acknowledged.
fn write(
    store: &dyn RemoteStore,
    index: usize,
    promoted: &AtomicBool,
) -> Result<Acknowledged, String> {
    let agent = AgentId::new("drill", "failover", format!("writer-{index}"));
    let run = RunId::new();
    let start = store
        .begin_run(&BeginRun::new(agent.clone(), run, HOST))
        .map_err(|e| format!("writer {index}: begin: {e}"))?;
    let mut done = Acknowledged {
        agent: agent.clone(),
        commits: Vec::new(),
        unknown: 0,
    };
    let mut made_after = 0;
    for seq in 1.. {
        if made_after >= AFTER_PROMOTION {
            break;
        }
        let request = CommitRequest {
            agent: agent.clone(),
            run,
            epoch: start.epoch,
            commit: CommitId::new(),
            writes: vec![RemoteWrite::put(key(seq), value(index, seq))],
        };
        let since = Instant::now();
        let version = loop {
            match store.commit_batch(std::slice::from_ref(&request)) {
                Ok(outcomes) => match outcomes.first() {
                    Some(
                        CommitOutcome::Committed { version, .. }
                        | CommitOutcome::AlreadyCommitted { version },
                    ) => break *version,
                    other => return Err(format!("writer {index}: commit {seq}: {other:?}")),
                },
                Err(RemoteError::OutcomeUnknown(_) | RemoteError::Unavailable(_))
                    if since.elapsed() < OUTAGE_LIMIT =>
                {
                    done.unknown += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(format!("writer {index}: commit {seq}: {e}")),
            }
        };
        done.commits.push((seq, version));
        if promoted.load(Ordering::SeqCst) {
            made_after += 1;
        }
    }
    Ok(done)
}

/// Every acknowledged commit is there, once, with its value, at its version; nothing else is.
fn check(store: &dyn RemoteStore, acked: &Acknowledged) -> Result<(), String> {
    let agent = &acked.agent;
    let clock = store
        .clock(agent)
        .map_err(|e| format!("{agent}: clock: {e}"))?;
    let stored = store
        .catch_up(agent, Version::ZERO, clock)
        .map_err(|e| format!("{agent}: catch-up: {e}"))?;
    stored
        .check_dense(agent, Version::ZERO, clock)
        .map_err(|e| e.to_string())?;
    if stored.commits.len() != acked.commits.len() {
        return Err(format!(
            "{agent}: {} commits acknowledged, {} stored (a lost or a doubled commit)",
            acked.commits.len(),
            stored.commits.len()
        ));
    }
    let index: usize = agent
        .agent()
        .trim_start_matches("writer-")
        .parse()
        .map_err(|_| format!("{agent}: not a writer's agent"))?;
    for (seq, version) in &acked.commits {
        let row = stored
            .versions
            .iter()
            .find(|v| v.version == *version)
            .ok_or_else(|| format!("{agent}: acknowledged commit {seq} at {version} is lost"))?;
        if row.key != key(*seq) || row.value.as_deref() != Some(value(index, *seq).as_slice()) {
            return Err(format!(
                "{agent}: version {version} holds another write than acknowledged commit {seq}"
            ));
        }
    }
    Ok(())
}

fn key(seq: u64) -> Vec<u8> {
    format!("k{seq:08}").into_bytes()
}

fn value(writer: usize, seq: u64) -> Vec<u8> {
    format!("writer {writer} commit {seq}").into_bytes()
}

pub fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            return Err(format!("gave up waiting for {what} after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
