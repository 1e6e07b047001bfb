"""Threads: blocking calls release the GIL, so Python threads run while a commit waits for its
sync, and Strict commits from several threads overlap and share fdatasyncs (group commit).

No test here asserts a duration: each asserts an order of events that holding the GIL would
make impossible, or a count of system calls."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import in_mem
from conftest import TESTS_DIR, child_env


@pytest.fixture
def long_switch_interval() -> Iterator[None]:
    """A GIL switch interval so long that a thread gives up the GIL only where it blocks or
    releases it itself: then another thread running during a call proves the call released it."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    yield
    sys.setswitchinterval(old)


def test_a_strict_commit_lets_other_python_threads_run(db_path: Path, long_switch_interval: None) -> None:
    db = in_mem.Database(db_path, durability="strict")
    run = db.begin_run()
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0)  # releases the GIL, so the committing thread gets it back when it wants it

    spinner = threading.Thread(target=spin)
    spinner.start()
    overlapped = 0
    try:
        for i in range(200):
            before = ticks
            run.kv.put(f"k{i}", i)  # the only place this thread can give up the GIL
            if ticks != before:
                overlapped += 1
    finally:
        stop.set()
        spinner.join()
        db.close()
    assert overlapped > 0, "no other thread ever ran while a Strict commit waited for its sync"


def test_strict_commits_from_many_threads_overlap_and_all_land(db_path: Path) -> None:
    db = in_mem.Database(db_path, durability="strict")
    run = db.begin_run()
    threads, per_thread = 8, 25
    inside = 0
    most_inside = 0
    lock = threading.Lock()

    def commit(t: int) -> None:
        nonlocal inside, most_inside
        for i in range(per_thread):
            with lock:
                inside += 1
                most_inside = max(most_inside, inside)
            run.kv.put(f"t{t}:{i}", [t, i])
            with lock:
                inside -= 1

    pool = [threading.Thread(target=commit, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    try:
        assert len(run.kv.keys()) == threads * per_thread
        assert run.kv.get("t7:24") == [7, 24]
        # With the GIL held through a commit, no two threads could be inside one at a time.
        assert most_inside > 1
    finally:
        db.close()


def test_threads_doing_strict_commits_share_fdatasyncs(tmp_path: Path) -> None:
    """Group commit seen from outside: 400 Strict commits from 8 threads take fewer syncs than
    commits. A commit holding the GIL would serialize them, one sync each."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (.ci/run installs it)")
    result = subprocess.run(
        [
            strace,
            "-f",
            "-e",
            "trace=fdatasync,fsync",
            "-o",
            str(tmp_path / "syncs"),
            sys.executable,
            str(TESTS_DIR / "children.py"),
            "threads-strict",
            str(tmp_path / "db"),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
    )
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    commits = int(result.stdout.strip())
    trace = (tmp_path / "syncs").read_text()
    syncs = len(re.findall(r"\b(?:fdatasync|fsync)\(", trace))
    assert syncs > 0, "strace saw no sync at all"
    assert syncs < commits, f"{syncs} syncs for {commits} Strict commits: none were shared"
