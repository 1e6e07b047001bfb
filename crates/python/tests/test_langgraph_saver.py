"""InMemSaver's behaviour beyond the conformance suite: copies that stay independent both ways,
deleting threads that have copies, prune keeping what the newest checkpoint needs, list's
filters, storage per checkpoint, names kept exactly, reopening after a close or a crash, two
savers on one database, and the async twins."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

pytest.importorskip(
    "langgraph.checkpoint.base",
    reason="langgraph is not installed (pip install 'in-mem[langgraph]')",
)

from conftest import child_env  # noqa: E402
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint  # noqa: E402

import in_mem  # noqa: E402
from in_mem.langgraph import InMemSaver  # noqa: E402
from in_mem.langgraph._threads import TENANT  # noqa: E402

WAIT_SECONDS = 120


def cfg(thread: str, ns: str = "", cid: Optional[str] = None) -> dict:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if cid is not None:
        conf["checkpoint_id"] = cid
    return {"configurable": conf}


class Thread:
    """Puts checkpoints on one thread and namespace the way LangGraph does: each a child of the
    last, with new versions only for the channels given."""

    def __init__(self, saver: InMemSaver, thread: str, ns: str = "") -> None:
        self.saver, self.thread, self.ns = saver, thread, ns
        self.parent: Optional[str] = None
        self.versions: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.ids: list[str] = []

    def put(self, step: int, changes: dict[str, Any], **metadata: Any) -> str:
        checkpoint: Checkpoint = empty_checkpoint()
        new_versions = {}
        for channel, value in changes.items():
            new_versions[channel] = self.saver.get_next_version(self.versions.get(channel), None)
            self.versions[channel] = new_versions[channel]
            self.values[channel] = value
        checkpoint["channel_values"] = dict(self.values)
        checkpoint["channel_versions"] = dict(self.versions)
        stored = self.saver.put(
            cfg(self.thread, self.ns, self.parent),
            checkpoint,
            {"source": "loop", "step": step, "parents": {}, **metadata},
            new_versions,
        )
        self.parent = stored["configurable"]["checkpoint_id"]
        self.ids.append(self.parent)
        return self.parent


def ids(saver: InMemSaver, config: Optional[dict], **kw: Any) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in saver.list(config, **kw)]


def live_thread_runs(db: in_mem.Database) -> list[in_mem.RunInfo]:
    return [i for i in db.query_runs(tenant=TENANT) if i.status in ("active", "interrupted")]


@pytest.fixture
def saver(db: in_mem.Database) -> InMemSaver:
    return InMemSaver(db)


def test_a_copy_and_its_source_never_see_each_others_later_checkpoints(saver: InMemSaver) -> None:
    src = Thread(saver, "src")
    for step in range(3):
        src.put(step, {"messages": [f"m{step}"]})
    saver.put_writes(cfg("src", cid=src.ids[-1]), [("messages", "pending")], "task-1")
    saver.copy_thread("src", "dst")

    dst = Thread(saver, "dst")
    dst.parent, dst.versions, dst.values = src.parent, dict(src.versions), dict(src.values)
    only_dst = dst.put(3, {"messages": ["dst"]})
    only_src = src.put(3, {"messages": ["src"]})

    assert ids(saver, cfg("dst")) == [only_dst] + src.ids[:3][::-1]
    assert ids(saver, cfg("src")) == [only_src] + src.ids[:3][::-1]
    assert saver.get_tuple(cfg("dst")).checkpoint["channel_values"]["messages"] == ["dst"]
    assert saver.get_tuple(cfg("src")).checkpoint["channel_values"]["messages"] == ["src"]
    copied = saver.get_tuple(cfg("dst", cid=src.ids[2]))
    assert copied.config["configurable"]["thread_id"] == "dst"
    assert copied.pending_writes == [("task-1", "messages", "pending")]
    # Deleting the source leaves the copy whole, and the other way round.
    saver.delete_thread("src")
    assert ids(saver, cfg("src")) == []
    assert ids(saver, cfg("dst")) == [only_dst] + src.ids[:3][::-1]
    assert saver.get_tuple(cfg("dst", cid=src.ids[0])).checkpoint["channel_values"] == {
        "messages": ["m0"]
    }


def test_copying_onto_a_thread_that_has_checkpoints_is_refused(saver: InMemSaver) -> None:
    Thread(saver, "a").put(0, {"x": 1})
    Thread(saver, "b").put(0, {"x": 2})
    with pytest.raises(ValueError, match="already has checkpoints"):
        saver.copy_thread("a", "b")
    assert saver.get_tuple(cfg("b")).checkpoint["channel_values"] == {"x": 2}


def test_deleting_threads_with_copies_deletes_each_run_once_nothing_reads_it(
    db: in_mem.Database, saver: InMemSaver
) -> None:
    Thread(saver, "root").put(0, {"x": 1})
    saver.copy_thread("root", "child")
    saver.copy_thread("child", "grandchild")
    assert len(live_thread_runs(db)) == 3

    saver.delete_thread("root")  # read by its copy: ended, kept
    saver.delete_thread("child")  # likewise
    assert {i.status for i in db.query_runs(tenant=TENANT)} == {"completed", "active"}
    assert saver.get_tuple(cfg("grandchild")).checkpoint["channel_values"] == {"x": 1}
    saver.delete_thread("grandchild")  # the last reader: all three go
    assert db.query_runs(tenant=TENANT) == []
    # A thread id can be used again after its deletion; it starts empty.
    Thread(saver, "root").put(0, {"y": 2})
    assert saver.get_tuple(cfg("root")).checkpoint["channel_values"] == {"y": 2}
    assert len(ids(saver, cfg("root"))) == 1


def test_prune_keeps_the_newest_checkpoint_with_every_blob_it_uses(
    db: in_mem.Database, saver: InMemSaver
) -> None:
    t = Thread(saver, "p")
    t.put(0, {"big": "B" * 1000, "counter": 0})
    for step in range(1, 5):
        t.put(step, {"counter": step})  # "big" never changes again
    saver.put_writes(cfg("p", cid=t.ids[-1]), [("counter", 99)], "task")
    sub = Thread(saver, "p", ns="sub|graph:1")
    sub.put(0, {"s": 1})
    sub.put(1, {"s": 2})

    saver.prune(["p"], strategy="keep_latest")
    assert ids(saver, cfg("p", "")) == [t.ids[-1]]
    assert ids(saver, cfg("p", "sub|graph:1")) == [sub.ids[-1]]
    newest = saver.get_tuple(cfg("p"))
    assert newest.checkpoint["channel_values"] == {"big": "B" * 1000, "counter": 4}
    assert newest.pending_writes == [("task", "counter", 99)]
    # Only the blobs the survivors use are left: big@1, counter@5 in "", s@2 in the subgraph.
    run = saver.threads.get("p")
    assert len([k for k in run.kv.keys() if k.startswith("b\x00")]) == 3
    saver.prune(["p"], strategy="delete")
    assert saver.get_tuple(cfg("p")) is None
    with pytest.raises(ValueError, match="unknown prune strategy"):
        saver.prune(["p"], strategy="keep_oldest")


def test_a_checkpoint_stores_only_the_channels_that_changed(saver: InMemSaver) -> None:
    t = Thread(saver, "grow")
    t.put(0, {"document": "D" * 100_000, "step": 0})
    for step in range(1, 20):
        t.put(step, {"step": step})
    run = saver.threads.get("grow")
    blobs = [k for k in run.kv.keys() if k.startswith("b\x00")]
    assert len(blobs) == 1 + 20  # one document blob, twenty step blobs
    checkpoint_bytes = sum(len(v) for _, v in run.kv.list("c\x00"))
    assert checkpoint_bytes < 20 * 2_000  # no checkpoint holds the document
    for i, cid in enumerate(t.ids):
        values = saver.get_tuple(cfg("grow", cid=cid)).checkpoint["channel_values"]
        assert values == {"document": "D" * 100_000, "step": i}


def test_list_filters_by_metadata_before_and_limit_across_threads(saver: InMemSaver) -> None:
    a, b = Thread(saver, "list-a"), Thread(saver, "list-b")
    for step in range(4):
        a.put(step, {"v": step}, source="input" if step == 0 else "loop", owner="ann")
        b.put(step, {"v": step}, owner="bob")
    assert ids(saver, cfg("list-a")) == a.ids[::-1]
    assert ids(saver, cfg("list-a"), limit=2) == a.ids[::-1][:2]
    assert ids(saver, cfg("list-a"), before=cfg("list-a", cid=a.ids[2])) == a.ids[:2][::-1]
    assert ids(saver, cfg("list-a"), before=cfg("list-a", cid=a.ids[3]), limit=1) == [a.ids[2]]
    assert ids(saver, cfg("list-a"), filter={"source": "input"}) == [a.ids[0]]
    assert ids(saver, cfg("list-a"), filter={"owner": "bob"}) == []
    assert ids(saver, None, filter={"owner": "bob"}) == b.ids[::-1]
    assert ids(saver, None, filter={"step": 2}) == [a.ids[2], b.ids[2]]
    assert ids(saver, None, filter={"step": 2}, limit=1) == [a.ids[2]]
    assert ids(saver, cfg("list-a", cid=a.ids[1])) == [a.ids[1]]
    assert ids(saver, cfg("list-a", ns="no-such-namespace")) == []


def test_names_are_kept_exactly(saver: InMemSaver) -> None:
    thread = "ü" * 300 + "\x00|:/"  # longer than a run tag or agent name may be
    for ns in ["", "a|b:c", "with\x00nul", "with\x01soh", "\x01\x00\x01\x02"]:
        t = Thread(saver, thread, ns=ns)
        t.put(0, {"ns": ns})
        got = saver.get_tuple(cfg(thread, ns))
        assert got.config == cfg(thread, ns, t.ids[0])
        assert got.checkpoint["channel_values"] == {"ns": ns}
    every_namespace = {"configurable": {"thread_id": thread}}
    assert len(list(saver.list(every_namespace))) == 5
    assert {t.config["configurable"]["checkpoint_ns"] for t in saver.list(every_namespace)} == {
        "",
        "a|b:c",
        "with\x00nul",
        "with\x01soh",
        "\x01\x00\x01\x02",
    }
    assert saver.get_tuple(cfg(thread[:-1], "")) is None


def test_two_savers_on_one_database_see_the_same_threads(db: in_mem.Database) -> None:
    first, second = InMemSaver(db), InMemSaver(db)
    Thread(first, "shared").put(0, {"x": 1})
    assert second.get_tuple(cfg("shared")).checkpoint["channel_values"] == {"x": 1}
    first.delete_thread("shared")
    assert second.get_tuple(cfg("shared")) is None
    Thread(second, "shared").put(0, {"x": 2})  # second's cached run has ended: looked up afresh
    assert first.get_tuple(cfg("shared")).checkpoint["channel_values"] == {"x": 2}
    assert len(live_thread_runs(db)) == 1
    other_app = InMemSaver(db, app="elsewhere")
    assert other_app.get_tuple(cfg("shared")) is None


def test_threads_continue_after_a_close_and_after_a_sigkill(db_path: Path) -> None:
    with InMemSaver(db_path) as saver:
        t = Thread(saver, "long")
        t.put(0, {"x": 0})
    with InMemSaver(db_path) as saver:  # the run was left active: it is resumed
        assert saver.get_tuple(cfg("long")).checkpoint["channel_values"] == {"x": 0}
        t.saver = saver
        t.put(1, {"x": 1})
    code = (
        "import sys\n"
        "from in_mem.langgraph import InMemSaver\n"
        "from langgraph.checkpoint.base import empty_checkpoint\n"
        "s = InMemSaver(sys.argv[1])\n"
        "cp = empty_checkpoint(); cp['channel_values'] = {'x': 2}; cp['channel_versions'] = {'x': '3'}\n"
        "c = s.put({'configurable': {'thread_id': 'long', 'checkpoint_ns': '', 'checkpoint_id': sys.argv[2]}}, cp, {'step': 2}, {'x': '3'})\n"
        "print(c['configurable']['checkpoint_id'], flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(db_path), t.ids[-1]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(),
        text=True,
    )
    try:
        killed_id = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT_SECONDS)
    with InMemSaver(db_path) as saver:
        newest = saver.get_tuple(cfg("long"))
        assert newest.config["configurable"]["checkpoint_id"] == killed_id
        assert newest.checkpoint["channel_values"] == {"x": 2}
        assert newest.parent_config == cfg("long", "", t.ids[-1])
        assert ids(saver, cfg("long")) == [killed_id] + t.ids[::-1]
        # Read as it is; resumed by the first write, which goes on from the killed checkpoint.
        assert saver.threads.get("long").status == "interrupted"
        t.saver, t.parent, t.versions = saver, killed_id, {"x": "3"}
        t.put(3, {"x": 3})
        assert saver.threads.get("long").status == "active"
        assert saver.get_tuple(cfg("long")).parent_config == cfg("long", "", killed_id)


def test_delete_for_runs_keeps_the_blobs_other_checkpoints_use(saver: InMemSaver) -> None:
    t = Thread(saver, "runs")
    t.put(0, {"a": "kept", "b": 0}, run_id="r1")
    t.put(1, {"b": 1}, run_id="r2")
    t.put(2, {"b": 2}, run_id="r1")
    saver.delete_for_runs(["r1"])
    assert ids(saver, cfg("runs")) == [t.ids[1]]
    assert saver.get_tuple(cfg("runs")).checkpoint["channel_values"] == {"a": "kept", "b": 1}


def test_the_async_twins_match_the_sync_calls(saver: InMemSaver) -> None:
    async def main() -> None:
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"x": 1}
        checkpoint["channel_versions"] = {"x": "1"}
        stored = await saver.aput(cfg("async"), checkpoint, {"step": 0}, {"x": "1"})
        await saver.aput_writes(stored, [("x", 2)], "task")
        got = await saver.aget_tuple(cfg("async"))
        assert got.checkpoint["channel_values"] == {"x": 1}
        assert got.pending_writes == [("task", "x", 2)]
        assert [t.config async for t in saver.alist(cfg("async"))] == [stored]
        await saver.acopy_thread("async", "async-copy")
        await saver.aprune(["async"], strategy="keep_latest")
        await saver.adelete_thread("async")
        assert await saver.aget_tuple(cfg("async")) is None
        assert (await saver.aget_tuple(cfg("async-copy"))).config == cfg(
            "async-copy", "", checkpoint["id"]
        )
        await saver.adelete_for_runs(["none"])

    asyncio.run(main())


def test_bytearray_values_are_stored_as_the_serializer_gives_them(saver: InMemSaver) -> None:
    # LangGraph's serializer hands a bytearray over as it is, not as bytes.
    t = Thread(saver, "raw")
    t.put(0, {"blob": bytearray(b"\x00\x01raw"), "n": 0})
    saver.put_writes(cfg("raw", cid=t.ids[0]), [("blob", bytearray(b"pending"))], "task")
    got = saver.get_tuple(cfg("raw"))
    assert got.checkpoint["channel_values"] == {"blob": bytearray(b"\x00\x01raw"), "n": 0}
    assert got.pending_writes == [("task", "blob", bytearray(b"pending"))]


def test_values_larger_than_an_in_mem_value_are_stored_in_parts(saver: InMemSaver) -> None:
    big = "B" * (9 << 20)  # over two 4 MiB in-mem values
    t = Thread(saver, "big")
    t.put(0, {"doc": big, "n": 0})
    saver.put_writes(cfg("big", cid=t.ids[0]), [("doc", "W" * (5 << 20))], "task")
    # The same task writing again keeps what is stored, stored in parts or not.
    saver.put_writes(cfg("big", cid=t.ids[0]), [("doc", "V" * (5 << 20))], "task")
    t.put(1, {"doc": "small now", "n": 1})
    first = saver.get_tuple(cfg("big", cid=t.ids[0]))
    assert first.checkpoint["channel_values"] == {"doc": big, "n": 0}
    assert first.pending_writes == [("task", "doc", "W" * (5 << 20))]
    assert [tup.checkpoint["channel_values"]["n"] for tup in saver.list(cfg("big"))] == [1, 0]
    run = saver.threads.get("big")
    assert len(run.kv.keys("x\x00")) == 3 + 2  # the document's parts, the write's parts
    # Pruning the first checkpoint deletes its big blob and its write, parts and all.
    saver.prune(["big"], strategy="keep_latest")
    assert run.kv.keys("x\x00") == []
    assert saver.get_tuple(cfg("big")).checkpoint["channel_values"] == {"doc": "small now", "n": 1}


def test_a_tasks_writes_are_one_value_and_a_replaced_value_leaves_no_parts(
    saver: InMemSaver,
) -> None:
    from in_mem.langgraph import _keys as K

    t = Thread(saver, "task-value")
    cid = t.put(0, {"n": 0})
    saver.put_writes(cfg("task-value", cid=cid), [("a", 1), ("b", 2), ("c", 3)], "task", "path")
    run = saver.threads.get("task-value")
    assert run.kv.keys(K.prefix(K.WRITE)) == [K.key(K.WRITE, "", cid, "task")]
    # A special channel's write replaces the stored one; stored in parts, then not.
    saver.put_writes(cfg("task-value", cid=cid), [("__error__", "E" * (5 << 20))], "task", "path")
    assert len(run.kv.keys("x\x00")) == 2
    saver.put_writes(cfg("task-value", cid=cid), [("__error__", "small")], "task", "path")
    assert run.kv.keys("x\x00") == []
    assert saver.get_tuple(cfg("task-value")).pending_writes == [
        ("task", "__error__", "small"),
        ("task", "a", 1),
        ("task", "b", 2),
        ("task", "c", 3),
    ]


def test_records_and_writes_are_packed_as_msgpack_packs_them(saver: InMemSaver) -> None:
    """The native side writes records and a task's writes straight into msgpack; each must be
    byte for byte what msgpack itself makes of the same fields (its most compact forms), with
    lengths on every side of the one-byte, two-byte and four-byte headers, and a negative write
    index."""
    import ormsgpack

    from in_mem.langgraph import _keys as K

    t = Thread(saver, "packed")
    cid = t.put(0, {"short": "s", "long": "L" * 70_000, "empty": ""})
    writes = [
        ("__error__", "e" * 300),
        ("x" * 40, b"\x00" * 70_000),
        ("n", -(2**40)),
    ]
    saver.put_writes(cfg("packed", cid=cid), writes, "t" * 33, "p" * 256)
    saver.put_writes(cfg("packed", cid=cid), [("big", 1)], "t" * 33, "p" * 256)
    run = saver.threads.get("packed")
    record = run.kv.get(K.key(K.CHECKPOINT, "", cid))
    task = run.kv.get(K.key(K.WRITE, "", cid, "t" * 33))
    for packed in (record, task):
        assert packed == ormsgpack.packb(ormsgpack.unpackb(packed))
    fields = ormsgpack.unpackb(task)
    # Indexes: the error's (a special channel's, negative), then each write's place in its call.
    assert [(w[0], w[3]) for w in fields[2]] == [
        ("__error__", -1),
        ("x" * 40, 1),
        ("n", 2),
        ("big", 0),
    ]


def test_writes_an_older_saver_stored_one_per_value_are_read_and_kept(saver: InMemSaver) -> None:
    """Savers before a task's writes were one value stored each write under the task's key and
    its index: those are read, kept unless a write replaces them, and deleted with the rest."""
    import ormsgpack

    from in_mem import _native
    from in_mem.langgraph import _keys as K

    t = Thread(saver, "per-write")
    cid = t.put(0, {"n": 0})
    run = saver.threads.get("per-write")

    def older(idx: int, channel: str, value: Any) -> tuple[str, bytes]:
        type_name, data = saver.serde.dumps_typed(value)
        row = ["task", channel, type_name, data, "path", idx]
        return K.key(K.WRITE, "", cid, "task", idx), ormsgpack.packb(row)

    _native._commit_writes(saver.db, run, [older(0, "a", "old"), older(-1, "__error__", "old")])
    assert saver.get_tuple(cfg("per-write")).pending_writes == [
        ("task", "__error__", "old"),
        ("task", "a", "old"),
    ]
    writes = [("a", "new"), ("b", "new"), ("__error__", "new")]
    saver.put_writes(cfg("per-write", cid=cid), writes, "task", "path")
    for got in (saver.get_tuple(cfg("per-write")), next(iter(saver.list(cfg("per-write"))))):
        assert got.pending_writes == [
            ("task", "__error__", "new"),
            ("task", "a", "old"),
            ("task", "b", "new"),
        ]
    assert run.kv.keys(K.prefix(K.WRITE)) == [
        K.key(K.WRITE, "", cid, "task"),
        K.key(K.WRITE, "", cid, "task", 0),
    ]
    t.put(1, {"n": 1})
    saver.prune(["per-write"], strategy="keep_latest")
    assert run.kv.keys(K.prefix(K.WRITE)) == []


def test_threads_writing_at_once_to_an_interrupted_thread_resume_it_once(db_path: Path) -> None:
    import threading

    for round_ in range(5):
        with InMemSaver(db_path) as saver:  # each reopen finds the thread interrupted
            if round_ == 0:
                Thread(saver, "busy").put(0, {"x": 0})
            cid = saver.get_tuple(cfg("busy")).config["configurable"]["checkpoint_id"]
            start = threading.Barrier(8)
            errors: list[BaseException] = []

            def write(task: int) -> None:
                start.wait()
                try:
                    saver.put_writes(cfg("busy", cid=cid), [("x", task)], f"task-{round_}-{task}")
                except BaseException as e:  # noqa: BLE001 - collected for the assertion
                    errors.append(e)

            pool = [threading.Thread(target=write, args=(t,)) for t in range(8)]
            for t in pool:
                t.start()
            for t in pool:
                t.join(timeout=WAIT_SECONDS)
            assert errors == []
            assert len(saver.get_tuple(cfg("busy")).pending_writes) == 8 * (round_ + 1)


def test_saver_keys_keep_every_character_and_refuse_what_is_not_a_key() -> None:
    from in_mem.langgraph import _keys as K

    parts = ["", "a", "outer|inner:3", "\x00", "\x01", "\x01\x02\x00x", "é\x00\x01"]
    assert K.split(K.key(K.CHECKPOINT, *parts)) == parts
    assert K.key(K.WRITE, "ns", "id", "task", 3).startswith(K.prefix(K.WRITE, "ns", "id"))
    assert not K.key(K.WRITE, "ns", "id2").startswith(K.prefix(K.WRITE, "ns", "id"))
    for not_a_key in ["c", "cx", "c\x00ab", "c\x00\x01\x03\x00"]:
        with pytest.raises(ValueError, match="is not a saver key"):
            K.split(not_a_key)


def test_the_newest_pointer_never_moves_back_to_an_older_checkpoint(saver: InMemSaver) -> None:
    t = Thread(saver, "order")
    first = t.put(0, {"n": 0})
    second = t.put(1, {"n": 1})
    # LangGraph may store an older checkpoint again (a copy, a replay): the newest stays newest.
    again = saver.get_tuple(cfg("order", cid=first))
    saver.put(cfg("order"), again.checkpoint, again.metadata, {})
    assert saver.get_tuple(cfg("order")).config == cfg("order", "", second)


def test_checkpoints_whose_records_name_no_blobs_read_back_the_same(saver: InMemSaver) -> None:
    """Records written before they named their blobs (seven fields) are read through the
    checkpoint's `channel_versions`, with the same answer."""
    import ormsgpack

    from in_mem import _native
    from in_mem.langgraph import _keys as K

    t = Thread(saver, "old")
    t.put(0, {"a": "one", "b": [1, 2]})
    cid = t.put(1, {"b": [3]})
    saver.put_writes(cfg("old", cid=cid), [("a", "pending")], "task")
    before = saver.get_tuple(cfg("old", cid=cid))
    run = saver.threads.get("old")
    key = K.key(K.CHECKPOINT, "", cid)
    fields = ormsgpack.unpackb(run.kv.get(key))
    assert len(fields) == 8 and sorted(fields[7]) == [
        ["a", K.key(K.BLOB, "", "a", t.versions["a"])],
        ["b", K.key(K.BLOB, "", "b", t.versions["b"])],
    ]
    _native._commit_writes(saver.db, run, [(key, ormsgpack.packb(fields[:7]))])
    for config in (cfg("old", cid=cid), cfg("old")):
        after = saver.get_tuple(config)
        assert after.checkpoint == before.checkpoint
        assert after.checkpoint["channel_values"] == {"a": "one", "b": [3]}
        assert after.pending_writes == before.pending_writes == [("task", "a", "pending")]
        assert after.metadata == before.metadata and after.parent_config == before.parent_config


def test_an_empty_checkpoint_id_names_the_newest_checkpoint(saver: InMemSaver) -> None:
    t = Thread(saver, "empty-id")
    t.put(0, {"n": 0})
    newest = t.put(1, {"n": 1})
    for conf in ({"thread_id": "empty-id", "checkpoint_id": ""}, {"thread_id": "empty-id"}):
        got = saver.get_tuple({"configurable": conf})
        assert got is not None and got.config == cfg("empty-id", "", newest)


def test_a_stored_value_the_saver_did_not_write_is_an_error_not_a_gap(saver: InMemSaver) -> None:
    from in_mem import _native
    from in_mem.langgraph import _keys as K

    t = Thread(saver, "damaged")
    cid = t.put(0, {"a": "one"})
    run = saver.threads.get("damaged")
    _native._commit_writes(saver.db, run, [(K.key(K.BLOB, "", "a", t.versions["a"]), 42)])
    with pytest.raises(RuntimeError, match="is not bytes"):
        saver.get_tuple(cfg("damaged", cid=cid))


def test_a_put_never_lands_between_a_prunes_reads_and_its_deletes(
    saver: InMemSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A put from another thread while prune works: it waits for prune, and stays."""
    import threading

    from in_mem.langgraph import saver as saver_module

    t = Thread(saver, "busy")
    for step in range(3):
        t.put(step, {"n": step})
    late = Thread(saver, "busy")
    late.parent, late.versions, late.values = t.parent, dict(t.versions), dict(t.values)
    putter = threading.Thread(target=lambda: late.put(3, {"n": 3}))
    real_whole = saver_module.K.whole

    def whole_then_put(*args: Any) -> Any:
        rows = real_whole(*args)
        if not putter.is_alive() and putter.ident is None:
            putter.start()
            putter.join(0.5)  # without the lock, the put lands here, inside the prune
        return rows

    monkeypatch.setattr(saver_module.K, "whole", whole_then_put)
    saver.prune(["busy"], strategy="keep_latest")
    putter.join(WAIT_SECONDS)
    assert not putter.is_alive()
    newest = saver.get_tuple(cfg("busy"))
    assert newest is not None and newest.config == cfg("busy", "", late.ids[0])
    assert newest.checkpoint["channel_values"] == {"n": 3}
