use std::ffi::OsStr;

use super::*;
use crate::vfs::{StdFs, read_exact_at};

#[test]
fn names_are_zero_padded_and_classified() {
    assert_eq!(segment_file_name(42), "00000000000000000042.seg");
    assert_eq!(segment_file_name(u64::MAX), "18446744073709551615.seg");
    assert_eq!(
        classify(OsStr::new("00000000000000000042.seg")),
        EntryName::Segment(42)
    );
    assert_eq!(
        classify(OsStr::new("18446744073709551615.seg")),
        EntryName::Segment(u64::MAX)
    );
    assert_eq!(
        classify(OsStr::new("00000000000000000042.seg.tmp")),
        EntryName::Temp
    );
    for other in [
        "42.seg",
        "99999999999999999999.seg",
        "0000000000000000004x.seg",
        "LOCK",
        "a.seg",
    ] {
        assert_eq!(classify(OsStr::new(other)), EntryName::Other, "{other}");
    }
}

#[test]
fn create_makes_a_zeroed_segment_and_refuses_to_replace_one() {
    let tmp = tempfile::tempdir().unwrap();
    let segment = create(&StdFs, tmp.path(), 3, 10_000).unwrap();
    assert_eq!(segment.sequence, 3);
    assert_eq!(segment.path, tmp.path().join("00000000000000000003.seg"));
    assert_eq!(segment.file.len().unwrap(), 10_000);
    let mut buf = vec![1u8; 10_000];
    read_exact_at(&*segment.file, &mut buf, 0).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    let names = StdFs.read_dir(tmp.path()).unwrap();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("00000000000000000003.seg")]
    );
    let err = create(&StdFs, tmp.path(), 3, 10_000).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");

    grow(&segment, 10_000, 20_000).unwrap();
    assert_eq!(segment.file.len().unwrap(), 20_000);
}
