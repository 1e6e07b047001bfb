"""run.events: the append-only, hash-chained event log."""

from __future__ import annotations

import datetime

import pytest

import in_mem


def test_appends_get_dense_sequences_from_zero(run: in_mem.Run) -> None:
    assert [run.events.append("step", i) for i in range(5)] == [0, 1, 2, 3, 4]
    assert run.events.len() == 5 and len(run.events) == 5


def test_read_range_and_by_type(run: in_mem.Run) -> None:
    run.events.append("user_message", "book me a train to Bergen")
    run.events.append("tool_result", {"trains": ["08:15", "12:25"]})
    run.events.append("assistant_message", "booked the 08:15")
    event = run.events.read(1)
    assert event is not None
    assert (event.sequence, event.type, event.payload) == (1, "tool_result", {"trains": ["08:15", "12:25"]})
    assert isinstance(event.timestamp, datetime.datetime)
    assert run.events.read(3) is None
    assert [e.sequence for e in run.events.range(0, 2)] == [0, 1]
    assert [e.sequence for e in run.events.range(1)] == [1, 2]
    assert [e.sequence for e in run.events.range()] == [0, 1, 2]
    assert [e.payload for e in run.events.by_type("tool_result")] == [{"trains": ["08:15", "12:25"]}]
    assert run.events.head().sequence == 2


def test_each_event_carries_the_hash_of_the_one_before(run: in_mem.Run) -> None:
    for i in range(3):
        run.events.append("e", i)
    events = run.events.range()
    assert events[0].prev_hash == bytes(32)
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    chain = run.events.verify_chain()
    assert chain.events == 3 and chain.head_hash == events[2].hash


def test_an_empty_log(run: in_mem.Run) -> None:
    assert run.events.len() == 0
    assert run.events.head() is None
    assert run.events.range() == []
    assert run.events.verify_chain().head_hash == bytes(32)


def test_a_payload_defaults_to_none(run: in_mem.Run) -> None:
    run.events.append("tick")
    assert run.events.read(0).payload is None


def test_nan_payloads_are_refused_they_have_no_stable_hash(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.InvalidInput, match="value cannot be stored here"):
        run.events.append("bad", {"x": float("nan")})
    assert run.events.len() == 0


def test_a_bad_event_type_is_invalid_input(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.InvalidInput, match="event type"):
        run.events.append("", 1)


def test_each_run_has_its_own_log(db: in_mem.Database) -> None:
    a, b = db.begin_run(), db.begin_run()
    a.events.append("a")
    assert b.events.len() == 0
