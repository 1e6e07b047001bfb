//! Export/import and backup beside a live writer process, and after a SIGKILL of it: an export
//! is a consistent state that imports and exports again byte for byte, and a backup opens as
//! the same database with every chain verifying.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::Path;
use std::process::Command;

use common::{Writer, import, in_mem, ok, path};

#[test]
#[ignore = "the writer process the other tests start (common::Writer), not a test on its own"]
fn writer_child() {
    common::writer_body();
}

/// `in-mem export DIR`, as bytes.
fn export(dir: &Path) -> Vec<u8> {
    let out = in_mem(&["export", path(dir)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn commits(export: &[u8]) -> u64 {
    let header = export.split(|&b| b == b'\n').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(header).unwrap();
    header["commits"].as_u64().unwrap()
}

fn verified(dir: &Path) {
    let out = in_mem(&["verify", path(dir)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn export_import_export_is_byte_identical_beside_a_live_writer_and_after_it_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let mut writer = Writer::start(&db, None, 1);
    writer.wait_for(300);
    let first = export(&db);
    import(&tmp.path().join("copy1"), &first);
    assert_eq!(
        export(&tmp.path().join("copy1")),
        first,
        "export -> import -> export changed"
    );
    verified(&tmp.path().join("copy1"));
    writer.wait_for(600);
    let second = export(&db);
    assert!(
        commits(&second) > commits(&first),
        "the writer went on between the exports"
    );

    writer.kill();
    let last = export(&db);
    assert!(commits(&last) >= commits(&second));
    import(&tmp.path().join("copy2"), &last);
    assert_eq!(export(&tmp.path().join("copy2")), last);
    verified(&tmp.path().join("copy2"));
    // The source itself verifies after the kill (reading it cuts nothing).
    verified(&db);
    // An import refuses an existing database and writes nothing into it.
    let refused = Command::new(env!("CARGO_BIN_EXE_in-mem"))
        .args(["import", path(&db)])
        .stdin(std::fs::File::open(tmp.path().join("copy2").join("IDENTITY")).unwrap())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(export(&db), last, "a refused import changed the database");
}

#[test]
fn a_backup_taken_while_the_writer_runs_opens_as_the_same_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let dest = tmp.path().join("backup");
    let mut writer = Writer::start(&db, None, 1);
    writer.wait_for(500);
    let said = ok(&["backup", path(&db), path(&dest)]);
    assert!(
        said.starts_with(&format!("backed up {} to {}", db.display(), dest.display())),
        "{said}"
    );
    writer.wait_for(700);
    // The copy opens for writing as the same database, its writer's run interrupted.
    {
        let copy = in_mem::Database::open(&dest).unwrap();
        let run: in_mem::RunId = writer.run.parse().unwrap();
        assert_eq!(
            copy.run_info(run).unwrap().status,
            in_mem::RunStatus::Interrupted
        );
        let ticks = copy
            .run_view_at(run, in_mem::At::Now)
            .unwrap()
            .events()
            .len()
            .unwrap();
        assert!(
            ticks >= 500,
            "the backup holds what the writer had acknowledged before it"
        );
        copy.close().unwrap();
    }
    verified(&dest);
    writer.kill();
    // After the kill: a backup holds exactly what a reader of the source sees.
    let after = tmp.path().join("after");
    ok(&["backup", path(&db), path(&after)]);
    assert_eq!(export(&after), export(&db));
    verified(&after);
    // A backup never goes into a directory that holds something.
    let again = in_mem(&["backup", path(&db), path(&after)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
