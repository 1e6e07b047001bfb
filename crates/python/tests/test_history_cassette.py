"""Cassettes: a run's recorded tool and query answers served back in order, so it can be
executed again without calling anything; any call the recording did not make next raises
`in_mem.Divergence` naming the step, and leaves the cassette where it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import in_mem
from in_mem.aio import AsyncDatabase


def _recorded_run(db: in_mem.Database) -> in_mem.Run:
    run = db.begin_run()
    run.trace.record("tool_call", tool="weather", arguments={"city": "Oslo"}, result="rain")
    run.trace.record("thought", text="not a call: skipped")
    run.trace.record("query", query="select 1", result=[1])
    run.trace.record(
        "tool_call",
        tool="clock",
        arguments={"request_id": 7},
        result="09:00",
        attributes={"fingerprint": "now"},
    )
    run.trace.record("tool_call", tool="flaky", status="error", result="timeout")
    return run


def test_a_re_execution_gets_the_recorded_answers_in_order(db: in_mem.Database) -> None:
    run = _recorded_run(db)
    cassette = db.cassette(run)
    assert cassette.run_id == run.id
    assert [(c.kind, c.name, c.status) for c in cassette.calls] == [
        ("tool_call", "weather", "ok"),
        ("query", "select 1", "ok"),
        ("tool_call", "clock", "ok"),
        ("tool_call", "flaky", "error"),
    ]
    assert cassette.calls[0].fingerprint == in_mem.Cassette.fingerprint_of({"city": "Oslo"})
    assert cassette.calls[2].fingerprint == "now", "a recorded fingerprint attribute wins"

    assert cassette.tool("weather", {"city": "Oslo"}) == "rain"
    assert cassette.query("select 1") == [1]
    assert cassette.call("clock", "now") == "09:00"
    flaky = cassette.play("flaky", in_mem.Cassette.fingerprint_of(None))
    assert (flaky.status, flaky.result) == ("error", "timeout")
    assert (cassette.position, cassette.remaining) == (4, 0)
    cassette.finish()


def test_every_kind_of_divergence_names_its_step_and_moves_nothing(db: in_mem.Database) -> None:
    run = _recorded_run(db)
    cassette = db.cassette(run)
    with pytest.raises(in_mem.Divergence) as caught:
        cassette.tool("weather", {"city": "Paris"})
    mismatch = caught.value
    assert (mismatch.kind, mismatch.step, mismatch.span) == ("mismatch", 0, 1)
    assert mismatch.recorded == ("weather", in_mem.Cassette.fingerprint_of({"city": "Oslo"}))
    assert mismatch.made == ("weather", in_mem.Cassette.fingerprint_of({"city": "Paris"}))
    assert cassette.position == 0
    assert cassette.tool("weather", {"city": "Oslo"}) == "rain"

    with pytest.raises(in_mem.Divergence) as caught:
        cassette.finish()
    assert (caught.value.kind, caught.value.step, caught.value.unplayed) == ("unplayed", 1, 3)

    cassette.query("select 1")
    cassette.call("clock", "now")
    cassette.tool("flaky")
    with pytest.raises(in_mem.Divergence) as caught:
        cassette.tool("weather", {"city": "Oslo"})
    assert (caught.value.kind, caught.value.step, caught.value.span) == ("extra", 4, None)
    assert "past the end" in str(caught.value)


def test_a_call_still_running_has_no_answer(db: in_mem.Database, run: in_mem.Run) -> None:
    run.trace.start("tool_call", tool="slow", arguments=1)
    cassette = db.cassette(run)
    with pytest.raises(in_mem.Divergence) as caught:
        cassette.tool("slow", 1)
    assert caught.value.kind == "unanswered"
    assert cassette.calls[0].status == "running" and cassette.calls[0].result is None


def test_a_cassette_at_a_point_or_of_a_view_has_the_calls_up_to_it(db: in_mem.Database) -> None:
    run = db.begin_run()
    run.trace.record("tool_call", tool="a", arguments=1, result=1)
    at = run.events.append("checkpoint")
    run.trace.record("tool_call", tool="b", arguments=2, result=2)
    assert [c.name for c in db.cassette(run, event=at).calls] == ["a"]
    assert [c.name for c in run.view_at(event=at).cassette().calls] == ["a"]
    fork = db.fork_run(run, event=at)
    fork.trace.record("tool_call", tool="c", arguments=3, result=3)
    assert [c.name for c in db.cassette(fork).calls] == ["a", "c"]


def test_the_async_twins_build_the_same_cassette(db_path: Path) -> None:
    async def main() -> None:
        async with await AsyncDatabase.open(db_path) as db:
            run = await db.begin_run()
            await run.trace.record("tool_call", tool="t", arguments="x", result="y")
            cassette = await db.cassette(run)
            assert cassette.tool("t", "x") == "y"
            view = await run.view_at()
            assert [c.name for c in (await view.cassette()).calls] == ["t"]

    asyncio.run(main())
