"""run.trace: spans of every kind, finishing, and the queries (tree, children, roots, kind, tag)."""

from __future__ import annotations

import datetime

import pytest

import in_mem


def test_a_task_with_a_tool_call_and_a_decision_forms_a_tree(run: in_mem.Run) -> None:
    task = run.trace.start("thought", text="answer: what is the weather in Oslo?")
    call = run.trace.start("tool_call", tool="weather", arguments={"city": "Oslo"}, parent=task, tags=["web"])
    finished = run.trace.finish(call, result="rain, 9 C")
    assert finished.status == "ok"
    assert finished.details["result"] == "rain, 9 C"
    assert isinstance(finished.details["duration"], datetime.timedelta)
    decision = run.trace.record(
        "decision", question="umbrella?", options=["yes", "no"], chosen="yes", reasoning="it rains", parent=task
    )
    run.trace.finish(task)

    tree = run.trace.tree(task)
    assert tree.span.id == task
    assert [child.span.id for child in tree.children] == [call, decision]
    assert [s.id for s in run.trace.children(task)] == [call, decision]
    assert [s.id for s in run.trace.roots()] == [task]
    assert [s.id for s in run.trace.by_kind("tool_call")] == [call]
    assert [s.id for s in run.trace.by_tag("web")] == [call]
    assert [s.id for s in run.trace.all()] == [task, call, decision]


def test_span_ids_are_1_2_3_in_order(run: in_mem.Run) -> None:
    assert [run.trace.record("thought", text=str(i)) for i in range(3)] == [1, 2, 3]


def test_every_kind_keeps_its_fields(run: in_mem.Run) -> None:
    ids = {
        "tool_call": run.trace.record("tool_call", tool="search", arguments=["q"], result=[1], duration=1.5),
        "decision": run.trace.record("decision", question="q?", options=["a"], chosen="a"),
        "query": run.trace.record("query", query="select 1", result={"rows": 1}),
        "thought": run.trace.record("thought", text="hmm"),
        "error": run.trace.record("error", message="it broke"),
        "custom": run.trace.record("custom", name="checkpoint", data={"n": 1}),
    }
    spans = {kind: run.trace.get(span_id) for kind, span_id in ids.items()}
    assert spans["tool_call"].details == {
        "tool": "search",
        "arguments": ["q"],
        "result": [1],
        "duration": datetime.timedelta(seconds=1.5),
    }
    assert spans["decision"].details == {"question": "q?", "options": ["a"], "chosen": "a", "reasoning": ""}
    assert spans["query"].details == {"query": "select 1", "result": {"rows": 1}}
    assert spans["thought"].details == {"text": "hmm"}
    assert spans["error"].details == {"message": "it broke"}
    assert spans["error"].status == "error"
    assert spans["custom"].details == {"name": "checkpoint", "data": {"n": 1}}
    for kind, span in spans.items():
        assert span.kind == kind
        assert span.end is not None


def test_attributes_tags_and_status(run: in_mem.Run) -> None:
    span_id = run.trace.record(
        "thought", text="x", tags=["b", "a", "b"], attributes={"attempt": 2, "model": "m"}, status="error"
    )
    span = run.trace.get(span_id)
    assert span.tags == ["a", "b"]
    assert span.attributes == {"attempt": 2, "model": "m"}
    assert span.status == "error"


def test_a_running_span_finishes_once(run: in_mem.Run) -> None:
    span_id = run.trace.start("query", query="q")
    assert run.trace.get(span_id).status == "running"
    assert run.trace.get(span_id).end is None
    run.trace.finish(span_id, "error")
    with pytest.raises(in_mem.SpanFinished, match=f"span {span_id} is already finished") as err:
        run.trace.finish(span_id)
    assert err.value.span == span_id


def test_missing_spans_and_parents(run: in_mem.Run) -> None:
    assert run.trace.get(99) is None
    assert run.trace.tree(99) is None
    with pytest.raises(in_mem.UnknownSpan, match="parent span 999 does not exist in this run"):
        run.trace.record("thought", text="orphan", parent=999)
    with pytest.raises(in_mem.UnknownSpan, match="span 7 does not exist in this run"):
        run.trace.finish(7)


def test_bad_span_descriptions(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.InvalidInput, match='span kind "nap" is not one of tool_call'):
        run.trace.record("nap")
    with pytest.raises(TypeError, match='a thought span needs the field "text"'):
        run.trace.record("thought")
    with pytest.raises(TypeError, match='a thought span has no field "tool"'):
        run.trace.record("thought", text="x", tool="y")
    with pytest.raises(in_mem.InvalidInput, match="span status"):
        run.trace.record("thought", text="x", status="fine")
    span_id = run.trace.start("thought", text="x")
    with pytest.raises(in_mem.InvalidInput, match="a thought span has no result"):
        run.trace.finish(span_id, result="nope")
