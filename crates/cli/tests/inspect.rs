//! The inspecting commands on a database the agent example wrote, read as a person reads them:
//! the tables, the tree, the events, the state, the memory as of a step, the diff, JSON Lines,
//! and the errors for what does not exist.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use common::{agent_db, in_mem, ok, path, run_ids};

#[test]
fn runs_lists_both_agent_runs_newest_first_without_colour_off_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let ids = run_ids(&db);
    assert_eq!(ids.len(), 2);
    let text = ok(&["runs", path(&db)]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("RUN "), "{text}");
    assert!(lines[1].starts_with(&ids[0][..8]), "newest first:\n{text}");
    assert!(lines[2].starts_with(&ids[1][..8]), "{text}");
    for line in &lines[1..] {
        assert!(
            line.contains("acme/travel/planner") && line.contains("completed"),
            "{line}"
        );
        assert!(line.contains("demo"), "{line}");
    }
    assert!(
        !text.contains('\x1b'),
        "colour codes off a terminal:\n{text}"
    );
    assert!(ok(&["runs", path(&db), "--color", "always"]).contains("\x1b["));
    // Filters.
    assert_eq!(
        ok(&["runs", path(&db), "--status", "failed"])
            .lines()
            .count(),
        2
    );
    assert_eq!(
        ok(&["runs", path(&db), "--agent", "travel/planner", "--json"])
            .lines()
            .count(),
        2
    );
    assert_eq!(
        ok(&["runs", path(&db), "--limit", "1", "--json"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        ok(&["runs", path(&db), "--since", "1h", "--json"])
            .lines()
            .count(),
        2
    );
    let json: serde_json::Value =
        serde_json::from_str(ok(&["runs", path(&db), "--json"]).lines().next().unwrap()).unwrap();
    assert_eq!(json["status"], "completed");
    assert_eq!(json["agent"]["tenant"], "acme");
    assert_eq!(json["tags"][0], "demo");
}

#[test]
fn show_tree_events_state_and_kv_tell_what_the_oslo_run_did() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let oslo = run_ids(&db)[1].clone();
    let prefix = &oslo[..6];

    let show = ok(&["show", path(&db), prefix]);
    assert!(show.contains(&oslo), "{show}");
    assert!(show.contains("completed"), "{show}");
    assert!(
        show.contains("5 events") && show.contains("5 spans (0 failed)"),
        "{show}"
    );
    assert!(show.contains("1 machines"), "{show}");

    let tree = ok(&["tree", path(&db), prefix]);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(
        lines[1].starts_with("#1 thought plan a day trip from Oslo"),
        "{tree}"
    );
    assert!(
        lines[2].starts_with("├─ #2 tool_call weather(\"Oslo\") → \"rain, 9 C\""),
        "{tree}"
    );
    assert!(lines[3].contains("weather(\"Bergen\")"), "{tree}");
    assert!(lines[4].contains("trains(\"Oslo-Bergen\")"), "{tree}");
    assert!(
        lines[5].starts_with("└─ #5 decision where to go? → Bergen by the 08:15"),
        "{tree}"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(" ok ") && l.contains('█')),
        "{tree}"
    );

    let events = ok(&["events", path(&db), prefix]);
    assert_eq!(events.lines().count(), 5, "{events}");
    assert!(events.lines().next().unwrap().contains("goal"), "{events}");
    let observations = ok(&[
        "events",
        path(&db),
        prefix,
        "--type",
        "observation",
        "--json",
    ]);
    let payloads: Vec<serde_json::Value> = observations
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["payload"].clone())
        .collect();
    assert_eq!(payloads.len(), 3);
    assert_eq!(
        payloads[0],
        serde_json::json!(["weather", "Oslo", "rain, 9 C"])
    );

    let state = ok(&["state", path(&db), prefix]);
    assert!(
        state
            .lines()
            .any(|l| l.starts_with("machine") && l.contains("plan") && l.contains("\"done\"")),
        "{state}"
    );

    let kv = ok(&["kv", path(&db), prefix, "fact:"]);
    assert!(
        kv.contains("fact:weather:Oslo") && kv.contains("\"rain, 9 C\""),
        "{kv}"
    );
    assert!(!kv.contains("booking"), "a prefix filters:\n{kv}");
    // As of the run's second step, nothing of the tools had been written yet.
    let early = ok(&["kv", path(&db), prefix, "--as-of", "2", "--json"]);
    assert_eq!(early.lines().count(), 0, "{early}");
    let late = ok(&["kv", path(&db), prefix, "--as-of", "event:4", "--json"]);
    assert!(late.contains("\"booking\""), "{late}");
    let bad = in_mem(&["kv", path(&db), prefix, "--as-of", "999"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a step from 1 to"));
}

#[test]
fn diff_shows_what_the_trondheim_run_did_differently() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let ids = run_ids(&db);
    let (trondheim, oslo) = (&ids[0], &ids[1]);
    let diff = ok(&["diff", path(&db), oslo, trondheim]);
    assert!(diff.starts_with(&format!("--- run {oslo}")), "{diff}");
    assert!(diff.contains("-booking = \"08:15 Oslo-Bergen\""), "{diff}");
    assert!(
        diff.contains("+booking = \"a walk in Trondheim\""),
        "{diff}"
    );
    assert!(
        diff.contains("+#1 observation [\"weather\", \"Trondheim\", \"sun, 21 C\"]"),
        "{diff}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["diff", path(&db), oslo, trondheim, "--json"])).unwrap();
    assert_eq!(json["same"], false);
    assert_eq!(json["events"]["first_divergence"], 0);
    // A run against itself: no differences.
    assert!(ok(&["diff", path(&db), oslo, oslo]).contains("(no differences)"));
}

#[test]
fn unknown_and_ambiguous_runs_and_missing_databases_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let unknown = in_mem(&["show", path(&db), "ffffffff"]);
    assert_eq!(unknown.status.code(), Some(1));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("no run's id starts with \"ffffffff\""),
        "{err}"
    );
    let missing = in_mem(&["runs", path(&tmp.path().join("nothing"))]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no in-mem database"));
    assert!(
        !tmp.path().join("nothing").exists(),
        "a read-only command created a directory"
    );
    let stats = ok(&["stats", path(&db), "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["runs"], 2);
    assert_eq!(stats["runs_by_status"]["completed"], 2);
    assert!(stats["segments"].as_u64().unwrap() >= 1);
}
