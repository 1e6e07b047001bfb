"""Views of a run's past: at a version, an event, a time or now, a view reads every primitive as
the run saw it then, whatever was written later; every write through it is refused; forks of
forks read their ancestors up to the fork points."""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import in_mem


def _write_everything(run: in_mem.Run) -> int:
    """One commit holding a key, an event, a cell, a machine move and spans; returns its version."""
    with run.transaction() as tx:
        tx.kv.put("plan", "search")
        tx.kv.put("keep", 1)
        tx.events.append("tool_result", {"hits": 3})
        tx.state.set("step", 1)
        tx.state.define("flow", "idle", transitions=[("idle", "go", "busy")])
        root = tx.trace.record("thought", text="look it up", tags=["first"])
        tx.trace.record("tool_call", parent=root, tool="search", arguments="q", result=3)
    assert tx.version is not None
    return tx.version


def _change_everything(run: in_mem.Run) -> None:
    run.kv.put("plan", "answer")
    run.kv.delete("keep")
    run.kv.put("later", True)
    run.events.append("answer", "42")
    run.state.set("step", 2)
    run.state.fire("flow", "go")
    run.trace.record("decision", question="done?", options=["yes", "no"], chosen="yes")


def test_a_view_at_a_version_reads_every_primitive_as_it_was(run: in_mem.Run) -> None:
    db_view_version = _write_everything(run)
    _change_everything(run)
    view = run.view_at(version=db_view_version)

    assert view.version == db_view_version
    assert view.run_id == run.id
    # kv: the values then, not the later ones; deleted-later keys still there, later keys absent
    assert view.kv.get("plan") == "search"
    assert view.kv.get("later", "absent") == "absent"
    versioned = view.kv.get_versioned("plan")
    assert versioned is not None and versioned.version == db_view_version
    assert view.kv.exists("keep") and "keep" in view.kv
    assert not view.kv.exists("later")
    assert view.kv.list() == [("keep", 1), ("plan", "search")]
    assert view.kv.keys() == ["keep", "plan"]
    # events: one, with its chain
    assert view.events.len() == 1 and len(view.events) == 1
    event = view.events.read(0)
    assert event is not None and event.payload == {"hits": 3}
    assert view.events.read(1) is None
    assert [e.type for e in view.events.range()] == ["tool_result"]
    assert view.events.by_type("answer") == []
    head = view.events.head()
    assert head is not None and head.sequence == 0
    assert view.events.verify_chain().events == 1
    # state: the cell and the machine before their later moves
    cell = view.state.read("step")
    assert cell is not None and (cell.value, cell.version) == (1, 1)
    assert set(view.state.cells()) == {"step"}
    machine = view.state.machine_state("flow")
    assert machine is not None and machine.value == "idle"
    # trace: two spans, as a tree; the later decision absent
    roots = view.trace.roots()
    assert [s.kind for s in roots] == ["thought"]
    assert [s.kind for s in view.trace.children(roots[0].id)] == ["tool_call"]
    tree = view.trace.tree(roots[0].id)
    assert tree is not None and len(tree.children) == 1
    assert len(view.trace.all()) == 2
    assert view.trace.by_kind("decision") == []
    assert [s.id for s in view.trace.by_tag("first")] == [roots[0].id]
    assert view.trace.get(3) is None

    # The run itself reads its present.
    assert run.kv.get("plan") == "answer"
    assert run.events.len() == 2


def test_a_view_at_an_event_includes_the_commit_that_appended_it(run: in_mem.Run) -> None:
    run.kv.put("k", "before")
    run.events.append("a", 0)
    run.kv.put("k", "between")
    run.events.append("b", 1)
    run.kv.put("k", "after")

    at0 = run.view_at(event=0)
    assert at0.kv.get("k") == "before"
    assert [e.type for e in at0.events.range()] == ["a"]
    at1 = run.view_at(event=1)
    assert at1.kv.get("k") == "between"
    assert [e.type for e in at1.events.range()] == ["a", "b"]


def test_a_view_at_a_time_is_the_newest_commit_at_or_before_it(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    before_run = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    run.kv.put("k", 1)
    time.sleep(0.005)
    mark_version = run.kv.put("mark", True)
    time.sleep(0.005)
    run.kv.put("k", 2)
    # A commit's time is its step's timestamp (an event's or a cell's own timestamp is taken
    # while the transaction runs, a little before its commit is stamped).
    mark = next(s for s in db.run_timeline(run) if s.version == mark_version)

    at_mark = run.view_at(time=mark.timestamp)
    assert at_mark.version == mark_version
    assert (at_mark.kv.get("k"), at_mark.kv.get("mark")) == (1, True)
    later = run.view_at(time=mark.timestamp + datetime.timedelta(milliseconds=1))
    assert later.kv.get("k") == 1
    earlier = run.view_at(time=mark.timestamp - datetime.timedelta(microseconds=1))
    assert (earlier.kv.get("k"), earlier.kv.get("mark")) == (1, None)
    # Before the run's first commit: the run as it began, with nothing of its own.
    at_start = run.view_at(time=before_run)
    assert at_start.kv.get("k") is None
    assert at_start.kv.list() == []


def test_a_view_with_no_point_is_the_run_now_and_stays_at_that_version(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    run.kv.put("k", 1)
    now = db.run_view_at(run)
    assert now.kv.get("k") == 1
    run.kv.put("k", 2)
    assert now.kv.get("k") == 1, "a view does not move with later commits"
    assert db.run_view_at(run.id).kv.get("k") == 2


def test_every_write_through_a_view_raises_read_only_view(run: in_mem.Run) -> None:
    version = _write_everything(run)
    view = run.view_at(version=version)
    span = view.trace.roots()[0].id
    writes: list[Callable[[], Any]] = [
        lambda: view.kv.put("plan", "x"),
        lambda: view.kv.delete("plan"),
        lambda: view.kv.compare_and_swap("plan", version, "x"),
        lambda: view.events.append("x"),
        lambda: view.state.init("new"),
        lambda: view.state.set("step", 9),
        lambda: view.state.cas("step", 1, 9),
        lambda: view.state.delete("step"),
        lambda: view.state.define("m", "a"),
        lambda: view.state.fire("flow", "go"),
        lambda: view.trace.record("thought", text="x"),
        lambda: view.trace.start("thought", text="x"),
        lambda: view.trace.finish(span),
    ]
    for write in writes:
        with pytest.raises(in_mem.ReadOnlyView) as caught:
            write()
        assert caught.value.run == run.id
    assert run.kv.get("plan") == "search"
    assert run.events.len() == 1
    assert run.state.machine_state("flow").value == "idle"  # type: ignore[union-attr]
    assert len(run.trace.all()) == 2


def test_points_outside_the_runs_life_are_unknown(db: in_mem.Database, run: in_mem.Run) -> None:
    run.events.append("only")
    with pytest.raises(in_mem.UnknownPoint) as caught:
        db.run_view_at(run, version=10**9)
    assert caught.value.run == run.id
    assert "newest committed version" in caught.value.reason
    with pytest.raises(in_mem.UnknownPoint):
        db.run_view_at(run, event=1)
    with pytest.raises(in_mem.InvalidInput):
        db.run_view_at(run, version=1, event=0)
    with pytest.raises(in_mem.UnknownRun):
        db.run_view_at("00000000-0000-4000-8000-000000000000")


def test_forks_of_forks_read_their_ancestors_up_to_the_fork_points(db: in_mem.Database) -> None:
    parent = db.begin_run()
    parent.kv.put("a", 1)
    parent.events.append("p0")
    parent.kv.put("a", 2)
    parent.events.append("p1")

    child = db.fork_run(parent, event=0)
    child.events.append("c1")
    at_b = child.kv.put("b", 1)
    child.kv.put("b", 2)

    grandchild = db.fork_run(child, version=at_b)
    grandchild.events.append("g2")
    grandchild.kv.put("a", 3)

    view = grandchild.view_at(event=2)
    assert (view.kv.get("a"), view.kv.get("b")) == (1, 1)
    assert [e.type for e in view.events.range()] == ["p0", "c1", "g2"]
    assert view.events.verify_chain().events == 3
    assert grandchild.view_at().kv.get("a") == 3
    # The child right after its first own commit: the parent at the fork point, plus that.
    at_c1 = child.view_at(event=1)
    assert at_c1.kv.list() == [("a", 1)]
    assert [e.type for e in at_c1.events.range()] == ["p0", "c1"]
    # An event the grandchild inherited is a point of the run that appended it.
    with pytest.raises(in_mem.UnknownPoint) as caught:
        grandchild.view_at(event=0)
    assert "inherited" in caught.value.reason
    # Nothing of the forks leaks back.
    assert parent.view_at().kv.list() == [("a", 2)]


def test_a_view_after_the_database_closes_raises_closed_error(db_path: Path) -> None:
    db = in_mem.Database(db_path)
    run = db.begin_run()
    run.kv.put("k", 1)
    view = run.view_at()
    db.close()
    with pytest.raises(in_mem.ClosedError):
        view.kv.get("k")
    with pytest.raises(in_mem.ClosedError):
        view.kv.put("k", 2)


def test_one_view_read_from_many_threads_answers_the_same(run: in_mem.Run) -> None:
    for i in range(50):
        run.kv.put(f"k{i:02}", i)
    view = run.view_at()
    run.kv.put("k00", "changed")
    answers: list[list[tuple[Any, Any]]] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                answers.append(view.kv.list("k"))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = [(f"k{i:02}", i) for i in range(50)]
    assert len(answers) == 80 and all(a == expected for a in answers)
