"""Replays: a run walked step by step, each step with what it wrote and a view right after it,
verified (event sequences dense and chained, span parents present) before it is yielded.

The checks cannot be made to fail from Python: the engine offers no call that writes a run's
records by raw key (see `records/mod.rs` of the engine), which is what breaking a chain takes;
the engine's own tests cover the failures."""

from __future__ import annotations

from pathlib import Path

import pytest

import in_mem


def test_a_replay_walks_every_step_with_a_view_right_after_it(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    run.kv.put("k", 1)
    run.events.append("a", 1)
    with run.transaction() as tx:
        tx.kv.put("k", 2)
        tx.events.append("b", 2)
        root = tx.trace.record("thought", text="t")
        tx.trace.record("query", parent=root, query="q", result=3)
    run.state.set("c", 1)

    replay = db.replay(run)
    steps = list(replay)
    timeline = db.run_timeline(run)
    assert [s.step.version for s in steps] == [s.version for s in timeline]
    assert [s.step.events for s in steps] == [s.events for s in timeline]
    for step in steps:
        assert step.view.version == step.step.version
        at = db.run_view_at(run, version=step.step.version)
        assert step.view.kv.list() == at.kv.list()
        assert step.view.events.len() == at.events.len()
        assert step.view.state.cells().keys() == at.state.cells().keys()
        assert len(step.view.trace.all()) == len(at.trace.all())
    kv_after = [s.view.kv.get("k") for s in steps]
    assert kv_after == [None, 1, 1, 2, 2]
    assert [s.view.events.len() for s in steps] == [0, 0, 1, 2, 2]
    # Done: the iterator stays ended.
    with pytest.raises(StopIteration):
        next(replay)


def test_a_forks_replay_continues_its_parents_chain(db: in_mem.Database) -> None:
    parent = db.begin_run()
    parent.events.append("p0")
    parent.events.append("p1")
    fork = db.fork_run(parent, event=0)
    fork.events.append("f1")
    fork.events.append("f2")
    steps = [s for s in db.replay(fork) if s.step.events]
    assert [s.step.events for s in steps] == [[(1, "f1")], [(2, "f2")]]
    last = steps[-1].view
    assert [e.type for e in last.events.range()] == ["p0", "f1", "f2"]
    assert last.events.verify_chain().events == 3


def test_a_replay_can_stop_early_and_each_view_is_read_only(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    for i in range(5):
        run.kv.put("k", i)
    replay = db.replay(run)
    first = next(replay)
    assert first.step.lifecycle
    second = next(replay)
    assert second.view.kv.get("k") == 0
    with pytest.raises(in_mem.ReadOnlyView):
        second.view.kv.put("k", 9)
    assert run.kv.get("k") == 4


def test_a_replay_after_the_database_closes_raises_closed_error(db_path: Path) -> None:
    db = in_mem.Database(db_path)
    run = db.begin_run()
    run.kv.put("k", 1)
    replay = db.replay(run)
    db.close()
    with pytest.raises(in_mem.ClosedError):
        next(replay)
