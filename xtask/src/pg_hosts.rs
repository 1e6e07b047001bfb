//! The two-host drill (part of `cargo xtask pg-test`): two processes share one agent's memory
//! through `Database::connect` on a private PostgreSQL, each committing `Strict` puts in a run
//! of its own and printing each acknowledgement; one of them is killed with SIGKILL at a seeded
//! moment. Then, from a third connection:
//! - every acknowledged commit of both hosts is there with its value (a run begun now sees it),
//!   and the killed host's commit in flight is there at most once;
//! - the surviving host's run saw exactly the killed host's commits at or below its snapshot
//!   (runs of different processes are isolated as runs of one are);
//! - the killed host's run becomes Interrupted once its lease runs out, is taken over, reads its
//!   former owner's writes as its own, takes a write and ends.
//!
//! `INMEM_HOSTS_SEED=<n>` repeats a drill (the seed picks how many commits the killed host
//! makes first). The hosts are this program again (`cargo xtask pg-host`, not for humans).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use in_mem::remote::{RemoteStore, StoredRunStatus};
use in_mem::{AgentId, Database, DurabilityMode, RemoteOptions, RunId, RunStatus};
use in_mem_pg::{PgOptions, PgStore};

use crate::pg::Cluster;

const SCHEMA: &str = "hosts";
/// The hosts' lease: short, so the drill sees the killed host's run interrupted soon.
const LEASE: Duration = Duration::from_secs(1);
/// Commits the surviving host makes.
const SURVIVOR_COMMITS: u64 = 400;

fn agent() -> AgentId {
    AgentId::new("tenant", "drill", "shared")
}

/// One host's stdout as the drill read it: its run, and each acknowledged commit.
#[derive(Default)]
struct Heard {
    run: Option<(RunId, u64)>,
    /// sequence -> version
    acks: BTreeMap<u64, u64>,
    done: bool,
}

pub fn drill() -> Result<(), String> {
    let seed = crate::pg_failover::seed("INMEM_HOSTS_SEED")?;
    let kill_after = 50 + seed % 250;
    eprintln!("two-host drill: seed {seed} (INMEM_HOSTS_SEED={seed} repeats it)");
    let cluster = Cluster::start("hosts")?;
    let url = cluster.url();
    let result = run_drill(&url, kill_after);
    if result.is_err() {
        eprintln!("server log:\n{}", cluster.log_tail());
    }
    result
}

fn run_drill(url: &str, kill_after: u64) -> Result<(), String> {
    let (a, b, killed_at) = run_hosts(url, kill_after)?;
    let verifier = Database::connect(options(url, "verifier"))
        .map_err(|e| format!("the verifier cannot connect: {e}"))?;
    let checked = check_commits(&verifier, &a, &b)?;
    let interrupted_after = check_takeover(url, &verifier, &a, killed_at)?;
    eprintln!(
        "two-host drill passed: host a SIGKILLed after {} acknowledged Strict commits (its \
         commit in flight {}), host b {} beside it; lost: 0; host b's run (snapshot {}) saw \
         exactly the {} of host a's commits at or below it; host a's run Interrupted {:.1} s \
         after the kill (lease {LEASE:?}), taken over, written and ended by another host",
        a.acks.len(),
        if checked.in_flight_landed {
            "landed"
        } else {
            "did not land"
        },
        b.acks.len(),
        checked.snapshot_b,
        checked.seen_by_b,
        interrupted_after.as_secs_f64(),
    );
    Ok(())
}

/// Runs both hosts, kills host a after `kill_after` acknowledgements, waits for host b to
/// finish, and returns what each printed and when host a died.
fn run_hosts(url: &str, kill_after: u64) -> Result<(Heard, Heard, Instant), String> {
    let (mut victim, victim_heard) = spawn_host(url, "host-a", 0)?;
    wait_for(Duration::from_mins(1), "host a's first commits", || {
        lock(&victim_heard).acks.len() >= 10
    })?;
    let (mut survivor, survivor_heard) = spawn_host(url, "host-b", SURVIVOR_COMMITS)?;
    wait_for(Duration::from_mins(1), "host a's commits", || {
        lock(&victim_heard).acks.len() as u64 >= kill_after
    })?;
    victim
        .kill()
        .map_err(|e| format!("cannot kill host a: {e}"))?;
    victim.wait().map_err(|e| format!("host a: {e}"))?;
    let killed_at = Instant::now();
    let status = survivor.wait().map_err(|e| format!("host b: {e}"))?;
    if !status.success() {
        return Err(format!("host b failed ({status})"));
    }
    // What host a printed before it died is all it acknowledged (the reader has drained it).
    std::thread::sleep(Duration::from_millis(200));
    let a = std::mem::take(&mut *lock(&victim_heard));
    let b = std::mem::take(&mut *lock(&survivor_heard));
    if !b.done || b.acks.len() as u64 != SURVIVOR_COMMITS {
        return Err(format!(
            "host b acknowledged {} commits and did not finish",
            b.acks.len()
        ));
    }
    Ok((a, b, killed_at))
}

/// What `check_commits` found.
struct Checked {
    in_flight_landed: bool,
    snapshot_b: u64,
    seen_by_b: usize,
}

/// Every acknowledged commit is there; host b's run saw exactly host a's commits at or below
/// its snapshot; no version was given twice.
fn check_commits(verifier: &Database, a: &Heard, b: &Heard) -> Result<Checked, String> {
    let (_, snapshot_b) = b.run.ok_or("host b never reported its run")?;
    let fresh = verifier
        .begin_run_in(&agent())
        .map_err(|e| format!("begin a run: {e}"))?;
    let mut missing = 0;
    for (host, heard) in [("host-a", a), ("host-b", b)] {
        for &sequence in heard.acks.keys() {
            let found = get(verifier, fresh, &key(host, sequence))?;
            if found != Some(sequence.to_string().into_bytes()) {
                missing += 1;
                eprintln!("{host} commit {sequence} was acknowledged but reads {found:?}");
            }
        }
    }
    // Host a's commit in flight at the kill may have landed, once; nothing beyond it.
    let in_flight = a.acks.keys().max().map_or(0, |newest| newest + 1);
    let in_flight_landed = get(verifier, fresh, &key("host-a", in_flight))?.is_some();
    if get(verifier, fresh, &key("host-a", in_flight + 1))?.is_some() {
        return Err(format!(
            "host a's commit {} is stored though host a was killed before it began it",
            in_flight + 1
        ));
    }
    let (run_b, _) = b.run.ok_or("host b never reported its run")?;
    let mut isolation_breaks = 0;
    for (&sequence, &version) in &a.acks {
        let seen = get(verifier, run_b, &key("host-a", sequence))?.is_some();
        if seen != (version <= snapshot_b) {
            isolation_breaks += 1;
            eprintln!(
                "host b's run (snapshot {snapshot_b}) {} host a's commit at version {version}",
                if seen { "sees" } else { "misses" }
            );
        }
    }
    let versions: Vec<u64> = a.acks.values().chain(b.acks.values()).copied().collect();
    let mut distinct = versions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != versions.len() {
        return Err("two acknowledged commits share a version".into());
    }
    if missing > 0 || isolation_breaks > 0 {
        return Err(format!(
            "two-host drill failed: lost {missing}, isolation broken {isolation_breaks} times"
        ));
    }
    Ok(Checked {
        in_flight_landed,
        snapshot_b,
        seen_by_b: a.acks.values().filter(|&&v| v <= snapshot_b).count(),
    })
}

/// Host a's lease runs out: its run is Interrupted, and the verifier takes it over, reads its
/// former owner's newest write, writes and ends it. Returns how long after the kill the run
/// was reported Interrupted.
fn check_takeover(
    url: &str,
    verifier: &Database,
    a: &Heard,
    killed_at: Instant,
) -> Result<Duration, String> {
    let (run_a, _) = a.run.ok_or("host a never reported its run")?;
    let store = PgStore::connect(
        url,
        &PgOptions {
            schema: Some(SCHEMA.into()),
            ..PgOptions::default()
        },
    )
    .map_err(|e| format!("connect to the store: {e}"))?;
    wait_for(
        Duration::from_secs(30),
        "host a's run to be interrupted",
        || {
            store
                .run(run_a)
                .is_ok_and(|row| row.is_some_and(|r| r.status == StoredRunStatus::Interrupted))
        },
    )?;
    let interrupted_after = killed_at.elapsed();
    verifier
        .take_over_run(run_a)
        .map_err(|e| format!("take over host a's run: {e}"))?;
    let newest = *a.acks.keys().max().ok_or("host a acknowledged nothing")?;
    if get(verifier, run_a, &key("host-a", newest))? != Some(newest.to_string().into_bytes()) {
        return Err("the run taken over does not read its former owner's newest write".into());
    }
    verifier
        .put(run_a, b"taken-over", b"yes")
        .map_err(|e| format!("write to the run taken over: {e}"))?;
    verifier
        .end_run(run_a)
        .map_err(|e| format!("end the run taken over: {e}"))?;
    let ended = Database::connect(options(url, "checker"))
        .and_then(|db| db.run_info(run_a))
        .map_err(|e| format!("read host a's run from another host: {e}"))?;
    if ended.status != RunStatus::Completed {
        return Err(format!("host a's run ended as {:?}", ended.status));
    }
    Ok(interrupted_after)
}

/// `cargo xtask pg-host <url> <host id> <commits>`: one host of the drill. Begins a run of the
/// drill's agent, prints `RUN <run> <snapshot>`, then puts `<host>:<n>` = n for n = 0, 1, ...
/// (`<commits>` of them, or until killed when 0), printing `ACK <n> <version>` after each put
/// returns, then ends the run and prints `DONE`.
pub fn host(args: &[String]) -> Result<(), String> {
    let [url, host_id, commits] = args else {
        return Err("usage: cargo xtask pg-host <url> <host id> <commits>".into());
    };
    let commits: u64 = commits
        .parse()
        .map_err(|_| format!("{commits:?} is not a number"))?;
    let db = Database::connect(options(url, host_id)).map_err(|e| format!("connect: {e}"))?;
    let run = db
        .begin_run_in(&agent())
        .map_err(|e| format!("begin a run: {e}"))?;
    let snapshot = db.run_info(run).map_err(|e| e.to_string())?.snapshot;
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    say(format!("RUN {run} {snapshot}"))?;
    let mut sequence = 0;
    while commits == 0 || sequence < commits {
        let version = db
            .put(run, key(host_id, sequence), sequence.to_string())
            .map_err(|e| format!("commit {sequence}: {e}"))?;
        say(format!("ACK {sequence} {version}"))?;
        sequence += 1;
    }
    db.end_run(run).map_err(|e| format!("end the run: {e}"))?;
    say("DONE".into())
}

fn options(url: &str, host_id: &str) -> RemoteOptions {
    RemoteOptions::new(url)
        .schema(SCHEMA)
        .host_id(host_id)
        .lease_ttl(LEASE)
        .mode(DurabilityMode::Strict)
}

fn key(host: &str, sequence: u64) -> Vec<u8> {
    format!("{host}:{sequence}").into_bytes()
}

fn get(db: &Database, run: RunId, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    db.get(run, key)
        .map_err(|e| format!("read {}: {e}", String::from_utf8_lossy(key)))
}

/// Starts host `name` as a child process and a thread that reads what it prints.
fn spawn_host(url: &str, name: &str, commits: u64) -> Result<(Child, Arc<Mutex<Heard>>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut child = Command::new(exe)
        .args(["pg-host", url, name, &commits.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let heard = Arc::new(Mutex::new(Heard::default()));
    let into = Arc::clone(&heard);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut heard = lock(&into);
            match words[..] {
                ["RUN", run, snapshot] => {
                    if let (Ok(run), Ok(snapshot)) = (run.parse(), snapshot.parse()) {
                        heard.run = Some((run, snapshot));
                    }
                }
                ["ACK", sequence, version] => {
                    if let (Ok(sequence), Ok(version)) = (sequence.parse(), version.parse()) {
                        heard.acks.insert(sequence, version);
                    }
                }
                ["DONE"] => heard.done = true,
                _ => {}
            }
        }
    });
    Ok((child, heard))
}

fn lock(heard: &Mutex<Heard>) -> std::sync::MutexGuard<'_, Heard> {
    heard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            return Err(format!("gave up waiting for {what} after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
