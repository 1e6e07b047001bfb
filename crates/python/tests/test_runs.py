"""Runs: beginning them (agent, tags, metadata, parent, id), their lifecycle, the context manager's
normal and failure paths, and finding runs again."""

from __future__ import annotations

import datetime
import uuid

import pytest

import in_mem


def test_begin_run_records_agent_tags_metadata_and_parent(db: in_mem.Database) -> None:
    parent = db.begin_run(("acme", "support", "triage"))
    run = db.begin_run(
        in_mem.AgentId("acme", "support", "triage"),
        tags=["nightly", "eu", "nightly"],
        metadata={"model": "m-1", "budget": 3},
        parent=parent,
    )
    info = run.info()
    assert info.id == run.id
    assert info.agent == in_mem.AgentId("acme", "support", "triage")
    assert tuple(info.agent) == ("acme", "support", "triage")
    assert str(info.agent) == "acme/support/triage"
    assert info.parent == parent.id
    assert info.status == "active" and run.status == "active"
    assert info.tags == ["eu", "nightly"]
    assert info.metadata == {"model": "m-1", "budget": 3}
    assert info.error is None and info.ended_at is None
    assert isinstance(info.created_at, datetime.datetime) and info.created_at.tzinfo is not None
    assert isinstance(info.snapshot, int)


def test_the_default_agent(db: in_mem.Database) -> None:
    assert tuple(db.begin_run().info().agent) == ("default", "default", "default")


def test_a_run_with_an_id_made_elsewhere(db: in_mem.Database) -> None:
    made = str(uuid.uuid4())
    run = db.begin_run(id=made)
    assert run.id == made
    assert db.get_run(made) == run
    with pytest.raises(in_mem.InvalidInput, match="is not a run id"):
        db.begin_run(id="not-a-uuid")


@pytest.mark.parametrize(
    "agent", [("only", "two"), "a/b/c", 3, ("a", "b", 3)], ids=["two-parts", "str", "int", "non-str-part"]
)
def test_malformed_agents_are_type_errors(db: in_mem.Database, agent: object) -> None:
    with pytest.raises(TypeError, match="an agent is an AgentId or a"):
        db.begin_run(agent)


def test_bad_names_are_invalid_input(db: in_mem.Database) -> None:
    with pytest.raises(in_mem.InvalidInput, match='namespace tenant "" is invalid: it is empty'):
        db.begin_run(("", "app", "agent"))
    with pytest.raises(in_mem.InvalidInput, match="run tag"):
        db.begin_run(tags=[""])
    with pytest.raises(in_mem.InvalidInput):
        in_mem.AgentId("a\x00", "b", "c")


def test_an_unknown_parent_is_refused(db: in_mem.Database) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(in_mem.UnknownRun, match=f"unknown parent run {missing}") as err:
        db.begin_run(parent=missing)
    assert err.value.run == missing


@pytest.mark.parametrize(
    ("end", "status"),
    [
        (lambda run: run.end(), "completed"),
        (lambda run: run.fail("rate limited"), "failed"),
        (lambda run: run.cancel(), "cancelled"),
    ],
    ids=["end", "fail", "cancel"],
)
def test_ending_a_run(db: in_mem.Database, end, status: str) -> None:
    run = db.begin_run()
    end(run)
    info = run.info()
    assert info.status == status
    assert info.ended_at is not None
    assert info.error == ("rate limited" if status == "failed" else None)
    with pytest.raises(in_mem.RunEnded) as err:
        run.resume()  # no run comes back from an end
    assert err.value.run == run.id


def test_pause_and_resume(run: in_mem.Run) -> None:
    run.pause()
    assert run.status == "paused"
    with pytest.raises(in_mem.RunError):
        run.kv.put("k", 1)
    run.resume()
    run.kv.put("k", 1)
    assert run.kv.get("k") == 1


def test_tags_and_metadata_can_be_replaced(run: in_mem.Run) -> None:
    run.set_tags(["x", "y"])
    run.set_metadata({"step": 2})
    info = run.info()
    assert (info.tags, info.metadata) == (["x", "y"], {"step": 2})


def test_delete_removes_an_ended_run_and_its_records_but_not_its_memory(db: in_mem.Database) -> None:
    run = db.begin_run(("t", "a", "g"))
    run.kv.put("fact", "kept")
    run.events.append("e")
    with pytest.raises(in_mem.RunStateError):
        run.delete()  # active runs cannot be deleted
    run.end()
    run.delete()
    with pytest.raises(in_mem.UnknownRun, match=f"unknown run {run.id}; begin it with begin_run first"):
        run.info()
    with pytest.raises(in_mem.UnknownRun):
        db.get_run(run.id)
    assert db.begin_run(("t", "a", "g")).kv.get("fact") == "kept"


def test_with_run_ends_the_run_on_a_normal_exit(db: in_mem.Database) -> None:
    with db.run(("t", "a", "g")) as run:
        run.kv.put("k", 1)
    assert run.status == "completed"


def test_with_run_fails_the_run_with_the_exceptions_text(db: in_mem.Database) -> None:
    with pytest.raises(ValueError, match="the tool returned garbage"):
        with db.run() as run:
            run.events.append("step", 1)
            raise ValueError("the tool returned garbage")
    info = run.info()
    assert info.status == "failed"
    assert info.error == "ValueError: the tool returned garbage"
    assert run.events.len() == 1  # what the run wrote before failing stays


def test_with_run_cancels_on_a_base_exception(db: in_mem.Database) -> None:
    with pytest.raises(KeyboardInterrupt):
        with db.run() as run:
            raise KeyboardInterrupt
    assert run.status == "cancelled"


def test_with_run_leaves_a_run_ended_inside_the_block_alone(db: in_mem.Database) -> None:
    with db.run() as run:
        run.fail("gave up")
    assert (run.status, run.info().error) == ("failed", "gave up")
    with pytest.raises(RuntimeError):
        with db.run() as other:
            other.cancel()
            raise RuntimeError("after cancel")
    assert other.status == "cancelled"


def test_a_begun_run_is_a_context_manager_too(db: in_mem.Database) -> None:
    run = db.begin_run()
    with run:
        pass
    assert run.status == "completed"


def test_query_runs_by_status_agent_tag_parent_limit_and_order(db: in_mem.Database) -> None:
    triage = ("acme", "support", "triage")
    first = db.begin_run(triage, tags=["nightly"])
    retry = db.begin_run(triage, tags=["nightly"], parent=first)
    other = db.begin_run(("acme", "sales", "triage"))
    first.fail("rate limited by the ticket API")
    retry.end()

    failed = db.query_runs(agent=triage, status="failed")
    assert [r.id for r in failed] == [first.id]
    assert failed[0].error == "rate limited by the ticket API"
    assert [r.id for r in db.query_runs(parent=first)] == [retry.id]
    assert [r.id for r in db.query_runs(tag="nightly")] == [first.id, retry.id]
    assert [r.id for r in db.query_runs(tag="nightly", newest_first=True)] == [retry.id, first.id]
    assert [r.id for r in db.query_runs(limit=1)] == [first.id]
    assert [r.id for r in db.query_runs(agent="triage", app="sales")] == [other.id]
    assert [r.id for r in db.query_runs(tenant="acme", status="active")] == [other.id]
    assert [r.id for r in db.runs()] == [first.id, retry.id, other.id]
    counts = db.run_counts()
    assert (counts["failed"], counts["completed"], counts["active"], counts["paused"]) == (1, 1, 1, 0)
    with pytest.raises(in_mem.InvalidInput, match='run status "done" is not one of'):
        db.query_runs(status="done")


def test_query_runs_by_creation_time(db: in_mem.Database) -> None:
    early = db.begin_run()
    cut = early.info().created_at + datetime.timedelta(microseconds=1)
    late = db.begin_run()
    # Runs begun in the same microsecond cannot be told apart by time; skip rather than guess.
    if late.info().created_at < cut:
        pytest.skip("both runs began in the same microsecond")
    assert [r.id for r in db.query_runs(created_before=cut)] == [early.id]
    assert [r.id for r in db.query_runs(created_from=cut)] == [late.id]
    naive = cut.replace(tzinfo=None)  # naive datetimes are read as UTC
    assert [r.id for r in db.query_runs(created_before=naive)] == [early.id]


def test_runs_are_equal_by_id_and_hashable(db: in_mem.Database) -> None:
    run = db.begin_run()
    again = db.get_run(run.id)
    assert run == again and hash(run) == hash(again)
    assert len({run, again, db.begin_run()}) == 2
    assert run != run.id
