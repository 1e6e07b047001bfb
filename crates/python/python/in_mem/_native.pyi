"""Type stubs of the native module `in_mem._native` (built from the Rust crate `in-mem-python`).

Every class here is re-exported by `in_mem`; import from there. Calls marked "blocks" wait on the
engine with the GIL released (other threads run meanwhile); `in_mem.aio` has awaitable twins.
"""

from __future__ import annotations

import datetime
import os
import pathlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeVar, Union

from typing_extensions import Self, TypeAlias

_T = TypeVar("_T")

#: What a key is: text (stored as UTF-8) or bytes.
Key: TypeAlias = Union[str, bytes]
#: What can be stored: None, bool, int (-2**63 to 2**64 - 1), float, str, bytes (and bytearray),
#: list and tuple (read back as list), dict with str keys, nested to 64 levels.
Storable: TypeAlias = Any
#: A duration: seconds, or a timedelta.
Seconds: TypeAlias = Union[int, float, datetime.timedelta]
#: An agent: an AgentId, or (tenant, app, agent).
AgentLike: TypeAlias = Union["AgentId", tuple[str, str, str], Sequence[str]]
#: A run: a Run, or a run id.
RunLike: TypeAlias = Union["Run", str]
Durability: TypeAlias = Literal["strict", "batched", "async"]
RunStatusName: TypeAlias = Literal[
    "active", "paused", "completed", "failed", "cancelled", "interrupted"
]
SpanKindName: TypeAlias = Literal["tool_call", "decision", "query", "thought", "error", "custom"]

class Database:
    """An open in-mem database (see `in_mem.Database.__init__`). A context manager: closes on exit."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        durability: Durability = "batched",
        *,
        interval_ms: int | None = None,
        max_commits: int | None = None,
        segment_bytes: int | None = None,
        checkpoint_every_bytes: int | None = None,
        ended_run_retention: Seconds | None = None,
        interrupted_run_grace: Seconds | None = None,
        sweep_interval: Seconds | None = None,
        history_keep_for: Seconds | None = None,
        history_keep_min_versions: int | None = None,
        recovery_mode: Literal["refuse", "salvage"] = "refuse",
    ) -> None:
        """Opens (creating or recovering) the database at `path`. Blocks.

        `durability`: "strict" (a commit returns after an fdatasync covering it), "batched" (the
        default: written to the OS; synced every `interval_ms`, default 100, or `max_commits`,
        default 1000) or "async" (buffered; written and synced every `interval_ms`, default 1000).
        `history_keep_for` (default 10 minutes) and `history_keep_min_versions` (default 1): how
        long superseded versions stay readable for views of the past.
        """
    @staticmethod
    def connect(
        url: str,
        durability: Durability = "batched",
        *,
        interval_ms: int | None = None,
        max_commits: int | None = None,
        host_id: str | None = None,
        cache_bytes: int | None = None,
        lease_ttl: Seconds | None = None,
        schema: str | None = None,
        connections: int | None = None,
        outage_limit: Seconds | None = None,
        ended_run_retention: Seconds | None = None,
        interrupted_run_grace: Seconds | None = None,
        history_keep_for: Seconds | None = None,
        history_keep_min_versions: int | None = None,
        collect_every: Seconds | None = None,
    ) -> Database:
        """Connects to a store shared by many hosts (shared mode, PostgreSQL at `url`). Blocks.

        The calls are those of an embedded database; versions are counted per agent, a run is
        owned by the host that began it (`take_over_run` once its lease ran out), and a few
        calls (checkpoint, run deletion) raise `SharedModeUnsupported`; `sweep()` asks the store
        to collect. `durability`: "strict" = `synchronous_commit` on, "batched" = local,
        "async" = off. `lease_ttl` (default 10 s), `outage_limit` (default 30 s), `connections`
        (default 4); `history_keep_for`, `history_keep_min_versions`, `ended_run_retention`,
        `interrupted_run_grace` what the store's collections keep, `collect_every` (default 10 s) how often this host asks.
        """
    @property
    def path(self) -> pathlib.Path | None:
        """The database's directory; None for a connected database."""
    @property
    def host_id(self) -> str | None:
        """This host's id among those sharing the store; None for an embedded database."""
    @property
    def connected(self) -> bool:
        """Whether the database is connected to a shared store (`Database.connect`)."""
    def cache_stats(self) -> dict[str, int] | None:
        """Shared mode: this host's cache against its budget (`bytes`, `limit`, `agents`,
        `evictions`); None for an embedded database."""
    def store_stats(self) -> dict[str, Any] | None:
        """Shared mode: what the store holds (`agents`, `commits`, `versions`, `keys`, `bytes`,
        `live_hosts`, and `runs`: status name to count); None for an embedded database. A full
        count: it reads every stored version once."""
    def take_over_run(self, run: Run | str) -> None:
        """Shared mode: makes this host the run's owner (its former owner is then `Fenced`).

        Blocks; for a run whose owner is alive, until that host's lease has run out (up to its
        `lease_ttl`), since until then it may still read the run from its cache.
        """
    @property
    def durability(self) -> Durability: ...
    @property
    def closed(self) -> bool: ...
    def flush(self) -> None:
        """Makes every acknowledged commit durable, whatever the mode. Blocks."""
    def checkpoint(self) -> dict[str, Any]:
        """Writes a checkpoint now: version, entries, bytes, path, segments_removed, checkpoints_removed. Blocks."""
    def sweep(self) -> dict[str, int]:
        """Reclaims expired and unreachable versions now: versions_removed, keys_removed. Blocks."""
    def stats(self) -> dict[str, int]:
        """Memory counts: keys, versions, visible_version, runs."""
    def recovery_report(self) -> dict[str, Any]:
        """What recovery found at open: records_replayed, last_version, tail, bytes_cut, ..."""
    def close(self) -> None:
        """Makes everything durable and closes; later calls raise ClosedError. Blocks."""
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> Literal[False]: ...
    def begin_run(
        self,
        agent: AgentLike | None = None,
        *,
        tags: Iterable[str] = (),
        metadata: Storable = None,
        parent: RunLike | None = None,
        id: RunLike | None = None,
    ) -> Run:
        """Begins a run of `agent` (default agent if omitted). Blocks (logs the run)."""
    def run(
        self,
        agent: AgentLike | None = None,
        *,
        tags: Iterable[str] = (),
        metadata: Storable = None,
        parent: RunLike | None = None,
        id: RunLike | None = None,
    ) -> Run:
        """`begin_run`, for `with db.run(...) as run:` (ends with the block, fails if it raises)."""
    def get_run(self, id: RunLike) -> Run:
        """The run with this id, in any status; UnknownRun if none."""
    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
    def query_runs(
        self,
        *,
        status: RunStatusName | None = None,
        agent: AgentLike | str | None = None,
        tenant: str | None = None,
        app: str | None = None,
        tag: str | None = None,
        parent: RunLike | None = None,
        forked_from: RunLike | None = None,
        created_from: datetime.datetime | None = None,
        created_before: datetime.datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[RunInfo]:
        """The runs matching every condition given, oldest first (or newest first), at most `limit`."""
    def run_counts(self) -> dict[RunStatusName, int]: ...
    def delete_run(self, run: RunLike) -> None:
        """Deletes an ended run and its own data (HasForks if forks of it exist). Blocks."""
    def fork_run(
        self,
        run: RunLike,
        *,
        version: int | None = None,
        event: int | None = None,
        time: datetime.datetime | None = None,
        tags: list[str] = ...,
        metadata: Any = None,
        id: RunLike | None = None,
    ) -> Run:
        """Forks `run` at one point (none given: now); O(1), nothing copied. `tags`, `metadata`
        and `id` are the fork's, as for `begin_run`. Blocks (logs the fork)."""
    def delete_run_tree(self, run: RunLike) -> int:
        """Deletes an ended run and every run forked from it, forks first; returns how many. Blocks."""
    def run_view_at(
        self,
        run: RunLike,
        *,
        version: int | None = None,
        event: int | None = None,
        time: datetime.datetime | None = None,
    ) -> RunView:
        """`run` as it was right after one point (none given: now), read-only. UnknownPoint if the
        point is not in the run's life. Blocks."""
    def run_timeline(
        self,
        run: RunLike,
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> Timeline:
        """`run`'s steps (commits) with `start <= version < end`, oldest first, at most `limit`.
        Blocks (scans the run's versions)."""
    def key_history(self, run: RunLike, key: Key) -> KeyHistory:
        """The versions of `key` that `run` can see, newest first. Blocks."""
    def diff_runs(self, a: RunLike, b: RunLike) -> RunDiff:
        """What differs between runs `a` and `b` as they are now. Blocks (reads both whole)."""
    def diff_run(
        self,
        run: RunLike,
        *,
        from_version: int | None = None,
        from_event: int | None = None,
        from_time: datetime.datetime | None = None,
        to_version: int | None = None,
        to_event: int | None = None,
        to_time: datetime.datetime | None = None,
    ) -> RunDiff:
        """What changed in `run` from one point to another (each side: at most one of its three
        keywords; none: now). Blocks."""
    def replay(self, run: RunLike) -> Replay:
        """`run` walked step by step, each step verified as it is reached. Blocks (per step)."""
    def cassette(
        self,
        run: RunLike,
        *,
        version: int | None = None,
        event: int | None = None,
        time: datetime.datetime | None = None,
    ) -> Cassette:
        """`run`'s recorded tool answers as of a point (none: now), to execute it again. Blocks."""
    def transaction(self, run: RunLike) -> Transaction:
        """Opens a transaction of `run`: commit on a normal `with` exit, nothing on an exception."""
    def transaction_with_retry(
        self, run: RunLike, f: Callable[[Transaction], _T], *, max_attempts: int = 32
    ) -> _T:
        """Runs `f(tx)` and commits; on Conflict runs it again, up to `max_attempts` in all."""

class Run:
    """A run: the scope of every data call. A context manager: ends the run on a normal exit,
    fails it with "<ExceptionType>: <message>" on an exception (cancels it on a BaseException)."""

    @property
    def id(self) -> str: ...
    @property
    def kv(self) -> KVStore: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def state(self) -> StateMachine: ...
    @property
    def trace(self) -> TraceStore: ...
    @property
    def status(self) -> RunStatusName: ...
    def info(self) -> RunInfo: ...
    def end(self) -> None: ...
    def fail(self, error: str) -> None: ...
    def cancel(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def delete(self) -> None: ...
    def set_tags(self, tags: Iterable[str]) -> None: ...
    def set_metadata(self, metadata: Storable) -> None: ...
    def view_at(
        self,
        *,
        version: int | None = None,
        event: int | None = None,
        time: datetime.datetime | None = None,
    ) -> RunView:
        """`Database.run_view_at` for this run. Blocks."""
    def transaction(self) -> Transaction: ...
    def transaction_with_retry(
        self, f: Callable[[Transaction], _T], *, max_attempts: int = 32
    ) -> _T: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> Literal[False]: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Transaction:
    """An open transaction of one run: the same calls as a run, committed atomically."""

    @property
    def kv(self) -> KVStore: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def state(self) -> StateMachine: ...
    @property
    def trace(self) -> TraceStore: ...
    @property
    def run_id(self) -> str: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def version(self) -> int | None:
        """The commit's version once committed (None before, or if nothing was written)."""
    def commit(self) -> int | None:
        """Commits atomically; Conflict if another commit changed what it read. Blocks."""
    def abort(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> Literal[False]: ...

class KVStore:
    """The agent's memory as one run (or transaction, or view) sees it. Every call blocks."""

    def put(self, key: Key, value: Storable, *, ttl: Seconds | None = None) -> int | None:
        """Stores `value`; returns the commit version (None inside a transaction)."""
    def get(self, key: Key, default: Any = None) -> Any: ...
    def get_versioned(self, key: Key) -> Versioned | None: ...
    def exists(self, key: Key) -> bool: ...
    def __contains__(self, key: Key) -> bool: ...
    def delete(self, key: Key) -> bool: ...
    def list(self, prefix: Key | None = None) -> list[tuple[Key, Any]]:
        """(key, value) pairs under `prefix` in key order; str keys for a str prefix."""
    def range(self, start: Key | None = None, end: Key | None = None) -> list[tuple[Key, Any]]:
        """(key, value) pairs from `start` up to `end` (excluded), in key order."""
    def keys(self, prefix: Key | None = None) -> list[Key]: ...
    def compare_and_swap(self, key: Key, expected: int | None, value: Storable) -> int | None:
        """Stores only if the key's version is `expected` (None: absent); else StaleVersion."""

class EventLog:
    """A run's append-only, hash-chained event log. Every call blocks."""

    def append(self, event_type: str, payload: Storable = None) -> int: ...
    def read(self, sequence: int) -> Event | None: ...
    def range(self, start: int = 0, end: int | None = None) -> list[Event]: ...
    def by_type(self, event_type: str) -> list[Event]: ...
    def len(self) -> int: ...
    def __len__(self) -> int: ...
    def head(self) -> Event | None: ...
    def verify_chain(self) -> Chain: ...

class StateMachine:
    """A run's versioned state cells and declared state machines. Every call blocks."""

    def init(self, name: str, value: Storable = None) -> int: ...
    def read(self, name: str) -> Cell | None: ...
    def set(self, name: str, value: Storable) -> int: ...
    def cas(self, name: str, expected: int, value: Storable) -> int: ...
    def delete(self, name: str) -> bool: ...
    def cells(self) -> dict[str, Cell]: ...
    def define(
        self,
        name: str,
        initial: str,
        transitions: Iterable[tuple[str, str, str]] = (),
        terminal: Iterable[str] = (),
        states: Iterable[str] = (),
    ) -> None: ...
    def machine_state(self, name: str) -> Cell | None: ...
    def fire(self, name: str, event: str) -> Transition: ...

class TraceStore:
    """A run's spans as a tree. Every call blocks.

    Kinds and their keyword fields: tool_call (tool, arguments, result, duration), decision
    (question, options, chosen, reasoning), query (query, result), thought (text), error
    (message), custom (name, data).
    """

    def record(
        self,
        kind: SpanKindName,
        *,
        parent: int | None = None,
        tags: Iterable[str] = (),
        attributes: dict[str, Storable] | None = None,
        status: Literal["ok", "error"] | None = None,
        **fields: Any,
    ) -> int: ...
    def start(
        self,
        kind: SpanKindName,
        *,
        parent: int | None = None,
        tags: Iterable[str] = (),
        attributes: dict[str, Storable] | None = None,
        **fields: Any,
    ) -> int: ...
    def finish(
        self, span: int, status: Literal["ok", "error"] = "ok", *, result: Storable = None
    ) -> Span: ...
    def get(self, span: int) -> Span | None: ...
    def children(self, span: int) -> list[Span]: ...
    def roots(self) -> list[Span]: ...
    def tree(self, span: int) -> SpanTree | None: ...
    def by_kind(self, kind: SpanKindName) -> list[Span]: ...
    def by_tag(self, tag: str) -> list[Span]: ...
    def all(self) -> list[Span]: ...

class AgentId:
    """An agent: tenant, app and agent names. Iterable as (tenant, app, agent)."""

    tenant: str
    app: str
    agent: str
    def __init__(self, tenant: str, app: str, agent: str) -> None: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class RunInfo:
    id: str
    agent: AgentId
    parent: str | None
    fork_point: int | None
    status: RunStatusName
    snapshot: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    ended_at: datetime.datetime | None
    tags: list[str]
    metadata: Any
    error: str | None

class Versioned:
    value: Any
    version: int
    timestamp: datetime.datetime
    ttl: datetime.timedelta | None

class Event:
    sequence: int
    type: str
    payload: Any
    timestamp: datetime.datetime
    prev_hash: bytes
    hash: bytes

class Chain:
    events: int
    head_hash: bytes

class Cell:
    value: Any
    version: int
    updated_at: datetime.datetime

class Transition:
    from_state: str
    event: str
    to_state: str
    version: int

class Span:
    id: int
    parent: int | None
    kind: SpanKindName
    status: Literal["running", "ok", "error"]
    start: datetime.datetime
    end: datetime.datetime | None
    tags: list[str]
    attributes: dict[str, Any]
    details: dict[str, Any]

class SpanTree:
    span: Span
    children: list[SpanTree]

# ----- history ------------------------------------------------------------------------------------

class RunView:
    """A run as it was right after one point of its history. Reads work as on a `Run`; writes
    raise ReadOnlyView; a read needing a version retention reclaimed raises HistoryPruned."""

    @property
    def run_id(self) -> str: ...
    @property
    def version(self) -> int:
        """The version the view is at: the run's own commits up to it are in it."""
    @property
    def kv(self) -> KVStore: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def state(self) -> StateMachine: ...
    @property
    def trace(self) -> TraceStore: ...
    def cassette(self) -> Cassette:
        """The run's recorded tool answers as of this point. Blocks."""

class Step:
    """One commit of a run and what it wrote, by primitive (keys, not values)."""

    version: int
    timestamp: datetime.datetime
    kv_keys: list[Key]
    events: list[tuple[int, str]]
    """(sequence, event type) of each event appended."""
    cells: list[str]
    machines: list[str]
    spans: list[int]
    lifecycle: bool
    """Whether it changed the run's lifecycle (begun, ended, paused, tags, metadata)."""

class Timeline:
    """A run's steps, oldest first; sized, iterable and indexable like `steps`."""

    steps: list[Step]
    pruned_below: int | None
    """Superseded versions below this version were reclaimed: steps below it may miss writes."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Step]: ...
    def __getitem__(self, index: int) -> Step: ...

class KeyVersion:
    version: int
    timestamp: datetime.datetime
    writer: str
    """The id of the run that wrote it."""
    deleted: bool
    value: Any
    """The value (None for a deletion: `deleted` tells it from a stored None)."""
    expires_at: datetime.datetime | None

class KeyHistory:
    """A key's versions a run can see, newest first; sized, iterable and indexable."""

    versions: list[KeyVersion]
    older_pruned: bool
    """Retention reclaimed older versions: the list ends early."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[KeyVersion]: ...
    def __getitem__(self, index: int) -> KeyVersion: ...

ChangeKind: TypeAlias = Literal["added", "removed", "changed"]

class KvChange:
    kind: ChangeKind
    key: Key
    before: Any
    """The value in `a` (None when added)."""
    after: Any
    """The value in `b` (None when removed)."""

class EventsDiff:
    first_divergence: int | None
    """The first sequence at which the logs differ (or one ends); None if they are the same."""
    only_a: list[Event]
    only_b: list[Event]

class CellChange:
    name: str
    a: Cell | None
    b: Cell | None

class SpanChange:
    kind: ChangeKind
    position: list[int]
    """(i,) is the i-th root in id order, (i, j) its j-th child, and so on."""
    a: Span | None
    b: Span | None
    attributes: list[tuple[str, Any, Any]]
    """Attributes that differ: (name, in a, in b)."""

class RunDiff:
    """What differs from view `a` to view `b`. `str()` is a unified diff; `bool()` whether
    anything differs."""

    a: tuple[str, int]
    """(run id, version)."""
    b: tuple[str, int]
    kv: list[KvChange]
    events: EventsDiff
    cells: list[CellChange]
    spans: list[SpanChange]
    is_empty: bool
    def __bool__(self) -> bool: ...

class ReplayStep:
    step: Step
    view: RunView
    """The run right after the step."""

class Replay:
    """A run's steps, oldest first, each verified before it is yielded (ChainBroken or
    UnknownSpan at the step a check fails). Each step blocks."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> ReplayStep: ...

class RecordedCall:
    span: int
    kind: Literal["tool_call", "query"]
    name: str
    """The tool's name, or the query's text."""
    fingerprint: str
    status: Literal["running", "ok", "error"]
    result: Any

class Cassette:
    """A run's recorded tool and query answers, served in recording order; a call that is not
    the next recorded one raises Divergence and leaves the cassette where it was. In memory:
    no call blocks."""

    @staticmethod
    def fingerprint_of(request: Storable) -> str:
        """SHA-256 (hex) of the request's canonical stored form."""
    @property
    def run_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def calls(self) -> list[RecordedCall]: ...
    def tool(self, name: str, arguments: Storable = None) -> Any:
        """The recorded result of the next call, which must be tool `name` with `arguments`."""
    def query(self, query: str) -> Any:
        """The recorded result of the next call, which must be query `query`."""
    def call(self, name: str, fingerprint: str) -> Any:
        """The recorded result of the next call, matched by a fingerprint of your own."""
    def play(self, name: str, fingerprint: str) -> RecordedCall:
        """Serves the next call like `call`; returns the whole record (status and result)."""
    def finish(self) -> None:
        """Divergence unless every recorded call was made."""
def _commit_writes(
    db: Database,
    run: RunLike,
    puts: Sequence[Union[tuple[Key, Storable], tuple[Key, Storable, Seconds | None]]],
    deletes: Sequence[Key] = (),
) -> int | None:
    """Puts (key, value[, ttl]), then deletes keys of `run`, in one atomic commit, without a transaction object (no worker thread,
    no round trip per write). Blocks. Used by `in_mem.langgraph`; not part of the stable API."""

def _read_many(
    db: Database, run: RunLike, keys: Sequence[Key], prefix: Key | None = None
) -> tuple[list[Any], list[tuple[Key, Any]]]:
    """The values of `keys` (None where absent) and every (key, value) under `prefix`, read in
    one snapshot of `run`. Blocks. Used by `in_mem.langgraph`; not part of the stable API."""

# The LangGraph saver's key layout, checkpoint writes and reads (`in_mem.langgraph._keys`); not
# part of the stable API.
_LG_PART_BYTES_MAX: int

def _lg_key(kind: str, *parts: object) -> str:
    """The key of `kind` with these parts, each escaped and ended by NUL."""

def _lg_split(key: str) -> list[str]:
    """The parts of a key made by `_lg_key`; ValueError if it is not one."""

def _lg_put(
    db: Database,
    run: RunLike,
    ns: str,
    checkpoint_id: str,
    checkpoint: tuple[str, bytes],
    metadata: tuple[str, bytes],
    parent_id: str | None,
    run_id: str | None,
    values: dict[str, Any],
    versions: dict[str, Any],
    new_blobs: Sequence[tuple[str, Any, tuple[str, bytes]]],
) -> int | None:
    """Stores a checkpoint in one commit: a blob per `(channel, version, value)` of `new_blobs`,
    its record (naming the channels of `values` and their blobs at `versions`) and the
    namespace's newest pointer (moved forward only). Blocks."""

def _lg_put_writes(
    db: Database,
    run: RunLike,
    ns: str,
    checkpoint_id: str,
    task_id: str,
    task_path: str,
    writes: Sequence[tuple[int, str, tuple[str, bytes]]],
) -> int | None:
    """Stores a task's pending writes `(idx, channel, value)` in one commit, in the task's one
    value; one with `idx >= 0` keeps a write the task already stored with that index. Blocks."""

def _lg_whole(db: Database, run: RunLike, rows: list[tuple[Key, Any]]) -> list[tuple[Key, Any]]:
    """`rows` with every value stored in parts put back together (one snapshot)."""

def _lg_read_checkpoints(
    db: Database, run: RunLike, ns: str, checkpoint_ids: list[str]
) -> list[tuple[str, Any, list[tuple[str, tuple[str, bytes]]] | None, Any] | None]:
    """The checkpoints with these ids, read in one snapshot, in order: for each what
    `_lg_read_checkpoint` returns for it (None for one that is not there)."""

def _lg_read_checkpoint(
    db: Database, run: RunLike, ns: str, checkpoint_id: str | None = None
) -> tuple[str, Any, list[tuple[str, tuple[str, bytes]]] | None, Any] | None:
    """A checkpoint (the namespace's newest if no id), read in one snapshot; None if there is
    none. `(id, (checkpoint, metadata, parent), blobs, writes)` with values as `(type, bytes)`,
    blobs as `(channel, value)`, writes as `(task_id, channel, value)` in LangGraph's order; for
    a record that names no blobs, `(id, record bytes, None, None)`."""
