"""`Database.connect`: shared mode from Python, against the PostgreSQL that `INMEM_PG_URL` names.

`cargo xtask pg-run python -m pytest tests/test_connect.py` starts a private server for them (CI
does). Without `INMEM_PG_URL` the tests that need a server skip, saying why, unless
`INMEM_PG_REQUIRED` is set, when they fail instead. Every test uses a schema of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

import in_mem
from in_mem.aio import AsyncDatabase

class Hosts:
    """Hosts connected to one fresh schema of the test server, closed after the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = "py_" + uuid.uuid4().hex
        self.open: list[in_mem.Database] = []

    def __call__(self, durability: str = "batched", **options: object) -> in_mem.Database:
        db = in_mem.Database.connect(self.url, durability, schema=self.schema, **options)
        self.open.append(db)
        return db


@pytest.fixture
def connect(pg_url: str) -> Iterator[Hosts]:
    """Connects hosts to one fresh schema of the test server; closes them after the test."""
    hosts = Hosts(pg_url)
    yield hosts
    for db in hosts.open:
        db.close()


@pytest.mark.parametrize("durability", ["strict", "batched", "async"])
def test_the_calls_of_an_embedded_database_work_connected(connect: Hosts, durability: str) -> None:
    db = connect(durability, host_id=f"first-{durability}")
    assert db.connected and db.path is None and db.host_id == f"first-{durability}"
    assert db.durability == durability
    assert "connected as host" in repr(db)
    with db.run(agent=("acme", "app", "agent")) as run:
        assert run.kv.put("user:123", "Alice") > 0
        assert run.kv.get("user:123") == "Alice"
        run.kv.put("session:abc", b"data", ttl=3600)
        run.kv.put("config", {"retries": 3, "tags": ["a", "b"]})
        assert run.kv.list("user:") == [("user:123", "Alice")]
        assert run.kv.delete("user:123") is True
        assert run.events.append("tool_call", {"name": "search"}) == 0
        run.state.init("phase", "planning")
        run.state.cas("phase", run.state.read("phase").version, "acting")
        span = run.trace.start("tool_call", tool="search")
        run.trace.finish(span, result="ok")
        run_id = run.id
    db.flush()
    # Another host reads what this one wrote; the ended run stays readable.
    other = connect(durability, host_id=f"second-{durability}")
    view = other.get_run(run_id)
    assert view.status == "completed"
    assert view.kv.get("config") == {"retries": 3, "tags": ["a", "b"]}
    assert view.kv.get("user:123") is None
    assert [e.type for e in view.events.range()] == ["tool_call"]
    assert view.events.verify_chain().events == 1
    assert view.state.read("phase").value == "acting"
    assert [(s.kind, s.status) for s in view.trace.all()] == [("tool_call", "ok")]


def test_a_run_sees_its_agent_as_it_was_when_it_began_across_hosts(connect: Hosts) -> None:
    agent = ("acme", "app", "shared-agent")
    a, b = connect(host_id="a"), connect(host_id="b")
    writer = a.begin_run(agent=agent)
    early = b.begin_run(agent=agent)  # begun before the write: never sees it
    writer.kv.put("memory", "from a")
    writer.end()
    late = b.begin_run(agent=agent)  # begun after: sees it
    assert late.kv.get("memory") == "from a"
    assert early.kv.get("memory") is None
    early.kv.put("memory", "from b")  # isolated: its own write only
    assert early.kv.get("memory") == "from b"
    assert late.kv.get("memory") == "from a"


def test_a_host_keeps_its_cache_within_its_budget(connect: Hosts) -> None:
    writer = connect(host_id="writer")
    runs = []
    for i in range(5):
        with writer.run(agent=("acme", "cache", f"agent-{i}")) as run:
            for k in range(8):
                run.kv.put(f"key-{k}", f"agent {i} key {k} " + "." * 2000)
            runs.append(run.id)
    reader = connect(host_id="reader", cache_bytes=40_000)
    for _ in range(2):
        for i, run_id in enumerate(runs):
            view = reader.get_run(run_id)
            assert view.kv.get("key-3") == f"agent {i} key 3 " + "." * 2000
            assert len(view.kv.list("key-")) == 8
    stats = reader.cache_stats()
    assert stats is not None and stats["limit"] == 40_000
    assert stats["evictions"] > 0 and stats["agents"] < 5
    assert connect(host_id="unbounded").cache_stats()["evictions"] == 0
    store = reader.store_stats()
    assert store is not None and store["agents"] == 5 and store["runs"] == {"completed": 5}
    assert store["keys"] >= 40 and store["versions"] >= store["keys"] and store["bytes"] > 0
    assert store["live_hosts"] >= 3


def test_a_run_is_written_by_its_owner_until_another_host_takes_it_over(connect: Hosts) -> None:
    a = connect(host_id="owner", lease_ttl=0.3)
    b = connect(host_id="taker")
    run = a.begin_run(agent=("acme", "app", "handoff"))
    run.kv.put("step", 1)
    other_side = b.get_run(run.id)
    with pytest.raises(in_mem.NotOwner) as refused:
        other_side.kv.put("step", 2)
    assert refused.value.run == str(run.id) and refused.value.owner == "owner"
    assert isinstance(refused.value, in_mem.RunError)
    a.close()  # the owner goes away without ending its run: its lease runs out
    deadline = time.monotonic() + 10
    while True:
        try:
            b.take_over_run(run.id)
            break
        except in_mem.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    taken = b.get_run(run.id)
    assert taken.kv.get("step") == 1
    taken.kv.put("step", 2)
    assert taken.kv.get("step") == 2


def test_sweep_asks_the_store_to_collect_what_no_view_reads(connect: Hosts) -> None:
    db = connect(history_keep_for=0, ended_run_retention=0, interrupted_run_grace=0, collect_every=0)
    with db.run(agent=("acme", "gc", "agent")) as run:
        for i in range(5):
            run.kv.put("plan", f"version {i}")
        first = run.id
    with db.run(agent=("acme", "gc", "agent")) as run:
        run.kv.put("plan", "rewritten")
        later = run.id
    before = db.store_stats()["versions"]
    removed = db.sweep()["versions_removed"]
    # The first run's four superseded versions of "plan" go; its newest stays readable.
    assert removed >= 4
    assert db.store_stats()["versions"] == before - removed
    reader = connect(host_id="reader")
    assert reader.get_run(first).kv.get("plan") == "version 4"
    assert reader.get_run(later).kv.get("plan") == "rewritten"


def test_calls_shared_mode_does_not_offer_raise_a_typed_error(connect: Hosts) -> None:
    db = connect()
    with pytest.raises(in_mem.SharedModeUnsupported) as refused:
        db.checkpoint()
    assert refused.value.operation
    assert "shared mode" in str(refused.value)


def test_the_async_twin_connects(connect: Hosts) -> None:
    async def main() -> None:
        async with await AsyncDatabase.connect(
            connect.url, host_id="async-side", schema=connect.schema
        ) as db:
            assert db.connected and db.host_id == "async-side" and db.path is None
            run = await db.begin_run()
            await run.kv.put("k", "v")
            assert await run.kv.get("k") == "v"

    asyncio.run(main())


def test_a_store_that_cannot_be_reached_is_store_unavailable() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(in_mem.StoreUnavailable) as refused:
        in_mem.Database.connect("postgres://postgres@127.0.0.1:1/postgres", outage_limit=1)
    assert isinstance(refused.value, ConnectionError)
    assert isinstance(refused.value, in_mem.RemoteError)


def test_the_langgraph_saver_works_on_a_connected_database(connect: Hosts) -> None:
    pytest.importorskip("langgraph")
    from in_mem.langgraph import InMemSaver
    from langgraph.checkpoint.base import empty_checkpoint

    saver = InMemSaver(connect(host_id="saver"))
    config = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
    first = empty_checkpoint()
    first["channel_values"] = {"messages": ["hi"]}
    first["channel_versions"] = {"messages": "1"}
    stored = saver.put(config, first, {"step": 0}, {"messages": "1"})
    saver.put_writes(stored, [("messages", "pending")], "task-1")
    got = saver.get_tuple(config)
    assert got is not None
    assert got.checkpoint["channel_values"] == {"messages": ["hi"]}
    assert got.pending_writes == [("task-1", "messages", "pending")]
    assert [t.config["configurable"]["checkpoint_id"] for t in saver.list(config)] == [first["id"]]
    saver.copy_thread("t1", "t2")  # a fork of the thread's run, in the store
    copied = saver.get_tuple({"configurable": {"thread_id": "t2", "checkpoint_ns": ""}})
    assert copied is not None and copied.checkpoint["channel_values"] == {"messages": ["hi"]}


def test_a_thread_is_written_by_its_host_and_read_fresh_by_the_others(connect: Hosts) -> None:
    pytest.importorskip("langgraph")
    from in_mem.langgraph import InMemSaver
    from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint

    owner = InMemSaver(connect(host_id="worker-a"))
    reader = InMemSaver(connect(host_id="worker-b"))
    config = {"configurable": {"thread_id": "shared", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    for step in range(3):
        checkpoint = create_checkpoint(checkpoint, None, step)
        checkpoint["channel_values"] = {"step": step}
        checkpoint["channel_versions"] = {"step": str(step + 1)}
        stored = owner.put(config, checkpoint, {"step": step}, {"step": str(step + 1)})
        owner.put_writes(stored, [("step", step + 1)], f"task-{step}")
        # The other host reads the thread as its owner left it, every time.
        newest = reader.get_tuple(config)
        assert newest.checkpoint["channel_values"] == {"step": step}
        assert newest.pending_writes == [(f"task-{step}", "step", step + 1)]
    # Writing it is the owner's: another host is refused, and nothing is written.
    with pytest.raises(in_mem.NotOwner):
        reader.put_writes(stored, [("step", 99)], "intruder")
    assert owner.get_tuple(config).pending_writes == [("task-2", "step", 3)]


def test_two_hosts_creating_one_thread_at_once_create_it_once(
    connect: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("langgraph")
    from in_mem.langgraph import InMemSaver
    from langgraph.checkpoint.base import empty_checkpoint

    first = InMemSaver(connect(host_id="creator-a"))
    second = InMemSaver(connect(host_id="creator-b"))
    config = {"configurable": {"thread_id": "raced", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"step": 0}
    stored = first.put(config, checkpoint, {"step": 0}, {})
    # The second host looked for the thread (the cached lookup, the one under the creation
    # lock, and the count its new run's id comes from) just before the first created it. It must
    # not begin a second run for the thread: its run id is taken, and it finds the first's run.
    real_runs_of = second.threads._runs_of
    looks = []

    def stale_then_real(thread_id: str):  # type: ignore[no-untyped-def]
        looks.append(thread_id)
        return [] if len(looks) <= 3 else real_runs_of(thread_id)

    monkeypatch.setattr(second.threads, "_runs_of", stale_then_real)
    run = second.threads.get_or_create("raced")
    assert run.id == first.threads.get("raced").id and len(looks) == 4
    # So the thread is the first host's: the second reads its checkpoint and may not write.
    assert second.get_tuple(config).checkpoint["id"] == checkpoint["id"]
    with pytest.raises(in_mem.NotOwner):
        second.put_writes(stored, [("step", 1)], "task")
    assert len(list(first.list(config))) == 1


def test_two_hosts_copying_into_one_thread_at_once_make_one_copy(
    connect: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("langgraph")
    from in_mem.langgraph import InMemSaver
    from in_mem.langgraph._threads import thread_tag
    from langgraph.checkpoint.base import empty_checkpoint

    first = InMemSaver(connect(host_id="copier-a"))
    second = InMemSaver(connect(host_id="copier-b"))
    source = {"configurable": {"thread_id": "source", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"step": 0}
    first.put(source, checkpoint, {"step": 0}, {})
    assert first.threads.copy("source", "target")
    # The second host looked for "target" just before the first copied into it.
    real_runs_of = second.threads._runs_of
    looks = []

    def stale_once(thread_id: str):  # type: ignore[no-untyped-def]
        if thread_id == "target":
            looks.append(thread_id)
        return [] if looks == ["target"] and thread_id == "target" else real_runs_of(thread_id)

    monkeypatch.setattr(second.threads, "_runs_of", stale_once)
    with pytest.raises(ValueError, match="already has checkpoints"):
        second.threads.copy("source", "target")
    assert looks == ["target"]  # the stale look was the one the copy went by
    holders = [
        info
        for info in second.db.query_runs(tenant="langgraph")
        if info.metadata == {"langgraph_thread_id": "target"}
    ]
    assert len(holders) == 1 and holders[0].tags == [thread_tag("target")]
    target = {"configurable": {"thread_id": "target", "checkpoint_ns": ""}}
    assert second.get_tuple(target).checkpoint["id"] == checkpoint["id"]


def test_a_thread_whose_host_is_gone_is_taken_over_by_the_next_writer(connect: Hosts) -> None:
    pytest.importorskip("langgraph")
    from in_mem.langgraph import InMemSaver
    from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint

    config = {"configurable": {"thread_id": "restarted", "checkpoint_ns": ""}}
    first_host = connect(host_id="before-restart", lease_ttl=0.3)
    first = empty_checkpoint()
    first["channel_values"] = {"step": 0}
    first["channel_versions"] = {"step": "1"}
    InMemSaver(first_host).put(config, first, {"step": 0}, {"step": "1"})
    first_host.close()  # the process stops; its lease runs out
    after = InMemSaver(connect(host_id="after-restart"))
    second = create_checkpoint(first, None, 1)
    second["channel_values"] = {"step": 1}
    second["channel_versions"] = {"step": "2"}
    deadline = time.monotonic() + 10
    while True:
        try:
            after.put(config, second, {"step": 1}, {"step": "2"})
            break
        except in_mem.NotOwner:  # the old host's lease has not run out yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert after.get_tuple(config).checkpoint["channel_values"] == {"step": 1}
    assert [t.checkpoint["id"] for t in after.list(config)] == [second["id"], first["id"]]


def test_the_former_owner_of_a_taken_over_run_is_fenced(connect: Hosts) -> None:
    a, b = connect(host_id="former", lease_ttl=1.0), connect(host_id="new-owner")
    run = a.begin_run(agent=("acme", "app", "fenced"))
    run.kv.put("k", 1)
    assert run.kv.get("k") == 1
    b.take_over_run(run.id)  # a is alive: this waits out a's lease
    b.get_run(run.id).kv.put("k", 2)
    # Host a learned of the takeover meanwhile: it reads what b wrote, not its cache ...
    assert run.kv.get("k") == 2
    # ... and its write is refused (NotOwner here; Fenced by the store had it not learned yet).
    with pytest.raises((in_mem.Fenced, in_mem.NotOwner)) as refused:
        run.kv.put("k", 3)
    assert refused.value.run == str(run.id)
    assert b.get_run(run.id).kv.get("k") == 2


def test_the_langgraph_conformance_suite_passes_on_a_connected_database(connect: Hosts) -> None:
    pytest.importorskip("langgraph.checkpoint.conformance")
    from langgraph.checkpoint.conformance import checkpointer_test, validate
    from langgraph.checkpoint.conformance.capabilities import (
        BASE_CAPABILITIES,
        EXTENDED_CAPABILITIES,
    )

    from in_mem.langgraph import InMemSaver

    @checkpointer_test(name="InMemSaver on PostgreSQL")
    async def connected_saver() -> AsyncIterator[InMemSaver]:
        # A schema of its own per capability suite, as the suite asks of a factory.
        hosts = Hosts(connect.url)
        saver = InMemSaver(hosts(host_id="conformance"))
        try:
            yield saver
        finally:
            for db in hosts.open:
                db.close()

    report = asyncio.run(validate(connected_saver))
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    for cap in sorted(BASE_CAPABILITIES | EXTENDED_CAPABILITIES, key=lambda c: c.value):
        result = report.results[cap.value]
        assert result.passed is True, (cap.value, result.failures)


def test_the_langgraph_store_is_shared_between_hosts(connect: Hosts) -> None:
    pytest.importorskip("langgraph")
    from in_mem.langgraph import InMemStore

    first = InMemStore(connect(host_id="memory-a"))
    first.put(("users", "42"), "profile", {"name": "Ada", "rank": 3})
    first.put(("users", "43"), "profile", {"name": "Bo", "rank": 1})
    # Another host's session sees what was written before it began, and writes on its own.
    second = InMemStore(connect(host_id="memory-b"))
    assert second.get(("users", "42"), "profile").value == {"name": "Ada", "rank": 3}
    found = second.search(("users",), filter={"rank": {"$gte": 2}})
    assert [(i.namespace, i.value["name"]) for i in found] == [(("users", "42"), "Ada")]
    second.delete(("users", "43"), "profile")
    second.put(("users", "44"), "profile", {"name": "Cy", "rank": 2})
    # The first host's session began before those writes: it sees them once renewed.
    assert first.get(("users", "43"), "profile") is not None
    first.renew_session()
    assert first.get(("users", "43"), "profile") is None
    assert first.get(("users", "44"), "profile").value == {"name": "Cy", "rank": 2}
    assert sorted(first.list_namespaces()) == [("users", "42"), ("users", "44")]
