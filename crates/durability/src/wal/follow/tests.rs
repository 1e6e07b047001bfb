//! The follower beside a live writer: it reads what is complete, goes on where it stopped,
//! crosses segments and generations, says when the writer removed what it needed, and never
//! changes a byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp};

use super::*;
use crate::vfs::StdFs;
use crate::wal::{CommitBody, OpRef, WaitFor, Wal, WalOptions, WriteRef};

const SEGMENT: u64 = 4096;

fn body(v: u64) -> CommitBody {
    let value = vec![v as u8; 10 + (v as usize * 53) % 400];
    let key = v.to_be_bytes();
    let writes = [WriteRef {
        key: &key,
        op: OpRef::Put {
            value: &value,
            ttl: None,
        },
    }];
    CommitBody::encode(Timestamp::from_micros(v), RunId::NIL, &writes).unwrap()
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: SEGMENT,
        ..WalOptions::default()
    }
}

fn append(wal: &Wal, versions: std::ops::RangeInclusive<u64>) {
    for v in versions {
        let t = wal.append(&body(v), || Version::new(v)).unwrap();
        wal.wait(t, WaitFor::Written).unwrap();
    }
}

/// Follows `dir` read-only from version 0; returns the follower and the versions read.
fn follow(path: &Path) -> (LogFollower, Vec<u64>, Followed) {
    let reader = DataDir::open_read_only(Arc::new(StdFs), path).unwrap();
    let mut seen = Vec::new();
    let (follower, outcome) = LogFollower::open(&reader, Version::ZERO, &mut |r| {
        seen.push(r.version.get());
        Ok(())
    })
    .unwrap();
    (follower, seen, outcome)
}

fn read_new(follower: &mut LogFollower) -> (Vec<u64>, Followed) {
    let mut seen = Vec::new();
    let outcome = follower
        .read_new(&mut |r| {
            seen.push(r.version.get());
            Ok(())
        })
        .unwrap();
    (seen, outcome)
}

/// Every file under `path` with its bytes.
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

#[test]
fn a_follower_reads_a_live_log_and_goes_on_as_it_grows_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let (wal, _) = Wal::open(&dir, options(), Version::ZERO, &mut |_| Ok(())).unwrap();
    append(&wal, 1..=10);
    let (mut follower, seen, outcome) = follow(tmp.path());
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(outcome.last_version, Version::new(10));
    assert_eq!(outcome.stop, None);
    // Nothing new: nothing read.
    assert_eq!(read_new(&mut follower).0, Vec::<u64>::new());
    // Enough to rotate through several 4 KiB segments.
    append(&wal, 11..=60);
    let (seen, outcome) = read_new(&mut follower);
    assert_eq!(seen, (11..=60).collect::<Vec<_>>());
    assert_eq!(outcome.records_replayed, 50);
    assert!(
        follower.segments_read().len() > 3,
        "{:?}",
        follower.segments_read()
    );
    wal.close().unwrap();
}

#[test]
fn a_follower_skips_what_its_checkpoint_covers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let (wal, _) = Wal::open(&dir, options(), Version::ZERO, &mut |_| Ok(())).unwrap();
    // Several segments below the checkpoint's version: the follower crosses them unread.
    append(&wal, 1..=60);
    let reader = DataDir::open_read_only(Arc::new(StdFs), tmp.path()).unwrap();
    let mut seen = Vec::new();
    let (follower, outcome) = LogFollower::open(&reader, Version::new(45), &mut |r| {
        seen.push(r.version.get());
        Ok(())
    })
    .unwrap();
    assert!(
        follower.segments_read().len() > 3,
        "{:?}",
        follower.segments_read()
    );
    assert_eq!(seen, (46..=60).collect::<Vec<_>>());
    assert_eq!(outcome.records_replayed, 15);
    wal.close().unwrap();
}

#[test]
fn a_torn_tail_stops_the_follower_changes_nothing_and_is_read_past_once_the_writer_cut_it() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
        let (wal, _) = Wal::open(&dir, options(), Version::ZERO, &mut |_| Ok(())).unwrap();
        append(&wal, 1..=3);
        wal.close().unwrap();
    }
    // A torn record after the last one: a frame header whose checksum does not match.
    let segment = tmp.path().join("wal").join(segment::segment_file_name(1));
    let mut bytes = std::fs::read(&segment).unwrap();
    let end = crate::inspect::segment_frames(&bytes)
        .last()
        .map(|f| f.offset + f.len)
        .unwrap();
    let end_at = usize::try_from(end).unwrap();
    bytes[end_at..end_at + 12].copy_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9]);
    std::fs::write(&segment, &bytes).unwrap();
    // A temp segment and a temp checkpoint a writer would clean up.
    std::fs::write(
        tmp.path().join("wal").join("00000000000000000009.seg.tmp"),
        b"x",
    )
    .unwrap();
    std::fs::write(
        tmp.path()
            .join("checkpoints")
            .join("00000000000000000002.ckpt.tmp"),
        b"y",
    )
    .unwrap();
    let before = snapshot(tmp.path());

    let (mut follower, seen, outcome) = follow(tmp.path());
    assert_eq!(seen, vec![1, 2, 3]);
    let stop = outcome.stop.unwrap();
    assert_eq!(stop.file, segment);
    assert_eq!(stop.offset, end);
    assert_eq!(stop.kind, CorruptionKind::BadRecordChecksum);
    // Reading again changes nothing either.
    assert_eq!(read_new(&mut follower).0, Vec::<u64>::new());
    assert_eq!(
        snapshot(tmp.path()),
        before,
        "a follower wrote to the directory"
    );

    // The writer opens: its recovery cuts the tail and begins a new generation, in a new
    // segment; the follower reads on into it.
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let (wal, recovery) = Wal::open(&dir, options(), Version::ZERO, &mut |_| Ok(())).unwrap();
    assert!(matches!(recovery.tail, crate::TailState::Cut { .. }));
    assert_eq!(recovery.generation, 2);
    append(&wal, 4..=6);
    let (seen, outcome) = read_new(&mut follower);
    assert_eq!(seen, vec![4, 5, 6]);
    assert_eq!(outcome.stop, None);
    wal.close().unwrap();
}

#[test]
fn a_follower_whose_segments_were_removed_says_the_writer_moved_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let (wal, _) = Wal::open(&dir, options(), Version::ZERO, &mut |_| Ok(())).unwrap();
    append(&wal, 1..=5);
    let (mut follower, _, _) = follow(tmp.path());
    append(&wal, 6..=80);
    // A checkpoint at 70 would let the writer remove every segment wholly below it.
    assert!(wal.remove_segments_below(Version::new(70)).unwrap() > 1);
    let mut replay = |_| Ok(());
    let err = follower.read_new(&mut replay).unwrap_err();
    assert!(
        matches!(err, Error::ReaderBehind { .. }),
        "{err:?}: the follower must not skip the removed records"
    );
    // A new follower from version 0 is refused the same way; one from the checkpoint reads on.
    let reader = DataDir::open_read_only(Arc::new(StdFs), tmp.path()).unwrap();
    let err = LogFollower::open(&reader, Version::ZERO, &mut replay).unwrap_err();
    assert!(matches!(err, Error::ReaderBehind { expected, .. } if expected == Version::new(1)));
    let mut seen = Vec::new();
    LogFollower::open(&reader, Version::new(70), &mut |r| {
        seen.push(r.version.get());
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (71..=80).collect::<Vec<_>>());
    wal.close().unwrap();
}

#[test]
fn a_read_only_open_refuses_what_is_not_a_database_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let err = DataDir::open_read_only(Arc::new(StdFs), &missing).unwrap_err();
    assert!(matches!(err, Error::NoDatabase { .. }), "{err:?}");
    assert!(!missing.exists());
    let err = DataDir::open_read_only(Arc::new(StdFs), tmp.path()).unwrap_err();
    assert!(matches!(err, Error::NoDatabase { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // A read-only directory opens no log for writing.
    drop(DataDir::open(Arc::new(StdFs), &missing).unwrap());
    let reader = DataDir::open_read_only(Arc::new(StdFs), &missing).unwrap();
    assert!(reader.is_read_only());
    let err = Wal::open(&reader, options(), Version::ZERO, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
}

#[test]
fn a_writer_opens_while_a_reader_has_the_directory_open() {
    let tmp = tempfile::tempdir().unwrap();
    drop(DataDir::open(Arc::new(StdFs), tmp.path()).unwrap());
    let (_follower, _, _) = follow(tmp.path());
    let reader = DataDir::open_read_only(Arc::new(StdFs), tmp.path()).unwrap();
    // No lock is held by the reader: the writer's exclusive lock is granted.
    let writer = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    assert_eq!(writer.database_id(), reader.database_id());
}
