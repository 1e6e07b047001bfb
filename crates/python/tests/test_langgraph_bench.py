"""The LangGraph benchmark script (benches/langgraph/bench.py) still runs: a tiny workload
through every saver, whose own assertions check that each saver read back every checkpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip(
    "langgraph.checkpoint.sqlite", reason="langgraph-checkpoint-sqlite is not installed"
)

from conftest import TESTS_DIR, child_env  # noqa: E402

BENCH = TESTS_DIR.parent.parent.parent / "benches" / "langgraph" / "bench.py"


def test_the_benchmark_runs_every_saver_on_a_tiny_workload() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--threads",
            "2",
            "--steps",
            "3",
            "--rounds",
            "1",
            "--graph-threads",
            "1",
            "--kv-get",
            "1000",
        ],
        capture_output=True,
        env=child_env(),
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for saver in [
        "InMemSaver batched",
        "SqliteSaver WAL sync=NORMAL",
        "InMemSaver strict",
        "SqliteSaver WAL sync=FULL",
        "InMemorySaver (dict)",
    ]:
        assert f"| {saver} |" in done.stdout
    assert "run.kv.get" in done.stdout
