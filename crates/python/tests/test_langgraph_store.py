"""InMemStore, LangGraph's long-term memory on in-mem: put/get/delete, search with filters,
namespace listing, TTL, batches, a graph node using it, and items that survive a SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "langgraph.store.base", reason="langgraph is not installed (pip install 'in-mem[langgraph]')"
)

from conftest import child_env  # noqa: E402
from langgraph.store.base import GetOp, PutOp  # noqa: E402

import in_mem  # noqa: E402
from in_mem.langgraph import InMemStore  # noqa: E402
from in_mem.langgraph._threads import TENANT  # noqa: E402

WAIT_SECONDS = 120


@pytest.fixture
def store(db: in_mem.Database) -> InMemStore:
    return InMemStore(db)


def test_put_get_delete_keep_values_and_times(store: InMemStore) -> None:
    store.put(("users", "42"), "profile", {"name": "Ada", "tags": ["a", "b"], "n": 3})
    item = store.get(("users", "42"), "profile")
    assert item.value == {"name": "Ada", "tags": ["a", "b"], "n": 3}
    assert (item.namespace, item.key) == (("users", "42"), "profile")
    created = item.created_at
    store.put(("users", "42"), "profile", {"name": "Ada L."})
    again = store.get(("users", "42"), "profile")
    assert again.value == {"name": "Ada L."}
    assert again.created_at == created and again.updated_at >= created
    assert store.get(("users",), "profile") is None  # a namespace is matched whole
    store.delete(("users", "42"), "profile")
    assert store.get(("users", "42"), "profile") is None


def test_names_with_separators_stay_apart(store: InMemStore) -> None:
    odd = [("a\x02b",), ("a", "b"), ("a\x02",), ("a\x01", "\x02b"), ("ab",), ("a\x01\x02",)]
    for i, ns in enumerate(odd):
        store.put(ns, "k\x02\x00", {"i": i})
    for i, ns in enumerate(odd):
        assert store.get(ns, "k\x02\x00").value == {"i": i}
    assert sorted(store.list_namespaces()) == sorted(odd)
    assert [i.namespace for i in store.search(("a",))] == [("a", "b")]


def test_search_filters_by_prefix_values_and_operators(store: InMemStore) -> None:
    for i in range(6):
        store.put(
            ("docs", "u1" if i < 4 else "u2"),
            f"d{i}",
            {
                "kind": "note" if i % 2 else "task",
                "rank": i,
                "meta": {"lang": "en" if i < 3 else "fr"},
            },
        )
    store.put(("other",), "x", {"kind": "note", "rank": 1})
    keys = lambda items: [i.key for i in items]  # noqa: E731
    assert keys(store.search(("docs",), limit=100)) == [f"d{i}" for i in range(6)]
    assert keys(store.search(("docs", "u2"))) == ["d4", "d5"]
    assert keys(store.search(("docs",), filter={"kind": "note"})) == ["d1", "d3", "d5"]
    assert keys(store.search(("docs",), filter={"rank": {"$gte": 2, "$lt": 5}})) == [
        "d2",
        "d3",
        "d4",
    ]
    assert keys(
        store.search(("docs",), filter={"kind": {"$ne": "note"}, "meta": {"lang": "fr"}})
    ) == ["d4"]
    assert keys(store.search(("docs",), filter={"kind": "note"}, limit=1, offset=1)) == ["d3"]
    assert keys(store.search((), filter={"kind": "note", "rank": 1})) == ["d1", "x"]
    assert all(i.score is None for i in store.search(("docs",), query="ignored without an index"))


def test_list_namespaces_matches_prefixes_suffixes_and_depth(store: InMemStore) -> None:
    for ns in [("a", "x", "v1"), ("a", "y", "v1"), ("a", "y", "v2"), ("b", "x", "v1")]:
        store.put(ns, "k", {})
    assert store.list_namespaces(prefix=("a",)) == [
        ("a", "x", "v1"),
        ("a", "y", "v1"),
        ("a", "y", "v2"),
    ]
    assert store.list_namespaces(suffix=("v1",)) == [
        ("a", "x", "v1"),
        ("a", "y", "v1"),
        ("b", "x", "v1"),
    ]
    assert store.list_namespaces(prefix=("*", "x")) == [("a", "x", "v1"), ("b", "x", "v1")]
    assert store.list_namespaces(max_depth=2) == [("a", "x"), ("a", "y"), ("b", "x")]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "y", "v1"), ("a", "y", "v2")]


def test_a_batch_reads_before_its_writes_and_writes_atomically(store: InMemStore) -> None:
    results = store.batch(
        [
            PutOp(("b",), "k", {"v": 1}),
            GetOp(("b",), "k"),
            PutOp(("b",), "k", {"v": 2}),
            PutOp(("b",), "gone", {"v": 0}),
            PutOp(("b",), "gone", None),
        ]
    )
    assert results == [None, None, None, None, None]
    assert store.get(("b",), "k").value == {"v": 2}
    assert store.get(("b",), "gone") is None


def test_items_expire_and_reads_refresh_their_ttl(db: in_mem.Database) -> None:
    store = InMemStore(db, ttl={"default_ttl": 10.0, "refresh_on_read": True})
    store.put(("t",), "brief", {"v": 1}, ttl=0.001)  # 60 ms
    store.put(("t",), "default", {"v": 2})  # ten minutes
    store.put(("t",), "forever", {"v": 3}, ttl=None)
    deadline = time.monotonic() + WAIT_SECONDS
    while store.get(("t",), "brief", refresh_ttl=False) is not None:
        assert time.monotonic() < deadline, "an item with a 60 ms TTL never expired"
        time.sleep(0.05)
    assert [i.key for i in store.search(("t",))] == ["default", "forever"]

    session = store._session()
    key = next(k for k in session.kv.keys("i\x00") if k.endswith("default"))
    before = session.kv.get_versioned(key)
    assert before.ttl is not None and before.ttl.total_seconds() == pytest.approx(600)
    store.get(("t",), "default")  # refresh_on_read: written again with a fresh TTL
    after = session.kv.get_versioned(key)
    assert after.version > before.version and after.ttl == before.ttl
    store.get(("t",), "default", refresh_ttl=False)
    assert session.kv.get_versioned(key).version == after.version
    store.get(("t",), "forever")  # no TTL: nothing to refresh
    forever = next(k for k in session.kv.keys("i\x00") if k.endswith("forever"))
    assert session.kv.get_versioned(forever).ttl is None


def test_async_batches(store: InMemStore) -> None:
    async def main() -> None:
        await store.aput(("async",), "k", {"v": 1})
        assert (await store.aget(("async",), "k")).value == {"v": 1}
        assert [i.key for i in await store.asearch(("async",))] == ["k"]
        assert await store.alist_namespaces() == [("async",)]
        await store.adelete(("async",), "k")
        assert await store.aget(("async",), "k") is None

    asyncio.run(main())


def test_a_graph_node_reads_and_writes_the_store(db: in_mem.Database) -> None:
    from typing import TypedDict

    from langgraph.graph import START, StateGraph
    from langgraph.store.base import BaseStore

    from in_mem.langgraph import InMemSaver

    class State(TypedDict):
        user: str
        visits: int

    def remember(state: State, *, store: BaseStore) -> State:
        seen = store.get(("users", state["user"]), "visits")
        visits = (seen.value["n"] if seen else 0) + 1
        store.put(("users", state["user"]), "visits", {"n": visits})
        return {"visits": visits}

    g = StateGraph(State)
    g.add_node("remember", remember)
    g.add_edge(START, "remember")
    graph = g.compile(checkpointer=InMemSaver(db), store=InMemStore(db))
    assert (
        graph.invoke({"user": "ada", "visits": 0}, {"configurable": {"thread_id": "1"}})["visits"]
        == 1
    )
    assert (
        graph.invoke({"user": "ada", "visits": 0}, {"configurable": {"thread_id": "2"}})["visits"]
        == 2
    )


def test_items_survive_a_sigkill_and_old_sessions_are_cleared(db_path: Path) -> None:
    code = (
        "import sys\n"
        "from in_mem.langgraph import InMemStore\n"
        "s = InMemStore(sys.argv[1])\n"
        "s.put(('mem',), 'fact', {'text': 'the sky is blue'})\n"
        "print('stored', flush=True)\n"
        "sys.stdin.read()\n"
    )
    for _ in range(2):
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "stored"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=WAIT_SECONDS)
    with InMemStore(db_path) as store:
        assert store.get(("mem",), "fact").value == {"text": "the sky is blue"}
        sessions = store.db.query_runs(tenant=TENANT)
        assert [s.status for s in sessions] == ["active"]
