"""A real LangGraph StateGraph on InMemSaver: an interrupt survives a SIGKILL and is resumed by a
new process; the state history; `update_state` forking from an earlier checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "langgraph.graph", reason="langgraph is not installed (pip install 'in-mem[langgraph]')"
)

from conftest import TESTS_DIR, child_env  # noqa: E402
from langgraph.types import Command  # noqa: E402

from in_mem.langgraph import InMemSaver  # noqa: E402

sys.path.insert(0, str(TESTS_DIR))
from langgraph_children import build  # noqa: E402

CHILD = str(TESTS_DIR / "langgraph_children.py")
WAIT_SECONDS = 120


def config(thread: str) -> dict:
    return {"configurable": {"thread_id": thread}}


def test_an_interrupted_thread_survives_sigkill_and_a_new_process_resumes_it(db_path: Path) -> None:
    thread = "thread-ß/1"  # stored exactly as given
    child = subprocess.Popen(
        [sys.executable, CHILD, "until-interrupt", str(db_path), thread],
        stdout=subprocess.PIPE,
        env=child_env(),
        text=True,
    )
    try:
        line = child.stdout.readline().split()
        assert line[:1] == ["interrupted"], line
        interrupt_checkpoint = line[1]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT_SECONDS)
    assert child.returncode == -signal.SIGKILL

    resumed = subprocess.run(
        [sys.executable, CHILD, "resume", str(db_path), thread],
        capture_output=True,
        env=child_env(),
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["waited_at"] == interrupt_checkpoint
    assert out["final"]["steps"] == ["plan", "research", "review", "publish:approved"]
    assert out["final"]["approval"] == "approved"

    # And a third process (this one) sees the finished thread.
    with InMemSaver(db_path) as saver:
        state = build(saver).get_state(config(thread))
        assert state.next == ()
        assert state.values["steps"][-1] == "publish:approved"


def test_state_history_lists_every_step_newest_first(db_path: Path) -> None:
    with InMemSaver(db_path) as saver:
        graph = build(saver)
        graph.invoke({"topic": "history", "steps": []}, config("h"))
        graph.invoke(Command(resume="yes"), config("h"))
        history = list(graph.get_state_history(config("h")))
        # input, plan, research, review (interrupted, then resumed), publish
        assert [len(s.values.get("steps", [])) for s in history] == [4, 3, 2, 1, 0, 0]
        assert history[0].values["steps"] == ["plan", "research", "review", "publish:yes"]
        assert history[-1].next == ("__start__",)
        for newer, older in zip(history, history[1:]):
            assert (
                newer.parent_config["configurable"]["checkpoint_id"]
                == older.config["configurable"]["checkpoint_id"]
            )
        ids = [s.config["configurable"]["checkpoint_id"] for s in history]
        assert ids == sorted(ids, reverse=True)
        limited = list(graph.get_state_history(config("h"), limit=2))
        assert [s.config for s in limited] == [s.config for s in history[:2]]


def test_update_state_forks_from_an_earlier_checkpoint(db_path: Path) -> None:
    with InMemSaver(db_path) as saver:
        graph = build(saver)
        graph.invoke({"topic": "fork", "steps": []}, config("f"))
        graph.invoke(Command(resume="first"), config("f"))
        history = list(graph.get_state_history(config("f")))
        final_config = history[0].config
        after_plan = next(s for s in history if s.values.get("steps") == ["plan"])
        assert after_plan.next == ("research",)

        # Edit the past as if `research` had run differently, then continue from there.
        forked = graph.update_state(after_plan.config, {"steps": ["edited"]}, as_node="research")
        fork_state = graph.get_state(forked)
        assert (
            fork_state.parent_config["configurable"]["checkpoint_id"]
            == after_plan.config["configurable"]["checkpoint_id"]
        )
        assert fork_state.values["steps"] == ["plan", "edited"]
        assert fork_state.next == ("review",)
        graph.invoke(None, forked)  # runs to the interrupt in review
        final = graph.invoke(Command(resume="second"), config("f"))
        assert final["steps"] == ["plan", "edited", "review", "publish:second"]

        # The first branch is untouched and still readable.
        first = graph.get_state(final_config)
        assert first.values["steps"] == ["plan", "research", "review", "publish:first"]
        # The thread's newest checkpoint is the fork's end.
        assert graph.get_state(config("f")).values["steps"][-1] == "publish:second"


def test_a_copied_thread_resumes_on_its_own(db_path: Path) -> None:
    with InMemSaver(db_path) as saver:
        graph = build(saver)
        graph.invoke({"topic": "copy", "steps": []}, config("src"))
        saver.copy_thread("src", "dst")
        graph.invoke(Command(resume="dst-answer"), config("dst"))
        assert graph.get_state(config("src")).next == ("review",)
        graph.invoke(Command(resume="src-answer"), config("src"))
        assert graph.get_state(config("dst")).values["steps"][-1] == "publish:dst-answer"
        assert graph.get_state(config("src")).values["steps"][-1] == "publish:src-answer"
