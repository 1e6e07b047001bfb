//! Golden databases: small databases written by a released on-disk format, committed under
//! `tests/fixtures/<set>/`, opened (from a copy) and checked value by value through the public
//! API. A change to what the bytes on disk mean fails these tests unless the format version
//! changes and the old version stays readable: then a new set is generated beside the old
//! ones, which keep passing. See `tests/fixtures/README.md`.
//!
//! The expectations live here, next to the code that wrote each fixture (`write_*`), so the
//! two cannot drift: the generator is the ignored test `generate_fixtures`. Every set is
//! checked against the same expectations; a future set that holds more gets its own checks.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use in_mem::{
    Database, DurabilityMode, ManualClock, OpenOptions, RecoveryReport, RunId, RunOptions,
    RunStatus, TailState, Timestamp, Value,
};

/// Every fixture set this build must read, oldest first, with the (identity, segment,
/// checkpoint) format versions its files name. The last is the current format's, which the
/// generator writes; a new format adds a set, and the old ones stay (and keep passing).
const SETS: [(&str, (u32, u32, u32)); 1] = [("format-2", (1, 2, 2))];

/// When the fixtures were written (the generator's manual clock): 2024-01-01T00:00:00Z.
const T0: Timestamp = Timestamp::from_micros(1_704_067_200_000_000);
/// A time to live that ended long before any run of these tests.
const HOUR: Duration = Duration::from_secs(3600);
/// A time to live that ends long after.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

const ENDED: RunId = RunId::from_bytes([0x11; 16]);
const INTERRUPTED: RunId = RunId::from_bytes([0x22; 16]);
const FAILED: RunId = RunId::from_bytes([0x33; 16]);

fn fixtures(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(set)
}

/// The names of the sets to check.
fn sets() -> impl Iterator<Item = &'static str> {
    SETS.iter().map(|(set, _)| *set)
}

fn options() -> OpenOptions {
    OpenOptions::new()
        .mode(DurabilityMode::Strict)
        .segment_bytes(4096)
        .checkpoint_every_bytes(0)
}

/// Copies fixture `name` of `set` (the committed files stay untouched: recovery may cut a
/// copy) and opens the copy with the real clock.
fn open_copy(set: &str, name: &str) -> (tempfile::TempDir, Database) {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(set).join(name), tmp.path());
    let db = Database::open_with_options(tmp.path(), options()).unwrap();
    (tmp, db)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every typed value of the KV fixture, by key.
fn typed_values() -> Vec<(&'static str, Value)> {
    let map = BTreeMap::from([
        ("a".to_owned(), Value::I64(1)),
        ("b".to_owned(), Value::Array(Vec::new())),
    ]);
    vec![
        ("null", Value::Null),
        ("bool", Value::Bool(true)),
        ("int", Value::I64(-42)),
        ("float", Value::F64(1.5)),
        ("string", Value::String("héllo, wörld".to_owned())),
        ("bytes", Value::Bytes(vec![0, 1, 2, 0xFF])),
        (
            "array",
            Value::Array(vec![
                Value::I64(1),
                Value::String("two".to_owned()),
                Value::Null,
            ]),
        ),
        ("map", Value::Map(map)),
    ]
}

fn text(db: &Database, run: RunId, key: &str) -> Option<String> {
    db.get(run, key)
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

fn report_of(db: &Database) -> RecoveryReport {
    db.recovery_report().clone()
}

// ---- kv_runs_ttl: typed values, overwrites, deletes, TTLs, run records -------------------------

fn write_kv_runs_ttl(db: &Database) {
    let metadata = Value::Map(BTreeMap::from([("step".to_owned(), Value::I64(1))]));
    let ended = db
        .begin_run_with(RunOptions::new().id(ENDED).tag("golden").metadata(metadata))
        .unwrap();
    for (key, value) in typed_values() {
        db.put_value(ended, key, &value).unwrap();
    }
    db.put(ended, "raw", b"raw bytes").unwrap();
    for n in ["1", "2", "3"] {
        db.put(ended, "counter", n).unwrap();
    }
    db.put(ended, "deleted", "soon gone").unwrap();
    db.delete(ended, "deleted").unwrap();
    db.put_value_with_ttl(
        ended,
        "ttl-century",
        &Value::String("still here".into()),
        CENTURY,
    )
    .unwrap();
    db.put_with_ttl(ended, "ttl-hour", "long gone", HOUR)
        .unwrap();
    db.put(ended, "shared", "from the ended run").unwrap();
    db.end_run(ended).unwrap();

    let failed = db
        .begin_run_with(RunOptions::new().id(FAILED).parent(ENDED))
        .unwrap();
    db.put(failed, "failed-wrote", "kept").unwrap();
    db.fail_run(failed, "tool timed out").unwrap();

    let interrupted = db
        .begin_run_with(RunOptions::new().id(INTERRUPTED).tag("b").tag("a"))
        .unwrap();
    db.put(interrupted, "shared", "from the interrupted run")
        .unwrap();
    // Never ended: after the reopen it is interrupted.
}

#[test]
fn kv_runs_ttl() {
    sets().for_each(check_kv_runs_ttl);
}

fn check_kv_runs_ttl(set: &str) {
    let (_tmp, db) = open_copy(set, "kv_runs_ttl");
    let report = report_of(&db);
    assert_eq!(report.tail, TailState::Clean);
    assert_eq!(report.checkpoint, None);
    // 19 commits of the ended run, 3 of the failed one, 2 of the interrupted one.
    assert_eq!(report.last_version, 24, "{report:?}");
    assert_eq!(report.records_replayed, 24);
    assert_eq!(report.interrupted_runs, vec![INTERRUPTED]);
    assert_eq!(report.log_generation, 1);

    let run = db.try_begin_run().unwrap();
    for (key, value) in typed_values() {
        assert_eq!(db.get_value(run, key).unwrap(), Some(value), "{key}");
    }
    assert_eq!(db.get(run, "raw").unwrap(), Some(b"raw bytes".to_vec()));
    assert_eq!(text(&db, run, "counter").as_deref(), Some("3"));
    assert_eq!(text(&db, run, "deleted"), None);
    assert_eq!(
        db.get_value(run, "ttl-century").unwrap(),
        Some(Value::String("still here".into()))
    );
    assert_eq!(text(&db, run, "ttl-hour"), None, "expired an hour after T0");
    assert_eq!(
        text(&db, run, "shared").as_deref(),
        Some("from the interrupted run")
    );
    assert_eq!(text(&db, run, "failed-wrote").as_deref(), Some("kept"));

    let ended = db.run_info(ENDED).unwrap();
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!((ended.created_at, ended.ended_at), (T0, Some(T0)));
    assert_eq!((ended.parent, ended.snapshot), (None, 0));
    assert_eq!(ended.tags, vec!["golden".to_owned()]);
    assert_eq!(
        ended.metadata,
        Value::Map(BTreeMap::from([("step".to_owned(), Value::I64(1))]))
    );
    assert_eq!(ended.error, None);
    let failed = db.run_info(FAILED).unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.parent, Some(ENDED));
    assert_eq!(failed.error.as_deref(), Some("tool timed out"));
    let interrupted = db.run_info(INTERRUPTED).unwrap();
    assert_eq!(interrupted.status, RunStatus::Interrupted);
    assert_eq!(interrupted.tags, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(interrupted.ended_at, None);
}

// ---- checkpoint_and_log: a checkpoint, then the log after it ---------------------------------

fn write_checkpoint_and_log(db: &Database) -> u64 {
    let run = db.begin_run_with(RunOptions::new().id(ENDED)).unwrap();
    for i in 0..50 {
        db.put_value(run, format!("k{i:03}"), &Value::I64(i))
            .unwrap();
    }
    for i in 45..50 {
        db.delete(run, format!("k{i:03}")).unwrap();
    }
    db.put_value_with_ttl(run, "ttl-century-checkpoint", &Value::Bool(true), CENTURY)
        .unwrap();
    db.put_with_ttl(run, "ttl-hour-checkpoint", "x", HOUR)
        .unwrap();
    let version = db.checkpoint().unwrap().version;
    for i in 0..10 {
        db.put_value(
            run,
            format!("k{i:03}"),
            &Value::String(format!("after-{i}")),
        )
        .unwrap();
    }
    for i in 10..15 {
        db.delete(run, format!("k{i:03}")).unwrap();
    }
    db.put_value_with_ttl(run, "ttl-century-log", &Value::Bool(false), CENTURY)
        .unwrap();
    db.put_with_ttl(run, "ttl-hour-log", "y", HOUR).unwrap();
    db.end_run(run).unwrap();
    version
}

#[test]
fn checkpoint_and_log() {
    sets().for_each(check_checkpoint_and_log);
}

fn check_checkpoint_and_log(set: &str) {
    let (_tmp, db) = open_copy(set, "checkpoint_and_log");
    let report = report_of(&db);
    assert_eq!(report.tail, TailState::Clean);
    assert_eq!(report.checkpoint, Some(58), "{report:?}");
    assert_eq!(report.records_replayed, 18, "{report:?}");
    assert_eq!(report.last_version, 76);
    let run = db.try_begin_run().unwrap();
    for i in 0..50i64 {
        let expected = match i {
            0..10 => Some(Value::String(format!("after-{i}"))),
            10..15 | 45..50 => None,
            _ => Some(Value::I64(i)),
        };
        assert_eq!(
            db.get_value(run, format!("k{i:03}")).unwrap(),
            expected,
            "k{i:03}"
        );
    }
    let value = |key: &str| db.get_value(run, key).unwrap();
    assert_eq!(value("ttl-century-checkpoint"), Some(Value::Bool(true)));
    assert_eq!(value("ttl-century-log"), Some(Value::Bool(false)));
    assert_eq!(value("ttl-hour-checkpoint"), None);
    assert_eq!(value("ttl-hour-log"), None);
    assert_eq!(db.run_info(ENDED).unwrap().status, RunStatus::Completed);
}

// ---- torn_tail: the last record torn by a crash --------------------------------------------

fn write_torn_tail(db: &Database) {
    let run = db
        .begin_run_with(RunOptions::new().id(INTERRUPTED))
        .unwrap();
    for i in 0..20 {
        db.put(run, format!("k{i:02}"), format!("v{i}")).unwrap();
    }
    db.put(run, "torn", "never whole").unwrap();
}

/// Zeros the last four bytes written to the log of `path`: the last record is torn, as by a
/// power loss during its write.
fn tear_last_record(path: &Path) {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(path.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    for segment in segments.iter().rev() {
        let mut bytes = std::fs::read(segment).unwrap();
        if let Some(last) = bytes.iter().rposition(|&b| b != 0) {
            bytes[last - 3..=last].fill(0);
            std::fs::write(segment, bytes).unwrap();
            return;
        }
    }
    panic!("no log data in {}", path.display());
}

#[test]
fn torn_tail() {
    sets().for_each(check_torn_tail);
}

fn check_torn_tail(set: &str) {
    let (tmp, db) = open_copy(set, "torn_tail");
    let report = report_of(&db);
    let TailState::Cut { bytes, .. } = report.tail else {
        panic!("expected a cut tail: {report:?}");
    };
    assert!(bytes > 0 && report.bytes_cut == bytes);
    assert_eq!(report.last_version, 21, "the begin and twenty puts");
    assert_eq!(report.interrupted_runs, vec![INTERRUPTED]);
    assert_eq!(report.log_generation, 2, "the cut began a new generation");
    let run = db.try_begin_run().unwrap();
    for i in 0..20 {
        assert_eq!(
            text(&db, run, &format!("k{i:02}")),
            Some(format!("v{i}")),
            "k{i:02}"
        );
    }
    assert_eq!(text(&db, run, "torn"), None);
    db.close().unwrap();
    let db = Database::open_with_options(tmp.path(), options()).unwrap();
    assert_eq!(db.recovery_report().tail, TailState::Clean);
}

// ---- primitives: events, state cells, a machine, spans, a big u64, a deleted run --------------

const PRIMITIVES: RunId = RunId::from_bytes([0x44; 16]);
const DELETED: RunId = RunId::from_bytes([0x55; 16]);

fn write_primitives(db: &Database) {
    use in_mem::primitives::{
        EventLog, KVStore, MachineDefinition, NewSpan, SpanStatus, StateMachine, TraceStore,
    };
    let run = db.begin_run_with(RunOptions::new().id(PRIMITIVES)).unwrap();
    let events = EventLog::new(db);
    events.append(run, "observed", ("sunny", 21)).unwrap();
    events.append(run, "decided", "walk").unwrap();
    events
        .append(run, "observed", Value::Bytes(vec![1, 2]))
        .unwrap();
    let state = StateMachine::new(db);
    let v = state.init(run, "attempts", 0).unwrap();
    state.cas(run, "attempts", v, 1).unwrap();
    state.init(run, "gone", "x").unwrap();
    state.delete(run, "gone").unwrap();
    state.init(run, "gone", "back").unwrap();
    state
        .define(
            run,
            "plan",
            &MachineDefinition::new("planning")
                .transition("planning", "ready", "executing")
                .transition("executing", "done", "finished")
                .terminal("finished"),
        )
        .unwrap();
    state.fire(run, "plan", "ready").unwrap();
    let trace = TraceStore::new(db);
    let root = trace.start(run, NewSpan::thought("plan the walk")).unwrap();
    let call = trace
        .start(
            run,
            NewSpan::tool_call("weather", Value::from("Oslo"))
                .parent(root)
                .tag("web")
                .attribute("attempt", Value::I64(1)),
        )
        .unwrap();
    trace
        .finish_with(run, call, SpanStatus::Ok, Some(Value::from("sunny")))
        .unwrap();
    trace
        .record(
            run,
            NewSpan::decision("go?", vec!["yes".into(), "no".into()], "yes", "it is sunny")
                .parent(root),
        )
        .unwrap();
    trace.finish(run, root, SpanStatus::Ok).unwrap();
    KVStore::new(db).put(run, "big", u64::MAX).unwrap();
    db.end_run(run).unwrap();
    let deleted = db.begin_run_with(RunOptions::new().id(DELETED)).unwrap();
    events.append(deleted, "doomed", 1).unwrap();
    db.end_run(deleted).unwrap();
    db.delete_run(deleted).unwrap();
}

#[test]
fn primitives() {
    sets().for_each(check_primitives);
}

fn check_primitives(set: &str) {
    use in_mem::primitives::{EventLog, KVStore, SpanKind, SpanStatus, StateMachine, TraceStore};
    let (_tmp, db) = open_copy(set, "primitives");
    let run = PRIMITIVES;
    let events = EventLog::new(&db);
    let all: Vec<_> = events.iter(run).map(Result::unwrap).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].event_type, "observed");
    assert_eq!(
        all[0].payload,
        Value::Array(vec![Value::from("sunny"), Value::I64(21)])
    );
    assert_eq!(
        (all[1].event_type.as_str(), &all[1].payload),
        ("decided", &Value::from("walk"))
    );
    assert_eq!(all[2].payload, Value::Bytes(vec![1, 2]));
    assert!(all.iter().all(|e| e.timestamp >= T0));
    assert_eq!(events.verify_chain(run).unwrap().events, 3);
    assert_eq!(events.read_by_type(run, "observed").unwrap().len(), 2);
    let state = StateMachine::new(&db);
    let attempts = state.read(run, "attempts").unwrap().unwrap();
    assert_eq!((attempts.value, attempts.version), (Value::I64(1), 2));
    let gone = state.read(run, "gone").unwrap().unwrap();
    assert_eq!(
        (gone.value, gone.version),
        (Value::from("back"), 2),
        "deletion kept the version"
    );
    let plan = state.machine_state(run, "plan").unwrap().unwrap();
    assert_eq!((plan.value, plan.version), (Value::from("executing"), 2));
    assert!(
        state
            .definition(run, "plan")
            .unwrap()
            .unwrap()
            .is_terminal("finished")
    );
    let trace = TraceStore::new(&db);
    let roots = trace.roots(run).unwrap();
    assert_eq!(roots.len(), 1);
    let tree = trace.tree(run, roots[0].id).unwrap().unwrap();
    assert_eq!(tree.span.status, SpanStatus::Ok);
    assert_eq!(tree.children.len(), 2);
    let call = &tree.children[0].span;
    match &call.kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            duration_us,
        } => {
            assert_eq!(
                (tool.as_str(), arguments, result.as_ref()),
                ("weather", &Value::from("Oslo"), Some(&Value::from("sunny")))
            );
            assert!(duration_us.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(call.tags, ["web"]);
    assert_eq!(call.attributes["attempt"], Value::I64(1));
    assert_eq!(trace.by_kind(run, "decision").unwrap().len(), 1);
    assert_eq!(trace.by_tag(run, "web").unwrap()[0].id, call.id);
    let big: u64 = KVStore::new(&db).get(run, "big").unwrap().unwrap();
    assert_eq!(big, u64::MAX);
    assert!(matches!(
        db.run_info(DELETED),
        Err(in_mem::Error::UnknownRun { .. })
    ));
    assert_eq!(db.run_info(run).unwrap().status, RunStatus::Completed);
}

// ---- the set as a whole ----------------------------------------------------------------------

/// The fixtures' files name the format versions of their set (bytes 8..12 of every file, right
/// after the magic): a fixture of another format does not belong in this set.
#[test]
fn fixtures_name_their_format_versions() {
    let version = |file: &Path| {
        let bytes = std::fs::read(file).unwrap();
        u32::from_le_bytes(bytes[8..12].try_into().unwrap())
    };
    let mut seen = 0;
    for (set, (identity, segment, checkpoint)) in SETS {
        for name in [
            "kv_runs_ttl",
            "checkpoint_and_log",
            "torn_tail",
            "primitives",
        ] {
            let dir = fixtures(set).join(name);
            assert_eq!(version(&dir.join("IDENTITY")), identity, "{name}");
            for file in std::fs::read_dir(dir.join("wal")).unwrap() {
                let file = file.unwrap().path();
                if std::fs::read(&file).unwrap().starts_with(b"INMEMWAL") {
                    assert_eq!(version(&file), segment, "{}", file.display());
                    seen += 1;
                }
            }
            // Git keeps no empty directory: a fixture without checkpoints may lack the folder.
            let checkpoints = dir.join("checkpoints");
            if !checkpoints.exists() {
                continue;
            }
            for file in std::fs::read_dir(checkpoints).unwrap() {
                let file = file.unwrap().path();
                assert_eq!(version(&file), checkpoint, "{}", file.display());
                seen += 1;
            }
        }
    }
    assert!(seen >= 4 * SETS.len(), "{seen} files with headers");
}

/// Writes the fixtures of the last of `SETS` into `tests/fixtures/<set>/` (which must not exist
/// yet: a committed set is never regenerated). Run with
/// `cargo test -p in-mem --test golden -- --ignored generate_fixtures`.
#[test]
#[ignore = "writes the fixtures into the source tree; run by hand for a new format"]
fn generate_fixtures() {
    let (set, _) = SETS[SETS.len() - 1];
    let root = fixtures(set);
    assert!(
        !root.exists(),
        "{} exists: a committed fixture set is never regenerated; a new format gets a new set",
        root.display()
    );
    let generate = |name: &str, write: &dyn Fn(&Database)| {
        let path = root.join(name);
        let clock = Arc::new(ManualClock::new(T0));
        let db = Database::open_with_options(&path, options().clock(clock).sweep_interval(HOUR))
            .unwrap();
        write(&db);
        db.close().unwrap();
        std::fs::remove_file(path.join("LOCK")).unwrap();
    };
    generate("kv_runs_ttl", &write_kv_runs_ttl);
    generate("checkpoint_and_log", &|db| {
        write_checkpoint_and_log(db);
    });
    generate("torn_tail", &write_torn_tail);
    generate("primitives", &write_primitives);
    tear_last_record(&root.join("torn_tail"));
}
