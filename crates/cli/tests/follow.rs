//! `in-mem events DIR RUN --follow` in a real terminal (tmux): it prints the run's events as a
//! writer process appends them, and returns once the run ends. Skipped, saying so, where tmux
//! is not installed.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Writer, path};

#[test]
#[ignore = "the writer process the other tests start (common::Writer), not a test on its own"]
fn writer_child() {
    common::writer_body();
}

/// Runs tmux with `args`; its stdout.
fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills the tmux session it names when dropped, so a failed test leaves no session behind.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

/// Waits until the pane shows what `done` looks for, up to `limit`; the pane's text.
fn wait_for(session: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let pane = tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", session]);
        if done(&pane) {
            return pane;
        }
        assert!(
            started.elapsed() < limit,
            "gave up waiting; the pane shows:\n{pane}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn events_follow_prints_events_as_the_writer_appends_them_until_the_run_ends() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed (apt-get install tmux runs this test)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    // 40 iterations, 100 ms apart: about four seconds of appending.
    let mut writer = Writer::start(&db, Some(40), 100);
    writer.wait_for(2);
    let session = Session(format!("in-mem-follow-{}", std::process::id()));
    let command = format!(
        "{} events {} {} --follow; echo FOLLOW-ENDED $?; sleep 60",
        env!("CARGO_BIN_EXE_in-mem"),
        path(&db),
        &writer.run[..8]
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session.0,
        "-x",
        "200",
        "-y",
        "60",
        &command,
    ]);
    assert!(started.is_empty(), "{started}");
    // Events show up while the writer is still appending...
    let early = wait_for(&session.0, Duration::from_secs(20), |pane| {
        pane.contains("#5 ")
    });
    assert!(
        !early.contains("FOLLOW-ENDED"),
        "follow ended while the run was active:\n{early}"
    );
    assert!(
        writer.child.try_wait().unwrap().is_none(),
        "the writer is still running"
    );
    // ...and every one of them, in order, once the run has ended; then follow returns 0.
    let pane = wait_for(&session.0, Duration::from_secs(30), |pane| {
        pane.contains("FOLLOW-ENDED")
    });
    assert!(pane.contains("FOLLOW-ENDED 0"), "{pane}");
    let sequences: Vec<u64> = pane
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(sequences, (0..40).collect::<Vec<u64>>(), "{pane}");
    assert!(pane.contains("tick"), "{pane}");
    assert!(writer.child.wait().unwrap().success());
}
