"""run.kv: the agent's memory: put, get, delete, list, TTL, versions, compare-and-swap, the run model."""

from __future__ import annotations

import datetime
import time

import pytest

import in_mem


def test_put_returns_increasing_commit_versions(run: in_mem.Run) -> None:
    first = run.kv.put("a", 1)
    second = run.kv.put("b", 2)
    assert isinstance(first, int) and second > first


def test_get_of_a_missing_key_is_none_or_the_default(run: in_mem.Run) -> None:
    assert run.kv.get("missing") is None
    assert run.kv.get("missing", "fallback") == "fallback"
    run.kv.put("present", None)
    assert run.kv.get("present", "fallback") is None
    assert run.kv.exists("present") and "present" in run.kv


def test_delete_says_whether_the_key_existed(run: in_mem.Run) -> None:
    run.kv.put("k", 1)
    assert run.kv.delete("k") is True
    assert run.kv.delete("k") is False
    assert run.kv.get("k") is None and not run.kv.exists("k")


def test_list_and_keys_are_prefix_scans_in_key_order(run: in_mem.Run) -> None:
    for key in ["user:2", "user:10", "user:1", "other"]:
        run.kv.put(key, key.upper())
    assert run.kv.list("user:") == [("user:1", "USER:1"), ("user:10", "USER:10"), ("user:2", "USER:2")]
    assert run.kv.keys("user:") == ["user:1", "user:10", "user:2"]
    assert run.kv.keys() == ["other", "user:1", "user:10", "user:2"]
    assert run.kv.keys(b"user:1") == [b"user:1", b"user:10"]


def test_range_reads_the_keys_between_two_bounds_in_one_walk(db: in_mem.Database, run: in_mem.Run) -> None:
    for key in ["log:1", "log:2", "log:3", "log:4", "other"]:
        run.kv.put(key, key.upper())
    run.kv.delete("log:3")
    before = run.kv.put("log:25", "LOG:25")
    assert run.kv.range("log:2", "log:4") == [("log:2", "LOG:2"), ("log:25", "LOG:25")]
    assert [k for k, _ in run.kv.range("log:2")] == ["log:2", "log:25", "log:4", "other"]
    assert [k for k, _ in run.kv.range(end="log:2")] == ["log:1"]
    assert [k for k, _ in run.kv.range(b"log:4", b"p")] == [b"log:4", b"other"]
    assert run.kv.range("log:4", "log:1") == []
    with db.transaction(run) as tx:
        tx.kv.put("log:22", "mine")
        tx.kv.delete("log:25")
        assert [k for k, _ in tx.kv.range("log:2", "log:3")] == ["log:2", "log:22"]
    view = run.view_at(version=before - 1)
    assert [k for k, _ in view.kv.range("log:2", "log:3")] == ["log:2"]
    with pytest.raises(in_mem.LimitExceeded):
        run.kv.range("k" * 100_000)


def test_listed_keys_that_are_not_utf8_come_back_as_bytes(run: in_mem.Run) -> None:
    run.kv.put(b"bin:\xff", 1)
    run.kv.put("bin:text", 2)
    assert run.kv.keys("bin:") == ["bin:text", b"bin:\xff"]


def test_get_versioned_carries_version_time_and_ttl(run: in_mem.Run) -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    version = run.kv.put("k", {"v": 1}, ttl=datetime.timedelta(hours=1))
    found = run.kv.get_versioned("k")
    assert found is not None
    assert found.value == {"v": 1}
    assert found.version == version
    assert found.ttl == datetime.timedelta(hours=1)
    assert found.timestamp.tzinfo is not None
    assert found.timestamp >= before - datetime.timedelta(seconds=5)
    assert run.kv.get_versioned("missing") is None
    run.kv.put("plain", 1)
    assert run.kv.get_versioned("plain").ttl is None


def test_ttl_in_seconds_or_timedelta_expires_the_value(run: in_mem.Run) -> None:
    run.kv.put("short", "gone soon", ttl=0.05)
    run.kv.put("long", "stays", ttl=3600)
    assert run.kv.get_versioned("short").ttl == datetime.timedelta(milliseconds=50)
    time.sleep(0.3)
    assert run.kv.get("short") is None
    assert run.kv.get("long") == "stays"


@pytest.mark.parametrize(
    ("ttl", "error"),
    [(-1, ValueError), (datetime.timedelta(seconds=-1), ValueError), ("1s", TypeError), (True, TypeError)],
    ids=["negative", "negative-timedelta", "text", "bool"],
)
def test_bad_ttls_are_refused(run: in_mem.Run, ttl: object, error: type) -> None:
    with pytest.raises(error, match="ttl"):
        run.kv.put("k", 1, ttl=ttl)
    assert not run.kv.exists("k")


def test_compare_and_swap_takes_a_lock_only_once(run: in_mem.Run) -> None:
    version = run.kv.compare_and_swap("lock", None, "run-1")
    with pytest.raises(in_mem.StaleVersion) as err:
        run.kv.compare_and_swap("lock", None, "run-2")
    assert err.value.expected is None and err.value.actual == version
    assert str(err.value) == (
        f'key "lock" is at version {version}, not the expected absent; nothing was written, read it again'
    )
    run.kv.compare_and_swap("lock", version, "released")
    assert run.kv.get("lock") == "released"


def test_a_run_sees_memory_as_of_its_start_plus_its_own_writes(db: in_mem.Database) -> None:
    agent = ("acme", "support", "triage")
    first = db.begin_run(agent)
    second = db.begin_run(agent)
    first.kv.put("plan", "walk")
    assert second.kv.get("plan") is None  # began before the write
    assert db.begin_run(agent).kv.get("plan") == "walk"  # began after it
    assert db.begin_run(("acme", "support", "other")).kv.get("plan") is None  # another agent


def test_writes_after_the_run_ended_are_refused_and_reads_go_on(run: in_mem.Run) -> None:
    run.kv.put("k", 1)
    run.end()
    with pytest.raises(in_mem.RunEnded) as err:
        run.kv.put("k", 2)
    assert str(err.value) == f"run {run.id} has ended; begin a new run to write"
    assert err.value.run == run.id
    assert run.kv.get("k") == 1
