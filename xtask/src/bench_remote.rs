//! `cargo xtask bench --remote`: shared mode's costs beside embedded mode's and the disk's, in
//! one run on one machine: the fdatasync floor of the disk the server writes to, an embedded
//! `Strict` put, PostgreSQL's own one-row durable INSERT and a remote commit's statement, both
//! run by pgbench, a remote commit (PostgreSQL on loopback, `synchronous_commit = on`, no
//! standby), one agent's commits from 8 threads sent one by one against the same commits
//! through the shipper (group commit), and point gets and 1,000-key prefix scans read from the
//! server against embedded reads; then the same through `Database::connect` (a put's whole
//! path, 8 threads of one agent, and gets and scans served from the host's cache). The table
//! goes to stdout and `target/bench/remote.txt`.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use in_mem::{Database, DurabilityMode, RemoteOptions};
use in_mem_core_types::{AgentId, RunId, Timestamp};
use in_mem_engine::remote::{
    BeginRun, CommitId, CommitRequest, RemoteStore, RemoteView, RemoteWrite, Shipper,
    ShipperOptions,
};
use in_mem_pg::{COMMIT_ONE, PgOptions, PgStore, SynchronousCommit};

use crate::pg::Cluster;

/// How long each timed case runs.
const CASE: Duration = Duration::from_secs(3);
const THREADS: usize = 8;
const SCAN_KEYS: usize = 1_000;
const HOST: &str = "bench";

#[allow(clippy::too_many_lines)] // One table, measured and written row by row.
pub fn bench_remote() -> Result<(), String> {
    let cluster = Cluster::start("bench")?;
    let store = Arc::new(
        PgStore::connect(
            &cluster.url(),
            &PgOptions {
                schema: Some("bench".into()),
                application_name: "inmem-bench".into(),
                connections: THREADS,
                synchronous_commit: SynchronousCommit::On,
                ..PgOptions::default()
            },
        )
        .map_err(|e| format!("connect: {e}"))?,
    );
    store
        .renew_lease(HOST, Duration::from_mins(10))
        .map_err(|e| e.to_string())?;
    let dir = tempdir(&cluster)?;
    let mut rows = Vec::new();

    let floor = fdatasync_floor(&dir)?;
    rows.push(row(
        "fdatasync floor (4 KiB write + fdatasync, 1 thread)",
        floor,
        None,
    ));
    let embedded = embedded_strict_puts(&dir)?;
    rows.push(row("embedded Strict put, 1 thread", embedded, None));
    let insert = durable_insert(&cluster, &dir)?;
    rows.push(row(
        "PostgreSQL's own floor: a one-row durable INSERT (pgbench, 1 client)",
        insert,
        Some(("floor", insert / floor)),
    ));
    let statement = commit_statement(&cluster, &*store, &dir)?;
    rows.push(row(
        "a remote commit's statement alone (pgbench, 1 client: the server's share)",
        statement,
        Some(("floor", statement / floor)),
    ));
    let (remote, p50, p99) = remote_commits(&*store)?;
    rows.push(row(
        &format!(
            "remote commit, 1 thread (p50 {:.2} ms, p99 {:.2} ms)",
            ms(p50),
            ms(p99)
        ),
        remote,
        Some(("floor", remote / floor)),
    ));
    rows.push(row(
        "  (the same commit against PostgreSQL's own floor)",
        remote,
        Some(("INSERT", remote / insert)),
    ));
    // What the client (in-mem's side of the call, tokio-postgres, the socket) costs beyond
    // pgbench's client for the same statement: 1.0x would be none.
    rows.push(row(
        "  (the same commit against its statement alone)",
        remote,
        Some(("statement", remote / statement)),
    ));
    let unbatched = one_agent(&store, false)?;
    rows.push(row(
        &format!("one agent, {THREADS} threads, each commit sent alone"),
        unbatched,
        None,
    ));
    let batched = one_agent(&store, true)?;
    rows.push(row(
        &format!("one agent, {THREADS} threads, through the shipper"),
        batched,
        Some(("sent alone", batched / unbatched)),
    ));
    let (remote_get, embedded_get, remote_scan, embedded_scan) = reads(&*store, &dir)?;
    rows.push(row("embedded point get, 1 thread", embedded_get, None));
    rows.push(row(
        "remote point get, uncached, 1 thread",
        remote_get,
        Some(("embedded", remote_get / embedded_get)),
    ));
    rows.push(row(
        &format!("embedded {SCAN_KEYS}-key prefix scan"),
        embedded_scan,
        None,
    ));
    rows.push(row(
        &format!("remote {SCAN_KEYS}-key prefix scan, uncached"),
        remote_scan,
        Some(("embedded", remote_scan / embedded_scan)),
    ));
    let connected = connected_database(&cluster.url())?;
    rows.extend(connected.rows(floor, embedded_get, embedded_scan));

    let mut report = String::from("| case | rate (/s) | ratio |\n| --- | ---: | --- |\n");
    for line in &rows {
        report.push_str(line);
        report.push('\n');
    }
    let met = |ok: bool| if ok { "met" } else { "missed" };
    let _ = write!(
        report,
        "\nTargets: remote commit >= 0.4x the fdatasync floor: {:.2}x, {} (PostgreSQL's own \
         durable one-row INSERT reaches {:.2}x, the commit's statement alone {:.2}x); one agent's \
         batched rate >= 2x its unbatched rate: {:.2}x, {}; cached reads within 1.2x of \
         embedded (a rate >= 0.83x): get {:.2}x, {}; list {:.2}x, {}.\n",
        remote / floor,
        met(remote / floor >= 0.4),
        insert / floor,
        statement / floor,
        batched / unbatched,
        met(batched / unbatched >= 2.0),
        connected.get / embedded_get,
        met(connected.get / embedded_get >= 1.0 / 1.2),
        connected.list / embedded_scan,
        met(connected.list / embedded_scan >= 1.0 / 1.2),
    );
    println!("{report}");
    let out = crate::root().join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    std::fs::write(out.join("remote.txt"), &report).map_err(|e| e.to_string())?;
    drop(store);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn row(case: &str, rate: f64, ratio: Option<(&str, f64)>) -> String {
    let ratio = ratio.map_or(String::new(), |(of, r)| format!("{r:.2}x {of}"));
    format!("| {case} | {rate:.0} | {ratio} |")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A scratch directory on the same file system as the server's data.
fn tempdir(cluster: &Cluster) -> Result<std::path::PathBuf, String> {
    let dir = cluster
        .data()
        .parent()
        .map(|p| p.with_extension("scratch"))
        .ok_or("no parent directory")?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

#[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Runs `step` for `CASE` and returns its rate per second.
fn timed(mut step: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < CASE {
        step()?;
        n += 1;
    }
    Ok(per_second(n, started.elapsed()))
}

/// Runs `step(thread, n)` on `THREADS` threads for `CASE`; the steps taken and their total rate.
fn timed_threads(
    step: impl Fn(usize, u64) -> Result<(), String> + Sync,
) -> Result<(u64, f64), String> {
    let started = Instant::now();
    let counts: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let step = &step;
                scope.spawn(move || {
                    let mut n = 0u64;
                    while started.elapsed() < CASE {
                        step(t, n)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let total: u64 = counts.into_iter().sum::<Result<u64, String>>()?;
    Ok((total, per_second(total, started.elapsed())))
}

fn fdatasync_floor(dir: &std::path::Path) -> Result<f64, String> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("floor"))
        .map_err(|e| e.to_string())?;
    let block = vec![7u8; 4096];
    timed(|| {
        file.write_all_at(&block, 0).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())
    })
}

fn embedded_strict_puts(dir: &std::path::Path) -> Result<f64, String> {
    let db = Database::open_with_mode(dir.join("embedded-strict"), DurabilityMode::Strict)
        .map_err(|e| e.to_string())?;
    let run = db.begin_run();
    let mut i = 0u64;
    timed(|| {
        i += 1;
        db.put(run, format!("key{i}").as_bytes(), b"value")
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// PostgreSQL's cost of a durable commit of one small row, with nothing of in-mem around it.
fn durable_insert(cluster: &Cluster, dir: &std::path::Path) -> Result<f64, String> {
    cluster.psql(&["CREATE TABLE floor_insert (id bigint)"])?;
    let script = dir.join("insert.sql");
    std::fs::write(&script, "INSERT INTO floor_insert VALUES (1);\n").map_err(|e| e.to_string())?;
    let seconds = u32::try_from(CASE.as_secs()).unwrap_or(3);
    cluster.pgbench_tps(&script, seconds, None)
}

/// The commit statement alone: the statement a one-write commit sends ([`COMMIT_ONE`]),
/// run by pgbench (its client loop, prepared, no Rust, no runtime), so that the report tells
/// the server's share of a remote commit from the client's.
fn commit_statement(
    cluster: &Cluster,
    store: &dyn RemoteStore,
    dir: &std::path::Path,
) -> Result<f64, String> {
    let (agent, run, epoch) = begun(store, "pgbench")?;
    let agent = agent.encode().iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let tag = in_mem_core_types::TypeTag::Kv.as_byte();
    // Highest first, so that `$1` does not replace the start of a `$1x`. The commit id is made
    // from a random 63-bit number: `gen_random_uuid()` (strong randomness) cost ~23 us a
    // commit on the server, which the client, sending its id, never makes it pay.
    let arguments = [
        ("$8", "NULL::bigint".to_owned()),
        ("$7", "convert_to('value', 'UTF8')".to_owned()),
        ("$6", format!("{tag}::smallint")),
        ("$5", "convert_to('key' || :k, 'UTF8')".to_owned()),
        ("$4", "lpad(to_hex(:c::bigint), 32, '0')::uuid".to_owned()),
        ("$3", format!("{epoch}::bigint")),
        ("$2", format!("'{run}'::uuid")),
        ("$1", format!("'\\x{agent}'::bytea")),
    ];
    let statement = arguments
        .iter()
        .fold(COMMIT_ONE.to_owned(), |sql, (at, value)| {
            sql.replace(at, value)
        });
    // pgbench reads a statement up to the first `;` at the end of a line.
    let statement = statement.replace('\n', " ");
    let script = dir.join("commit.sql");
    std::fs::write(
        &script,
        format!(
            "\\set k random(1, 1000000000)\n\\set c random(1, 9223372036854775806)\n{statement};\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let seconds = u32::try_from(CASE.as_secs()).unwrap_or(3);
    cluster.pgbench_tps(&script, seconds, Some("bench"))
}

fn begun(store: &dyn RemoteStore, name: &str) -> Result<(AgentId, RunId, u64), String> {
    let agent = AgentId::new("bench", name, RunId::new().to_string());
    let run = RunId::new();
    let start = store
        .begin_run(&BeginRun::new(agent.clone(), run, HOST))
        .map_err(|e| e.to_string())?;
    Ok((agent, run, start.epoch))
}

fn request(agent: &AgentId, run: RunId, epoch: u64, key: String) -> CommitRequest {
    CommitRequest {
        agent: agent.clone(),
        run,
        epoch,
        commit: CommitId::new(),
        writes: vec![RemoteWrite::put(key, "value")],
    }
}

fn remote_commits(store: &dyn RemoteStore) -> Result<(f64, Duration, Duration), String> {
    let (agent, run, epoch) = begun(store, "single")?;
    let mut latencies = Vec::new();
    let mut i = 0u64;
    let rate = timed(|| {
        i += 1;
        let started = Instant::now();
        store
            .commit_batch(&[request(&agent, run, epoch, format!("key{i}"))])
            .map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        Ok(())
    })?;
    latencies.sort_unstable();
    let at = |percent: usize| latencies[(latencies.len() - 1) * percent / 100];
    Ok((rate, at(50), at(99)))
}

/// `THREADS` threads committing to one agent (one run each), each commit sent alone or through
/// one shipper; the total rate.
fn one_agent(store: &Arc<PgStore>, through_shipper: bool) -> Result<f64, String> {
    let name = if through_shipper { "shipped" } else { "alone" };
    let (agent, _, _) = begun(&**store, name)?;
    let shipper = if through_shipper {
        let store: Arc<dyn RemoteStore> = store.clone();
        Some(Shipper::start(store, ShipperOptions::default()).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let runs: Vec<(RunId, u64)> = (0..THREADS)
        .map(|_| {
            let run = RunId::new();
            store
                .begin_run(&BeginRun::new(agent.clone(), run, HOST))
                .map(|s| (run, s.epoch))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let (total, rate) = timed_threads(|t, n| {
        let (run, epoch) = runs[t];
        let commit = request(&agent, run, epoch, format!("t{t}-{n}"));
        let result = match &shipper {
            Some(shipper) => shipper.commit(commit).map(drop),
            None => store.commit_batch(&[commit]).map(drop),
        };
        result.map_err(|e| e.to_string())
    })?;
    if let Some(shipper) = &shipper {
        eprintln!("shipper: {total} commits in {} batches", shipper.batches());
    }
    Ok(rate)
}

/// (remote get, embedded get, remote scan, embedded scan) rates.
fn reads(store: &dyn RemoteStore, dir: &std::path::Path) -> Result<(f64, f64, f64, f64), String> {
    let (agent, run, epoch) = begun(store, "reads")?;
    let keys: Vec<String> = (0..SCAN_KEYS).map(|i| format!("user:{i:06}")).collect();
    for chunk in keys.chunks(100) {
        let writes = chunk
            .iter()
            .map(|k| RemoteWrite::put(k.as_str(), [b'v'; 100]))
            .collect();
        store
            .commit_batch(&[CommitRequest {
                agent: agent.clone(),
                run,
                epoch,
                commit: CommitId::new(),
                writes,
            }])
            .map_err(|e| e.to_string())?;
    }
    let view = RemoteView {
        snapshot: store.clock(&agent).map_err(|e| e.to_string())?,
        own: Some(run),
        now: Timestamp::now(),
    };
    let mut i = 0usize;
    let remote_get = timed(|| {
        i += 1;
        let key = &keys[i % keys.len()];
        store
            .get(&agent, key.as_bytes(), &view)
            .map_err(|e| e.to_string())?
            .ok_or("a written key is missing")?;
        Ok(())
    })?;
    let remote_scan = timed(|| {
        let found = store
            .scan(&agent, b"user:", &view)
            .map_err(|e| e.to_string())?;
        if found.len() == SCAN_KEYS {
            Ok(())
        } else {
            Err(format!("a scan found {} keys", found.len()))
        }
    })?;
    let db = Database::open_with_mode(
        dir.join("embedded-reads"),
        DurabilityMode::Async { interval_ms: 1000 },
    )
    .map_err(|e| e.to_string())?;
    let run = db.begin_run();
    for key in &keys {
        db.put(run, key.as_bytes(), [b'v'; 100])
            .map_err(|e| e.to_string())?;
    }
    let embedded_get = timed(|| {
        i += 1;
        db.get(run, keys[i % keys.len()].as_bytes())
            .map_err(|e| e.to_string())?
            .ok_or("a written key is missing")?;
        Ok(())
    })?;
    let embedded_scan = timed(|| {
        let found = db.list(run, b"user:").map_err(|e| e.to_string())?;
        if found.len() == SCAN_KEYS {
            Ok(())
        } else {
            Err(format!("a list found {} keys", found.len()))
        }
    })?;
    Ok((remote_get, embedded_get, remote_scan, embedded_scan))
}

/// Rates through `Database::connect`.
struct Connected {
    put: f64,
    put_threads: f64,
    get: f64,
    list: f64,
}

impl Connected {
    fn rows(&self, floor: f64, embedded_get: f64, embedded_scan: f64) -> [String; 4] {
        [
            row(
                "connected Database Strict put, 1 thread",
                self.put,
                Some(("floor", self.put / floor)),
            ),
            row(
                &format!("connected Database Strict put, {THREADS} threads, one agent"),
                self.put_threads,
                Some(("1 thread", self.put_threads / self.put)),
            ),
            row(
                "connected Database get, cached, 1 thread",
                self.get,
                Some(("embedded", self.get / embedded_get)),
            ),
            row(
                &format!("connected Database {SCAN_KEYS}-key list, cached"),
                self.list,
                Some(("embedded", self.list / embedded_scan)),
            ),
        ]
    }
}

/// A `Strict` host of the bench's store named `host_id`.
fn connect_host(url: &str, host_id: &str) -> Result<Database, String> {
    Database::connect(
        RemoteOptions::new(url)
            .schema("bench")
            .host_id(host_id)
            .mode(DurabilityMode::Strict),
    )
    .map_err(|e| format!("connect: {e}"))
}

/// A connected database's put (the whole path: local validation, the shipper, the store, the
/// cache), `THREADS` threads putting to one agent (one run each), and gets and lists that the
/// host's cache answers.
fn connected_database(url: &str) -> Result<Connected, String> {
    let db = connect_host(url, "bench-database")?;
    let run = db.begin_run();
    let mut i = 0u64;
    let put = timed(|| {
        i += 1;
        db.put(run, format!("key{i}").as_bytes(), b"value")
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    let runs: Vec<RunId> = (0..THREADS).map(|_| db.begin_run()).collect();
    let (_, put_threads) = timed_threads(|t, n| {
        db.put(runs[t], format!("t{t}-{n}").as_bytes(), b"value")
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    db.close().map_err(|e| e.to_string())?;
    // The reads on a host of their own, in an agent of their own: its cache holds what they
    // read, as the embedded database they are compared with does (the puts above left ~20k
    // entries in this host's memtable, whose larger index made a get slower, not the path).
    let db = connect_host(url, "bench-database-reads")?;
    let keys: Vec<String> = (0..SCAN_KEYS).map(|i| format!("user:{i:06}")).collect();
    let reader = db
        .begin_run_in(&AgentId::new("bench", "reads", RunId::new().to_string()))
        .map_err(|e| e.to_string())?;
    db.transaction(reader, |tx| {
        keys.iter()
            .try_for_each(|key| tx.put(key.as_bytes(), [b'v'; 100]))
    })
    .map_err(|e: in_mem::Error| e.to_string())?;
    let get = timed(|| {
        i += 1;
        db.get(reader, keys[i as usize % keys.len()].as_bytes())
            .map_err(|e| e.to_string())?
            .ok_or("a written key is missing")?;
        Ok(())
    })?;
    let list = timed(|| {
        let found = db.list(reader, b"user:").map_err(|e| e.to_string())?;
        if found.len() == SCAN_KEYS {
            Ok(())
        } else {
            Err(format!("a list found {} keys", found.len()))
        }
    })?;
    db.close().map_err(|e| e.to_string())?;
    Ok(Connected {
        put,
        put_threads,
        get,
        list,
    })
}
