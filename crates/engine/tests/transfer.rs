//! Dumps and restores: a database restored from its dump dumps the same, reads the same
//! (memory, events, forks and their views of the past, run records), and a bad dump is refused
//! naming its first bad entry with nothing left behind.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use in_mem_core_types::Value;
use in_mem_engine::{At, Content, Database, Error, RunOptions, RunStatus};

fn write_history(db: &Database) -> (in_mem_core_types::RunId, in_mem_core_types::RunId) {
    let parent = db
        .begin_run_with(RunOptions::new().tag("t").metadata(Value::from("m")))
        .unwrap();
    for i in 0..5i64 {
        db.put_value(parent, "count", &Value::I64(i)).unwrap();
        db.transaction(parent, |tx| tx.events().append("tick", &Value::I64(i)))
            .unwrap();
    }
    db.put_with_ttl(
        parent,
        b"session",
        b"x",
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    db.delete(parent, b"session").unwrap();
    let fork = db.fork_run(parent, At::Event(2)).unwrap();
    db.put_value(fork, "count", &Value::from("forked")).unwrap();
    db.fail_run(parent, "boom").unwrap();
    (parent, fork)
}

#[test]
fn a_restored_database_dumps_the_same_and_reads_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path().join("a")).unwrap();
    let (parent, fork) = write_history(&db);
    let dump = db.dump(None).unwrap();
    // Ranks: dense from 1.
    assert_eq!(dump.entries.first().unwrap().version, 1);
    assert!(
        dump.entries
            .windows(2)
            .all(|w| w[1].version - w[0].version <= 1)
    );

    let restored = Database::restore(tmp.path().join("b"), &dump).unwrap();
    assert_eq!(restored.dump(None).unwrap(), dump);
    assert_eq!(
        restored.get_value(fork, "count").unwrap(),
        Some(Value::from("forked"))
    );
    // The fork still reads its parent's past at the fork point.
    let view = restored.run_view_at(parent, At::Event(2)).unwrap();
    assert_eq!(view.get_value("count").unwrap(), Some(Value::I64(2)));
    let info = restored.run_info(parent).unwrap();
    assert_eq!(info.status, RunStatus::Failed);
    assert_eq!(info.error.as_deref(), Some("boom"));
    assert_eq!(info.tags, vec!["t".to_owned()]);
    assert_eq!(restored.run_info(fork).unwrap().parent, Some(parent));
    let chain = restored
        .transaction(parent, |tx| tx.events().verify_chain(parent))
        .unwrap();
    assert_eq!(chain.events, 5);
    // The restored database takes new commits after the restored ones.
    let next = restored.begin_run();
    restored.put(next, b"k", b"v").unwrap();
    restored.close().unwrap();
    // A dump of one run holds only its records and the memory it wrote.
    let only_fork = db.dump(Some(&[fork, parent])).unwrap();
    assert!(only_fork.entries.len() <= dump.entries.len());
    let solo = db.dump(Some(&[fork])).unwrap();
    assert!(
        solo.entries
            .iter()
            .all(|e| e.writer == fork || e.key.namespace().run() == fork)
    );
}

#[test]
fn a_bad_dump_is_refused_by_its_first_bad_entry_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path().join("a")).unwrap();
    write_history(&db);
    let dump = db.dump(None).unwrap();
    let target = tmp.path().join("b");
    let refused = |dump: &in_mem_engine::Dump| {
        let err = Database::restore(&target, dump).unwrap_err();
        assert!(
            !target.exists(),
            "a refused restore created {}",
            target.display()
        );
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(
            leftovers.len(),
            1,
            "a refused restore left files beside the target"
        );
        match err {
            Error::BadDump { entry, reason } => (entry, reason),
            other => panic!("expected BadDump, got {other:?}"),
        }
    };
    // A gap in the commits.
    let mut gap = dump.clone();
    for e in &mut gap.entries[10..] {
        e.version += 1;
    }
    let (entry, reason) = refused(&gap);
    assert_eq!(entry, 10);
    assert!(reason.contains("no gaps"), "{reason}");
    // A run's data without its run record.
    let mut orphan = dump.clone();
    let i = orphan
        .entries
        .iter()
        .position(|e| e.key.type_tag() == in_mem_core_types::TypeTag::Event)
        .unwrap();
    let key = &orphan.entries[i].key;
    let stranger = in_mem_core_types::Namespace::for_run(
        key.namespace().agent_id().clone(),
        in_mem_core_types::RunId::new(),
    );
    orphan.entries[i].key = in_mem_core_types::Key::new(stranger, key.type_tag(), key.user_key());
    let (entry, reason) = refused(&orphan);
    assert_eq!(entry, i);
    assert!(reason.contains("no run record"), "{reason}");
    // A stored status that is never stored.
    let mut interrupted = dump.clone();
    let i = interrupted
        .entries
        .iter()
        .position(|e| matches!(e.content, Content::Run(_)))
        .unwrap();
    if let Content::Run(fields) = &mut interrupted.entries[i].content {
        fields.status = RunStatus::Interrupted;
    }
    assert_eq!(refused(&interrupted).0, i);
    // A target that holds something.
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("x"), b"x").unwrap();
    assert!(matches!(
        Database::restore(&target, &dump),
        Err(Error::TargetNotEmpty { .. })
    ));
}
