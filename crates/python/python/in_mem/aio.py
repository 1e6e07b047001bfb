"""asyncio twins of every blocking call: `AsyncDatabase` and the handles it gives out.

A blocking call of in_mem (opening, a commit waiting for its sync, a read, a scan, a
checkpoint) holds the thread that makes it, with the GIL released. Made from a coroutine, it
would stall the event loop for as long. Here every such call runs in a thread pool of the
database's own, and its coroutine awaits the result, so timers and other tasks keep running
while commits wait for their fdatasync; many commits in flight at once share syncs (group
commit), so more threads mean more commits per sync.

    import asyncio
    from in_mem.aio import AsyncDatabase

    async def main():
        async with await AsyncDatabase.open("./agent-db", durability="strict") as db:
            async with db.run(agent=("acme", "support", "triage")) as run:
                await run.kv.put("user:42", {"name": "Ada"})
                await run.events.append("tool_result", {"hits": 3})
                async with db.transaction(run) as tx:
                    await tx.state.set("step", 2)
                    await tx.kv.put("last_tool", "search")

    asyncio.run(main())

Each class mirrors the synchronous one (`Database`, `Run`, `Transaction`, `KVStore`, `EventLog`,
`StateMachine`, `TraceStore`, and for history `RunView` and `Replay`), with the same arguments
and results; `.sync` gives the wrapped synchronous object. Cancelling an awaiting task does not
undo a call already running in the pool: a commit that was under way still commits.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import pathlib
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Generic, Optional, TypeVar, Union

from ._native import (
    Cassette,
    Cell,
    Chain,
    Database,
    Event,
    EventLog,
    KeyHistory,
    KVStore,
    Replay,
    ReplayStep,
    Run,
    RunDiff,
    RunInfo,
    RunView,
    Step,
    Timeline,
    Span,
    SpanTree,
    StateMachine,
    TraceStore,
    Transaction,
    Transition,
    Versioned,
)
from ._errors import Conflict

__all__ = [
    "AsyncDatabase",
    "AsyncRun",
    "AsyncTransaction",
    "AsyncKVStore",
    "AsyncEventLog",
    "AsyncStateMachine",
    "AsyncTraceStore",
    "AsyncRunView",
    "AsyncReplay",
    "AsyncReplayStep",
    "DEFAULT_MAX_WORKERS",
]

_T = TypeVar("_T")

#: Threads of an `AsyncDatabase`'s pool, by default. Each call waiting on the engine holds one;
#: Strict commits in flight together share one fdatasync, so a deeper pool lets more of them
#: wait on the same sync. Threads blocked in a sync cost no CPU.
DEFAULT_MAX_WORKERS = 32


class _Pool:
    """The thread pool the awaitable twins of one database run their blocking calls on."""

    __slots__ = ("executor", "owned")

    def __init__(self, executor: Executor, owned: bool) -> None:
        self.executor = executor
        self.owned = owned

    async def call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))


# ----- the accessors -----------------------------------------------------------------------------


class AsyncKVStore:
    """Awaitable twin of `in_mem.KVStore`: the agent's memory as a run (or transaction) sees it."""

    __slots__ = ("sync", "_pool")

    def __init__(self, sync: KVStore, pool: _Pool) -> None:
        self.sync = sync
        self._pool = pool

    async def put(self, key: Union[str, bytes], value: Any, *, ttl: Any = None) -> Optional[int]:
        """Stores `value` under `key` (with an optional `ttl`); returns the commit version."""
        return await self._pool.call(self.sync.put, key, value, ttl=ttl)

    async def get(self, key: Union[str, bytes], default: Any = None) -> Any:
        """The value under `key`, or `default`."""
        return await self._pool.call(self.sync.get, key, default)

    async def get_versioned(self, key: Union[str, bytes]) -> Optional[Versioned]:
        """The value under `key` with its version, time and TTL, or None."""
        return await self._pool.call(self.sync.get_versioned, key)

    async def exists(self, key: Union[str, bytes]) -> bool:
        """Whether `key` holds a value."""
        return await self._pool.call(self.sync.exists, key)

    async def delete(self, key: Union[str, bytes]) -> bool:
        """Deletes `key`; returns whether it held a value."""
        return await self._pool.call(self.sync.delete, key)

    async def list(self, prefix: Union[str, bytes, None] = None) -> list[tuple[Any, Any]]:
        """Every (key, value) under `prefix`, in key order."""
        return await self._pool.call(self.sync.list, prefix)

    async def range(
        self,
        start: Union[str, bytes, None] = None,
        end: Union[str, bytes, None] = None,
    ) -> list[tuple[Any, Any]]:
        """Every (key, value) from `start` up to `end` (excluded), in key order."""
        return await self._pool.call(self.sync.range, start, end)

    async def keys(self, prefix: Union[str, bytes, None] = None) -> list[Any]:
        """Every key under `prefix`, in key order."""
        return await self._pool.call(self.sync.keys, prefix)

    async def compare_and_swap(
        self, key: Union[str, bytes], expected: Optional[int], value: Any
    ) -> Optional[int]:
        """Stores `value` only if `key`'s version is `expected` (None: absent)."""
        return await self._pool.call(self.sync.compare_and_swap, key, expected, value)


class AsyncEventLog:
    """Awaitable twin of `in_mem.EventLog`: a run's append-only, hash-chained event log."""

    __slots__ = ("sync", "_pool")

    def __init__(self, sync: EventLog, pool: _Pool) -> None:
        self.sync = sync
        self._pool = pool

    async def append(self, event_type: str, payload: Any = None) -> int:
        """Appends an event; returns its sequence number."""
        return await self._pool.call(self.sync.append, event_type, payload)

    async def read(self, sequence: int) -> Optional[Event]:
        """The event at `sequence`, or None."""
        return await self._pool.call(self.sync.read, sequence)

    async def range(self, start: int = 0, end: Optional[int] = None) -> list[Event]:
        """The events with `start <= sequence < end` (end None: to the newest)."""
        return await self._pool.call(self.sync.range, start, end)

    async def by_type(self, event_type: str) -> list[Event]:
        """Every event of `event_type`, in order."""
        return await self._pool.call(self.sync.by_type, event_type)

    async def len(self) -> int:
        """The number of events."""
        return await self._pool.call(self.sync.len)

    async def head(self) -> Optional[Event]:
        """The newest event, or None."""
        return await self._pool.call(self.sync.head)

    async def verify_chain(self) -> Chain:
        """Checks the whole chain; `in_mem.ChainBroken` names the first bad event."""
        return await self._pool.call(self.sync.verify_chain)


class AsyncStateMachine:
    """Awaitable twin of `in_mem.StateMachine`: a run's state cells and state machines."""

    __slots__ = ("sync", "_pool")

    def __init__(self, sync: StateMachine, pool: _Pool) -> None:
        self.sync = sync
        self._pool = pool

    async def init(self, name: str, value: Any = None) -> int:
        """Creates cell `name`; returns its version."""
        return await self._pool.call(self.sync.init, name, value)

    async def read(self, name: str) -> Optional[Cell]:
        """Cell `name`, or None."""
        return await self._pool.call(self.sync.read, name)

    async def set(self, name: str, value: Any) -> int:
        """Sets cell `name`; returns its new version."""
        return await self._pool.call(self.sync.set, name, value)

    async def cas(self, name: str, expected: int, value: Any) -> int:
        """Sets cell `name` only if its version is `expected`."""
        return await self._pool.call(self.sync.cas, name, expected, value)

    async def delete(self, name: str) -> bool:
        """Deletes cell `name`; returns whether it existed."""
        return await self._pool.call(self.sync.delete, name)

    async def cells(self) -> dict[str, Cell]:
        """Every live cell, by name."""
        return await self._pool.call(self.sync.cells)

    async def define(
        self,
        name: str,
        initial: str,
        transitions: Iterable[tuple[str, str, str]] = (),
        terminal: Iterable[str] = (),
        states: Iterable[str] = (),
    ) -> None:
        """Declares machine `name` (see `in_mem.StateMachine.define`)."""
        await self._pool.call(
            self.sync.define, name, initial, list(transitions), list(terminal), list(states)
        )

    async def machine_state(self, name: str) -> Optional[Cell]:
        """Machine `name`'s current state as a cell, or None."""
        return await self._pool.call(self.sync.machine_state, name)

    async def fire(self, name: str, event: str) -> Transition:
        """Moves machine `name` by `event`."""
        return await self._pool.call(self.sync.fire, name, event)


class AsyncTraceStore:
    """Awaitable twin of `in_mem.TraceStore`: a run's spans as a tree."""

    __slots__ = ("sync", "_pool")

    def __init__(self, sync: TraceStore, pool: _Pool) -> None:
        self.sync = sync
        self._pool = pool

    async def record(self, kind: str, **arguments: Any) -> int:
        """Records a finished span (arguments as for `in_mem.TraceStore.record`)."""
        return await self._pool.call(self.sync.record, kind, **arguments)

    async def start(self, kind: str, **arguments: Any) -> int:
        """Starts a running span (arguments as for `in_mem.TraceStore.start`)."""
        return await self._pool.call(self.sync.start, kind, **arguments)

    async def finish(self, span: int, status: str = "ok", *, result: Any = None) -> Span:
        """Finishes a running span."""
        return await self._pool.call(self.sync.finish, span, status, result=result)

    async def get(self, span: int) -> Optional[Span]:
        """Span `span`, or None."""
        return await self._pool.call(self.sync.get, span)

    async def children(self, span: int) -> list[Span]:
        """The spans whose parent is `span`."""
        return await self._pool.call(self.sync.children, span)

    async def roots(self) -> list[Span]:
        """The spans without a parent."""
        return await self._pool.call(self.sync.roots)

    async def tree(self, span: int) -> Optional[SpanTree]:
        """`span` and everything inside it, or None."""
        return await self._pool.call(self.sync.tree, span)

    async def by_kind(self, kind: str) -> list[Span]:
        """The spans of `kind`."""
        return await self._pool.call(self.sync.by_kind, kind)

    async def by_tag(self, tag: str) -> list[Span]:
        """The spans carrying `tag`."""
        return await self._pool.call(self.sync.by_tag, tag)

    async def all(self) -> list[Span]:
        """Every span of the run."""
        return await self._pool.call(self.sync.all)


class _Scoped:
    """What a run and a transaction share: the four accessors, over one synchronous object."""

    __slots__ = ("sync", "_pool")

    def __init__(self, sync: Any, pool: _Pool) -> None:
        self.sync = sync
        self._pool = pool

    @property
    def kv(self) -> AsyncKVStore:
        """The agent's memory, as this run (or transaction) sees it."""
        return AsyncKVStore(self.sync.kv, self._pool)

    @property
    def events(self) -> AsyncEventLog:
        """The run's event log."""
        return AsyncEventLog(self.sync.events, self._pool)

    @property
    def state(self) -> AsyncStateMachine:
        """The run's state cells and machines."""
        return AsyncStateMachine(self.sync.state, self._pool)

    @property
    def trace(self) -> AsyncTraceStore:
        """The run's trace."""
        return AsyncTraceStore(self.sync.trace, self._pool)


# ----- transactions and runs ---------------------------------------------------------------------


class AsyncTransaction(_Scoped):
    """Awaitable twin of `in_mem.Transaction`. `async with` commits on a normal exit and
    abandons on an exception."""

    __slots__ = ()
    sync: Transaction

    @property
    def run_id(self) -> str:
        """The id of the run this transaction belongs to."""
        return self.sync.run_id

    @property
    def is_open(self) -> bool:
        """Whether it still takes calls."""
        return self.sync.is_open

    @property
    def version(self) -> Optional[int]:
        """The commit's version once committed."""
        return self.sync.version

    async def commit(self) -> Optional[int]:
        """Commits atomically (`in_mem.Conflict` if another commit changed what it read)."""
        return await self._pool.call(self.sync.commit)

    def abort(self) -> None:
        """Abandons the transaction (does not wait, so it needs no await)."""
        self.sync.abort()

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        return await self._pool.call(self.sync.__exit__, exc_type, exc, traceback)


class AsyncRun(_Scoped):
    """Awaitable twin of `in_mem.Run`. `async with` ends the run on a normal exit and fails it
    on an exception, as `with` does."""

    __slots__ = ()
    sync: Run

    @property
    def id(self) -> str:
        """The run's id."""
        return self.sync.id

    async def info(self) -> RunInfo:
        """A description of the run."""
        return await self._pool.call(self.sync.info)

    async def status(self) -> str:
        """The run's status."""
        return await self._pool.call(lambda: self.sync.status)

    async def end(self) -> None:
        """Ends the run as completed."""
        await self._pool.call(self.sync.end)

    async def fail(self, error: str) -> None:
        """Ends the run as failed, recording `error`."""
        await self._pool.call(self.sync.fail, error)

    async def cancel(self) -> None:
        """Ends the run as cancelled."""
        await self._pool.call(self.sync.cancel)

    async def pause(self) -> None:
        """Pauses the run."""
        await self._pool.call(self.sync.pause)

    async def resume(self) -> None:
        """Resumes a paused or interrupted run."""
        await self._pool.call(self.sync.resume)

    async def delete(self) -> None:
        """Deletes an ended run and its own data."""
        await self._pool.call(self.sync.delete)

    async def set_tags(self, tags: Iterable[str]) -> None:
        """Replaces the run's tags."""
        await self._pool.call(self.sync.set_tags, list(tags))

    async def set_metadata(self, metadata: Any) -> None:
        """Replaces the run's metadata."""
        await self._pool.call(self.sync.set_metadata, metadata)

    async def view_at(self, **point: Any) -> AsyncRunView:
        """The run as it was right after a point (`version=`, `event=` or `time=`)."""
        view = await self._pool.call(self.sync.view_at, **point)
        return AsyncRunView(view, self._pool)

    def transaction(self) -> _Opening[AsyncTransaction]:
        """Opens a transaction of this run: `async with run.transaction() as tx:`."""
        pool = self._pool
        return _Opening(pool, lambda: AsyncTransaction(self.sync.transaction(), pool))

    async def __aenter__(self) -> AsyncRun:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        return await self._pool.call(self.sync.__exit__, exc_type, exc, traceback)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncRun) and other.sync == self.sync

    def __hash__(self) -> int:
        return hash(self.sync)

    def __repr__(self) -> str:
        return f"<in_mem.aio.AsyncRun {self.sync.id}>"


# ----- history -----------------------------------------------------------------------------------


class AsyncRunView(_Scoped):
    """Awaitable twin of `in_mem.RunView`: a run as it was right after a point of its history,
    read-only (writes raise `in_mem.ReadOnlyView`)."""

    __slots__ = ()
    sync: RunView

    @property
    def run_id(self) -> str:
        """The id of the run this is a view of."""
        return self.sync.run_id

    @property
    def version(self) -> int:
        """The version the view is at."""
        return self.sync.version

    async def cassette(self) -> Cassette:
        """The run's recorded tool answers as of this point (the `Cassette` never blocks)."""
        return await self._pool.call(self.sync.cassette)

    def __repr__(self) -> str:
        return f"<in_mem.aio.AsyncRunView of run {self.sync.run_id} at version {self.sync.version}>"


class AsyncReplayStep:
    """One step of an `AsyncReplay`: `step` (an `in_mem.Step`) and `view`, the run right after
    it (an `AsyncRunView`)."""

    __slots__ = ("sync", "step", "view")

    def __init__(self, sync: ReplayStep, pool: _Pool) -> None:
        self.sync = sync
        self.step: Step = sync.step
        self.view = AsyncRunView(sync.view, pool)

    def __repr__(self) -> str:
        return f"<in_mem.aio.AsyncReplayStep version {self.step.version}>"


#: What `_next_step` returns when the replay is over: `StopIteration` cannot cross a future.
_DONE = object()


def _next_step(replay: Replay) -> Any:
    return next(replay, _DONE)


class AsyncReplay:
    """Awaitable twin of `in_mem.Replay`: `async for step in replay:` yields an
    `AsyncReplayStep` per commit of the run, each verified first (a failed check raises at its
    step, as the synchronous iterator does)."""

    __slots__ = ("sync", "_pool")

    def __init__(self, sync: Replay, pool: _Pool) -> None:
        self.sync = sync
        self._pool = pool

    def __aiter__(self) -> AsyncIterator[AsyncReplayStep]:
        return self

    async def __anext__(self) -> AsyncReplayStep:
        step = await self._pool.call(_next_step, self.sync)
        if step is _DONE:
            raise StopAsyncIteration
        return AsyncReplayStep(step, self._pool)


class _Opening(Generic[_T]):
    """A handle being opened in the pool: `await` it for the handle, or `async with` it to have
    the handle's own `__aexit__` (end the run, commit the transaction) run at the block's end."""

    __slots__ = ("_pool", "_open", "_opened")

    def __init__(self, pool: _Pool, open: Callable[[], _T]) -> None:
        self._pool = pool
        self._open = open
        self._opened: Optional[_T] = None

    def __await__(self) -> Generator[Any, None, _T]:
        return self._pool.call(self._open).__await__()

    async def __aenter__(self) -> _T:
        self._opened = await self._pool.call(self._open)
        return self._opened

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        opened: Any = self._opened
        return await opened.__aexit__(exc_type, exc, traceback)


def _sync_run(run: Union[AsyncRun, Run, str]) -> Union[Run, str]:
    return run.sync if isinstance(run, AsyncRun) else run


# ----- the database ------------------------------------------------------------------------------


class AsyncDatabase:
    """Awaitable twin of `in_mem.Database`: open it with `await AsyncDatabase.open(path, ...)`
    (or wrap an open `Database`), use it with `async with`, or `await db.close()`."""

    __slots__ = ("sync", "_pool")

    def __init__(
        self,
        db: Database,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        executor: Optional[Executor] = None,
    ) -> None:
        """Wraps `db`. Blocking calls run on `executor` if given (it stays the caller's to shut
        down), else on a pool of `max_workers` threads of this database's own."""
        self.sync = db
        if executor is None:
            owned = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="in-mem")
            self._pool = _Pool(owned, owned=True)
        else:
            self._pool = _Pool(executor, owned=False)

    @classmethod
    async def open(
        cls,
        path: Union[str, os.PathLike],
        durability: str = "batched",
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        executor: Optional[Executor] = None,
        **options: Any,
    ) -> AsyncDatabase:
        """Opens (creating or recovering) the database at `path` without blocking the loop;
        `durability` and `options` as for `in_mem.Database`."""
        loop = asyncio.get_running_loop()
        opener = functools.partial(Database, path, durability, **options)
        # Recovery can take a while: it runs on the given executor, or the loop's default one.
        db = await loop.run_in_executor(executor, opener)
        return cls(db, max_workers=max_workers, executor=executor)

    @classmethod
    async def connect(
        cls,
        url: str,
        durability: str = "batched",
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        executor: Optional[Executor] = None,
        **options: Any,
    ) -> AsyncDatabase:
        """Connects to a shared store (shared mode) without blocking the loop; `durability` and
        `options` as for `in_mem.Database.connect`."""
        loop = asyncio.get_running_loop()
        connector = functools.partial(Database.connect, url, durability, **options)
        db = await loop.run_in_executor(executor, connector)
        return cls(db, max_workers=max_workers, executor=executor)

    @property
    def path(self) -> Optional[pathlib.Path]:
        """The database's directory; None for a connected database."""
        return self.sync.path

    @property
    def host_id(self) -> Optional[str]:
        """This host's id among those sharing the store; None for an embedded database."""
        return self.sync.host_id

    @property
    def connected(self) -> bool:
        """Whether the database is connected to a shared store."""
        return self.sync.connected

    def cache_stats(self) -> Optional[dict]:
        """Shared mode: this host's cache against its budget; None for an embedded database
        (it reads counters, so it does not block)."""
        return self.sync.cache_stats()

    async def store_stats(self) -> Optional[dict]:
        """Shared mode: what the store holds, counted; None for an embedded database."""
        return await self._pool.call(self.sync.store_stats)

    async def take_over_run(self, run: Any) -> None:
        """Shared mode: makes this host the run's owner."""
        await self._pool.call(self.sync.take_over_run, _sync_run(run))

    @property
    def durability(self) -> str:
        """This handle's durability mode."""
        return self.sync.durability

    @property
    def closed(self) -> bool:
        """Whether `close()` has run."""
        return self.sync.closed

    async def flush(self) -> None:
        """Makes every acknowledged commit durable."""
        await self._pool.call(self.sync.flush)

    async def checkpoint(self) -> dict[str, Any]:
        """Writes a checkpoint now."""
        return await self._pool.call(self.sync.checkpoint)

    async def sweep(self) -> dict[str, int]:
        """Reclaims expired and unreachable versions now."""
        return await self._pool.call(self.sync.sweep)

    async def stats(self) -> dict[str, int]:
        """Memory counts."""
        return await self._pool.call(self.sync.stats)

    def recovery_report(self) -> dict[str, Any]:
        """What recovery found at open (kept in memory: no need to await)."""
        return self.sync.recovery_report()

    async def close(self) -> None:
        """Makes everything durable and closes; then stops this database's own thread pool."""
        try:
            await self._pool.call(self.sync.close)
        finally:
            if self._pool.owned:
                self._pool.executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncDatabase:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        try:
            await self.close()
        except Exception:
            if exc_type is None:
                raise
        return False

    async def begin_run(self, agent: Any = None, **options: Any) -> AsyncRun:
        """Begins a run (arguments as for `in_mem.Database.begin_run`)."""
        run = await self._pool.call(self.sync.begin_run, agent, **options)
        return AsyncRun(run, self._pool)

    def run(self, agent: Any = None, **options: Any) -> _Opening[AsyncRun]:
        """Begins a run for `async with db.run(...) as run:` (ends with the block, fails if it
        raises); `await db.run(...)` gives the run alone."""
        pool = self._pool
        return _Opening(pool, lambda: AsyncRun(self.sync.begin_run(agent, **options), pool))

    async def get_run(self, id: Union[str, AsyncRun, Run]) -> AsyncRun:
        """The run with this id; `in_mem.UnknownRun` if none."""
        run = await self._pool.call(self.sync.get_run, _sync_run(id))
        return AsyncRun(run, self._pool)

    async def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return await self._pool.call(self.sync.runs)

    async def query_runs(self, **query: Any) -> list[RunInfo]:
        """The runs matching `query` (keywords as for `in_mem.Database.query_runs`)."""
        for name in ("parent", "forked_from"):
            if query.get(name) is not None:
                query[name] = _sync_run(query[name])
        return await self._pool.call(self.sync.query_runs, **query)

    async def run_counts(self) -> dict[str, int]:
        """How many runs are in each status."""
        return await self._pool.call(self.sync.run_counts)

    async def delete_run(self, run: Union[AsyncRun, Run, str]) -> None:
        """Deletes an ended run and its own data."""
        await self._pool.call(self.sync.delete_run, _sync_run(run))

    async def fork_run(self, run: Union[AsyncRun, Run, str], **point: Any) -> AsyncRun:
        """Forks `run` at a point (`version=`, `event=` or `time=`; none: now), with the
        fork's `tags=`, `metadata=` and `id=` if given."""
        fork = await self._pool.call(self.sync.fork_run, _sync_run(run), **point)
        return AsyncRun(fork, self._pool)

    async def delete_run_tree(self, run: Union[AsyncRun, Run, str]) -> int:
        """Deletes an ended run and every run forked from it; returns how many."""
        return await self._pool.call(self.sync.delete_run_tree, _sync_run(run))

    async def run_view_at(self, run: Union[AsyncRun, Run, str], **point: Any) -> AsyncRunView:
        """`run` as it was right after a point (`version=`, `event=` or `time=`; none: now)."""
        view = await self._pool.call(self.sync.run_view_at, _sync_run(run), **point)
        return AsyncRunView(view, self._pool)

    async def run_timeline(
        self,
        run: Union[AsyncRun, Run, str],
        *,
        start: Optional[int] = None,
        end: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> Timeline:
        """`run`'s steps with `start <= version < end`, oldest first, at most `limit`."""
        return await self._pool.call(
            self.sync.run_timeline, _sync_run(run), start=start, end=end, limit=limit
        )

    async def key_history(
        self, run: Union[AsyncRun, Run, str], key: Union[str, bytes]
    ) -> KeyHistory:
        """The versions of `key` that `run` can see, newest first."""
        return await self._pool.call(self.sync.key_history, _sync_run(run), key)

    async def diff_runs(
        self, a: Union[AsyncRun, Run, str], b: Union[AsyncRun, Run, str]
    ) -> RunDiff:
        """What differs between runs `a` and `b` as they are now."""
        return await self._pool.call(self.sync.diff_runs, _sync_run(a), _sync_run(b))

    async def diff_run(self, run: Union[AsyncRun, Run, str], **points: Any) -> RunDiff:
        """What changed in `run` between two points (`from_version=` ... `to_time=`)."""
        return await self._pool.call(self.sync.diff_run, _sync_run(run), **points)

    async def replay(self, run: Union[AsyncRun, Run, str]) -> AsyncReplay:
        """`run` walked step by step: `async for step in await db.replay(run):`."""
        replay = await self._pool.call(self.sync.replay, _sync_run(run))
        return AsyncReplay(replay, self._pool)

    async def cassette(self, run: Union[AsyncRun, Run, str], **point: Any) -> Cassette:
        """`run`'s recorded tool answers as of a point (the `Cassette` never blocks)."""
        return await self._pool.call(self.sync.cassette, _sync_run(run), **point)

    def transaction(self, run: Union[AsyncRun, Run, str]) -> _Opening[AsyncTransaction]:
        """Opens a transaction of `run`: `async with db.transaction(run) as tx:` commits on a
        normal exit and writes nothing on an exception."""
        pool = self._pool
        target = _sync_run(run)
        return _Opening(pool, lambda: AsyncTransaction(self.sync.transaction(target), pool))

    async def transaction_with_retry(
        self,
        run: Union[AsyncRun, Run, str],
        f: Callable[[Any], Any],
        *,
        max_attempts: int = 32,
    ) -> Any:
        """Runs `f(tx)` in a transaction and commits; on `in_mem.Conflict` runs it again, up to
        `max_attempts` times in all.

        A coroutine function `f` gets an `AsyncTransaction` and runs on the loop; a plain
        function gets a `Transaction` and runs in the pool, where it may block.
        """
        target = _sync_run(run)
        if not inspect.iscoroutinefunction(f):
            return await self._pool.call(
                self.sync.transaction_with_retry, target, f, max_attempts=max_attempts
            )
        attempt = 1
        while True:
            tx = await self.transaction(target)
            try:
                out = await f(tx)
            except BaseException:
                tx.abort()
                raise
            if not tx.is_open:
                return out
            try:
                await tx.commit()
                return out
            except Conflict:
                if attempt >= max(1, max_attempts):
                    raise
                attempt += 1
                # A short, growing wait, as the synchronous helper does.
                await asyncio.sleep(min(0.005, 0.00001 * 2 ** (attempt - 2)))

    def __repr__(self) -> str:
        return f"<in_mem.aio.AsyncDatabase over {self.sync!r}>"
