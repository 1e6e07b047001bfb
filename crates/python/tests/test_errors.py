"""The exception hierarchy: every class an in_mem.Error, the builtin bases, messages and attributes;
errors of opening (bad options, a directory locked by another process, one that is not a database)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import in_mem
from conftest import TESTS_DIR, child_env

BUILTIN_BASES = {
    "InvalidInput": ValueError,
    "LimitExceeded": ValueError,
    "TypeMismatch": TypeError,
    "UnknownRun": LookupError,
    "CellMissing": LookupError,
    "UnknownMachine": LookupError,
    "UnknownSpan": LookupError,
    "DurabilityError": OSError,
    "LockedError": OSError,
    "CorruptionError": OSError,
    "PoisonedError": OSError,
}


@pytest.mark.parametrize("name", [n for n in in_mem._errors.__all__ if n != "Error"])
def test_every_error_class_is_an_in_mem_error(name: str) -> None:
    cls = getattr(in_mem, name)
    assert issubclass(cls, in_mem.Error)
    assert cls is getattr(in_mem._errors, name)
    if name in BUILTIN_BASES:
        assert issubclass(cls, BUILTIN_BASES[name])


def test_the_run_errors_share_a_base() -> None:
    for cls in (in_mem.UnknownRun, in_mem.RunEnded, in_mem.RunInterrupted, in_mem.RunStateError):
        assert issubclass(cls, in_mem.RunError)
    assert issubclass(in_mem.LimitExceeded, in_mem.InvalidInput)
    for cls in (in_mem.LockedError, in_mem.CorruptionError, in_mem.PoisonedError):
        assert issubclass(cls, in_mem.DurabilityError)


def test_errors_raised_by_the_engine_are_instances_of_their_class(run: in_mem.Run) -> None:
    run.end()
    with pytest.raises(in_mem.Error) as err:
        run.kv.put("k", 1)
    assert type(err.value) is in_mem.RunEnded


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"durability": "fast"}, 'durability "fast" is not one of "strict", "batched", "async"'),
        ({"durability": "strict", "interval_ms": 5}, "strict durability syncs every commit"),
        ({"durability": "async", "max_commits": 5}, "async durability syncs on a timer only"),
        ({"interval_ms": 0}, "invalid options: Batched interval_ms must be at least 1"),
        ({"segment_bytes": 100}, "invalid options: segment_bytes is 100, below the minimum of 4096"),
        ({"recovery_mode": "hope"}, 'recovery_mode "hope" is not one of "refuse", "salvage"'),
    ],
)
def test_bad_options_are_invalid_input(db_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(in_mem.InvalidInput) as err:
        in_mem.Database(db_path, **kwargs)
    assert str(err.value).startswith(message)


def test_an_empty_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(in_mem.InvalidInput, match="the data directory path is empty"):
        in_mem.Database("")


def test_a_directory_of_other_files_is_refused_naming_them(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(in_mem.DurabilityError, match="is not an in-mem database") as err:
        in_mem.Database(tmp_path)
    assert "notes.txt" in str(err.value)
    assert isinstance(err.value, OSError)


def test_a_directory_open_in_another_process_is_locked(db_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, str(TESTS_DIR / "children.py"), "hold-open", str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
        with pytest.raises(in_mem.LockedError) as err:
            in_mem.Database(db_path)
        assert str(err.value) == (
            f"database directory {db_path} is locked by another process; close it there first"
        )
        assert err.value.path == str(db_path)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    in_mem.Database(db_path).close()  # free again once the other process closed it


def test_reading_bytes_where_a_typed_value_is_stored_is_not_an_error_in_python(run: in_mem.Run) -> None:
    # Python reads every stored type, so the engine's TypeMismatch (a Rust type asked for) is never
    # raised by reads here; the class exists for the calls that can raise it.
    run.kv.put("n", 3)
    assert run.kv.get("n") == 3
    assert issubclass(in_mem.TypeMismatch, TypeError)
