"""LangGraph's own checkpointer conformance suite (langgraph-checkpoint-conformance) against
InMemSaver: every base capability and every extended one (delete_for_runs, copy_thread, prune)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator

import pytest

pytest.importorskip(
    "langgraph.checkpoint.conformance",
    reason="langgraph-checkpoint-conformance is not installed (pip install langgraph-checkpoint-conformance)",
)

from langgraph.checkpoint.conformance import checkpointer_test, validate  # noqa: E402
from langgraph.checkpoint.conformance.capabilities import (  # noqa: E402
    BASE_CAPABILITIES,
    EXTENDED_CAPABILITIES,
)

from in_mem.langgraph import InMemSaver  # noqa: E402


@checkpointer_test(name="InMemSaver")
async def in_mem_saver() -> AsyncIterator[InMemSaver]:
    # A fresh database per capability suite, as the suite asks of a factory.
    directory = tempfile.mkdtemp(prefix="in-mem-conformance-")
    saver = InMemSaver(f"{directory}/db")
    try:
        yield saver
    finally:
        saver.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_in_mem_saver_passes_every_base_and_extended_capability() -> None:
    report = asyncio.run(validate(in_mem_saver))
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    for cap in sorted(BASE_CAPABILITIES | EXTENDED_CAPABILITIES, key=lambda c: c.value):
        result = report.results[cap.value]
        assert result.detected, f"{cap.value} not detected as implemented"
        assert result.passed is True, (cap.value, result.failures)
        assert result.tests_failed == 0 and result.tests_passed > 0, (cap.value, result)
    assert report.conformance_level() == "FULL"
