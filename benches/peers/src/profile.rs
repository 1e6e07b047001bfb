//! `--profile NAME`: one in-mem workload alone, for a profiler. The measured loop is the
//! function `profiled_loop` (`profiled_open` for the open workloads), so callgrind can collect
//! only it:
//!
//! ```sh
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profiled_loop*' \
//!     target/release/in-mem-peers --profile put-batched --ops 100000
//! ```

use std::path::Path;
use std::time::Instant;

use in_mem::primitives::{EventLog, NewSpan, StateMachine, TraceStore};
use in_mem::{RunId, Value};

use crate::engines::{Engine, InMemMode, Result, Store};
use crate::workload::{Rng, SCAN_PREFIX, VALUE, key, scan_key, shuffled};

/// The workloads `--profile` knows.
pub const NAMES: &str = "put-batched, put-async, put-random-batched, put-strict, get, scan, \
event, event-tx-10, cas, span, tx-2, tx-5, step, read-back, scan-overwritten, open-checkpoint, \
open-replay";

/// Runs `name` for `ops` operations in a fresh database under `scratch`. `peer` names another
/// engine to run the byte workloads (puts, get, scan) on instead, in its no-sync mode, for
/// comparison: `fjall`, `redb`, `sled`, `sqlite`, `lmdb` or `skipmap`.
pub fn run(name: &str, ops: u64, scratch: &Path, peer: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(scratch)?;
    let dir = tempfile::tempdir_in(scratch)?;
    if let Some(checkpoint) = match name {
        "open-checkpoint" => Some(true),
        "open-replay" => Some(false),
        _ => None,
    } {
        // `ops` keys, in a checkpoint or as one-put commits in the log; the loop opens once.
        crate::engines::write_log(dir.path(), ops, checkpoint)?;
        let start = Instant::now();
        profiled_open(dir.path())?;
        eprintln!(
            "{name}: {ops} keys opened in {:.3} s",
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let mode = match name {
        "put-async" | "get" | "scan" => InMemMode::Async,
        "put-strict" => InMemMode::Strict,
        _ => InMemMode::Batched,
    };
    let engine = match peer {
        None => Engine::InMem(mode),
        Some("fjall") => Engine::Fjall(crate::engines::FjallMode::Plain),
        Some("redb") => Engine::Redb { durable: false },
        Some("sled") => Engine::Sled { durable: false },
        Some("sqlite") => Engine::Sqlite { durable: false },
        Some("lmdb") => Engine::Lmdb,
        Some("skipmap") => Engine::SkipMap,
        Some("design-floor") => Engine::DesignFloor { log: true },
        Some("design-floor-nolog") => Engine::DesignFloor { log: false },
        Some(other) => return Err(format!("no engine {other} for --profile").into()),
    };
    let store = engine.open(dir.path())?;
    if name == "get" || name == "scan" {
        load(&*store)?;
    }
    // The primitives' database, in a directory of its own: a peer's files beside it would make
    // in-mem refuse the directory.
    let db = in_mem::Database::open_with_mode(
        dir.path().join("primitives"),
        in_mem::DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        },
    )?;
    let start = Instant::now();
    profiled_loop(name, ops, &*store, &db)?;
    let elapsed = start.elapsed();
    eprintln!(
        "{name}: {ops} ops in {:.3} s ({:.0} ops/s)",
        elapsed.as_secs_f64(),
        crate::bench::rate(ops, elapsed)
    );
    Ok(())
}

fn load(store: &dyn Store) -> Result<()> {
    let order = shuffled(1_001_000, 0x10ad);
    let keys: Vec<[u8; 24]> = order
        .iter()
        .map(|&i| {
            if i < 1_000_000 {
                key(i)
            } else {
                scan_key(i - 1_000_000)
            }
        })
        .collect();
    for chunk in keys.chunks(10_000) {
        let items: Vec<(&[u8], &[u8])> = chunk
            .iter()
            .map(|k| (k.as_slice(), VALUE.as_slice()))
            .collect();
        store.put_batch(0, &items)?;
    }
    Ok(())
}

#[inline(never)]
fn profiled_open(dir: &Path) -> Result<()> {
    crate::engines::time_open(dir).map(|_| ())
}

/// The floors of an event append and a span: `ops` transactions of as many 100-byte puts as
/// they write records (an event and its type index entry: 2; a span with one tag and its
/// child, kind, tag and start index entries: 5), and nothing else.
fn put_transactions(db: &in_mem::Database, run: RunId, ops: u64, puts: u64) -> Result<()> {
    for i in 0..ops {
        db.transaction(run, |tx| {
            for part in 0..puts {
                tx.put(key(i * puts + part), VALUE)?;
            }
            Ok::<_, in_mem::Error>(())
        })?;
    }
    Ok(())
}

/// 100 keys written 200 times each (an agent's memory updated run after run; the history
/// retention keeps every version), then `ops` lists of them: a scan that steps past long
/// histories. Prints the lists' own time (the writes before them take ~50 ms).
fn scan_overwritten(db: &in_mem::Database, run: RunId, ops: u64) -> Result<()> {
    for round in 0..200u64 {
        for i in 0..100u64 {
            db.put(run, format!("memory:{i:04}"), round.to_le_bytes())?;
        }
    }
    let start = Instant::now();
    for _ in 0..ops {
        let listed = db.list(run, "memory:")?;
        if listed.len() != 100 {
            return Err(format!("listed {} keys; expected 100", listed.len()).into());
        }
        std::hint::black_box(listed);
    }
    let per_list = start.elapsed() / u32::try_from(ops.max(1))?;
    eprintln!(
        "scan-overwritten: {ops} lists of 100 keys with 200 versions each: {per_list:?} a list"
    );
    Ok(())
}

/// Ten appends a transaction, `ops` transactions: what an agent step that logs several events
/// at once saves by sharing one commit.
fn event_transactions(db: &in_mem::Database, run: RunId, ops: u64, payload: &Value) -> Result<()> {
    for _ in 0..ops {
        db.transaction(run, |tx| {
            for _ in 0..10 {
                EventLog::append_in(tx, "observation", payload)?;
            }
            Ok::<_, in_mem::Error>(())
        })?;
    }
    Ok(())
}

#[inline(never)]
fn profiled_loop(name: &str, ops: u64, store: &dyn Store, db: &in_mem::Database) -> Result<()> {
    let mut rng = Rng::new(0x5eed);
    let run = db.begin_run();
    let payload = Value::Bytes(VALUE.to_vec());
    match name {
        "put-batched" | "put-async" | "put-strict" => {
            for i in 0..ops {
                store.put(0, &key(i), &VALUE)?;
            }
        }
        "put-random-batched" => {
            for _ in 0..ops {
                store.put(0, &key(rng.below(u64::MAX >> 1)), &VALUE)?;
            }
        }
        "get" => {
            for _ in 0..ops {
                std::hint::black_box(store.get(0, &key(rng.below(1_000_000)))?);
            }
        }
        "scan" => {
            for _ in 0..ops {
                std::hint::black_box(store.scan(0, SCAN_PREFIX)?);
            }
        }
        "event" => {
            let events = EventLog::new(db);
            for _ in 0..ops {
                events.append(run, "observation", &payload)?;
            }
        }
        "cas" => {
            let state = StateMachine::new(db);
            let mut version = state.init(run, "counter", 0)?;
            for i in 0..ops {
                version = state.cas(run, "counter", version, i)?;
            }
        }
        "span" => {
            let trace = TraceStore::new(db);
            for _ in 0..ops {
                trace.record(
                    run,
                    NewSpan::tool_call("search", payload.clone()).tag("bench"),
                )?;
            }
        }
        "event-tx-10" => event_transactions(db, run, ops, &payload)?,
        "tx-2" => put_transactions(db, run, ops, 2)?,
        "tx-5" => put_transactions(db, run, ops, 5)?,
        "scan-overwritten" => scan_overwritten(db, run, ops)?,
        "step" => {
            // A LangGraph checkpoint as `in_mem.langgraph` commits it: four ~300-byte values
            // and a record in one transaction, plus a pointer written only over an older one.
            let blob = Value::Bytes(vec![7; 300]);
            for i in 0..ops {
                db.transaction(run, |tx| {
                    for part in 0..4 {
                        tx.put_value(format!("blob\0{i:012}\0{part}"), &blob)?;
                    }
                    tx.put_value(format!("checkpoint\0{i:012}"), &blob)?;
                    let id = Value::String(format!("{i:012}"));
                    let older = match tx.get_value("newest")? {
                        Some(Value::String(stored)) => Value::String(stored) != id,
                        _ => true,
                    };
                    if older {
                        tx.put_value("newest", &id)?;
                    }
                    Ok::<_, in_mem::Error>(())
                })?;
            }
        }
        "read-back" => {
            // The agent workload's last phase: a run of 100 KV puts, events, CAS and spans,
            // read back whole, `ops` times.
            let (events, state, trace) = (
                EventLog::new(db),
                StateMachine::new(db),
                TraceStore::new(db),
            );
            let mut version = state.init(run, "counter", 0)?;
            for i in 0..100u64 {
                db.put(run, format!("agent:{i:08}"), VALUE)?;
                events.append(run, "observation", &payload)?;
                version = state.cas(run, "counter", version, i + 1)?;
                trace.record(
                    run,
                    NewSpan::tool_call("search", payload.clone()).tag("bench"),
                )?;
            }
            for _ in 0..ops {
                std::hint::black_box(db.list(run, "agent:")?);
                std::hint::black_box(events.read_range(run, 0..100)?);
                std::hint::black_box(state.read(run, "counter")?);
                std::hint::black_box(trace.spans(run)?);
            }
        }
        other => return Err(format!("no profile workload {other}; one of: {NAMES}").into()),
    }
    Ok(())
}
