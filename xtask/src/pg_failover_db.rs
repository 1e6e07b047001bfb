//! The failover drill through `Database` (part of `cargo xtask pg-test`): two hosts connect
//! with `Database::connect` (`Strict`) to a URL naming a primary and its synchronous standby;
//! two threads on each put keys in runs of one shared agent. At a seeded moment the primary is
//! killed with SIGKILL and the standby promoted; the hosts carry on through the outage (the
//! shipper resends what it could not send; a put that failed before it was sent is tried
//! again). Then, from a fresh connection to the promoted server, every acknowledged put must
//! read back with its value, at the version it was acknowledged with, in a run begun after.
//!
//! `INMEM_FAILOVER_DB_SEED=<n>` repeats a drill (the seed picks the moment of the kill).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use in_mem::{AgentId, Database, DurabilityMode, RemoteOptions};

use crate::pg_failover::{seed, synchronous_pair};

const HOSTS: usize = 2;
const THREADS_PER_HOST: usize = 2;
/// Puts each thread makes after the promotion before the drill ends.
const AFTER_PROMOTION: u64 = 20;
/// How long one put may keep failing before the drill fails.
const OUTAGE_LIMIT: Duration = Duration::from_mins(1);

/// What one thread had acknowledged: (key, value, version) of each put.
type Acked = Vec<(Vec<u8>, Vec<u8>, u64)>;

fn agent() -> AgentId {
    AgentId::new("drill", "failover", "shared")
}

pub fn drill() -> Result<(), String> {
    let seed = seed("INMEM_FAILOVER_DB_SEED")?;
    let kill_after = Duration::from_millis(300 + seed % 1_200);
    eprintln!(
        "failover drill through Database: seed {seed} (INMEM_FAILOVER_DB_SEED={seed} repeats it)"
    );
    let (primary, standby, url) = synchronous_pair("dbprimary")?;
    let hosts: Vec<Database> = (0..HOSTS)
        .map(|h| Database::connect(options(&url, &format!("host-{h}"))))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("connect: {e}"))?;
    let promoted = AtomicBool::new(false);
    let started = Instant::now();
    let (results, promotion) = std::thread::scope(|scope| {
        let writers: Vec<_> = hosts
            .iter()
            .enumerate()
            .flat_map(|(h, db)| (0..THREADS_PER_HOST).map(move |t| (h, t, db)))
            .map(|(h, t, db)| {
                let promoted = &promoted;
                scope.spawn(move || write(db, &format!("h{h}t{t}"), promoted))
            })
            .collect();
        std::thread::sleep(kill_after);
        let promotion = primary.kill().and_then(|()| {
            let killed = Instant::now();
            standby.promote().map(|()| killed.elapsed())
        });
        promoted.store(true, Ordering::SeqCst);
        let results: Vec<Result<(Acked, u64), String>> = writers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a writer panicked".into())))
            .collect();
        (results, promotion)
    });
    let promotion = promotion?;
    let mut acked = Vec::new();
    let mut retried = 0;
    for result in results {
        let (puts, tried_again) = result?;
        acked.extend(puts);
        retried += tried_again;
    }
    for host in hosts {
        host.close().map_err(|e| format!("close: {e}"))?;
    }
    read_back(&url, &acked)?;
    eprintln!(
        "failover drill through Database passed: seed {seed}; SIGKILL of the primary {} ms into \
         the load, promotion in {} ms; {} acknowledged Strict puts by {HOSTS} hosts x \
         {THREADS_PER_HOST} threads read back from the promoted server at their versions, {retried} \
         puts tried again after failing unsent; lost: 0 ({:.1} s in all)",
        kill_after.as_millis(),
        promotion.as_millis(),
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Every acknowledged put reads back from the promoted server, with its value, at its version.
fn read_back(url: &str, acked: &Acked) -> Result<(), String> {
    let checker = Database::connect(options(url, "checker"))
        .map_err(|e| format!("connect to the promoted server: {e}"))?;
    let run = checker
        .begin_run_in(&agent())
        .map_err(|e| format!("begin: {e}"))?;
    let mut lost = 0;
    for (key, value, version) in acked {
        let found = checker
            .get_versioned(run, key)
            .map_err(|e| format!("read: {e}"))?;
        let expected = in_mem::Value::Bytes(value.clone());
        if !found.is_some_and(|f| f.value == expected && f.version == *version) {
            lost += 1;
            eprintln!(
                "{} acknowledged at version {version} does not read back",
                String::from_utf8_lossy(key)
            );
        }
    }
    if lost > 0 {
        return Err(format!(
            "failover drill through Database: lost {lost} acknowledged puts"
        ));
    }
    Ok(())
}

fn options(url: &str, host: &str) -> RemoteOptions {
    RemoteOptions::new(url)
        .schema("dbdrill")
        .host_id(host)
        .mode(DurabilityMode::Strict)
        .lease_ttl(Duration::from_mins(1))
}

/// One thread: a run of the shared agent, puts one at a time; a put that fails is tried again
/// (the same key and value) until it succeeds or the outage lasts too long.
fn write(db: &Database, name: &str, promoted: &AtomicBool) -> Result<(Acked, u64), String> {
    let run = retrying(|| db.begin_run_in(&agent()), name, &mut 0)?;
    let mut acked = Vec::new();
    let mut retried = 0;
    let mut after = 0;
    for seq in 0u64.. {
        if after >= AFTER_PROMOTION {
            break;
        }
        let key = format!("{name}:{seq:06}").into_bytes();
        let value = format!("{name} put {seq}").into_bytes();
        let version = retrying(|| db.put(run, &key, &value), name, &mut retried)?;
        acked.push((key, value, version));
        if promoted.load(Ordering::SeqCst) {
            after += 1;
        }
    }
    retrying(|| db.end_run(run), name, &mut retried)?;
    Ok((acked, retried))
}

/// `step` until it succeeds; a failure that may have been applied (the shipper gave up on an
/// unknown outcome) ends the drill, since trying again could not tell.
fn retrying<T>(
    mut step: impl FnMut() -> in_mem::Result<T>,
    name: &str,
    retried: &mut u64,
) -> Result<T, String> {
    let since = Instant::now();
    loop {
        match step() {
            Ok(done) => return Ok(done),
            Err(e) if is_unsent(&e) && since.elapsed() < OUTAGE_LIMIT => {
                *retried += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
}

/// Failures that left nothing applied: the store unreachable before anything was sent.
fn is_unsent(e: &in_mem::Error) -> bool {
    use in_mem::remote::RemoteError;
    matches!(
        e,
        in_mem::Error::Remote(RemoteError::Unavailable(_) | RemoteError::Store(_))
    )
}
