"""asyncio: the awaitable twins run blocking calls in a thread pool, so the event loop keeps
running (a 1 ms timer keeps firing) while many Strict commits wait for their syncs; and the
async API mirrors the synchronous one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import in_mem
from in_mem.aio import AsyncDatabase, AsyncRun, AsyncTransaction


def test_a_1ms_timer_keeps_firing_while_strict_commits_wait(db_path: Path) -> None:
    async def main() -> tuple[int, int]:
        async with await AsyncDatabase.open(db_path, durability="strict") as db:
            run = await db.begin_run()
            in_flight = 0
            ticks_during_commits = 0
            commits = 0

            async def ticker() -> None:
                nonlocal ticks_during_commits
                while True:
                    await asyncio.sleep(0.001)
                    if in_flight > 0:
                        ticks_during_commits += 1

            async def commit(i: int) -> None:
                nonlocal in_flight, commits
                in_flight += 1
                try:
                    await run.kv.put(f"k{i}", i)
                    commits += 1
                finally:
                    in_flight -= 1

            timer = asyncio.create_task(ticker())
            # Rounds of 64 concurrent commits until the timer has fired 20 times while commits
            # were waiting. A call that blocked the loop would leave it at 0 whatever the count.
            rounds = 0
            while ticks_during_commits < 20 and rounds < 300:
                await asyncio.gather(*(commit(rounds * 64 + i) for i in range(64)))
                rounds += 1
            timer.cancel()
            assert len(await run.kv.keys()) == commits
            return ticks_during_commits, commits

    ticks, commits = asyncio.run(main())
    assert ticks >= 20, f"the timer fired {ticks} times during {commits} Strict commits"


def test_the_async_api_mirrors_the_sync_one(db_path: Path) -> None:
    async def main() -> None:
        db = await AsyncDatabase.open(db_path, durability="batched", interval_ms=10)
        assert db.durability == "batched" and not db.closed
        async with db.run(("t", "a", "g"), tags=["x"]) as run:
            assert isinstance(run, AsyncRun)
            assert await run.kv.put("k", {"v": 1}) is not None
            assert await run.kv.get("k") == {"v": 1}
            assert (await run.kv.get_versioned("k")).value == {"v": 1}
            assert await run.kv.list() == [("k", {"v": 1})]
            assert await run.kv.exists("k")
            assert await run.events.append("e", 1) == 0
            assert [e.payload for e in await run.events.range()] == [1]
            assert (await run.events.verify_chain()).events == 1
            await run.state.define("m", "a", transitions=[("a", "go", "b")])
            assert (await run.state.fire("m", "go")).to_state == "b"
            span = await run.trace.start("tool_call", tool="t")
            assert (await run.trace.finish(span, result=1)).details["result"] == 1
            async with db.transaction(run) as tx:
                assert isinstance(tx, AsyncTransaction)
                await tx.kv.put("in-tx", True)
                await tx.events.append("e", 2)
            assert tx.version is not None
            with pytest.raises(RuntimeError):
                async with run.transaction() as tx2:
                    await tx2.kv.put("never", 1)
                    raise RuntimeError("abandon")
            assert await run.kv.get("never") is None
            assert (await run.info()).tags == ["x"]
        assert await run.status() == "completed"
        failing = await db.begin_run()
        with pytest.raises(ValueError):
            async with failing:
                raise ValueError("async failure")
        assert (await failing.info()).error == "ValueError: async failure"
        assert [r.id for r in await db.query_runs(status="failed")] == [failing.id]
        assert (await db.get_run(run.id)) == run
        assert (await db.checkpoint())["version"] > 0
        await db.flush()
        await db.close()
        assert db.closed
        with pytest.raises(in_mem.ClosedError):
            db.sync.begin_run()

    asyncio.run(main())


def test_async_retry_helper_with_a_coroutine_and_a_plain_function(db_path: Path) -> None:
    async def main() -> None:
        async with await AsyncDatabase.open(db_path) as db:
            run = await db.begin_run()
            await run.kv.put("n", 0)

            async def increment(tx: AsyncTransaction) -> int:
                n = await tx.kv.get("n")
                await tx.kv.put("n", n + 1)
                return n

            results = await asyncio.gather(*(db.transaction_with_retry(run, increment) for _ in range(20)))
            assert sorted(results) == list(range(20))
            assert await run.kv.get("n") == 20
            assert await db.transaction_with_retry(run, lambda tx: tx.kv.get("n")) == 20

    asyncio.run(main())
