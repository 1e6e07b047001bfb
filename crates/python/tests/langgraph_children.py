"""A LangGraph workload that the tests run in child processes: `python langgraph_children.py MODE PATH THREAD`.

The graph: plan -> research -> review -> publish, where `review` interrupts to ask for approval.
Every node appends its name to `steps`; `publish` records the approval it was given.

- `until-interrupt`: runs the graph on THREAD through `InMemSaver(PATH)` until the interrupt,
  prints "interrupted <checkpoint id>" and waits (for the SIGKILL the parent sends; it never
  closes the database).
- `resume`: opens PATH in a new process, checks the thread waits at `review`, resumes it with
  "approved" and prints the final state as JSON.
"""

from __future__ import annotations

import json
import operator
import sys
import time
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from in_mem.langgraph import InMemSaver


class State(TypedDict, total=False):
    topic: str
    steps: Annotated[list[str], operator.add]
    approval: str


def plan(state: State) -> State:
    return {"steps": ["plan"]}


def research(state: State) -> State:
    return {"steps": ["research"]}


def review(state: State) -> State:
    answer = interrupt({"question": f"publish {state['topic']}?"})
    return {"steps": ["review"], "approval": answer}


def publish(state: State) -> State:
    return {"steps": [f"publish:{state['approval']}"]}


def build(saver: InMemSaver):
    """The compiled graph, checkpointed by `saver`."""
    g = StateGraph(State)
    for name, node in [
        ("plan", plan),
        ("research", research),
        ("review", review),
        ("publish", publish),
    ]:
        g.add_node(name, node)
    g.add_edge(START, "plan")
    g.add_edge("plan", "research")
    g.add_edge("research", "review")
    g.add_edge("review", "publish")
    g.add_edge("publish", END)
    return g.compile(checkpointer=saver)


def until_interrupt(path: str, thread: str) -> None:
    saver = InMemSaver(path)
    graph = build(saver)
    config = {"configurable": {"thread_id": thread}}
    graph.invoke({"topic": "in-mem", "steps": []}, config)
    state = graph.get_state(config)
    print("interrupted", state.config["configurable"]["checkpoint_id"], flush=True)
    while True:  # the parent SIGKILLs this process
        time.sleep(1)


def resume(path: str, thread: str) -> None:
    with InMemSaver(path) as saver:
        graph = build(saver)
        config = {"configurable": {"thread_id": thread}}
        waiting = graph.get_state(config)
        assert waiting.next == ("review",), waiting.next
        final = graph.invoke(Command(resume="approved"), config)
        print(
            json.dumps(
                {"waited_at": waiting.config["configurable"]["checkpoint_id"], "final": final}
            ),
            flush=True,
        )


if __name__ == "__main__":
    mode, path, thread = sys.argv[1], sys.argv[2], sys.argv[3]
    {"until-interrupt": until_interrupt, "resume": resume}[mode](path, thread)
