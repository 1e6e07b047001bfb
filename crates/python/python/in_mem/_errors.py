"""The exceptions in_mem raises: one hierarchy under `in_mem.Error`.

Every error of the Rust engine (`in_mem::Error`) becomes an instance of one of these classes,
chosen by its variant; `str(err)` is the Rust message, word for word, and the variant's fields
are attributes (`err.run`, `err.key`, `err.expected` ...; each class lists its own). Classes that
are also a builtin exception (`ValueError`, `TypeError`, `LookupError`, `OSError`) let code that
already catches those keep working.

The classes live in Python, not in the native module, because a class with two bases (such as
`InvalidInput(Error, ValueError)`) cannot be declared from Rust with PyO3.
"""

from __future__ import annotations

__all__ = [
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


class Error(Exception):
    """Base class of every error in_mem raises."""


class ClosedError(Error):
    """The database was closed, or the transaction has already committed or been abandoned."""


# ----- bad input ---------------------------------------------------------------------------------


class InvalidInput(Error, ValueError):
    """Bad input: an empty key, a bad name, tag, option, run id, span or machine definition."""


class LimitExceeded(InvalidInput):
    """A key, value or commit over a limit: too long, too large or nested too deeply."""


class TypeMismatch(Error, TypeError):
    """A stored value read as a type it cannot become (attributes `key`, `stored`, `requested`)."""


# ----- runs --------------------------------------------------------------------------------------


class RunError(Error):
    """Base of the errors about a run itself (attribute `run`: the run id as text)."""


class UnknownRun(RunError, LookupError):
    """No run with this id exists in this database (never begun, or deleted)."""


class RunEnded(RunError):
    """The run has ended: it stays readable but takes no more writes."""


class RunInterrupted(RunError):
    """The run was active when the process stopped without ending it; resume or end it."""


class RunStateError(RunError):
    """The run's status does not allow this call (attributes `status`, `action`)."""


class HistoryPruned(Error):
    """The read needs versions that the retention policy already reclaimed.

    Attributes `run`, `at` (the version read as of), `oldest_kept`. Nothing wrong was returned;
    the run's own current data stays readable.
    """


class UnknownPoint(Error, LookupError):
    """A point in a run's history that the run does not have (attributes `run`, `at`, `reason`)."""


class HasForks(RunStateError):
    """A run that other runs were forked from cannot be deleted alone.

    Attributes `run`, `forks` (how many), `example` (the id of one).
    """


class ReadOnlyView(Error):
    """A write through a read-only view of a run's past (attribute `run`); fork the run to write."""


# ----- concurrency and compare-and-swap ----------------------------------------------------------


class Conflict(Error):
    """Another commit changed a key this transaction read; nothing was written, retry.

    Attributes `run`, `key`, `read`, `found` (versions, None for absent).
    """


class StaleVersion(Error):
    """A compare-and-swap whose expected version is not the current one; nothing was written.

    Attributes `what` ("key", "state cell" ...), `name`, `expected`, `actual` (None: absent).
    """


# ----- the primitives' records -------------------------------------------------------------------


class RecordError(Error):
    """Base of the errors about a run's events, state cells, machines and spans."""


class Immutable(RecordError):
    """An attempt to change or delete an event: events are append-only."""


class CellExists(RecordError):
    """A state cell or machine that must not exist does (attribute `name`)."""


class CellMissing(RecordError, LookupError):
    """A state cell that must exist does not (attribute `name`)."""


class UnknownMachine(RecordError, LookupError):
    """A state machine that was never defined in this run (attribute `name`)."""


class ForbiddenTransition(RecordError):
    """An event the machine's current state does not allow.

    Attributes `machine`, `state`, `event`, `terminal`.
    """


class ChainBroken(RecordError):
    """The run's event log does not verify (attributes `run`, `sequence`, `reason`)."""


class UnknownSpan(RecordError, LookupError):
    """A span, or a span's parent, that does not exist in the run (attribute `span`)."""


class SpanFinished(RecordError):
    """A span that has already been finished (attribute `span`)."""


# ----- re-execution ------------------------------------------------------------------------------


class Divergence(Error):
    """A re-execution served by a `Cassette` is not the recorded run: it made another call than
    the one recorded next, a call past the recording's end, or left recorded calls unmade.

    Attributes `kind` ("mismatch", "extra", "unplayed" or "unanswered": the recorded call never
    returned), `step` (the call's index in the recording), `span`, `recorded` and `made`
    (`(name, fingerprint)` pairs) and `unplayed` (how many calls were left); `None` where the
    kind has none.
    """


# ----- storage -----------------------------------------------------------------------------------


class DurabilityError(Error, OSError):
    """The write-ahead log, a checkpoint or the data directory failed."""


class LockedError(DurabilityError):
    """Another process has the database directory open (attribute `path`)."""


class CorruptionError(DurabilityError):
    """Damaged files or stored data (attributes `path` and `offset` where the engine names them)."""


class PoisonedError(DurabilityError):
    """An earlier write or fdatasync failed: every later write fails; reopen the database."""


# ----- shared mode (Database.connect) -----------------------------------------------------------


class RemoteError(Error):
    """The shared store refused or failed a request (shared mode)."""


class StoreUnavailable(RemoteError, ConnectionError):
    """The store could not be reached, for longer than the database's `outage_limit`.

    A commit that fails with this never reached the store: it took no version and was not
    applied.
    """


class OutcomeUnknown(RemoteError, ConnectionError):
    """The connection was lost after a commit was sent, and no answer came within the
    database's `outage_limit`: the commit may or may not have been applied. Read it back on a
    new connection before writing it again; this connection sends no more commits
    (`StorePoisoned`).
    """


class StorePoisoned(RemoteError):
    """An earlier commit's outcome is unknown, so this connection sends no more commits (one
    could land while an earlier one is lost): close the database and connect again."""


class Fenced(RemoteError):
    """Another host took the run over: this host's writes to it are refused from now on.

    Attributes `run`, `held` (this host's epoch of the run) and `current` (the run's epoch).
    """


class NotOwner(RunError):
    """A write to a run another host owns (attributes `run`, `owner`); nothing was written.

    `Database.take_over_run(run)` makes this host its owner once the other host's lease ran out.
    """


class SharedModeUnsupported(Error):
    """A call a connected database does not offer yet (attribute `operation`); nothing changed."""


# Shown as `in_mem.Conflict` (where users import them from) in tracebacks and reprs, and
# pickled under that name.
for _name in __all__:
    globals()[_name].__module__ = "in_mem"
del _name
