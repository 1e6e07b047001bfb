//! Criterion benchmarks of the agent primitives beside a plain put, in Batched and Strict mode
//! (target: each at least 0.8x our own Batched put).
//!
//! `cargo bench -p in-mem-benches --bench primitives`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use in_mem::primitives::{EventLog, NewSpan, StateMachine, TraceStore};
use in_mem::{Database, DurabilityMode, Value};
use in_mem_benches::{VALUE, key};

const MODES: [(&str, DurabilityMode); 2] = [
    (
        "batched",
        DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        },
    ),
    ("strict", DurabilityMode::Strict),
];

fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitives");
    group.throughput(Throughput::Elements(1));
    for (mode_name, mode) in MODES {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open_with_mode(dir.path(), mode).expect("open");
        let run = db.begin_run();
        let (events, state, trace) = (
            EventLog::new(&db),
            StateMachine::new(&db),
            TraceStore::new(&db),
        );
        let payload = Value::Bytes(VALUE.to_vec());

        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("kv_put", mode_name), |b| {
            b.iter(|| {
                i += 1;
                db.put(run, key(i), VALUE).expect("put")
            });
        });
        group.bench_function(BenchmarkId::new("event_append", mode_name), |b| {
            b.iter(|| events.append(run, "observation", &payload).expect("append"));
        });
        state.init(run, "counter", 0).expect("init");
        let mut version = 1;
        group.bench_function(BenchmarkId::new("state_cas", mode_name), |b| {
            b.iter(|| {
                version = state.cas(run, "counter", version, version).expect("cas");
            });
        });
        group.bench_function(BenchmarkId::new("trace_span", mode_name), |b| {
            b.iter(|| {
                trace
                    .record(
                        run,
                        NewSpan::tool_call("search", payload.clone()).tag("bench"),
                    )
                    .expect("span")
            });
        });
        let mut j = 0u64;
        group.bench_function(BenchmarkId::new("three_primitive_tx", mode_name), |b| {
            b.iter(|| {
                j += 1;
                db.transaction(run, |tx| {
                    EventLog::append_in(tx, "step", j)?;
                    StateMachine::set_in(tx, "step", j)?;
                    TraceStore::record_in(tx, NewSpan::thought("step"))?;
                    Ok::<_, in_mem::Error>(())
                })
                .expect("transaction");
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = primitives
}
criterion_main!(benches);
