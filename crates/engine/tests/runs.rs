//! The run model: isolation between runs, visibility of earlier runs, lifecycle and its errors.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use in_mem_core_types::AgentId;
use in_mem_engine::{Database, DurabilityMode, Error, RunStatus};

fn db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = common::open(dir.path(), DurabilityMode::Async { interval_ms: 50 });
    (dir, db)
}

#[test]
fn runs_begun_before_either_writes_never_see_each_other() {
    let (_dir, db) = db();
    let a = db.begin_run();
    let b = db.begin_run();
    db.put(a, b"shared", b"from a").unwrap();
    db.put(b, b"shared", b"from b").unwrap();
    db.put(a, b"only-a", b"1").unwrap();
    assert_eq!(db.get(a, b"shared").unwrap(), Some(b"from a".to_vec()));
    assert_eq!(db.get(b, b"shared").unwrap(), Some(b"from b".to_vec()));
    assert_eq!(db.get(b, b"only-a").unwrap(), None);
    let listed: Vec<_> = db
        .list(b, b"")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, vec![b"shared".to_vec()]);

    // A run begun later sees both, the newest commit winning.
    let c = db.begin_run();
    assert_eq!(db.get(c, b"shared").unwrap(), Some(b"from b".to_vec()));
    assert_eq!(db.get(c, b"only-a").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_run_sees_its_own_deletes_but_not_later_ones_of_others() {
    let (_dir, db) = db();
    let setup = db.begin_run();
    db.put(setup, b"k", b"v").unwrap();
    let a = db.begin_run();
    let b = db.begin_run();
    assert!(db.delete(a, b"k").unwrap());
    assert_eq!(db.get(a, b"k").unwrap(), None);
    assert!(!db.delete(a, b"k").unwrap(), "already gone in a's view");
    assert_eq!(
        db.get(b, b"k").unwrap(),
        Some(b"v".to_vec()),
        "b began before the delete"
    );
    assert_eq!(db.get(db.begin_run(), b"k").unwrap(), None);
}

#[test]
fn agents_never_see_each_others_memory() {
    let (_dir, db) = db();
    let one = db
        .begin_run_in(&AgentId::new("tenant1", "app", "agent"))
        .unwrap();
    let two = db
        .begin_run_in(&AgentId::new("tenant2", "app", "agent"))
        .unwrap();
    db.put(one, b"secret", b"1").unwrap();
    let later_two = db
        .begin_run_in(&AgentId::new("tenant2", "app", "agent"))
        .unwrap();
    assert_eq!(db.get(later_two, b"secret").unwrap(), None);
    assert_eq!(db.get(two, b"secret").unwrap(), None);
    let later_one = db
        .begin_run_in(&AgentId::new("tenant1", "app", "agent"))
        .unwrap();
    assert_eq!(db.get(later_one, b"secret").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        db.run_info(one).unwrap().agent,
        AgentId::new("tenant1", "app", "agent")
    );
}

#[test]
fn ended_runs_stay_readable_and_refuse_writes() {
    let (_dir, db) = db();
    let run = db.begin_run();
    db.put(run, b"k", b"v").unwrap();
    db.end_run(run).unwrap();
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"v".to_vec()));
    assert!(matches!(db.put(run, b"k", b"w"), Err(Error::RunEnded { run: r }) if r == run));
    assert!(matches!(db.delete(run, b"k"), Err(Error::RunEnded { .. })));
    assert!(
        matches!(db.delete(run, b"never-there"), Err(Error::RunEnded { .. })),
        "a delete of an absent key is refused too"
    );
    assert!(matches!(db.end_run(run), Err(Error::RunEnded { .. })));
    let info = db.run_info(run).unwrap();
    assert_eq!(info.status, RunStatus::Completed);
    assert!(info.ended_at.is_some());
}

#[test]
fn unknown_runs_are_typed_errors() {
    let (_dir, db) = db();
    let stranger = in_mem_core_types::RunId::new();
    assert!(
        matches!(db.put(stranger, b"k", b"v"), Err(Error::UnknownRun { run }) if run == stranger)
    );
    assert!(matches!(
        db.get(stranger, b"k"),
        Err(Error::UnknownRun { .. })
    ));
    assert!(matches!(
        db.end_run(stranger),
        Err(Error::UnknownRun { .. })
    ));
    assert!(matches!(
        db.list(stranger, b""),
        Err(Error::UnknownRun { .. })
    ));
}

#[test]
fn versions_increase_by_one_per_commit() {
    let (_dir, db) = db();
    let run = db.begin_run();
    let v1 = db.put(run, b"a", b"1").unwrap();
    let v2 = db.put(run, b"b", b"2").unwrap();
    let v3 = db.put(run, b"a", b"3").unwrap();
    assert_eq!((v2, v3), (v1 + 1, v1 + 2));
    assert_eq!(db.get_versioned(run, b"a").unwrap().unwrap().version, v3);
}

#[test]
fn a_namespace_names_a_run_that_can_be_begun_with_its_id() {
    let (_dir, db) = db();
    let id = in_mem_core_types::RunId::new();
    let ns = in_mem_core_types::Namespace::new("tenant1", "my-app", "agent-v1", id);
    assert_eq!(db.begin_run_with_namespace(&ns).unwrap(), id);
    assert_eq!(db.run_info(id).unwrap().namespace(), ns);
    assert!(
        db.begin_run_with_namespace(&ns).is_err(),
        "ids are never reused"
    );
}

#[test]
fn handles_on_one_path_share_one_database_with_their_own_modes() {
    let dir = tempfile::tempdir().unwrap();
    let strict = common::open(dir.path(), DurabilityMode::Strict);
    let fast = common::open(dir.path(), DurabilityMode::Async { interval_ms: 1000 });
    assert_eq!(strict.durability_mode(), DurabilityMode::Strict);
    assert_eq!(
        fast.durability_mode(),
        DurabilityMode::Async { interval_ms: 1000 }
    );
    let run = fast.begin_run();
    fast.put(run, b"k", b"fast").unwrap();
    strict.put(run, b"k2", b"strict").unwrap();
    assert_eq!(strict.get(run, b"k").unwrap(), Some(b"fast".to_vec()));
    drop(strict);
    drop(fast);
    // Both handles gone: the directory is closed and reopens with everything.
    let db = common::open(dir.path(), DurabilityMode::Strict);
    let reader = db.begin_run();
    assert_eq!(db.get(reader, b"k").unwrap(), Some(b"fast".to_vec()));
    assert_eq!(db.get(reader, b"k2").unwrap(), Some(b"strict".to_vec()));
}

#[test]
fn database_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Database>();
}

#[test]
fn a_run_of_one_database_is_unknown_to_another_even_just_after_use() {
    // The per-thread run cache must be keyed by database, not only by run id.
    let (_a_dir, a) = db();
    let (_b_dir, b) = db();
    let run = a.begin_run();
    a.put(run, b"k", b"v").unwrap();
    assert_eq!(a.get(run, b"k").unwrap(), Some(b"v".to_vec()));
    assert!(matches!(b.get(run, b"k"), Err(Error::UnknownRun { .. })));
    assert!(matches!(
        b.put(run, b"k", b"w"),
        Err(Error::UnknownRun { .. })
    ));
    // And a run's state seen through the cache follows its lifecycle.
    a.end_run(run).unwrap();
    assert!(matches!(
        a.put(run, b"k", b"w"),
        Err(Error::RunEnded { .. })
    ));
}

#[test]
fn a_strict_commit_makes_every_earlier_commit_of_any_handle_durable() {
    use in_mem_durability::SimFs;
    let fs = SimFs::new(3);
    let path = std::path::Path::new("/in-mem-sim/handles/db");
    let fast = Database::open_with_options(
        path,
        common::sim_options(
            &fs,
            DurabilityMode::Async {
                interval_ms: 3_600_000,
            },
        ),
    )
    .unwrap();
    let strict =
        Database::open_with_options(path, common::sim_options(&fs, DurabilityMode::Strict))
            .unwrap();
    let run = fast.try_begin_run().unwrap();
    fast.put(run, b"warm-up", b"w").unwrap();
    fast.flush().unwrap();
    for i in 0..20u32 {
        fast.put(run, format!("async:{i}"), b"x").unwrap();
    }
    // Nothing has synced the Async commits yet: power loss now would take them.
    let before_strict = fs.crash_durable_only();
    strict.put(run, b"strict", b"y").unwrap();
    // The Strict commit's fdatasync covers every earlier record of the shared log.
    let after_strict = fs.crash_durable_only();
    // The images are opened once the live database is gone (a second open of the same path in
    // this process would return the live one).
    drop((fast, strict));
    let count = |image: &SimFs| {
        let db =
            Database::open_with_options(path, common::sim_options(image, DurabilityMode::Strict))
                .unwrap();
        let reader = db.try_begin_run().unwrap();
        let found = db.list(reader, b"async:").unwrap().len();
        (found, db.get(reader, b"strict").unwrap())
    };
    let (lost, _) = count(&before_strict);
    assert!(
        lost < 20,
        "the Async commits were durable already; the test shows nothing"
    );
    let (kept, strict_value) = count(&after_strict);
    assert_eq!(kept, 20);
    assert_eq!(strict_value, Some(b"y".to_vec()));
}
