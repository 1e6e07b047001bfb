"""`InMemSaver`: LangGraph's checkpointer (`BaseCheckpointSaver`) on an in-mem database.

    from in_mem.langgraph import InMemSaver

    saver = InMemSaver("./agent-db")                 # or InMemSaver(db) to share an open one
    graph = builder.compile(checkpointer=saver)
    graph.invoke(inputs, {"configurable": {"thread_id": "t-1"}})

Each thread is one in-mem run (see `_threads`), and a checkpoint is one atomic commit of that
run: the checkpoint without its channel values (but with the names of the channels that hold
one), a blob for each channel whose version changed (`new_versions`) and holds a value, and the
namespace's newest-checkpoint pointer (see `_keys` for the layout).
A checkpoint therefore costs what changed, not the whole state; an unchanged channel is read
from the blob of its current version. Pending writes (`put_writes`) are one commit per call.
A checkpoint is written through `in_mem._native._lg_put` and a task's writes through
`_lg_put_writes` (keys built, values packed and committed in one engine call, no transaction
held open across Python calls: Python only serializes); `get_tuple` reads a checkpoint, its
blobs and its writes through `_native._lg_read_checkpoint` (one snapshot, one call).
Every commit is durable as the database's mode promises: "batched" (the default) loses nothing
acknowledged when the process is killed; "strict" also survives power loss.

`copy_thread` forks the source thread's run (O(1): nothing is copied, the copy and the source
then go their own ways); `delete_thread`, `delete_for_runs` and `prune` delete keys and, for
a deleted thread, end its run. The async methods run the synchronous ones on the event loop's
default executor, so a commit waiting for its sync never blocks the loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Callable, Optional, TypeVar, Union

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from .. import _native
from .._errors import RunEnded, RunInterrupted, UnknownRun
from . import _keys as K
from ._threads import Threads

_T = TypeVar("_T")

#: The app name (of the runs' agents) a saver uses unless told otherwise.
DEFAULT_APP = "checkpoints"
#: Keys deleted per commit when a thread or its checkpoints are deleted.
_DELETE_BATCH = 10_000


class InMemSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer that keeps threads in an in-mem database.

    `InMemSaver(path, durability="batched")` opens (or creates) the database at `path` and
    closes it with `close()` (or a `with` block); `InMemSaver(db)` uses an open
    `in_mem.Database` and leaves closing it to its owner. `app` names the threads' agents, so
    several savers (or a saver and an `InMemStore`) can share one database without meeting.
    """

    def __init__(
        self,
        conn: Union[_native.Database, str, os.PathLike[str]],
        *,
        durability: str = "batched",
        app: str = DEFAULT_APP,
        serde: Optional[SerializerProtocol] = None,
    ) -> None:
        super().__init__(serde=serde)
        if isinstance(conn, _native.Database):
            self.db, self._owns_db = conn, False
        else:
            self.db, self._owns_db = _native.Database(conn, durability=durability), True
        self.threads = Threads(self.db, app)

    # ----- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the database if this saver opened it (making every checkpoint durable)."""
        if self._owns_db and not self.db.closed:
            self.db.close()

    def __enter__(self) -> InMemSaver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> InMemSaver:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await _in_thread(self.close)

    # ----- reads ---------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> Optional[CheckpointTuple]:
        """The checkpoint `config` names (its `checkpoint_id`, or the thread's newest in the
        namespace), with its channel values, metadata, parent and pending writes; None if none."""
        conf = config["configurable"]
        thread_id: str = conf["thread_id"]
        ns = str(conf.get("checkpoint_ns") or "")
        checkpoint_id = get_checkpoint_id(config)
        # An empty or missing id means the newest, as in LangGraph's own savers.
        checkpoint_id = str(checkpoint_id) if checkpoint_id else None

        def read(run: _native.Run) -> Optional[CheckpointTuple]:
            found = _native._lg_read_checkpoint(self.db, run, ns, checkpoint_id)
            if found is None:
                return None
            cid, record, blobs, _ = found
            if blobs is None:  # a record written before records named their blobs
                return self._load(run, thread_id, ns, [(cid, K.unpack_checkpoint(record))])[0]
            return self._from_native(thread_id, ns, found)

        return self.threads.call(thread_id, read, create=False)

    def list(
        self,
        config: Optional[RunnableConfig],
        *,
        filter: Optional[dict[str, Any]] = None,
        before: Optional[RunnableConfig] = None,
        limit: Optional[int] = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first (per thread and namespace): of `config`'s thread (and its
        `checkpoint_ns` and `checkpoint_id` if given) or of every thread; only those whose
        metadata has every `filter` item, older than `before`'s checkpoint, at most `limit`."""
        if limit is not None and limit <= 0:
            return
        conf = config["configurable"] if config else {}
        ns_wanted: Optional[str] = conf.get("checkpoint_ns")
        id_wanted = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        if config:
            thread_id = conf["thread_id"]
            run = self.threads.get(thread_id)
            threads = [] if run is None else [(thread_id, run)]
        else:
            threads = list(self.threads.all())
        left = limit
        for thread_id, run in threads:
            kv = run.kv
            if ns_wanted is not None:
                rows = kv.list(K.prefix(K.CHECKPOINT, ns_wanted))
                scans = [(ns_wanted, _records(K.whole(self.db, run, rows)))]
            else:
                rows = kv.list(K.prefix(K.CHECKPOINT))
                scans = _by_namespace(_records(K.whole(self.db, run, rows)))
            for ns, records in scans:
                chosen: list[tuple[str, dict[str, Any]]] = []
                for key, record in sorted(records, key=lambda kr: K.split(kr[0])[1], reverse=True):
                    cid = K.split(key)[1]
                    if id_wanted is not None and cid != id_wanted:
                        continue
                    if before_id is not None and cid >= before_id:
                        continue
                    if filter:
                        metadata = self.serde.loads_typed(record["m"])
                        if not all(metadata.get(k) == v for k, v in filter.items()):
                            continue
                    chosen.append((cid, record))
                    if left is not None:
                        left -= 1
                        if left <= 0:
                            break
                yield from self._read_page(run, thread_id, ns, chosen)
                if left is not None and left <= 0:
                    return

    def _read_page(
        self, run: _native.Run, thread_id: str, ns: str, chosen: list[tuple[str, dict[str, Any]]]
    ) -> list[CheckpointTuple]:
        """The tuples of `chosen` checkpoints of one namespace, read in one native call and one
        snapshot; one deleted since it was listed is left out."""
        if not chosen:
            return []
        found = _native._lg_read_checkpoints(self.db, run, ns, [cid for cid, _ in chosen])
        if any(got is not None and got[2] is None for got in found):
            # Records written before records named their blobs: the long way, for the page.
            return self._load(run, thread_id, ns, chosen)
        return [self._from_native(thread_id, ns, got) for got in found if got is not None]

    def _from_native(self, thread_id: str, ns: str, found: tuple[Any, ...]) -> CheckpointTuple:
        """The tuple of a checkpoint as `_native._lg_read_checkpoint(s)` read it (a record that
        names its blobs)."""
        loads = self.serde.loads_typed
        cid, (checkpoint, metadata, parent), blobs, pending = found
        values = {channel: loads(typed) for channel, typed in blobs}
        return self._tuple(thread_id, ns, cid, metadata, parent, loads(checkpoint), values, pending)

    def _load(
        self, run: _native.Run, thread_id: str, ns: str, chosen: list[tuple[str, dict[str, Any]]]
    ) -> list[CheckpointTuple]:
        """The tuples of stored checkpoints of one namespace: their blobs and writes read in one
        snapshot, each value deserialized for each tuple (tuples share no objects)."""
        if not chosen:
            return []
        loads = self.serde.loads_typed
        checkpoints = [(cid, record, loads(record["c"])) for cid, record in chosen]
        located: dict[tuple[str, Any], str] = {}
        wanted = [
            [pair for pair in checkpoint["channel_versions"].items() if pair[0] in record["v"]]
            for _, record, checkpoint in checkpoints
        ]
        for pairs in wanted:
            for pair in pairs:
                if pair not in located:
                    located[pair] = K.key(K.BLOB, ns, pair[0], pair[1])
        blob_keys = list(located.values())
        prefix = K.prefix(K.WRITE, ns, chosen[0][0]) if len(chosen) == 1 else K.prefix(K.WRITE, ns)
        blob_values, write_rows = _native._read_many(self.db, run, blob_keys, prefix)
        blobs = dict(K.whole(self.db, run, list(zip(blob_keys, blob_values))))
        write_rows = K.whole(self.db, run, write_rows)
        writes: dict[str, list[list[Any]]] = {}
        if len(chosen) == 1:  # the prefix was the checkpoint's own
            writes[chosen[0][0]] = [w for _, row in write_rows for w in K.unpack_writes(row)]
        else:
            for key, row in write_rows:
                writes.setdefault(K.split(key)[1], []).extend(K.unpack_writes(row))
        out = []
        for (cid, record, checkpoint), pairs in zip(checkpoints, wanted):
            values: dict[str, Any] = {}
            for pair in pairs:
                blob = blobs[located[pair]]
                if blob is not None:
                    values[pair[0]] = loads(K.unpack_blob(blob))
            pending = [
                (w[0], w[1], (w[2], w[3]))
                for w in sorted(writes.get(cid, ()), key=lambda w: (w[4], w[0], w[5]))
            ]
            out.append(
                self._tuple(
                    thread_id, ns, cid, record["m"], record["p"], checkpoint, values, pending
                )
            )
        return out

    def _tuple(
        self,
        thread_id: str,
        ns: str,
        cid: str,
        metadata: tuple[str, bytes],
        parent: Optional[str],
        checkpoint: Checkpoint,
        values: dict[str, Any],
        pending: list[tuple[str, str, tuple[str, bytes]]],
    ) -> CheckpointTuple:
        """The tuple of a stored checkpoint from its parts as stored: metadata and pending
        write values serialized, the checkpoint deserialized without its values, the values."""
        loads = self.serde.loads_typed
        return CheckpointTuple(
            config=_config(thread_id, ns, cid),
            checkpoint={**checkpoint, "channel_values": values},
            metadata=loads(metadata),
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=[(task, channel, loads(value)) for task, channel, value in pending],
        )

    # ----- writes --------------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Stores `checkpoint` (and a blob per channel in `new_versions` that holds a value) in
        one commit; returns the config that names it."""
        conf = config["configurable"]
        thread_id: str = conf["thread_id"]
        ns: str = conf.get("checkpoint_ns", "")
        dumps = self.serde.dumps_typed
        rest = dict(checkpoint)
        values: dict[str, Any] = rest.pop("channel_values")  # type: ignore[misc]
        cid = checkpoint["id"]
        new_blobs = [(ch, ver, dumps(values[ch])) for ch, ver in new_versions.items() if ch in values]
        full_metadata = get_checkpoint_metadata(config, metadata)
        run_id = full_metadata.get("run_id")
        self._write(
            thread_id,
            _native._lg_put,
            ns,
            cid,
            dumps(rest),
            dumps(full_metadata),
            conf.get("checkpoint_id"),
            run_id if isinstance(run_id, str) else None,
            values,
            checkpoint["channel_versions"],
            new_blobs,
        )
        return _config(thread_id, ns, cid)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Stores a task's writes against the checkpoint `config` names, in one commit. A write
        already stored under the same (task, index) is kept, except special channels (errors,
        interrupts ...), which replace it, as in LangGraph's own savers."""
        conf = config["configurable"]
        thread_id: str = conf["thread_id"]
        ns: str = conf.get("checkpoint_ns", "")
        cid: str = conf["checkpoint_id"]
        dumps = self.serde.dumps_typed
        rows = [
            (WRITES_IDX_MAP.get(channel, idx), channel, dumps(value))
            for idx, (channel, value) in enumerate(writes)
        ]
        self._write(thread_id, _native._lg_put_writes, ns, cid, task_id, task_path, rows)

    def _write(self, thread_id: str, native: Callable[..., Any], *args: Any) -> None:
        """`native(db, run, *args)` on the thread's run (begun if the thread is new), under the
        thread's lock. A cached run is written straight away, so a graph step's two writes pay
        no lookup and no retry loop. `Threads.call` handles a thread not cached yet, and a write
        that failed on the cached run because it ended, vanished or was interrupted: it looks
        the run up again (or resumes it) and writes again, which is safe since a native write
        that failed wrote nothing."""
        run = self.threads.cached(thread_id)
        if run is not None:
            try:
                with _lock(run):
                    native(self.db, run, *args)
                return
            except (RunInterrupted, RunEnded, UnknownRun):
                pass  # `call` resumes, takes over or looks up the run, and writes again

        def write(run: _native.Run) -> None:
            with _lock(run):
                native(self.db, run, *args)

        self.threads.call(thread_id, write, create=True)

    # ----- deletions and copies --------------------------------------------------------------------

    def delete_thread(self, thread_id: str) -> None:
        """Deletes every checkpoint and write of the thread; its copies keep theirs."""
        run = self.threads.get(thread_id)
        if run is None:
            return
        self.threads.call(thread_id, lambda r: _delete_keys(self.db, r, r.kv.keys()), create=False)
        self.threads.retire(thread_id, run)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Deletes, in every thread, the checkpoints (and their writes) whose metadata names one
        of `run_ids`; blobs no remaining checkpoint uses go with them."""
        wanted = set(run_ids)
        if not wanted:
            return
        for thread_id, _ in list(self.threads.all()):
            self.threads.call(
                thread_id,
                lambda run: self._delete_where(
                    run, lambda ns, cid, rec, latest: rec["r"] in wanted
                ),
                create=False,
            )

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """ "keep_latest": keeps only each namespace's newest checkpoint (with its writes and the
        blobs it uses) of each thread; "delete": deletes the threads."""
        if strategy == "delete":
            for thread_id in thread_ids:
                self.delete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        for thread_id in thread_ids:
            self.threads.call(
                thread_id,
                lambda run: self._delete_where(run, lambda ns, cid, rec, latest: cid != latest),
                create=False,
            )

    def _delete_where(
        self, run: _native.Run, doomed: Callable[[str, str, dict[str, Any], Optional[str]], bool]
    ) -> None:
        """Deletes the run's checkpoints for which `doomed(ns, id, record, newest id)` holds,
        their writes, the blobs only they used, and fixes each namespace's newest pointer."""
        with _lock(run):
            kv = run.kv
            deletions: list[str] = []
            pointers: list[tuple[str, str]] = []
            rows = K.whole(self.db, run, kv.list(K.prefix(K.CHECKPOINT)))
            for ns, records in _by_namespace(_records(rows)):
                latest = kv.get(K.key(K.LATEST, ns))
                kept: list[str] = []
                used: set[str] = set()
                for key, record in records:
                    cid = K.split(key)[1]
                    if doomed(ns, cid, record, latest):
                        deletions.append(key)
                        deletions.extend(kv.keys(K.prefix(K.WRITE, ns, cid)))
                    else:
                        kept.append(cid)
                        versions = self.serde.loads_typed(record["c"])["channel_versions"]
                        used.update(K.key(K.BLOB, ns, ch, v) for ch, v in versions.items())
                if len(kept) == len(records):
                    continue
                deletions.extend(k for k in kv.keys(K.prefix(K.BLOB, ns)) if k not in used)
                if not kept:
                    deletions.append(K.key(K.LATEST, ns))
                elif latest not in kept:
                    pointers.append((K.key(K.LATEST, ns), max(kept)))
            if deletions:
                doomed_keys = set(deletions)
                deletions.extend(
                    k for k in kv.keys(K.prefix(K.PART)) if K.split(k)[0] in doomed_keys
                )
            _delete_keys(self.db, run, deletions, pointers)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Makes the target thread a copy of the source as it is now: every checkpoint, write
        and namespace. O(1): the target's run is a fork of the source's; later changes to
        either never reach the other. The target must not have checkpoints yet."""
        self.threads.copy(source_thread_id, target_thread_id)

    # ----- versions ------------------------------------------------------------------------------

    def get_next_version(self, current: Optional[str], channel: None) -> str:
        """The version after `current`: a counter and a random fraction, as LangGraph's own
        savers make them, so that two branches forked from one checkpoint never write the same
        version of a channel with different values."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # ----- async twins -----------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> Optional[CheckpointTuple]:
        return await _in_thread(self.get_tuple, config)

    async def alist(
        self,
        config: Optional[RunnableConfig],
        *,
        filter: Optional[dict[str, Any]] = None,
        before: Optional[RunnableConfig] = None,
        limit: Optional[int] = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await _in_thread(
            lambda: list(self.list(config, filter=filter, before=before, limit=limit))
        )
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await _in_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await _in_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await _in_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await _in_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await _in_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await _in_thread(functools.partial(self.prune, thread_ids, strategy=strategy))


def _config(thread_id: str, ns: str, cid: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}}


def _records(rows: list[tuple[Any, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Checkpoint rows (key, value) with their values unpacked."""
    return [(key, K.unpack_checkpoint(value)) for key, value in rows]


def _by_namespace(records: list[tuple[Any, Any]]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Checkpoint records (key order) grouped by namespace."""
    groups: dict[str, list[tuple[str, Any]]] = {}
    for key, record in records:
        groups.setdefault(K.split(key)[0], []).append((key, record))
    return list(groups.items())


def _delete_keys(
    db: _native.Database, run: _native.Run, keys: list[Any], puts: Sequence[tuple[str, Any]] = ()
) -> None:
    """Deletes `keys` of the run's view, `_DELETE_BATCH` per commit; the last commit also
    writes `puts`."""
    with _lock(run):
        for start in range(0, max(len(keys), 1), _DELETE_BATCH):
            last = start + _DELETE_BATCH >= len(keys)
            chunk = keys[start : start + _DELETE_BATCH]
            if chunk or (last and puts):
                _native._commit_writes(db, run, list(puts) if last else [], chunk)


#: Writers of one thread take one of these (by its run id) around their commits, and around
#: reading what they then write (the writes already stored; a deletion's list of checkpoints,
#: newest pointer and unused blobs), so that a `put` never lands between a `prune`'s reads and
#: its deletes (which would delete the new checkpoint as an old one, or its blobs as unused).
#: One process only: another cannot open the database meanwhile.
_LOCKS = [threading.RLock() for _ in range(64)]


def _lock(run: _native.Run) -> threading.RLock:
    # A run's hash is its id's (two handles of one run hash alike), without making the id's text.
    return _LOCKS[hash(run) % len(_LOCKS)]


async def _in_thread(f: Callable[..., _T], *args: Any) -> _T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(f, *args))
