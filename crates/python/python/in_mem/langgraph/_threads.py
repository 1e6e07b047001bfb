"""Which in-mem run holds which LangGraph thread: finding, creating, copying and retiring them.

A thread is one run of its own agent, `("langgraph", app, <random hex>)`, so that no other
thread's writes are ever in its view. The run carries the tag `"langgraph-thread:" +
sha256(thread_id)` (the run index finds it in one lookup) and the metadata
`{"langgraph_thread_id": thread_id}` (the id exactly as given, which the lookup checks). A
thread copied with `copy_thread` is a fork of the source's run, begun with the target's tag and
metadata in its first record.

Only a run that is not ended holds a thread. A run found "interrupted" (its process stopped
without ending it: a crash, a SIGKILL, or a close) is read as it is, and resumed, with the view
it had, at the thread's first write in the new process (the write fails with `RunInterrupted`,
`call` resumes the run and writes again), so the next process continues the thread where the
last committed checkpoint left it, and a thread that is only read is never resumed (nor pins
anything again: see docs/langgraph.md). A deleted thread's run is ended, and deleted as soon as no
copy of it (fork) still reads its data; an ended run whose forks are all gone is deleted with
the last of them.

Lookups are cached per registry (one per saver); a cached run that another saver in the same
process deleted is noticed when a call on it fails (`RunEnded`, `UnknownRun`), and looked up
afresh. Creation takes a process-wide lock per database, so two savers never begin two runs for
one thread. On a connected database (shared mode) two hosts may create one thread at once: there
the new run's id is derived from the app, the thread id and how many runs the thread had before
(`_shared_run_id`), so both begin the same id, the store takes the first, and the second host
finds that run and uses it (as another host's thread, until that host is gone); two hosts
copying into one new thread at once likewise make one copy, and the second is told the thread
has checkpoints.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from typing import Callable, Optional, TypeVar

from .. import _native
from .._errors import (
    HasForks,
    RunEnded,
    RunInterrupted,
    RunStateError,
    SharedModeUnsupported,
    UnknownRun,
)

_T = TypeVar("_T")

#: The tenant of every run that holds a LangGraph thread.
TENANT = "langgraph"
#: The metadata field holding the thread id, exactly as LangGraph gave it.
THREAD_FIELD = "langgraph_thread_id"
#: Statuses of runs that hold a thread.
_LIVE = ("active", "interrupted", "paused")

#: The namespace of the run ids of threads created on a connected database (`_shared_run_id`).
_SHARED_THREAD_RUNS = uuid.UUID("6f1d2c4e-8b0a-4f5e-9c3d-2a7b1e0f4d68")
#: Attempts at creating a thread on a connected database before giving up.
_SHARED_CREATE_TRIES = 3

_CREATE_LOCKS: dict[str, threading.Lock] = {}
_CREATE_LOCKS_GUARD = threading.Lock()


def _create_lock(path: str) -> threading.Lock:
    with _CREATE_LOCKS_GUARD:
        return _CREATE_LOCKS.setdefault(path, threading.Lock())


def thread_tag(thread_id: str) -> str:
    """The run tag of a thread: fixed length whatever the thread id."""
    return "langgraph-thread:" + hashlib.sha256(thread_id.encode("utf-8")).hexdigest()[:40]


class Threads:
    """The thread -> run registry of one saver over one database and app name."""

    def __init__(self, db: _native.Database, app: str) -> None:
        self.db = db
        self.app = app
        self._cache: dict[str, _native.Run] = {}
        self._lock = threading.Lock()
        self._create = _create_lock(db.path)

    # ----- lookups -------------------------------------------------------------------------------

    def _runs_of(self, thread_id: str) -> list[_native.RunInfo]:
        """Every run that held or holds `thread_id`, ended ones included, oldest first."""
        return [
            info
            for info in self.db.query_runs(tag=thread_tag(thread_id), app=self.app, tenant=TENANT)
            if _thread_of(info.metadata) == thread_id
        ]

    def _find(self, thread_id: str) -> Optional[_native.Run]:
        """The live run holding `thread_id` (maybe interrupted); None if none."""
        return self._live_run(self._runs_of(thread_id))

    def _live_run(self, infos: list[_native.RunInfo]) -> Optional[_native.Run]:
        live = [info for info in infos if info.status in _LIVE]
        if not live:
            return None
        # Normally one. Two only if a process stopped between forking a thread and retagging
        # the fork, and the fork was retagged later by hand: the oldest holds the thread.
        return self.db.get_run(live[0].id)

    def cached(self, thread_id: str) -> Optional[_native.Run]:
        """The run of `thread_id` if this registry holds it already; None says nothing about
        whether the thread exists (`get` asks the run index)."""
        return self._cache.get(thread_id)

    def get(self, thread_id: str) -> Optional[_native.Run]:
        """The run of `thread_id`, or None if the thread has no checkpoints."""
        # One dict read is atomic; the lock orders the writes (here and in `forget`).
        run = self._cache.get(thread_id)
        if run is not None:
            return run
        run = self._find(thread_id)
        if run is not None:
            with self._lock:
                self._cache[thread_id] = run
        return run

    def get_or_create(self, thread_id: str) -> _native.Run:
        """The run of `thread_id`, begun now if the thread is new."""
        run = self.get(thread_id)
        if run is not None:
            return run
        with self._create:
            run = self._find(thread_id)
            if run is None:
                run = self._begin(thread_id)
        with self._lock:
            self._cache[thread_id] = run
        return run

    def _begin(self, thread_id: str) -> _native.Run:
        """Begins the run of the new thread `thread_id` (see the module docs)."""
        if not self.db.connected:
            return self._begin_with_id(thread_id, None)
        for _ in range(_SHARED_CREATE_TRIES):
            earlier = self._runs_of(thread_id)
            run = self._live_run(earlier)
            if run is not None:
                return run  # another host created it since this one looked
            try:
                return self._begin_with_id(thread_id, _shared_run_id(self.app, thread_id, earlier))
            except RunStateError:
                pass  # another host began that id first: the next look finds its run
        raise RunStateError(
            f"could not create LangGraph thread {thread_id!r}: other hosts kept creating and "
            "ending it"
        )

    def _begin_with_id(self, thread_id: str, run_id: Optional[str]) -> _native.Run:
        return self.db.begin_run(
            (TENANT, self.app, uuid.uuid4().hex),
            tags=[thread_tag(thread_id)],
            metadata={THREAD_FIELD: thread_id},
            id=run_id,
        )



    def forget(self, thread_id: str) -> None:
        """Drops the cached run of `thread_id` (the next lookup asks the run index)."""
        with self._lock:
            self._cache.pop(thread_id, None)

    def call(self, thread_id: str, f: Callable[[_native.Run], _T], *, create: bool) -> Optional[_T]:
        """`f(run)` on the thread's run; None if the thread does not exist (and not `create`).

        A cached run that ended or vanished meanwhile (another saver deleted the thread) is
        looked up again; an interrupted one (found so after a crash, or interrupted by a close
        and reopen in this process; in shared mode, one whose host's lease ran out, taken over
        first) is resumed when `f` writes; then `f` runs again. `f` must be safe to run twice if
        it failed.
        """
        for attempt in range(3):
            run = self.get_or_create(thread_id) if create else self.get(thread_id)
            if run is None:
                return None
            try:
                return f(run)
            except RunInterrupted:
                with self._lock:
                    if self.db.connected:
                        # Shared mode: the run's host is gone (its lease ran out; a restarted
                        # process is a new host), so this host takes the thread's run over.
                        self.db.take_over_run(run.id)
                    try:
                        run.resume()
                    except RunStateError:
                        pass  # another thread of this process resumed it first
            except (RunEnded, UnknownRun):
                self.forget(thread_id)
                if attempt == 2:
                    raise
        return f(run)

    def all(self) -> Iterator[tuple[str, _native.Run]]:
        """Every thread of this app with its run, oldest first."""
        for info in self.db.query_runs(app=self.app, tenant=TENANT):
            thread_id = _thread_of(info.metadata)
            if info.status in _LIVE and thread_id is not None:
                run = self.get(thread_id)
                if run is not None and run.id == info.id:
                    yield thread_id, run

    # ----- copies and deletions -------------------------------------------------------------------

    def copy(self, source: str, target: str) -> bool:
        """Makes `target` a copy of `source` now: a fork of its run, O(1). False if no source."""
        run = self.get(source)
        if run is None:
            return False
        taken = ValueError(
            f"thread {target!r} already has checkpoints; delete it before copying into it"
        )
        with self._create:
            earlier = self._runs_of(target)
            if self._live_run(earlier) is not None:
                raise taken
            # Tagged in its first record: no lookup ever finds the fork half made.
            run_id = _shared_run_id(self.app, target, earlier) if self.db.connected else None
            try:
                fork = self.db.fork_run(
                    run, tags=[thread_tag(target)], metadata={THREAD_FIELD: target}, id=run_id
                )
            except RunStateError:
                raise taken from None  # another host copied into it first
        with self._lock:
            self._cache[target] = fork
        return True

    def retire(self, thread_id: str, run: _native.Run) -> None:
        """Ends the thread's run (after its keys were deleted) and deletes what nothing reads."""
        self.forget(thread_id)
        try:
            run.end()
        except (RunEnded, UnknownRun):
            return
        self._delete_unread(run.id)

    def _delete_unread(self, run_id: str) -> None:
        """Deletes the ended run `run_id` unless forks read it, then its ended parents likewise."""
        while run_id is not None:
            try:
                info = self.db.get_run(run_id).info()
            except UnknownRun:
                return
            if info.status in _LIVE:
                return
            try:
                self.db.delete_run(run_id)
            except (HasForks, RunStateError, UnknownRun):
                return
            except SharedModeUnsupported:
                # A connected database deletes no runs yet: the ended run stays, holding none
                # of the thread's keys (deleted before), and no lookup finds an ended run.
                return
            run_id = info.parent


def _shared_run_id(app: str, thread_id: str, earlier: list[_native.RunInfo]) -> str:
    """The id of the thread's next run on a connected database, given its `earlier` runs (all
    ended): the same on every host that sees the same runs of the thread."""
    name = "\0".join((app, thread_id, str(len(earlier))))
    return str(uuid.uuid5(_SHARED_THREAD_RUNS, name))


def _thread_of(metadata: object) -> Optional[str]:
    if isinstance(metadata, dict):
        thread_id = metadata.get(THREAD_FIELD)
        if isinstance(thread_id, str):
            return thread_id
    return None
