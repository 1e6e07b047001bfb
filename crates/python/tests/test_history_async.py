"""The awaitable twins of the history calls: views (through the async accessors, writes
refused), forks and tree deletion, timelines, key histories, diffs and replays (`async for`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import in_mem
from in_mem.aio import AsyncDatabase, AsyncReplayStep, AsyncRunView


def test_async_views_read_the_past_and_refuse_writes(db_path: Path) -> None:
    async def main() -> None:
        async with await AsyncDatabase.open(db_path) as db:
            run = await db.begin_run()
            first = await run.kv.put("k", "first")
            await run.events.append("e", 1)
            await run.state.set("c", 1)
            await run.trace.record("thought", text="t")
            await run.kv.put("k", "second")

            view = await db.run_view_at(run, version=first)
            assert isinstance(view, AsyncRunView)
            assert (view.run_id, view.version) == (run.id, first)
            assert await view.kv.get("k") == "first"
            assert await view.kv.list() == [("k", "first")]
            assert await view.events.len() == 0
            assert await view.state.cells() == {}
            assert await view.trace.all() == []
            with pytest.raises(in_mem.ReadOnlyView):
                await view.kv.put("k", "x")
            with pytest.raises(in_mem.ReadOnlyView):
                await view.events.append("x")

            now = await run.view_at()
            assert await now.kv.get("k") == "second"
            assert await now.events.len() == 1
            at_event = await run.view_at(event=0)
            assert await at_event.state.read("c") is None

    asyncio.run(main())


def test_async_forks_timelines_key_histories_and_diffs(db_path: Path) -> None:
    async def main() -> None:
        async with await AsyncDatabase.open(db_path) as db:
            run = await db.begin_run()
            first = await run.kv.put("k", 1)
            await run.kv.put("k", 2)
            fork = await db.fork_run(run, version=first)
            await fork.kv.put("mine", True)
            forks = await db.query_runs(forked_from=fork)
            assert forks == []
            assert [i.id for i in await db.query_runs(forked_from=run)] == [fork.id]

            timeline = await db.run_timeline(run, start=first)
            assert [s.kv_keys for s in timeline] == [["k"], ["k"]]
            assert len(await db.run_timeline(run, limit=1)) == 1
            history = await db.key_history(fork, "k")
            assert [v.value for v in history] == [1]

            diff = await db.diff_runs(run, fork)
            assert [(c.kind, c.key) for c in diff.kv] == [("changed", "k"), ("added", "mine")]
            assert "+mine = true" in str(diff)
            since = await db.diff_run(run, from_version=first)
            assert [(c.before, c.after) for c in since.kv] == [(1, 2)]

            await fork.end()
            await run.end()
            assert await db.delete_run_tree(run) == 2
            with pytest.raises(in_mem.UnknownRun):
                await db.get_run(fork.id)

    asyncio.run(main())


def test_async_replay_yields_verified_steps_with_async_views(db_path: Path) -> None:
    async def main() -> None:
        async with await AsyncDatabase.open(db_path) as db:
            run = await db.begin_run()
            for i in range(3):
                await run.kv.put("k", i)
            seen = []
            async for step in await db.replay(run):
                assert isinstance(step, AsyncReplayStep)
                assert step.view.version == step.step.version
                seen.append(await step.view.kv.get("k"))
            assert seen == [None, 0, 1, 2]

    asyncio.run(main())
