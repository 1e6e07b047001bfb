"""Transactions: several calls of one run committed atomically, rolled back on an exception,
refused on a conflict; and the retrying helper."""

from __future__ import annotations

import threading

import pytest

import in_mem


def test_everything_in_a_transaction_commits_together(db: in_mem.Database, run: in_mem.Run) -> None:
    run.state.init("step", 0)
    span_before = run.trace.record("thought", text="before")
    with db.transaction(run) as tx:
        assert tx.kv.put("last_tool", "search") is None  # no version until the commit
        assert tx.events.append("tool_called", "search") == 0
        assert tx.state.set("step", 1) == 2
        span = tx.trace.record("thought", text="searching", parent=span_before)
        # Reads see the transaction's own writes ...
        assert tx.kv.get("last_tool") == "search"
        assert tx.events.len() == 1
        # ... and nothing is visible outside it yet.
        assert run.kv.get("last_tool") is None
        assert run.events.len() == 0
    assert tx.version is not None and not tx.is_open
    assert run.kv.get_versioned("last_tool").version == tx.version
    assert run.events.read(0).payload == "search"
    assert run.state.read("step").value == 1
    assert run.trace.get(span).parent == span_before


def test_an_exception_in_the_block_writes_nothing(db: in_mem.Database, run: in_mem.Run) -> None:
    run.state.init("step", 0)
    with pytest.raises(RuntimeError, match="tool crashed"):
        with db.transaction(run) as tx:
            tx.kv.put("k", 1)
            tx.events.append("e")
            tx.state.set("step", 5)
            raise RuntimeError("tool crashed")
    assert not tx.is_open and tx.version is None
    assert run.kv.get("k") is None
    assert run.events.len() == 0
    assert run.state.read("step").value == 0


def test_a_failed_call_fails_the_block_and_nothing_is_written(db: in_mem.Database, run: in_mem.Run) -> None:
    run.state.init("step", 0)
    with pytest.raises(in_mem.StaleVersion):
        with db.transaction(run) as tx:
            tx.events.append("tool_called", "again")
            tx.state.cas("step", 999, 2)
    assert run.events.len() == 0


def test_a_conflicting_commit_writes_nothing(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put("counter", 0)
    first = db.transaction(run)
    second = db.transaction(run)
    first.kv.put("counter", first.kv.get("counter") + 1)
    second.kv.put("counter", second.kv.get("counter") + 10)
    second.kv.put("other", "from second")
    first.commit()
    with pytest.raises(in_mem.Conflict) as err:
        second.commit()
    assert err.value.run == run.id
    assert "counter" in err.value.key
    assert err.value.found == first.version
    assert str(err.value).startswith(f"transaction conflict in run {run.id}: key ")
    assert str(err.value).endswith("; retry the transaction")
    assert run.kv.get("counter") == 1
    assert run.kv.get("other") is None


def test_a_conflict_at_the_end_of_a_with_block_is_raised(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put("k", 0)
    with pytest.raises(in_mem.Conflict):
        with db.transaction(run) as tx:
            tx.kv.put("k", tx.kv.get("k") + 1)
            run.kv.put("k", 100)  # another commit of the run changes what tx read
    assert run.kv.get("k") == 100


def test_explicit_commit_and_abort(db: in_mem.Database, run: in_mem.Run) -> None:
    tx = run.transaction()
    tx.kv.put("a", 1)
    version = tx.commit()
    assert version == tx.version and run.kv.get("a") == 1
    other = db.transaction(run.id)
    other.kv.put("b", 2)
    other.abort()
    assert run.kv.get("b") is None
    with pytest.raises(in_mem.ClosedError, match="already committed or been abandoned"):
        other.kv.put("c", 3)
    with pytest.raises(in_mem.ClosedError):
        tx.commit()


def test_a_transaction_committed_inside_its_block_is_left_alone(db: in_mem.Database, run: in_mem.Run) -> None:
    with db.transaction(run) as tx:
        tx.kv.put("a", 1)
        tx.commit()
    assert run.kv.get("a") == 1


def test_a_read_only_transaction_commits_nothing(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put("a", 1)
    with db.transaction(run) as tx:
        assert tx.kv.get("a") == 1
    assert tx.version is None


def test_a_transaction_dropped_unfinished_commits_nothing(db: in_mem.Database, run: in_mem.Run) -> None:
    tx = db.transaction(run)
    tx.kv.put("ghost", 1)
    del tx
    assert run.kv.get("ghost") is None
    run.kv.put("after", 1)  # the run is not held up by the abandoned transaction


def test_transactions_of_an_ended_or_unknown_run_are_refused(db: in_mem.Database, run: in_mem.Run) -> None:
    run.end()
    with pytest.raises(in_mem.RunEnded):
        with db.transaction(run) as tx:
            tx.kv.put("k", 1)
    with pytest.raises(in_mem.UnknownRun):
        db.transaction("00000000-0000-4000-8000-000000000000")


def test_retry_runs_the_function_again_until_it_commits(db: in_mem.Database, run: in_mem.Run) -> None:
    run.kv.put("counter", 0)
    threads, increments = 4, 25

    def increment(tx: in_mem.Transaction) -> int:
        value = tx.kv.get("counter")
        tx.kv.put("counter", value + 1)
        return value

    def worker() -> None:
        for _ in range(increments):
            db.transaction_with_retry(run, increment, max_attempts=1000)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert run.kv.get("counter") == threads * increments


def test_retry_returns_the_result_and_gives_up_after_max_attempts(db: in_mem.Database, run: in_mem.Run) -> None:
    assert run.transaction_with_retry(lambda tx: tx.kv.put("a", 1) or "done") == "done"
    run.kv.put("k", 0)
    calls = []

    def always_conflicts(tx: in_mem.Transaction) -> None:
        calls.append(1)
        tx.kv.put("k", tx.kv.get("k") + 1)
        run.kv.put("k", 100 + len(calls))  # someone else always wins

    with pytest.raises(in_mem.Conflict):
        db.transaction_with_retry(run, always_conflicts, max_attempts=3)
    assert len(calls) == 3


def test_an_exception_from_the_retried_function_goes_on_and_writes_nothing(
    db: in_mem.Database, run: in_mem.Run
) -> None:
    def boom(tx: in_mem.Transaction) -> None:
        tx.kv.put("k", 1)
        raise KeyError("nope")

    with pytest.raises(KeyError):
        db.transaction_with_retry(run, boom)
    assert run.kv.get("k") is None
