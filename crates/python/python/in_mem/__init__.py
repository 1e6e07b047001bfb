"""in_mem: an embedded, durable, memory-resident database for AI agents.

Everything an agent keeps is scoped to a *run* (one execution of an agent): key-value memory
shared by the agent's runs (`run.kv`), and the run's own append-only, hash-chained event log
(`run.events`), versioned state cells and state machines (`run.state`) and trace of tool calls
and decisions (`run.trace`). A transaction commits any mix of them atomically. All live data
sits in memory; a write-ahead log makes every acknowledged commit survive a crash, as the
chosen durability mode promises.

    import in_mem

    with in_mem.Database("./agent-db", durability="strict") as db:
        with db.run(agent=("acme", "support", "triage"), tags=["nightly"]) as run:
            run.kv.put("user:42", {"name": "Ada", "visits": 3})
            seq = run.events.append("tool_result", {"tool": "search", "hits": 3})
            with db.transaction(run) as tx:
                tx.state.set("step", 2)
                tx.kv.put("last_tool", "search")

History: `db.run_view_at(run, version=...)` reads a run as it was at a point of its life,
`db.fork_run` branches from one, `db.run_timeline` / `db.key_history` list its steps and a
key's versions, `db.diff_runs` / `db.diff_run` compare, `db.replay` walks it step by step, and
`db.cassette` serves its recorded tool answers back to execute it again.

Calls that wait on the engine (opening, commits and their syncs, reads, scans, checkpoints)
release the GIL, so other threads run meanwhile. For asyncio, `in_mem.aio.AsyncDatabase` gives
every such call an awaitable twin that never blocks the event loop.

Errors are `in_mem.Error` and its subclasses (see `in_mem._errors`); their text is the Rust
engine's message.
"""

from __future__ import annotations

from ._errors import (
    CellExists,
    CellMissing,
    ChainBroken,
    ClosedError,
    Conflict,
    CorruptionError,
    Divergence,
    DurabilityError,
    Error,
    Fenced,
    ForbiddenTransition,
    HasForks,
    HistoryPruned,
    Immutable,
    InvalidInput,
    LimitExceeded,
    LockedError,
    NotOwner,
    OutcomeUnknown,
    PoisonedError,
    ReadOnlyView,
    RecordError,
    RemoteError,
    RunEnded,
    RunError,
    RunInterrupted,
    RunStateError,
    SharedModeUnsupported,
    SpanFinished,
    StaleVersion,
    StorePoisoned,
    StoreUnavailable,
    TypeMismatch,
    UnknownMachine,
    UnknownPoint,
    UnknownRun,
    UnknownSpan,
)
from ._native import (
    AgentId,
    Cassette,
    Cell,
    CellChange,
    Chain,
    Database,
    Event,
    EventLog,
    EventsDiff,
    KeyHistory,
    KeyVersion,
    KVStore,
    KvChange,
    RecordedCall,
    Replay,
    ReplayStep,
    Run,
    RunDiff,
    RunInfo,
    RunView,
    Span,
    SpanChange,
    SpanTree,
    StateMachine,
    Step,
    Timeline,
    TraceStore,
    Transaction,
    Transition,
    Versioned,
)

__all__ = [
    # the database and its handles
    "Database",
    "Run",
    "Transaction",
    "KVStore",
    "EventLog",
    "StateMachine",
    "TraceStore",
    # what calls return
    "AgentId",
    "RunInfo",
    "Versioned",
    "Event",
    "Chain",
    "Cell",
    "Transition",
    "Span",
    "SpanTree",
    # history: views of a run's past, timelines, a key's versions, diffs, replays
    "RunView",
    "Timeline",
    "Step",
    "KeyHistory",
    "KeyVersion",
    "RunDiff",
    "KvChange",
    "EventsDiff",
    "CellChange",
    "SpanChange",
    "Replay",
    "ReplayStep",
    "Cassette",
    "RecordedCall",
    # errors
    "Error",
    "ClosedError",
    "InvalidInput",
    "LimitExceeded",
    "TypeMismatch",
    "RunError",
    "UnknownRun",
    "RunEnded",
    "RunInterrupted",
    "RunStateError",
    "HistoryPruned",
    "UnknownPoint",
    "HasForks",
    "ReadOnlyView",
    "Conflict",
    "StaleVersion",
    "RecordError",
    "Immutable",
    "CellExists",
    "CellMissing",
    "UnknownMachine",
    "ForbiddenTransition",
    "ChainBroken",
    "UnknownSpan",
    "SpanFinished",
    "Divergence",
    "DurabilityError",
    "LockedError",
    "CorruptionError",
    "PoisonedError",
    "RemoteError",
    "StoreUnavailable",
    "OutcomeUnknown",
    "StorePoisoned",
    "Fenced",
    "NotOwner",
    "SharedModeUnsupported",
]
