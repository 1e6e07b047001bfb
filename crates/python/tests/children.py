"""Workloads that the tests run in a child process: `python children.py MODE PATH`.

- `strict-writer`: opens PATH in Strict mode, begins a run and prints its id, then commits
  `k000000`, `k000001` ... forever, printing each index once its commit has returned (so every
  printed index is acknowledged). The parent SIGKILLs it.
- `hold-open`: opens PATH, prints "open", and waits for its standard input to close.
- `threads-strict`: opens PATH in Strict mode and has 8 threads commit 50 values each, then
  prints the number of commits (the parent counts the child's fdatasyncs under strace).
"""

from __future__ import annotations

import sys
import threading

import in_mem


def strict_writer(path: str) -> None:
    db = in_mem.Database(path, durability="strict")
    run = db.begin_run(("crash", "test", "writer"))
    print(run.id, flush=True)
    i = 0
    while True:
        run.kv.put(f"k{i:06d}", {"i": i, "payload": "x" * (i % 50)})
        print(i, flush=True)
        i += 1


def hold_open(path: str) -> None:
    db = in_mem.Database(path)
    print("open", flush=True)
    sys.stdin.read()
    db.close()


def threads_strict(path: str) -> None:
    threads, per_thread = 8, 50
    with in_mem.Database(path, durability="strict") as db:
        run = db.begin_run()

        def commit(t: int) -> None:
            for i in range(per_thread):
                run.kv.put(f"t{t}:{i}", i)

        pool = [threading.Thread(target=commit, args=(t,)) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert len(run.kv.keys()) == threads * per_thread
    print(threads * per_thread, flush=True)


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    {"strict-writer": strict_writer, "hold-open": hold_open, "threads-strict": threads_strict}[mode](path)
