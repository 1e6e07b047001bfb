"""Forks from Python: a fork sees its parent at the point, then only its own writes; lineage is
queryable; a run with forks is deleted only with its whole tree."""

from __future__ import annotations

import pytest

import in_mem


def test_a_fork_sees_its_parent_at_the_point_and_then_its_own_writes(db: in_mem.Database) -> None:
    parent = db.begin_run()
    first = parent.kv.put("plan", "search")
    parent.kv.put("plan", "answer")
    parent.events.append("step", 1)

    fork = db.fork_run(parent, version=first)
    assert fork.kv.get("plan") == "search"
    assert len(fork.events.range()) == 0
    fork.kv.put("plan", "retry")
    assert parent.kv.get("plan") == "answer"
    assert fork.kv.get("plan") == "retry"

    now = db.fork_run(parent)
    assert now.kv.get("plan") == "answer"
    assert [e.payload for e in now.events.range()] == [1]

    info = fork.info()
    assert info.parent == parent.id
    assert info.fork_point == first
    forks = {i.id for i in db.query_runs(forked_from=parent)}
    assert forks == {fork.id, now.id}


def test_a_point_is_one_of_version_event_or_time(db: in_mem.Database) -> None:
    parent = db.begin_run()
    parent.kv.put("k", 1)
    with pytest.raises(in_mem.InvalidInput):
        db.fork_run(parent, version=1, event=0)


def test_a_run_with_forks_is_deleted_only_with_its_tree(db: in_mem.Database) -> None:
    parent = db.begin_run()
    parent.kv.put("k", 1)
    fork = db.fork_run(parent)
    grandchild = db.fork_run(fork)
    for run in (grandchild, fork, parent):
        run.end()
    with pytest.raises(in_mem.HasForks):
        db.delete_run(parent)
    assert db.delete_run_tree(parent) == 3
    with pytest.raises(in_mem.UnknownRun):
        db.get_run(parent.id)
