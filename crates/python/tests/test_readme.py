"""The examples of the package's README.md run as written (in a fresh directory, in order); the
LangGraph one where LangGraph is installed; the shared-mode one against the PostgreSQL that
`INMEM_PG_URL` names (its example URL replaced by that one)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


#: The URL the README's shared-mode example connects to.
EXAMPLE_URL = "postgres://agents@db.internal/agents"


def examples(langgraph: bool, connected: bool = False) -> list[str]:
    """The README's Python examples: those that use `in_mem.langgraph`, those that connect to a
    shared store, or the others."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [
        b
        for b in blocks
        if ("in_mem.langgraph" in b) == langgraph and ("Database.connect(" in b) == connected
    ]


def run(blocks: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})


def test_every_python_example_of_the_readme_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = examples(langgraph=False)
    assert len(blocks) >= 2, "the README's examples were not found"
    run(blocks, tmp_path, monkeypatch)


def test_the_langgraph_example_of_the_readme_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("langgraph") is None:
        pytest.skip("langgraph is not installed (pip install 'in-mem[langgraph]')")
    blocks = examples(langgraph=True)
    assert len(blocks) == 1, "the README's LangGraph example was not found"
    run(blocks, tmp_path, monkeypatch)


def test_the_shared_mode_example_of_the_readme_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    blocks = examples(langgraph=False, connected=True)
    assert len(blocks) == 1 and EXAMPLE_URL in blocks[0], "the shared-mode example was not found"
    run([blocks[0].replace(EXAMPLE_URL, pg_url)], tmp_path, monkeypatch)
