//! Bad input: each case is a typed error that says what was wrong, nothing is written, and
//! nothing acknowledged is lost.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use in_mem_core_types::limits::{USER_KEY_BYTES_MAX, VALUE_BYTES_MAX};
use in_mem_core_types::{AgentId, Error as CoreError, NamespaceProblem};
use in_mem_engine::{Database, DurabilityMode, Error};

#[test]
fn bad_keys_values_and_names_are_typed_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let db = common::open(dir.path(), DurabilityMode::Strict);
        let run = db.begin_run();
        before = db.put(run, b"good", b"1").unwrap();

        let empty = db.put(run, b"", b"v").unwrap_err();
        assert!(
            matches!(empty, Error::Invalid(CoreError::EmptyKey)),
            "{empty}"
        );
        assert!(empty.to_string().contains("empty"), "{empty}");
        assert!(matches!(
            db.get(run, b""),
            Err(Error::Invalid(CoreError::EmptyKey))
        ));
        assert!(matches!(
            db.delete(run, b""),
            Err(Error::Invalid(CoreError::EmptyKey))
        ));

        let long = vec![b'k'; USER_KEY_BYTES_MAX + 1];
        let err = db.put(run, &long, b"v").unwrap_err();
        assert!(
            matches!(err, Error::Invalid(CoreError::KeyTooLong { len, .. }) if len == long.len()),
            "{err}"
        );
        assert!(db.list(run, &long).is_err());

        let huge = vec![0u8; VALUE_BYTES_MAX];
        let err = db.put(run, b"huge", &huge).unwrap_err();
        assert!(
            matches!(err, Error::Invalid(CoreError::ValueTooLarge { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("limit"), "{err}");

        for (agent, want_part, want_problem) in [
            (
                AgentId::new("", "app", "agent"),
                "tenant",
                NamespaceProblem::Empty,
            ),
            (
                AgentId::new("t", "a\0b", "agent"),
                "app",
                NamespaceProblem::ControlCharacter,
            ),
            (
                AgentId::new("t", "app", "x".repeat(200)),
                "agent",
                NamespaceProblem::TooLong,
            ),
        ] {
            match db.begin_run_in(&agent) {
                Err(Error::Invalid(CoreError::InvalidNamespace { part, problem, .. })) => {
                    assert_eq!((part, problem), (want_part, want_problem));
                }
                other => panic!("{agent:?}: expected InvalidNamespace, got {other:?}"),
            }
        }
    }
    let db = common::open(dir.path(), DurabilityMode::Strict);
    assert_eq!(
        db.recovery_report().last_version,
        before,
        "failed calls wrote nothing"
    );
    assert_eq!(
        db.get(db.begin_run(), b"good").unwrap(),
        Some(b"1".to_vec())
    );
}

#[test]
fn a_path_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    let err = Database::open(&file).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Durability(in_mem_durability::Error::NotADirectory { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"hello",
        "the file is untouched"
    );
}

#[test]
fn a_path_below_a_file_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = Database::open(file.join("db")).unwrap_err();
    assert!(matches!(err, Error::Durability(_)), "{err}");
    assert!(err.to_string().contains("file"), "{err}");
}

#[test]
fn a_directory_without_permission_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores permission bits; there the same refusal comes from a read-only place.
    let probe = locked.join("probe");
    let target = if std::fs::create_dir(&probe).is_ok() {
        eprintln!("running as root: using /proc, which nobody may create directories in");
        std::path::PathBuf::from("/proc/in-mem-test-db")
    } else {
        locked.join("db")
    };
    let err = Database::open(&target).unwrap_err();
    assert!(
        matches!(err, Error::Durability(in_mem_durability::Error::Io { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains(&*target.to_string_lossy()),
        "{err}"
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn zero_intervals_and_tiny_segments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [
        DurabilityMode::Batched {
            interval_ms: 0,
            max_commits: 10,
        },
        DurabilityMode::Batched {
            interval_ms: 10,
            max_commits: 0,
        },
        DurabilityMode::Async { interval_ms: 0 },
    ] {
        let err = Database::open_with_mode(dir.path(), mode).unwrap_err();
        assert!(matches!(err, Error::InvalidOptions { .. }), "{err}");
    }
    let err = Database::open_with_options(
        dir.path(),
        in_mem_engine::OpenOptions::new().segment_bytes(10),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidOptions { .. }), "{err}");
}

#[test]
fn typed_values_are_not_returned_as_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::open(dir.path(), DurabilityMode::Async { interval_ms: 100 });
    let run = db.begin_run();
    db.put_value(run, b"n", &in_mem_core_types::Value::I64(3))
        .unwrap();
    let err = db.get(run, b"n").unwrap_err();
    assert!(matches!(err, Error::NotBytes { found: "i64", .. }), "{err}");
    assert_eq!(
        db.get_value(run, b"n").unwrap(),
        Some(in_mem_core_types::Value::I64(3))
    );
}
