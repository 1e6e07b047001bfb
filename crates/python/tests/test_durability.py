"""What survives: reopening after close, flush and checkpoint, the recovery report, a SIGKILLed
child's Strict commits, interrupted runs; and calls on a closed database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import in_mem
from conftest import TESTS_DIR, child_env


@pytest.mark.parametrize("durability", ["strict", "batched", "async"])
def test_everything_is_there_after_close_and_reopen(db_path: Path, durability: str) -> None:
    with in_mem.Database(db_path, durability=durability) as db:
        assert db.durability == durability
        with db.run(("t", "a", "g"), tags=["first"]) as run:
            run.kv.put("fact", {"big": 2**64 - 1, "bytes": b"\x00\x01"})
            run.events.append("step", [1, 2])
            run.state.init("cell", "v")
            run.trace.record("thought", text="remember me")
        run_id = run.id
    assert db.closed

    with in_mem.Database(db_path) as db:
        report = db.recovery_report()
        assert report["records_replayed"] > 0
        assert report["tail"] == "clean"
        assert report["interrupted_runs"] == []
        again = db.get_run(run_id)
        assert again.status == "completed"
        assert again.info().tags == ["first"]
        assert again.kv.get("fact") == {"big": 2**64 - 1, "bytes": b"\x00\x01"}
        assert again.events.read(0).payload == [1, 2]
        assert again.events.verify_chain().events == 1
        assert again.state.read("cell").value == "v"
        assert again.trace.get(1).details == {"text": "remember me"}
        assert db.begin_run(("t", "a", "g")).kv.get("fact")["big"] == 2**64 - 1


def test_a_checkpoint_is_where_recovery_starts(db_path: Path) -> None:
    with in_mem.Database(db_path) as db:
        run = db.begin_run()
        for i in range(20):
            run.kv.put(f"k{i}", i)
        info = db.checkpoint()
        assert info["version"] > 0 and info["entries"] > 0 and os.path.exists(info["path"])
        run.kv.put("after", True)
        db.flush()
        run_id = run.id
    with in_mem.Database(db_path) as db:
        assert db.recovery_report()["checkpoint"] == info["version"]
        run = db.get_run(run_id)
        assert run.kv.get("k19") == 19 and run.kv.get("after") is True


def test_stats_and_sweep_answer(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put("a", 1)
    stats = db.stats()
    assert stats["runs"] == 1 and stats["keys"] >= 1 and stats["visible_version"] >= 1
    assert set(db.sweep()) == {"versions_removed", "keys_removed"}


def test_every_call_on_a_closed_database_is_a_closed_error(db_path: Path) -> None:
    db = in_mem.Database(db_path)
    run = db.begin_run()
    tx = db.transaction(run)
    db.close()
    db.close()  # twice is fine
    for call in (
        lambda: run.kv.get("k"),
        lambda: run.events.append("e"),
        lambda: run.end(),
        lambda: db.begin_run(),
        lambda: db.flush(),
        lambda: db.transaction(run),
    ):
        with pytest.raises(in_mem.ClosedError, match="the database is closed"):
            call()
    tx.abort()
    assert "closed" in repr(db)


def test_the_context_manager_closes_and_the_directory_reopens(db_path: Path) -> None:
    with in_mem.Database(db_path) as db:
        db.begin_run().kv.put("k", 1)
    assert db.closed
    with in_mem.Database(db_path, durability="strict") as db:
        assert db.recovery_report()["records_replayed"] > 0


def test_strict_commits_of_a_sigkilled_process_survive(db_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, str(TESTS_DIR / "children.py"), "strict-writer", str(db_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    acknowledged = -1
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 200:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert acknowledged >= 200

    with in_mem.Database(db_path) as db:
        report = db.recovery_report()
        assert run_id in report["interrupted_runs"]
        crashed = db.get_run(run_id)
        assert crashed.status == "interrupted"
        keys = crashed.kv.keys("k")
        # Every acknowledged commit is there, and what survived is a prefix of the commit order.
        assert len(keys) >= acknowledged + 1
        assert keys == [f"k{i:06d}" for i in range(len(keys))]
        for i in (0, acknowledged // 2, acknowledged):
            assert crashed.kv.get(f"k{i:06d}") == {"i": i, "payload": "x" * (i % 50)}
        # A later run of the agent reads what the crashed run wrote; the crashed run resumes.
        assert db.begin_run(("crash", "test", "writer")).kv.get(f"k{acknowledged:06d}") is not None
        crashed.resume()
        crashed.kv.put("after-crash", True)
        crashed.end()
