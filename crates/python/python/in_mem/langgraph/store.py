"""`InMemStore`: LangGraph's long-term memory store (`BaseStore`) on an in-mem database.

    from in_mem.langgraph import InMemStore

    store = InMemStore("./agent-db", ttl={"default_ttl": 60})   # minutes, as LangGraph counts
    store.put(("users", "42"), "profile", {"name": "Ada", "plan": "pro"})
    store.search(("users",), filter={"plan": "pro"})
    graph = builder.compile(checkpointer=saver, store=store)

The mapping. Items are the shared memory of one in-mem agent, `("langgraph", app, "store")`:
one key per item (namespace labels and item key, escaped, in one string, so that a namespace
prefix is a key prefix), its value `{"v": value, "c": created, "u": updated, "t": ttl
minutes}`. Every process reads and writes through one *session* run of that agent (shared by
the stores of that process and database): it sees everything committed before it began,
including what a killed process wrote, plus its own writes. A new session ends and deletes the
sessions of earlier processes; their keys stay, as they are the agent's memory.

On a connected database (shared mode) each host has its own session: a host sees what every
host wrote before its session began, plus its own writes, and a host's later writes reach the
others' sessions begun after them (a new `InMemStore` process, or `renew_session()`).

Values are stored as in-mem values (JSON-like: None, bool, int, float, str, bytes, lists and
dicts with str keys), so filters compare them without decoding. A TTL is in-mem's own: an
expired item reads as absent at once (LangGraph's `omit_expired`, always) and the sweeper frees
it; reading an item with `refresh_ttl` writes it again with a fresh TTL. A batch's reads see the
store as it was before the batch; its writes commit together, atomically, the last write of a
key winning. Semantic search (`index`) is not supported: a query is ignored, as by LangGraph's
`InMemoryStore` without an index.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import os
import re
import threading
from collections.abc import Iterable
from typing import Any, Optional, Union

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from .. import _native
from .._errors import ClosedError, RunEnded, RunInterrupted, UnknownRun
from ._threads import TENANT

#: The app name (of the store's agent) unless told otherwise.
DEFAULT_APP = "store"
_AGENT = "store"
_SESSION_TAG = "langgraph-store-session"
_ITEM = "i\x00"
_NS_END = "\x02"

_SESSIONS: dict[tuple[str, str], _native.Run] = {}
_SESSIONS_LOCK = threading.Lock()


def _esc(label: str) -> str:
    return label.replace("\x01", "\x01\x01").replace("\x00", "\x01\x02").replace("\x02", "\x01\x03")


_UNESC = {"\x01": "\x01", "\x02": "\x00", "\x03": "\x02"}
_ESCAPED = re.compile("\x01(.)", re.DOTALL)


def _unesc(label: str) -> str:
    if "\x01" not in label:
        return label
    # One pass from the left, so that each escape is read as the pair it was written as.
    return _ESCAPED.sub(lambda m: _UNESC[m.group(1)], label)


def _ns_prefix(namespace: tuple[str, ...]) -> str:
    return _ITEM + "".join(_esc(label) + "\x00" for label in namespace)


def _item_key(namespace: tuple[str, ...], key: str) -> str:
    return _ns_prefix(namespace) + _NS_END + _esc(key)


def _parse(item_key: str) -> tuple[tuple[str, ...], str]:
    labels, key = item_key[len(_ITEM) :].split(_NS_END, 1)
    return tuple(_unesc(label) for label in labels.split("\x00")[:-1]), _unesc(key)


def _now_micros() -> int:
    return int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1_000_000)


def _time(micros: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(micros / 1_000_000, datetime.timezone.utc)


class InMemStore(BaseStore):
    """LangGraph's `BaseStore` (namespaced long-term memory with filters and TTL) on in-mem.

    `InMemStore(path)` opens the database at `path` (closed by `close()`); `InMemStore(db)`
    shares an open `in_mem.Database`. `ttl` is LangGraph's `TTLConfig` (`default_ttl` in
    minutes, `refresh_on_read`); `sweep_interval_minutes` and `omit_expired` need nothing here:
    in-mem's sweeper runs on its own and expired items never read.
    """

    supports_ttl = True

    def __init__(
        self,
        conn: Union[_native.Database, str, os.PathLike[str]],
        *,
        durability: str = "batched",
        app: str = DEFAULT_APP,
        ttl: Optional[TTLConfig] = None,
        index: Optional[dict[str, Any]] = None,
    ) -> None:
        if index is not None:
            raise NotImplementedError("InMemStore has no semantic search; pass index=None")
        if isinstance(conn, _native.Database):
            self.db, self._owns_db = conn, False
        else:
            self.db, self._owns_db = _native.Database(conn, durability=durability), True
        self.app = app
        self.ttl_config = ttl

    def close(self) -> None:
        """Closes the database if this store opened it."""
        if self._owns_db and not self.db.closed:
            self.db.close()

    def __enter__(self) -> InMemStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----- the session run ---------------------------------------------------------------------

    def _session(self, failed: Optional[_native.Run] = None) -> _native.Run:
        """The run this process reads and writes the store through (see the module doc); a new
        one if it is `failed` (another thread may have made the new one already)."""
        # A connected database has no path: its host id names it (each host has its own).
        where = self.db.path if self.db.path is not None else ("host", self.db.host_id)
        slot = (where, self.app)
        with _SESSIONS_LOCK:
            run = _SESSIONS.get(slot)
            if run is not None and run is not failed:
                return run
            agent = (TENANT, self.app, _AGENT)
            run = self.db.begin_run(agent, tags=[_SESSION_TAG])
            # Shared mode: the other sessions are other hosts' (their runs, not this one's to
            # end), and a connected database deletes no runs yet.
            others = [] if self.db.connected else self.db.query_runs(agent=agent, tag=_SESSION_TAG)
            for info in others:
                if info.id == run.id:
                    continue
                old = self.db.get_run(info.id)
                try:
                    if info.status in ("active", "interrupted", "paused"):
                        old.end()
                    old.delete()
                except (RunEnded, UnknownRun):
                    pass
            _SESSIONS[slot] = run
            return run

    def renew_session(self) -> None:
        """Begins a new session run, which sees everything committed so far, by every process
        or host (the old one is ended). Only useful on a connected database, where other hosts
        write while this one's session stays at what it saw when it began."""
        old = self._session()
        self._session(failed=old)
        try:
            old.end()
        except (RunEnded, UnknownRun, ClosedError):
            pass

    def _with_session(self, f: Any) -> Any:
        session = self._session()
        try:
            return f(session)
        except (RunInterrupted, RunEnded, UnknownRun, ClosedError):
            # The database was closed and reopened in this process (the session was begun
            # through a handle closed since): a new session sees everything.
            return f(self._session(failed=session))

    # ----- batches -------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Runs `ops`: reads against the store before the batch, then every write in one commit."""
        ops = list(ops)
        return self._with_session(lambda run: self._batch(run, ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.batch, ops))

    def _batch(self, run: _native.Run, ops: list[Op]) -> list[Result]:
        kv = run.kv
        results: list[Result] = []
        puts: dict[str, tuple[PutOp, Optional[dict[str, Any]]]] = {}
        refresh: dict[str, dict[str, Any]] = {}
        now = _now_micros()
        for op in ops:
            if isinstance(op, GetOp):
                key = _item_key(op.namespace, op.key)
                record = kv.get(key)
                results.append(None if record is None else self._item(op.namespace, op.key, record))
                if record is not None and self._refresh(op.refresh_ttl, record):
                    refresh[key] = record
            elif isinstance(op, SearchOp):
                results.append(self._search(kv, op, refresh))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(kv, op))
            elif isinstance(op, PutOp):
                key = _item_key(op.namespace, op.key)
                puts[key] = (op, kv.get(key) if op.value is not None else None)
                results.append(None)
            else:
                raise ValueError(f"unknown store operation {type(op).__name__}")
        if puts or refresh:
            writes: list[tuple[str, Any, Optional[float]]] = [
                (key, record, record["t"] * 60)
                for key, record in refresh.items()
                if key not in puts
            ]
            deletes: list[str] = []
            for key, (op, old) in puts.items():
                if op.value is None:
                    deletes.append(key)
                    continue
                ttl = self._ttl_minutes(op.ttl)
                record = {
                    "v": dict(op.value),
                    "c": old["c"] if old is not None else now,
                    "u": now,
                    "t": ttl,
                }
                writes.append((key, record, None if ttl is None else ttl * 60))
            _native._commit_writes(self.db, run, writes, deletes)
        return results

    # ----- the operations ------------------------------------------------------------------------

    def _ttl_minutes(self, ttl: Any) -> Optional[float]:
        if ttl is None:
            return None
        if not isinstance(ttl, (int, float)):  # NOT_PROVIDED: the configured default
            return (self.ttl_config or {}).get("default_ttl")
        return float(ttl)

    def _refresh(self, asked: Optional[bool], record: dict[str, Any]) -> bool:
        if record.get("t") is None:
            return False
        if asked is not None:
            return asked
        return (self.ttl_config or {}).get("refresh_on_read", True)

    @staticmethod
    def _item(namespace: tuple[str, ...], key: str, record: dict[str, Any]) -> Item:
        return Item(
            value=record["v"],
            key=key,
            namespace=tuple(namespace),
            created_at=_time(record["c"]),
            updated_at=_time(record["u"]),
        )

    def _search(
        self, kv: _native.KVStore, op: SearchOp, refresh: dict[str, dict[str, Any]]
    ) -> list[SearchItem]:
        found: list[SearchItem] = []
        skip = op.offset
        for key, record in kv.list(_ns_prefix(op.namespace_prefix)):
            if op.filter and not all(_matches(record["v"].get(k), v) for k, v in op.filter.items()):
                continue
            if skip > 0:
                skip -= 1
                continue
            if len(found) >= op.limit:
                break
            namespace, item_key = _parse(key)
            item = self._item(namespace, item_key, record)
            found.append(
                SearchItem(
                    namespace=item.namespace,
                    key=item.key,
                    value=item.value,
                    created_at=item.created_at,
                    updated_at=item.updated_at,
                    score=None,
                )
            )
            if self._refresh(op.refresh_ttl, record):
                refresh[key] = record
        return found

    @staticmethod
    def _list_namespaces(kv: _native.KVStore, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = {_parse(key)[0] for key in kv.keys(_ITEM)}
        if op.match_conditions:
            namespaces = {
                ns for ns in namespaces if all(_does_match(c, ns) for c in op.match_conditions)
            }
        if op.max_depth is not None:
            namespaces = {ns[: op.max_depth] for ns in namespaces}
        return sorted(namespaces)[op.offset : op.offset + op.limit]


def _does_match(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """Whether `namespace` starts (or ends) with `condition.path`, "*" matching any label."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path))
    else:
        raise ValueError(
            f"unsupported match type {condition.match_type!r}; use 'prefix' or 'suffix'"
        )
    return all(p == "*" or n == p for n, p in pairs)


def _matches(value: Any, wanted: Any) -> bool:
    """A filter item against a stored value: equality, nested dicts, lists element by element,
    and the operators $eq, $ne, $gt, $gte, $lt, $lte (as LangGraph's stores compare them)."""
    if isinstance(wanted, dict):
        if any(k.startswith("$") for k in wanted):
            return all(_operator(value, k, v) for k, v in wanted.items())
        return isinstance(value, dict) and all(_matches(value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(wanted)
            and all(_matches(a, b) for a, b in zip(value, wanted))
        )
    return value == wanted


def _operator(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return value == operand
    if operator == "$ne":
        return value != operand
    if value is None:
        return False
    if operator == "$gt":
        return float(value) > float(operand)
    if operator == "$gte":
        return float(value) >= float(operand)
    if operator == "$lt":
        return float(value) < float(operand)
    if operator == "$lte":
        return float(value) <= float(operand)
    raise ValueError(f"unsupported filter operator {operator!r}")
