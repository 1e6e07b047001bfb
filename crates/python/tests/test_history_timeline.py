"""A run's timeline (its commits, each with what it wrote per primitive) and a key's history
(the versions a run can see, newest first, with their writers, deletions and times to live)."""

from __future__ import annotations

import datetime

import pytest

import in_mem


def test_each_step_says_what_its_commit_wrote_per_primitive(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    put = run.kv.put("plan", "search")
    with run.transaction() as tx:
        tx.kv.put("b", 1)
        tx.kv.put("a", 2)
        tx.events.append("tool_result", 1)
        tx.events.append("note", 2)
        tx.state.set("step", 1)
        tx.state.define("flow", "idle", transitions=[("idle", "go", "busy")])
        span = tx.trace.start("thought", text="why")
    both = tx.version
    finished = run.trace.finish(span)
    deleted = run.kv.delete("plan")
    run.end()

    timeline = db.run_timeline(run)
    assert timeline.pruned_below is None
    versions = [s.version for s in timeline]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    by_version = {s.version: s for s in timeline}

    assert by_version[put].kv_keys == ["plan"]
    assert by_version[put].events == [] and not by_version[put].lifecycle
    step = by_version[both]
    assert step.kv_keys == ["a", "b"], "keys in key order"
    assert step.events == [(0, "tool_result"), (1, "note")]
    assert step.cells == ["step"]
    assert step.machines == ["flow"]
    assert step.spans == [span]
    assert finished.status == "ok"
    assert [s.spans for s in timeline if s.spans] == [[span], [span]], "started, then finished"
    assert deleted and any(s.kv_keys == ["plan"] and s.version > both for s in timeline)
    # The run's beginning and end are lifecycle steps, first and last.
    assert timeline[0].lifecycle and timeline[-1].lifecycle
    assert timeline[-1].kv_keys == [] and timeline[-1].events == []
    # Times: aware, in commit order.
    stamps = [s.timestamp for s in timeline]
    assert all(t.tzinfo is not None for t in stamps)
    assert stamps == sorted(stamps)


def test_a_timeline_range_is_start_inclusive_end_exclusive_and_limited(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    versions = [run.kv.put("k", i) for i in range(6)]
    assert db.run_timeline(run, start=versions[1], end=versions[4]).steps[0].version == versions[1]
    middle = [s.version for s in db.run_timeline(run, start=versions[1], end=versions[4])]
    assert middle == versions[1:4]
    assert [s.version for s in db.run_timeline(run, start=versions[4])] == versions[4:]
    limited = db.run_timeline(run, start=versions[0], limit=2)
    assert [s.version for s in limited] == versions[:2]
    assert len(db.run_timeline(run, start=versions[5] + 1)) == 0
    whole = db.run_timeline(run)
    assert len(whole) == 7, "the beginning and six puts"
    assert [s.version for s in whole[1:3]] == versions[:2]
    with pytest.raises(IndexError):
        whole[7]


def test_a_fork_has_only_its_own_steps(db: in_mem.Database, run: in_mem.Run) -> None:
    at = run.kv.put("k", 1)
    run.kv.put("k", 2)
    fork = db.fork_run(run, version=at)
    mine = fork.kv.put("mine", 1)
    steps = db.run_timeline(fork).steps
    assert [s.kv_keys for s in steps if s.kv_keys] == [["mine"]]
    assert mine in [s.version for s in steps]


def test_non_utf8_keys_come_back_as_bytes(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put(b"\xff\x00raw", 1)
    run.kv.put("text", 2)
    keys = [k for s in db.run_timeline(run) for k in s.kv_keys]
    assert keys == [b"\xff\x00raw", "text"]


def test_key_history_lists_the_versions_the_run_sees_newest_first(
    db: in_mem.Database,
) -> None:
    setup = db.begin_run()
    seen = setup.kv.put("k", "from setup")
    run = db.begin_run()
    # Written by another run after this one began: outside its snapshot.
    db.begin_run().kv.put("k", "not seen")
    own = run.kv.put("k", None)
    gone = run.kv.delete("k")
    assert gone
    back = run.kv.put("k", "back", ttl=3600)

    history = db.key_history(run, "k")
    assert not history.older_pruned
    assert [v.version for v in history] == [back, history[1].version, own, seen]
    newest, deletion, stored_none, oldest = history.versions
    assert newest.value == "back" and not newest.deleted
    assert newest.expires_at is not None
    assert newest.expires_at - newest.timestamp == datetime.timedelta(hours=1)
    assert deletion.deleted and deletion.value is None
    assert stored_none.value is None and not stored_none.deleted, "a stored None is no deletion"
    assert (oldest.value, oldest.writer) == ("from setup", setup.id)
    assert {newest.writer, deletion.writer, stored_none.writer} == {run.id}
    assert len(db.key_history(run, "never written")) == 0


def test_a_forks_key_history_stops_at_the_fork_point(db: in_mem.Database) -> None:
    parent = db.begin_run()
    first = parent.kv.put("k", 1)
    parent.kv.put("k", 2)
    fork = db.fork_run(parent, version=first)
    mine = fork.kv.put("k", 3)
    assert [(v.version, v.value) for v in db.key_history(fork, "k")] == [(mine, 3), (first, 1)]
    assert [v.value for v in db.key_history(parent, "k")] == [2, 1]
