"""History and retention: with `history_keep_for=0` and `ended_run_retention=0` a sweep reclaims
an ended run's superseded versions at once, and reads of the past that needed them raise
`in_mem.HistoryPruned` (never an older or newer value); timelines and key histories say what
was reclaimed; the run's current data stays readable. With the default retention (10 minutes)
the same past stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest

import in_mem


def _ended_run_with_overwrites(db: in_mem.Database) -> tuple[in_mem.Run, int]:
    run = db.begin_run()
    first = run.kv.put("k", 1)
    run.events.append("e", 1)
    run.state.set("c", 1)
    run.kv.put("k", 2)
    run.state.set("c", 2)
    run.end()
    # Another run's later write moves the newest version past the ended run's.
    other = db.begin_run()
    other.kv.put("k", 3)
    other.end()
    return run, first


def test_reads_of_a_reclaimed_past_raise_history_pruned(db_path: Path) -> None:
    with in_mem.Database(db_path, history_keep_for=0, ended_run_retention=0) as db:
        run, first = _ended_run_with_overwrites(db)
        assert db.sweep()["versions_removed"] > 0
        view = db.run_view_at(run, version=first)
        reads = [
            lambda: view.kv.get("k"),
            lambda: view.kv.list(),
            lambda: view.state.cells(),
            lambda: view.state.read("c"),
        ]
        for read in reads:
            with pytest.raises(in_mem.HistoryPruned) as caught:
                read()
            assert caught.value.run == run.id
            assert caught.value.at == first
            assert caught.value.oldest_kept > first
        with pytest.raises(in_mem.HistoryPruned):
            db.diff_run(run, from_version=first)

        history = db.key_history(run, "k")
        assert history.older_pruned
        assert [v.value for v in history] == [2]
        timeline = db.run_timeline(run)
        assert timeline.pruned_below is not None and timeline.pruned_below > first

        # The run's own current data is whole.
        assert run.kv.get("k") == 2
        assert run.state.read("c").value == 2  # type: ignore[union-attr]
        assert run.events.verify_chain().events == 1


def test_the_default_retention_keeps_the_same_past_readable(db_path: Path) -> None:
    with in_mem.Database(db_path, ended_run_retention=0) as db:
        run, first = _ended_run_with_overwrites(db)
        db.sweep()
        view = db.run_view_at(run, version=first)
        assert view.kv.get("k") == 1
        assert [v.value for v in db.key_history(run, "k")] == [2, 1]
        assert not db.key_history(run, "k").older_pruned
        assert db.run_timeline(run).pruned_below is None


def test_keeping_min_versions_keeps_that_many_whatever_their_age(db_path: Path) -> None:
    with in_mem.Database(
        db_path, history_keep_for=0, history_keep_min_versions=2, ended_run_retention=0
    ) as db:
        run = db.begin_run()
        first = run.kv.put("k", 1)
        second = run.kv.put("k", 2)
        run.kv.put("k", 3)
        run.end()
        db.sweep()
        assert db.run_view_at(run, version=second).kv.get("k") == 2
        with pytest.raises(in_mem.HistoryPruned):
            db.run_view_at(run, version=first).kv.get("k")


def test_retention_keywords_refuse_bad_values(db_path: Path) -> None:
    with pytest.raises(ValueError):
        in_mem.Database(db_path, history_keep_for=-1)
    with pytest.raises(OverflowError):
        in_mem.Database(db_path, history_keep_min_versions=-1)
