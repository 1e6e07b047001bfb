"""LangGraph on in-mem: `InMemSaver` (a checkpointer) and `InMemStore` (long-term memory).

    pip install "in-mem[langgraph]"

    from in_mem.langgraph import InMemSaver

    with InMemSaver("./agent-db") as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke(inputs, {"configurable": {"thread_id": "t-1"}})

The mapping onto in-mem's runs. A LangGraph *thread* is one in-mem run, of an agent of its own
(`("langgraph", app, <random hex>)`), found through the run index by a tag derived from the
thread id; the thread id itself is the run's metadata, exactly as given. A *checkpoint* is one
atomic commit of that run: the checkpoint (without channel values), a blob per channel version
that changed, and the namespace's newest-checkpoint pointer, all keys of the run's own view.
Pending writes are one commit per `put_writes`. `copy_thread` is `Database.fork_run` of the
source's run, O(1) whatever the thread holds; `delete_thread` deletes the thread's keys and ends
its run, which is deleted once no copy reads it.

A crash. When the process is killed mid-thread, every checkpoint whose commit returned is in
the log (in "batched" and "strict" mode alike); recovery marks the thread's run "interrupted".
The next process reads it as it is and resumes it, with the view it had, at its first write:
the graph continues from the newest stored checkpoint. A checkpoint whose commit had not
returned is wholly absent (a commit is atomic), so LangGraph re-runs that step.

The long-term store (`InMemStore`) is the shared memory of one agent, read and written through
one session run per process (a new process sees what a killed one committed), each item one key
with in-mem's own time to live; see `in_mem.langgraph.store`.

Both need `langgraph` (the `langgraph` extra); `import in_mem` works without it.
"""

from __future__ import annotations

try:
    import langgraph.checkpoint.base  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "in_mem.langgraph needs LangGraph: pip install 'in-mem[langgraph]' "
        "(or pip install langgraph)"
    ) from e

from .saver import InMemSaver
from .store import InMemStore

__all__ = ["InMemSaver", "InMemStore"]
