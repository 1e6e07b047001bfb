"""LangGraph checkpointers side by side: in-mem's InMemSaver, SqliteSaver and InMemorySaver.

    python benches/langgraph/bench.py                 # 200 threads x 20 steps, 3 rounds (~2 min)
    python benches/langgraph/bench.py --quick         # 20 threads x 5 steps, 1 round
    python benches/langgraph/bench.py --kv-get 1000000  # and the binding's cost per KV get

Needs `pip install ./crates/python langgraph langgraph-checkpoint-sqlite`. Results are in
docs/PERFORMANCE.md ("Python and LangGraph").

The workload: one StateGraph of `--steps` nodes in a row (plain Python, no model), each
appending a ~100-byte message to `messages` (a list channel with the `operator.add` reducer,
so its value grows every step), setting `step`, and leaving `context` (2 KB, set by the input)
alone. It runs on `--threads` threads once, through a recording InMemorySaver; then every saver
gets exactly the recorded calls, timed alone (no graph in the loop):

- put: every `put` (and the `put_writes` between them, as the graph made them), in order;
  checkpoints per second counts the puts.
- get_tuple: every checkpoint by its id, in one shuffled order shared by all savers.
- list: each thread's whole history (`list` of the thread), checkpoints listed per second.
- bytes on disk: the files in the saver's directory after the puts and a close.

Each saver starts on a fresh directory, set up before the clock starts (SqliteSaver's
`setup()`, which creates its tables; InMemSaver's first commit, which preallocates the log's
first segment).
- graph: the same graph run end to end through the saver (LangGraph's own work included).

Durability: InMemSaver "batched" (every commit written to the OS before it returns; synced
every 100 ms) beside SqliteSaver in WAL mode with synchronous=NORMAL (every commit written to
the WAL file, synced at WAL checkpoints): both lose nothing when the process is killed and may
lose the last moments on power loss. InMemSaver "strict" (an fdatasync covers every commit)
beside SqliteSaver WAL synchronous=FULL (fsync of the WAL at every commit). InMemorySaver (a
dict) keeps nothing. Each figure is the median of `--rounds` rounds; in each round the savers
run one after another, in the same order.
"""

from __future__ import annotations

import argparse
import copy
import json
import operator
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

import in_mem
from in_mem.langgraph import InMemSaver


class State(TypedDict, total=False):
    context: str
    messages: Annotated[list[str], operator.add]
    step: int


def build_graph(steps: int) -> StateGraph:
    g = StateGraph(State)
    previous = START
    for i in range(steps):

        def node(state: State, i: int = i) -> State:
            return {"messages": [f"step {i:03d}: " + "m" * 88], "step": i}

        g.add_node(f"n{i}", node)
        g.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    g.add_edge(previous, END)
    return g


def thread_ids(threads: int) -> list[str]:
    return [f"thread-{t:05d}" for t in range(threads)]


def graph_input() -> State:
    return {"context": "c" * 2048, "messages": [], "step": -1}


class Recorder(InMemorySaver):
    """InMemorySaver that also keeps every put and put_writes call, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple]] = []

    def put(self, config, checkpoint, metadata, new_versions):  # type: ignore[no-untyped-def]
        self.calls.append(("put", copy.deepcopy((config, checkpoint, metadata, new_versions))))
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):  # type: ignore[no-untyped-def]
        self.calls.append(("put_writes", copy.deepcopy((config, writes, task_id, task_path))))
        return super().put_writes(config, writes, task_id, task_path)


def record(steps: int, threads: int) -> tuple[list[tuple[str, tuple]], list[tuple[str, str]]]:
    """The calls the graph makes on `threads` threads, and every (thread, checkpoint id)."""
    saver = Recorder()
    graph = build_graph(steps).compile(checkpointer=saver)
    for tid in thread_ids(threads):
        graph.invoke(graph_input(), {"configurable": {"thread_id": tid}})
    checkpoints = [
        (args[0]["configurable"]["thread_id"], args[1]["id"])
        for kind, args in saver.calls
        if kind == "put"
    ]
    return saver.calls, checkpoints


# ----- the savers ----------------------------------------------------------------------------------


class Subject:
    """One saver under test: how to make it in a directory, and how to close it."""

    def __init__(self, name: str, make: Callable[[str], Any], close: Callable[[Any], None]) -> None:
        self.name, self.make, self.close = name, make, close


def sqlite_saver(synchronous: str) -> Callable[[str], Any]:
    def make(directory: str) -> Any:
        conn = sqlite3.connect(
            os.path.join(directory, "checkpoints.sqlite"), check_same_thread=False
        )
        saver = SqliteSaver(conn)
        saver.setup()  # journal_mode=WAL
        conn.execute(f"PRAGMA synchronous={synchronous}")
        return saver

    return make


def in_mem_saver(durability: str) -> Callable[[str], Any]:
    def make(directory: str) -> Any:
        saver = InMemSaver(os.path.join(directory, "db"), durability=durability)
        # The first commit of a new database preallocates its first log segment (~20 ms here);
        # like SqliteSaver.setup() creating its tables, that happens before the clock starts.
        warmup = saver.db.begin_run(("bench", "warmup", "warmup"))
        warmup.end()
        warmup.delete()
        return saver

    return make


SUBJECTS = [
    Subject("InMemSaver batched", in_mem_saver("batched"), lambda s: s.close()),
    Subject("SqliteSaver WAL sync=NORMAL", sqlite_saver("NORMAL"), lambda s: s.conn.close()),
    Subject("InMemSaver strict", in_mem_saver("strict"), lambda s: s.close()),
    Subject("SqliteSaver WAL sync=FULL", sqlite_saver("FULL"), lambda s: s.conn.close()),
    Subject("InMemorySaver (dict)", lambda d: InMemorySaver(), lambda s: None),
]


def dir_bytes(directory: str) -> int:
    total = 0
    for root, _, files in os.walk(directory):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def measure(
    subject: Subject,
    calls: list[tuple[str, tuple]],
    checkpoints: list[tuple[str, str]],
    threads: list[str],
    steps: int,
    graph_threads: int,
) -> dict[str, float]:
    directory = tempfile.mkdtemp(prefix="lg-bench-")
    try:
        saver = subject.make(directory)
        puts = sum(1 for kind, _ in calls if kind == "put")
        replay = [copy.deepcopy(c) for c in calls]  # savers may keep what they are given
        start = time.perf_counter()
        for kind, args in replay:
            if kind == "put":
                saver.put(*args)
            else:
                saver.put_writes(*args)
        put_s = time.perf_counter() - start

        start = time.perf_counter()
        for tid, cid in checkpoints:
            got = saver.get_tuple(
                {"configurable": {"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": cid}}
            )
            assert got is not None and got.checkpoint["id"] == cid
        get_s = time.perf_counter() - start

        start = time.perf_counter()
        listed = 0
        for tid in threads:
            listed += sum(1 for _ in saver.list({"configurable": {"thread_id": tid}}))
        list_s = time.perf_counter() - start
        assert listed == puts, (listed, puts)

        graph = build_graph(steps).compile(checkpointer=saver)
        start = time.perf_counter()
        for i in range(graph_threads):
            graph.invoke(graph_input(), {"configurable": {"thread_id": f"graph-{i}"}})
        graph_s = time.perf_counter() - start
        graph_checkpoints = graph_threads * (steps + 2)

        subject.close(saver)
        return {
            "put": puts / put_s,
            "get_tuple": len(checkpoints) / get_s,
            "list": listed / list_s,
            "bytes": float(dir_bytes(directory)),
            "graph": graph_checkpoints / graph_s,
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def in_mem_data_bytes(calls: list[tuple[str, tuple]]) -> tuple[int, int]:
    """InMemSaver's live data after the puts: its checkpoint file's size, and the log's bytes."""
    directory = tempfile.mkdtemp(prefix="lg-bench-")
    try:
        saver = InMemSaver(os.path.join(directory, "db"))
        for kind, args in copy.deepcopy(calls):
            getattr(saver, kind)(*args)
        info = saver.db.checkpoint()
        saver.close()
        return int(info["bytes"]), dir_bytes(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ----- the binding's cost per KV get ------------------------------------------------------------


def kv_get_cost(keys: int, gets: int) -> dict[str, float]:
    """Seconds per `run.kv.get` of a random key among `keys` (24-byte keys, 100-byte values, as
    the Rust benchmark `get_random_1m` has them), and per `dict.get` in the same Python loop."""
    directory = tempfile.mkdtemp(prefix="lg-bench-kv-")
    try:
        db = in_mem.Database(os.path.join(directory, "db"), durability="async")
        writer = db.begin_run()
        value = b"\xab" * 100
        names = [b"key:%020d" % i for i in range(keys)]
        for start in range(0, keys, 10_000):

            def load(
                tx: in_mem.Transaction, chunk: list[bytes] = names[start : start + 10_000]
            ) -> None:
                for k in chunk:
                    tx.kv.put(k, value)

            writer.transaction_with_retry(load)
        reader = db.begin_run()
        rng = random.Random(11)
        order = [names[rng.randrange(keys)] for _ in range(gets)]
        get = reader.kv.get
        start = time.perf_counter()
        for k in order:
            get(k)
        kv_s = (time.perf_counter() - start) / gets
        table = dict.fromkeys(names, value)
        dget = table.get
        start = time.perf_counter()
        for k in order:
            dget(k)
        dict_s = (time.perf_counter() - start) / gets
        db.close()
        return {"kv_get_us": kv_s * 1e6, "dict_get_us": dict_s * 1e6}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ----- the report -----------------------------------------------------------------------------------


def rate(x: float) -> str:
    return f"{x / 1e3:.1f}k/s" if x < 1e6 else f"{x / 1e6:.2f}M/s"


def size(x: float) -> str:
    return f"{x / 2**20:.1f} MiB" if x >= 2**20 else f"{x / 2**10:.0f} KiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--graph-threads", type=int, default=20, help="threads run end to end per saver"
    )
    ap.add_argument(
        "--kv-get", type=int, default=0, metavar="KEYS", help="also measure KV get over KEYS keys"
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write every round's figures here")
    args = ap.parse_args()
    if args.quick:
        args.threads, args.steps, args.rounds, args.graph_threads = 20, 5, 1, 2

    print(f"python {sys.version.split()[0]}, load average {os.getloadavg()}, {os.cpu_count()} CPUs")
    calls, checkpoints = record(args.steps, args.threads)
    random.Random(7).shuffle(checkpoints)
    threads = thread_ids(args.threads)
    print(
        f"{args.threads} threads x {args.steps} steps: {len(checkpoints)} checkpoints, "
        f"{sum(1 for k, _ in calls if k == 'put_writes')} put_writes calls"
    )

    rounds: dict[str, list[dict[str, float]]] = {s.name: [] for s in SUBJECTS}
    for r in range(args.rounds):
        for subject in SUBJECTS:
            figures = measure(subject, calls, checkpoints, threads, args.steps, args.graph_threads)
            rounds[subject.name].append(figures)
            print(
                f"  round {r + 1} {subject.name}: "
                + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()),
                flush=True,
            )

    med = {
        name: {k: statistics.median(f[k] for f in fs) for k in fs[0]} for name, fs in rounds.items()
    }
    print()
    print("| saver | put | get_tuple | list | bytes on disk | graph end to end |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, m in med.items():
        on_disk = "in memory only" if name.startswith("InMemorySaver") else size(m["bytes"])
        print(
            f"| {name} | {rate(m['put'])} | {rate(m['get_tuple'])} | {rate(m['list'])} | {on_disk} | {rate(m['graph'])} |"
        )
    print()
    b, s = med["InMemSaver batched"], med["SqliteSaver WAL sync=NORMAL"]
    st, sf = med["InMemSaver strict"], med["SqliteSaver WAL sync=FULL"]
    d = med["InMemorySaver (dict)"]
    print(
        f"put, InMemSaver batched / SqliteSaver NORMAL: {b['put'] / s['put']:.2f}x (target >= 3x)"
    )
    print(f"put, InMemSaver strict / SqliteSaver FULL: {st['put'] / sf['put']:.2f}x (target >= 3x)")
    print(
        f"get_tuple, InMemorySaver / InMemSaver batched: {d['get_tuple'] / b['get_tuple']:.2f}x (target <= 1.5x)"
    )
    print(f"list, InMemorySaver / InMemSaver batched: {d['list'] / b['list']:.2f}x")
    data, files = in_mem_data_bytes(calls)
    print(
        f"InMemSaver's live data (its checkpoint file): {size(data)}; its directory then: {size(files)}"
    )
    extra: dict[str, Any] = {}
    if args.kv_get:
        extra = kv_get_cost(args.kv_get, min(args.kv_get, 1_000_000))
        print(
            f"KV get over {args.kv_get} keys: run.kv.get {extra['kv_get_us']:.3f} us; "
            f"dict.get in the same loop {extra['dict_get_us']:.3f} us"
        )
    print(f"load average at the end {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"args": vars(args), "rounds": rounds, "median": med, "kv": extra}, f, indent=1
            )


if __name__ == "__main__":
    main()
