"""run.state: versioned state cells and declared state machines."""

from __future__ import annotations

import pytest

import in_mem


def test_cells_version_forward_and_cas_refuses_a_stale_version(run: in_mem.Run) -> None:
    v1 = run.state.init("pages", 0)
    assert v1 == 1
    v2 = run.state.cas("pages", v1, 1)
    assert v2 == 2
    with pytest.raises(in_mem.StaleVersion) as err:
        run.state.cas("pages", v1, 99)
    assert str(err.value) == (
        'state cell "pages" is at version 2, not the expected 1; nothing was written, read it again'
    )
    assert (err.value.what, err.value.name, err.value.expected, err.value.actual) == ("state cell", "pages", 1, 2)
    cell = run.state.read("pages")
    assert (cell.value, cell.version) == (1, 2)


def test_set_creates_or_replaces(run: in_mem.Run) -> None:
    assert run.state.set("flag", True) == 1
    assert run.state.set("flag", False) == 2
    assert run.state.read("flag").value is False
    assert run.state.read("missing") is None


def test_init_of_an_existing_cell_is_refused(run: in_mem.Run) -> None:
    run.state.init("c", 1)
    with pytest.raises(in_mem.CellExists, match='state cell or machine "c" already exists') as err:
        run.state.init("c", 2)
    assert err.value.name == "c"


def test_a_deleted_cell_comes_back_with_its_version_continued(run: in_mem.Run) -> None:
    run.state.init("c", "a")
    run.state.set("c", "b")
    assert run.state.delete("c") is True
    assert run.state.delete("c") is False
    assert run.state.read("c") is None
    assert run.state.init("c", "again") == 3  # never back to 1: a stale cas can never win


def test_cells_lists_every_live_cell(run: in_mem.Run) -> None:
    run.state.init("a", 1)
    run.state.init("b", [2])
    run.state.init("gone", 0)
    run.state.delete("gone")
    cells = run.state.cells()
    assert sorted(cells) == ["a", "b"]
    assert cells["b"].value == [2] and cells["b"].version == 1


def test_a_machine_moves_only_as_defined(run: in_mem.Run) -> None:
    run.state.define(
        "plan",
        "planning",
        transitions=[
            ("planning", "ready", "executing"),
            ("executing", "failed", "planning"),
            ("executing", "done", "finished"),
        ],
        terminal=["finished"],
    )
    assert run.state.machine_state("plan").value == "planning"
    moved = run.state.fire("plan", "ready")
    assert (moved.from_state, moved.event, moved.to_state) == ("planning", "ready", "executing")
    with pytest.raises(in_mem.ForbiddenTransition) as err:
        run.state.fire("plan", "ready")
    assert str(err.value) == 'state machine "plan" cannot take event "ready" in state "executing"'
    assert (err.value.machine, err.value.state, err.value.event, err.value.terminal) == (
        "plan",
        "executing",
        "ready",
        False,
    )
    run.state.fire("plan", "done")
    with pytest.raises(in_mem.ForbiddenTransition, match=r"\(a terminal state\)"):
        run.state.fire("plan", "failed")
    assert run.state.machine_state("plan").value == "finished"


def test_machines_refuse_redefinition_and_unknown_names(run: in_mem.Run) -> None:
    run.state.define("m", "idle", transitions=[("idle", "go", "busy")])
    with pytest.raises(in_mem.CellExists):
        run.state.define("m", "idle")
    with pytest.raises(in_mem.UnknownMachine, match='state machine "nope" is not defined in this run'):
        run.state.fire("nope", "go")
    assert run.state.machine_state("nope") is None


def test_an_inconsistent_definition_is_invalid_input(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.InvalidInput, match="invalid state machine"):
        run.state.define("m", "done", transitions=[("done", "again", "busy")], terminal=["done"])
