"""Diffs: of a run and its fork (every kind of change to keys, events, cells and spans, with
both sides' values) and of one run between two points; `str()` is the engine's unified text."""

from __future__ import annotations

import in_mem


def _forked_pair(db: in_mem.Database) -> tuple[in_mem.Run, in_mem.Run, int]:
    """A run and a fork of it that then went different ways; the root span's id."""
    parent = db.begin_run()
    with parent.transaction() as tx:
        tx.kv.put("same", 1)
        tx.kv.put("changed", "a")
        tx.kv.put("removed", "x")
        tx.events.append("start", {"n": 1})
        tx.state.set("c", 1)
        root = tx.trace.record("thought", text="plan")
    fork = db.fork_run(parent)

    parent.kv.put("changed", "parent")
    parent.events.append("p", 1)
    parent.state.set("c", 2)
    parent.trace.record(
        "tool_call", tool="search", arguments="q", result=1, attributes={"model": "a"}
    )
    parent.trace.record("error", message="boom")

    fork.kv.put("changed", "fork")
    fork.kv.delete("removed")
    fork.kv.put("added", [1, 2])
    fork.kv.put(b"\xff", None)
    fork.events.append("f", 2)
    fork.events.append("g", 3)
    fork.state.set("d", True)
    # The same call as the parent's but for an attribute, and slower: the duration is ignored.
    fork.trace.record(
        "tool_call",
        tool="search",
        arguments="q",
        result=1,
        attributes={"model": "b"},
        duration=0.5,
    )
    fork.trace.record("query", parent=root, query="select")
    return parent, fork, root


def test_a_fork_diff_has_every_kind_of_change_with_both_sides(db: in_mem.Database) -> None:
    parent, fork, _ = _forked_pair(db)
    diff = db.diff_runs(parent, fork)
    assert diff and not diff.is_empty
    assert diff.a[0] == parent.id and diff.b[0] == fork.id
    assert diff.a[1] == diff.b[1], "both views are 'now'"

    kv = [(c.kind, c.key, c.before, c.after) for c in diff.kv]
    assert kv == [
        ("added", "added", None, [1, 2]),
        ("changed", "changed", "parent", "fork"),
        ("removed", "removed", "x", None),
        ("added", b"\xff", None, None),
    ], "in key order; a non-UTF-8 key as bytes; a stored None is still 'added'"

    events = diff.events
    assert events.first_divergence == 1
    assert [(e.sequence, e.type, e.payload) for e in events.only_a] == [(1, "p", 1)]
    assert [(e.sequence, e.type) for e in events.only_b] == [(1, "f"), (2, "g")]

    cells = {c.name: c for c in diff.cells}
    assert set(cells) == {"c", "d"}
    c, d = cells["c"], cells["d"]
    assert c.a is not None and c.b is not None
    assert (c.a.value, c.a.version, c.b.value, c.b.version) == (2, 2, 1, 1)
    assert d.a is None and d.b is not None and d.b.value is True

    spans = [(s.kind, s.position) for s in diff.spans]
    assert spans == [("added", [0, 0]), ("changed", [1]), ("removed", [2])]
    added, changed, removed = diff.spans
    assert added.a is None and added.b is not None and added.b.kind == "query"
    assert changed.a is not None and changed.b is not None
    assert changed.attributes == [("model", "a", "b")]
    assert removed.b is None and removed.a is not None and removed.a.kind == "error"


def test_a_diffs_text_is_the_engines_unified_diff(db: in_mem.Database) -> None:
    parent, fork, _ = _forked_pair(db)
    diff = db.diff_runs(parent, fork)
    version = diff.a[1]
    assert str(diff) == (
        f"--- run {parent.id} at version {version}\n"
        f"+++ run {fork.id} at version {version}\n"
        "@@ kv @@\n"
        "+added = [1, 2]\n"
        '-changed = "parent"\n'
        '+changed = "fork"\n'
        '-removed = "x"\n'
        '+b"\\xff" = null\n'
        "@@ events from #1 @@\n"
        "-#1 p 1\n"
        "+#1 f 2\n"
        "+#2 g 3\n"
        "@@ cells @@\n"
        "-c = 2 (v2)\n"
        "+c = 1 (v1)\n"
        "+d = true (v1)\n"
        "@@ spans @@\n"
        '+[0.0] query "select" -> (no result yet) [Ok]\n'
        '-[1] tool_call search("q") -> 1 [Ok]\n'
        '+[1] tool_call search("q") -> 1 [Ok]\n'
        '  model: "a" -> "b"\n'
        '-[2] error "boom" [Error]\n'
    )


def test_a_fresh_fork_does_not_differ(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put("k", 1)
    run.events.append("e")
    fork = db.fork_run(run)
    diff = db.diff_runs(run, fork)
    assert not diff and diff.is_empty
    assert (diff.kv, diff.cells, diff.spans) == ([], [], [])
    assert diff.events.first_divergence is None
    assert str(diff).endswith("(no differences)\n")


def test_diff_run_compares_one_run_between_two_points(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    start = run.kv.put("k", "first")
    run.events.append("a")
    middle = run.kv.put("k", "second")
    run.events.append("b")
    run.state.set("done", True)

    since_start = db.diff_run(run, from_version=start)
    assert since_start.a == (run.id, start)
    assert [(c.kind, c.before, c.after) for c in since_start.kv] == [
        ("changed", "first", "second")
    ]
    assert since_start.events.first_divergence == 0
    assert [e.type for e in since_start.events.only_b] == ["a", "b"]
    assert since_start.events.only_a == []
    assert [(c.name, c.a) for c in since_start.cells] == [("done", None)]

    between_events = db.diff_run(run, from_event=0, to_event=1)
    assert [(c.before, c.after) for c in between_events.kv] == [("first", "second")]
    assert [e.type for e in between_events.events.only_b] == ["b"]
    assert between_events.cells == []

    # Backwards works too: what undoing the later steps would change.
    backwards = db.diff_run(run, from_version=middle, to_version=start)
    assert [(c.before, c.after) for c in backwards.kv] == [("second", "first")]
    assert not db.diff_run(run, from_version=middle, to_version=middle)
    assert not db.diff_run(run), "now against now"
