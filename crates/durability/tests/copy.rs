//! `copy_database`: a backup keeps the database's id, a copy that lives beside the original
//! takes a new one; both open with everything the original holds.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use common::*;
use in_mem_core_types::Version;
use in_mem_durability::{CopyIdentity, Error, Mismatch, StdFs, TailState, copy_database};

/// A copy that will live beside the original takes a new id (every header is rewritten); a
/// backup keeps it. Both open with every record; a segment of one in the other is refused.
#[test]
fn a_copy_takes_a_new_id_and_a_backup_keeps_it() {
    let (log, copies) = (scratch_dir(), scratch_dir());
    make_log(log.path(), SEGMENT, 50);
    let (backup, copy) = (copies.path().join("backup"), copies.path().join("copy"));
    let kept = copy_database(&StdFs, log.path(), &backup, CopyIdentity::Keep).unwrap();
    let new = copy_database(&StdFs, log.path(), &copy, CopyIdentity::New).unwrap();
    assert_eq!(kept.to_bytes(), identity_of(log.path()).0);
    assert_ne!(new, kept);
    assert_eq!(new.to_bytes(), identity_of(&copy).0);
    reopen_expect(&backup, SEGMENT, 50);
    reopen_expect(&copy, SEGMENT, 50);
    // A segment of the copy put into the original is another database's.
    let middle = live_segments(log.path())[1].clone();
    std::fs::copy(copy.join("wal").join(middle.file_name().unwrap()), &middle).unwrap();
    let dir = std_dir(log.path());
    let err = open_wal(&dir, SEGMENT, Version::ZERO).unwrap_err();
    assert!(
        matches!(&err, Error::FileMismatch { file, mismatch: Mismatch::OtherDatabase { .. } } if *file == middle),
        "{err}"
    );
    drop(dir);
    let err = copy_database(&StdFs, log.path(), &copy, CopyIdentity::Keep).unwrap_err();
    assert!(matches!(err, Error::CopyTargetNotEmpty { .. }), "{err}");
}

#[test]
fn the_source_must_be_closed_and_a_database() {
    let (log, out) = (scratch_dir(), scratch_dir());
    make_log(log.path(), SEGMENT, 5);
    let open = std_dir(log.path());
    let err = copy_database(
        &StdFs,
        log.path(),
        &out.path().join("c"),
        CopyIdentity::Keep,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(open);
    let empty = scratch_dir();
    let err = copy_database(
        &StdFs,
        empty.path(),
        &out.path().join("d"),
        CopyIdentity::New,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
}

/// A segment whose header is torn is copied as it is, for the copy's recovery to judge: the
/// copy cuts it as the original would.
#[test]
fn a_torn_header_is_copied_unchanged() {
    let (log, out) = (scratch_dir(), scratch_dir());
    make_log(log.path(), SEGMENT, 30);
    let live = live_segments(log.path()).len() as u64;
    let torn = &header(log.path(), live + 1, 31)[..13];
    let name = format!("{:020}.seg", live + 1);
    let mut content = torn.to_vec();
    content.resize(SEGMENT as usize, 0);
    std::fs::write(log.path().join("wal").join(&name), &content).unwrap();
    let copy = out.path().join("copy");
    copy_database(&StdFs, log.path(), &copy, CopyIdentity::New).unwrap();
    assert_eq!(
        std::fs::read(copy.join("wal").join(&name)).unwrap(),
        content
    );
    let (_dir, _wal, recovery) = reopen_expect(&copy, SEGMENT, 30);
    assert!(
        matches!(recovery.tail, TailState::Cut { offset: 0, .. }),
        "{recovery:?}"
    );
}
