use std::io;
use std::path::Path;

use super::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn files_round_trip_and_report_length() {
    let dir = tmp();
    let fs = StdFs;
    let path = dir.path().join("f");
    let file = fs.open(&path, OpenMode::CreateNew).unwrap();
    write_all_at(&*file, b"hello world", 3).unwrap();
    assert_eq!(file.len().unwrap(), 14);
    let mut buf = [0u8; 14];
    read_exact_at(&*file, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"\0\0\0hello world");
    file.sync_data().unwrap();
    file.set_len(5).unwrap();
    assert_eq!(file.len().unwrap(), 5);
    let err = read_exact_at(&*file, &mut buf, 0).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(
        fs.open(&path, OpenMode::CreateNew).is_err(),
        "create_new on an existing file"
    );
}

#[test]
fn write_zeros_overwrites_a_range() {
    let dir = tmp();
    let file = StdFs.open(&dir.path().join("z"), OpenMode::Create).unwrap();
    write_all_at(&*file, &[0xAB; 3000], 0).unwrap();
    write_zeros(&*file, 1000, 2500).unwrap();
    let mut buf = vec![0u8; 3000];
    read_exact_at(&*file, &mut buf, 0).unwrap();
    assert!(buf[..1000].iter().all(|&b| b == 0xAB));
    assert!(buf[1000..2500].iter().all(|&b| b == 0));
    assert!(buf[2500..].iter().all(|&b| b == 0xAB));
}

#[test]
fn directory_operations() {
    let dir = tmp();
    let fs = StdFs;
    let sub = dir.path().join("a/b");
    assert_eq!(fs.metadata(&sub).unwrap(), None);
    fs.create_dir_all(&sub).unwrap();
    assert!(fs.metadata(&sub).unwrap().unwrap().is_dir);
    let from = sub.join("x.tmp");
    drop(fs.open(&from, OpenMode::Create).unwrap());
    fs.rename(&from, &sub.join("x")).unwrap();
    fs.sync_dir(&sub).unwrap();
    assert_eq!(
        fs.read_dir(&sub).unwrap(),
        vec![std::ffi::OsString::from("x")]
    );
    let meta = fs.metadata(&sub.join("x")).unwrap().unwrap();
    assert!(!meta.is_dir);
    assert_eq!(meta.len, 0);
    fs.remove_file(&sub.join("x")).unwrap();
    assert!(fs.read_dir(&sub).unwrap().is_empty());
}

#[test]
fn lock_is_exclusive_within_one_process_and_released_on_drop() {
    let dir = tmp();
    let path = dir.path().join("LOCK");
    let first = StdFs.try_lock(&path).unwrap();
    assert!(first.is_some());
    assert!(
        StdFs.try_lock(&path).unwrap().is_none(),
        "second lock must fail"
    );
    drop(first);
    assert!(StdFs.try_lock(Path::new(&path)).unwrap().is_some());
}
