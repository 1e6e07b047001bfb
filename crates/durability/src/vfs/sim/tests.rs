use super::*;

fn path(p: &str) -> PathBuf {
    PathBuf::from(p)
}

/// A file system with `/d/f` created and its entry durable.
fn with_file() -> (SimFs, Box<dyn VfsFile>) {
    with_file_seeded(1)
}

fn with_file_seeded(seed: u64) -> (SimFs, Box<dyn VfsFile>) {
    let fs = SimFs::new(seed);
    fs.create_dir_all(&path("/d")).unwrap();
    fs.sync_dir(&path("/")).unwrap();
    let f = fs.open(&path("/d/f"), OpenMode::Create).unwrap();
    fs.sync_dir(&path("/d")).unwrap();
    (fs, f)
}

#[test]
fn only_synced_bytes_survive_when_nothing_else_lands() {
    let (fs, f) = with_file();
    f.write_at(b"hello", 0).unwrap();
    f.sync_data().unwrap();
    f.write_at(b" world", 5).unwrap();
    assert_eq!(fs.read_file(&path("/d/f")).unwrap(), b"hello world");
    let after = fs.crash_durable_only();
    assert_eq!(after.read_file(&path("/d/f")).unwrap(), b"hello");
    // The original is untouched, and the image is a working file system.
    assert_eq!(fs.read_file(&path("/d/f")).unwrap(), b"hello world");
    let g = after.open(&path("/d/f"), OpenMode::ReadWrite).unwrap();
    g.write_at(b"!", 5).unwrap();
    assert_eq!(after.read_file(&path("/d/f")).unwrap(), b"hello!");
}

#[test]
fn unsynced_writes_persist_out_of_order_torn_and_with_garbage() {
    let (fs, f) = with_file();
    f.set_len(8).unwrap();
    f.sync_data().unwrap();
    f.write_at(b"AAAA", 0).unwrap();
    f.write_at(b"BBBB", 4).unwrap();
    f.write_at(b"CCCC", 8).unwrap();
    let (mut out_of_order, mut torn, mut garbage, mut all, mut none) = (0, 0, 0, 0, 0);
    for seed in 0..400 {
        let bytes = fs.crash(seed).read_file(&path("/d/f")).unwrap();
        assert_eq!(
            bytes,
            fs.crash(seed).read_file(&path("/d/f")).unwrap(),
            "seeded"
        );
        assert!(bytes.len() >= 8, "synced length stays");
        let a = &bytes[0..4];
        let b = &bytes[4..8];
        if a == [0; 4] && b == b"BBBB" {
            out_of_order += 1;
        }
        if [a, b]
            .iter()
            .any(|x| x.contains(&0) && x.iter().any(|&c| c != 0))
        {
            torn += 1;
        }
        if bytes.len() > 8 && bytes[8..].iter().all(|&c| c != b'C' && c != 0) {
            garbage += 1;
        }
        all += u32::from(bytes == b"AAAABBBBCCCC");
        none += u32::from(bytes == [0; 8]);
    }
    for (what, n) in [
        ("a later write without an earlier one", out_of_order),
        ("a torn write", torn),
        ("garbage in extended length", garbage),
        ("everything", all),
        ("nothing", none),
    ] {
        assert!(n > 0, "no crash left {what}");
    }
}

#[test]
fn directory_entries_need_a_directory_sync() {
    let (fs, f) = with_file();
    f.write_at(b"x", 0).unwrap();
    f.sync_data().unwrap();
    let g = fs.open(&path("/d/new"), OpenMode::CreateNew).unwrap();
    g.write_at(b"y", 0).unwrap();
    g.sync_data().unwrap();
    fs.rename(&path("/d/f"), &path("/d/g")).unwrap();
    fs.create_dir_all(&path("/d/sub/deeper")).unwrap();
    let after = fs.crash_durable_only();
    assert_eq!(after.list(&path("/d")), vec!["f".to_owned()]);
    assert_eq!(after.read_file(&path("/d/f")).unwrap(), b"x");
    // A random crash keeps a prefix of the entry changes, never a later one without an earlier.
    for seed in 0..100 {
        let names = fs.crash(seed).list(&path("/d"));
        let renamed = names.contains(&"g".to_owned());
        assert!(!renamed || names.contains(&"new".to_owned()), "{names:?}");
        assert_eq!(names.contains(&"f".to_owned()), !renamed, "{names:?}");
    }
    fs.sync_dir(&path("/d")).unwrap();
    let after = fs.crash_durable_only();
    assert_eq!(after.list(&path("/d")), vec!["g", "new", "sub"]);
    assert!(
        after.list(&path("/d/sub")).is_empty(),
        "sub/deeper was never synced"
    );
    // A removal is durable only after the directory sync, too.
    fs.remove_file(&path("/d/new")).unwrap();
    assert_eq!(
        fs.crash_durable_only().list(&path("/d")),
        vec!["g", "new", "sub"]
    );
    fs.sync_dir(&path("/d")).unwrap();
    assert_eq!(fs.crash_durable_only().list(&path("/d")), vec!["g", "sub"]);
}

#[test]
fn a_failed_sync_loses_what_did_not_land_even_after_a_later_sync() {
    let mut lost = 0;
    for seed in 0..40 {
        let (fs, f) = with_file_seeded(seed);
        fs.set_faults(SimFaults::none().fail_sync(1));
        f.write_at(b"abcd", 0).unwrap();
        f.write_at(b"efgh", 4).unwrap();
        let err = f.sync_data().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EIO));
        // A retry "succeeds", as on Linux, but writes nothing that was dropped.
        f.sync_data().unwrap();
        assert_eq!(fs.read_file(&path("/d/f")).unwrap(), b"abcdefgh");
        let durable = fs.crash_durable_only().read_file(&path("/d/f")).unwrap();
        lost += u32::from(durable.len() < 8 || durable.contains(&0));
    }
    assert!(
        lost > 0,
        "a failed sync must be able to lose data a retry reports as synced"
    );
}

#[test]
fn faults_fail_the_nth_call_of_the_files_named() {
    let (fs, f) = with_file();
    let other = fs.open(&path("/d/other.seg"), OpenMode::Create).unwrap();
    fs.set_faults(
        SimFaults::none()
            .fail_write(2)
            .fail_sync(2)
            .only_files_containing(".seg"),
    );
    f.write_at(b"a", 0).unwrap();
    f.write_at(b"a", 1).unwrap();
    other.write_at(b"1", 0).unwrap();
    assert_eq!(
        other.write_at(b"2", 1).unwrap_err().raw_os_error(),
        Some(EIO)
    );
    other.write_at(b"3", 1).unwrap();
    f.sync_data().unwrap();
    other.sync_data().unwrap();
    assert!(other.sync_data().is_err());
    other.sync_data().unwrap();
}

#[test]
fn a_space_budget_fails_growth_with_enospc_but_not_writes_inside() {
    let (fs, f) = with_file();
    fs.set_faults(SimFaults::none().space_bytes(10));
    f.set_len(8).unwrap();
    f.write_at(b"12345678", 0).unwrap();
    let err = f.write_at(b"abc", 8).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert!(f.set_len(11).is_err());
    f.write_at(b"ab", 8).unwrap();
    fs.set_faults(SimFaults::none());
    f.set_len(100).unwrap();
}

#[test]
fn short_writes_store_a_prefix() {
    let (fs, f) = with_file();
    fs.set_faults(SimFaults::none().short_writes());
    let mut shorter = false;
    for i in 0..20u64 {
        let n = f.write_at(b"0123456789", i * 10).unwrap();
        assert!((1..=10).contains(&n));
        shorter |= n < 10;
    }
    assert!(shorter);
    // write_all_at finishes what a short write left.
    crate::vfs::write_all_at(&*f, b"abcdefghij", 500).unwrap();
    assert_eq!(&fs.read_file(&path("/d/f")).unwrap()[500..], b"abcdefghij");
}

#[test]
fn the_timeline_replays_every_call_and_crashes_like_the_original() {
    let fs = SimFs::new(3);
    fs.record();
    fs.create_dir_all(&path("/d")).unwrap();
    fs.sync_dir(&path("/")).unwrap();
    let f = fs.open(&path("/d/f"), OpenMode::Create).unwrap();
    for i in 0..5u64 {
        f.write_at(&[i as u8 + 1; 3], i * 3).unwrap();
        if i % 2 == 1 {
            f.sync_data().unwrap();
        }
    }
    fs.sync_dir(&path("/d")).unwrap();
    let mut timeline = fs.timeline();
    assert_eq!(timeline.len() as u64, fs.io_count());
    let mut durable_lens = Vec::new();
    loop {
        let image = timeline.crash_durable_only();
        durable_lens.push(image.read_file(&path("/d/f")).map(|b| b.len()));
        if !timeline.step() {
            break;
        }
    }
    // The entry becomes durable only at the last call; before that the file is gone.
    assert!(
        durable_lens[..durable_lens.len() - 1]
            .iter()
            .all(Option::is_none)
    );
    assert_eq!(*durable_lens.last().unwrap(), Some(12));
    assert_eq!(
        timeline.crash(9).read_file(&path("/d/f")),
        fs.crash(9).read_file(&path("/d/f"))
    );
}

#[test]
fn locks_are_exclusive_until_dropped() {
    let fs = SimFs::new(0);
    let guard = fs.try_lock(&path("/LOCK")).unwrap().unwrap();
    assert!(fs.try_lock(&path("/LOCK")).unwrap().is_none());
    assert!(
        fs.crash(0).try_lock(&path("/LOCK")).unwrap().is_some(),
        "a crash frees locks"
    );
    drop(guard);
    assert!(fs.try_lock(&path("/LOCK")).unwrap().is_some());
}

#[test]
fn errors_match_the_real_file_system() {
    let fs = SimFs::new(0);
    let kind = |r: io::Result<Box<dyn VfsFile>>| r.unwrap_err().kind();
    assert_eq!(
        kind(fs.open(&path("/nope"), OpenMode::Read)),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        kind(fs.open(&path("/a/b"), OpenMode::Create)),
        io::ErrorKind::NotFound
    );
    fs.open(&path("/x"), OpenMode::CreateNew).unwrap();
    assert_eq!(
        kind(fs.open(&path("/x"), OpenMode::CreateNew)),
        io::ErrorKind::AlreadyExists
    );
    assert!(fs.create_dir_all(&path("/x/y")).is_err());
    assert_eq!(
        fs.metadata(&path("/x")).unwrap(),
        Some(Metadata {
            is_dir: false,
            len: 0
        })
    );
    assert_eq!(
        fs.metadata(&path("/")).unwrap().map(|m| m.is_dir),
        Some(true)
    );
    let ro = fs.open(&path("/x"), OpenMode::Read).unwrap();
    assert!(ro.write_at(b"1", 0).is_err());
}
