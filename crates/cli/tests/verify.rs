//! `in-mem verify` on the agent example's database: clean, then with one flipped byte in a log
//! segment, in a checkpoint, and in an event's payload (re-sealed with a right checksum, so that
//! only the event hash chain can tell): each is found, named, and told by the exit code.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::{Path, PathBuf};

use common::{agent_db, in_mem, path};
use in_mem_durability::inspect::segment_frames;

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn verify(db: &Path) -> (i32, String) {
    let out = in_mem(&["verify", path(db)]);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_sound_database_verifies_with_exit_code_0() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let (code, text) = verify(&db);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("2 runs, 10 events in their hash chains: ok"),
        "{text}"
    );
    assert!(text.ends_with("verified: no problems\n"), "{text}");
}

#[test]
fn a_flipped_byte_in_a_log_segment_is_found_with_exit_code_4() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let segment = files(&db.join("wal"), ".seg").remove(0);
    let mut bytes = std::fs::read(&segment).unwrap();
    let frames = segment_frames(&bytes);
    assert!(frames.len() > 10);
    // A byte inside the payload of the fifth record: valid records follow it.
    let frame = frames[4];
    let at = usize::try_from(frame.offset + frame.len / 2).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let (code, text) = verify(&db);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains(&format!(
            "{} at offset {}: record checksum mismatch",
            segment.display(),
            frame.offset
        )),
        "{text}"
    );
    assert!(text.contains("damage before valid records"), "{text}");
}

#[test]
fn a_flipped_byte_in_a_checkpoint_is_found_with_exit_code_8() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    {
        let writer = in_mem::Database::open(&db).unwrap();
        writer.checkpoint().unwrap();
        writer.close().unwrap();
    }
    let checkpoint = files(&db.join("checkpoints"), ".ckpt").remove(0);
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&checkpoint, &bytes).unwrap();
    let (code, text) = verify(&db);
    assert_eq!(code, 8, "{text}");
    assert!(text.contains(&checkpoint.display().to_string()), "{text}");
    assert!(text.contains("checkpoint is damaged"), "{text}");
    // The runs still verify: the log the checkpoint summed up is still there.
    assert!(text.contains("hash chains: ok"), "{text}");
}

#[test]
fn a_changed_event_payload_with_a_right_checksum_breaks_the_hash_chain_exit_code_16() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let segment = files(&db.join("wal"), ".seg").remove(0);
    let mut bytes = std::fs::read(&segment).unwrap();
    // The commit that appended the Oslo weather observation: it holds the event type and
    // the tool's answer (the span's result, in another commit, has no "observation").
    let frame = segment_frames(&bytes)
        .into_iter()
        .find(|f| {
            let range =
                usize::try_from(f.offset).unwrap()..usize::try_from(f.offset + f.len).unwrap();
            let record = &bytes[range];
            contains(record, b"observation") && contains(record, b"rain, 9 C")
        })
        .expect("the observation's commit");
    let start = usize::try_from(frame.offset).unwrap();
    let end = start + usize::try_from(frame.len).unwrap();
    let at = start + find(&bytes[start..end], b"rain, 9 C").unwrap();
    bytes[at + 1] = b'u'; // "ruin, 9 C": a tampered observation
    // Re-seal the frame: its checksum covers the length field and the payload.
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[start..start + 4]),
        &bytes[start + 8..end],
    );
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&segment, &bytes).unwrap();
    let (code, text) = verify(&db);
    assert_eq!(code, 16, "{text}");
    // Every checksum is right: only the chain tells.
    let log_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("log"))
        .unwrap();
    assert!(log_line.ends_with(": ok"), "{text}");
    assert!(text.contains("event chain of run"), "{text}");
    assert!(text.contains("is broken at event 1"), "{text}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}
