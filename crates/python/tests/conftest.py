"""Shared fixtures of the in_mem test suite: a fresh database directory, an open database, a run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import in_mem

#: The directory of these tests, for the helper scripts that child processes run.
TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path where no database exists yet."""
    return tmp_path / "db"


@pytest.fixture
def db(db_path: Path) -> Iterator[in_mem.Database]:
    """An open database in the default (batched) mode, closed after the test."""
    database = in_mem.Database(db_path)
    yield database
    database.close()


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL server `INMEM_PG_URL` names (`cargo xtask pg-run` starts one and sets it);
    the test is skipped without it, or fails if `INMEM_PG_REQUIRED` is set."""
    url = os.environ.get("INMEM_PG_URL")
    if not url:
        if os.environ.get("INMEM_PG_REQUIRED"):
            pytest.fail("INMEM_PG_REQUIRED is set but INMEM_PG_URL is not")
        pytest.skip("INMEM_PG_URL is not set (`cargo xtask pg-run python -m pytest ...` sets it)")
    return url


@pytest.fixture
def run(db: in_mem.Database) -> in_mem.Run:
    """An active run of the default agent."""
    return db.begin_run()


def child_env() -> dict[str, str]:
    """The environment for a child Python process that imports in_mem as this one does."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env
