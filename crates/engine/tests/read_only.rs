//! Read-only opening beside a live writer: the reader sees a consistent prefix, refreshes as
//! the writer commits, keeps live runs active, refuses every change with a typed error, and
//! never writes, cuts or locks anything (a writer opening afterwards finds the files as they
//! were and recovers them itself).
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use in_mem_core_types::Value;
use in_mem_engine::{Database, DurabilityMode, Error, RunStatus, TailState};

use common::{open, segments};

/// Every file and directory under `path`, with the files' bytes.
fn snapshot(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), Vec::new());
                pending.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn events(db: &Database, run: in_mem_core_types::RunId) -> Vec<(String, Value)> {
    db.transaction(run, |tx| {
        let n = tx.events().len()?;
        tx.events().range(0..n)
    })
    .unwrap()
    .into_iter()
    .map(|e| (e.event_type, e.payload))
    .collect()
}

#[test]
fn a_reader_sees_what_the_writer_committed_and_refreshes_as_it_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = open(tmp.path(), DurabilityMode::Strict);
    let done = writer.begin_run();
    writer.put(done, b"k", b"1").unwrap();
    writer
        .transaction(done, |tx| tx.events().append("saw", &Value::from("a")))
        .unwrap();
    writer.end_run(done).unwrap();
    let live = writer.begin_run();
    writer.put(live, b"live", b"x").unwrap();

    let reader = Database::open_read_only(tmp.path()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.get(done, b"k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        events(&reader, done),
        vec![("saw".into(), Value::from("a"))]
    );
    assert_eq!(reader.run_info(done).unwrap().status, RunStatus::Completed);
    // The writer is running this one: a reader does not call it interrupted.
    assert_eq!(reader.run_info(live).unwrap().status, RunStatus::Active);
    assert!(reader.recovery_report().interrupted_runs.is_empty());
    assert_eq!(reader.recovery_report().unread_tail, None);

    // The writer goes on: a new run, more events, the live run ends.
    let later = writer.begin_run();
    writer.put(later, b"k", b"2").unwrap();
    writer
        .transaction(live, |tx| tx.events().append("step", &Value::I64(1)))
        .unwrap();
    writer.end_run(live).unwrap();
    assert!(matches!(
        reader.run_info(later),
        Err(Error::UnknownRun { .. })
    ));
    // This thread has `live` cached as active: the refresh must replace what it cached.
    assert_eq!(reader.run_info(live).unwrap().status, RunStatus::Active);
    let refreshed = reader.refresh().unwrap();
    assert_eq!(refreshed.commits, 4);
    assert_eq!(refreshed.last_version, writer.stats().visible_version);
    assert_eq!(reader.get(later, b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(events(&reader, live), vec![("step".into(), Value::I64(1))]);
    assert_eq!(reader.run_info(live).unwrap().status, RunStatus::Completed);
    assert_eq!(reader.runs().len(), 3);
    // The ended run takes no more writes, as seen from the reader too.
    assert!(reader.refresh().unwrap().commits == 0);
    writer.close().unwrap();
}

#[test]
fn every_change_through_a_reader_is_a_typed_error_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = open(tmp.path(), DurabilityMode::Strict);
    let run = writer.begin_run();
    writer.put(run, b"k", b"1").unwrap();
    writer.close().unwrap();
    let before = snapshot(tmp.path());

    let reader = Database::open_read_only(tmp.path()).unwrap();
    let read_only = |r: Result<(), Error>| {
        let err = r.unwrap_err();
        assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
        assert!(err.to_string().contains("read-only"), "{err}");
    };
    read_only(reader.put(run, b"k", b"2").map(|_| ()));
    read_only(reader.delete(run, b"k").map(|_| ()));
    read_only(reader.try_begin_run().map(|_| ()));
    read_only(reader.end_run(run));
    read_only(reader.set_run_tags(run, ["t"]));
    read_only(reader.checkpoint().map(|_| ()));
    read_only(
        reader
            .transaction(run, |tx| tx.events().append("e", &Value::Null))
            .map(|_| ()),
    );
    // The infallible begin registers nothing it cannot log.
    let phantom = reader.begin_run();
    assert!(matches!(
        reader.run_info(phantom),
        Err(Error::UnknownRun { .. })
    ));
    // Nothing changed in memory either.
    assert_eq!(reader.get(run, b"k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(reader.run_info(run).unwrap().status, RunStatus::Active);
    assert!(reader.run_info(run).unwrap().tags.is_empty());
    reader.flush().unwrap();
    reader.close().unwrap();
    assert_eq!(
        snapshot(tmp.path()),
        before,
        "a read-only open changed the directory"
    );
}

#[test]
fn a_reader_never_cuts_a_torn_tail_and_a_writer_opening_after_it_recovers_as_usual() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = open(tmp.path(), DurabilityMode::Strict);
    let run = writer.begin_run();
    for i in 0..20u32 {
        writer.put(run, format!("k{i}"), i.to_le_bytes()).unwrap();
    }
    writer.close().unwrap();
    // A torn last record: its frame header is there, its checksum does not match.
    let segment = segments(tmp.path()).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let frames = in_mem_durability::inspect::segment_frames(&bytes);
    let last = *frames.last().unwrap();
    let at = usize::try_from(last.offset + last.len).unwrap();
    bytes[at..at + 12].copy_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9]);
    std::fs::write(&segment, &bytes).unwrap();
    let before = snapshot(tmp.path());

    let reader = Database::open_read_only(tmp.path()).unwrap();
    let stop = reader.recovery_report().unread_tail.clone().unwrap();
    assert_eq!(stop.file, segment);
    assert_eq!(stop.offset, last.offset + last.len);
    assert_eq!(reader.recovery_report().tail, TailState::Clean);
    assert_eq!(
        reader.get(run, b"k19").unwrap(),
        Some(19u32.to_le_bytes().to_vec())
    );
    drop(reader);
    assert_eq!(
        snapshot(tmp.path()),
        before,
        "the reader cut or wrote something"
    );

    let writer = Database::open(tmp.path()).unwrap();
    assert!(matches!(
        writer.recovery_report().tail,
        TailState::Cut { .. }
    ));
    // The torn bytes followed the last record: every commit is still there.
    assert_eq!(
        writer.get(run, b"k19").unwrap(),
        Some(19u32.to_le_bytes().to_vec())
    );
}

#[test]
fn a_reader_opened_while_the_writer_checkpoints_sees_a_prefix_and_reopens_when_left_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = Arc::new(open(
        tmp.path(),
        DurabilityMode::Batched {
            interval_ms: 5,
            max_commits: 100,
        },
    ));
    let run = writer.begin_run();
    writer.put(run, b"n", 0u64.to_le_bytes()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (writer, stop) = (Arc::clone(&writer), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < 20_000 {
                n += 1;
                // A value that fills segments quickly, so checkpoints remove some.
                let mut value = n.to_le_bytes().to_vec();
                value.resize(512, 7);
                writer.put(run, b"n", &value).unwrap();
                writer
                    .transaction(run, |tx| {
                        tx.events().append("n", &Value::I64(n.cast_signed()))
                    })
                    .unwrap();
                if n.is_multiple_of(300) {
                    writer.checkpoint().unwrap();
                }
            }
            n
        })
    };
    let mut last = 0u64;
    let mut reopened = 0;
    let mut reader = Database::open_read_only(tmp.path()).unwrap();
    for _ in 0..200 {
        match reader.refresh() {
            Ok(_) => {}
            Err(e) if e.is_reader_behind() => {
                reopened += 1;
                reader = Database::open_read_only(tmp.path()).unwrap();
            }
            Err(e) => panic!("refresh failed: {e}"),
        }
        let value = reader.get(run, b"n").unwrap().unwrap();
        let n = u64::from_le_bytes(value[..8].try_into().unwrap());
        assert!(n >= last, "the reader went back in time: {n} after {last}");
        last = n;
        // A consistent prefix: every commit up to the one that wrote `n` is there, so the
        // event log is exactly as long as `n` says or one longer (the put and the append are
        // two commits, in that order).
        let len = reader.transaction(run, |tx| tx.events().len()).unwrap();
        assert!(
            len == n || len + 1 == n || (n == 0 && len == 0),
            "n {n}, events {len}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let written = background.join().unwrap();
    assert!(last <= written);
    // Whether it fell behind depends on timing; opening again always reads to the end.
    let _ = reopened;
    let reader = Database::open_read_only(tmp.path()).unwrap();
    let value = reader.get(run, b"n").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(value[..8].try_into().unwrap()), written);
}
