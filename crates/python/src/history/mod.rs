//! History from Python: views of a run's past (`view.rs`), a run's timeline and a key's
//! versions (`timeline.rs`), diffs (`diff.rs`), replays (`replay.rs`) and cassettes of a run's
//! recorded tool answers (`cassette.rs`). `Database` and `Run` methods call the functions here;
//! each runs the engine's call detached from the interpreter (they scan the run's versions) and
//! converts the answer while attached.
//!
//! Points in a run's life come from `point.rs`; the engine resolves them.

mod cassette;
mod diff;
mod replay;
mod timeline;
mod view;

use std::ops::Bound;

use in_mem::primitives::Cassette as RustCassette;
use in_mem::{At, RunId};
use pyo3::prelude::*;

use crate::errors::OrRaise;
use crate::shared::Shared;

pub(crate) use cassette::{Cassette, Recorded};
pub(crate) use diff::{CellChange, EventsDiff, KvChange, RunDiff, SpanChange};
pub(crate) use replay::{Replay, ReplayStep};
pub(crate) use timeline::{KeyHistory, KeyVersion, Step, Timeline};
pub(crate) use view::View;

/// `run` as it was right after point `at`.
pub(crate) fn view_at(py: Python<'_>, shared: &Shared, run: RunId, at: At) -> PyResult<View> {
    let db = shared.db(py)?;
    let view = py.detach(move || db.run_view_at(run, at)).or_raise(py)?;
    Ok(View::new(shared.clone(), view))
}

/// `run`'s steps with `start <= version < end`, oldest first, at most `limit`.
pub(crate) fn timeline(
    py: Python<'_>,
    shared: &Shared,
    run: RunId,
    start: Option<u64>,
    end: Option<u64>,
    limit: Option<usize>,
) -> PyResult<Timeline> {
    let db = shared.db(py)?;
    let range = (
        start.map_or(Bound::Unbounded, Bound::Included),
        end.map_or(Bound::Unbounded, Bound::Excluded),
    );
    let limit = limit.unwrap_or(usize::MAX);
    let timeline = py
        .detach(move || db.run_timeline_range(run, range, limit))
        .or_raise(py)?;
    Timeline::from_rust(py, &timeline)
}

/// The versions of `key` that `run` can see, newest first.
pub(crate) fn key_history(
    py: Python<'_>,
    shared: &Shared,
    run: RunId,
    key: Vec<u8>,
) -> PyResult<KeyHistory> {
    let db = shared.db(py)?;
    let history = py.detach(move || db.key_history(run, key)).or_raise(py)?;
    KeyHistory::from_rust(py, &history)
}

/// What differs between runs `a` and `b` as they are now.
pub(crate) fn diff_runs(py: Python<'_>, shared: &Shared, a: RunId, b: RunId) -> PyResult<RunDiff> {
    let db = shared.db(py)?;
    let diff = py.detach(move || db.diff_runs(a, b)).or_raise(py)?;
    RunDiff::from_rust(py, &diff)
}

/// What changed in `run` from point `from` to point `to`.
pub(crate) fn diff_run(
    py: Python<'_>,
    shared: &Shared,
    run: RunId,
    from: At,
    to: At,
) -> PyResult<RunDiff> {
    let db = shared.db(py)?;
    let diff = py.detach(move || db.diff_run(run, from, to)).or_raise(py)?;
    RunDiff::from_rust(py, &diff)
}

/// `run` walked step by step.
pub(crate) fn replay(py: Python<'_>, shared: &Shared, run: RunId) -> PyResult<Replay> {
    let db = shared.db(py)?;
    let replay = py.detach(move || db.replay(run)).or_raise(py)?;
    Ok(Replay::new(shared.clone(), run, replay))
}

/// The recorded tool answers of `run` as of point `at`.
pub(crate) fn cassette(py: Python<'_>, shared: &Shared, run: RunId, at: At) -> PyResult<Cassette> {
    let db = shared.db(py)?;
    let cassette = py
        .detach(move || RustCassette::from_view(&mut db.run_view_at(run, at)?))
        .or_raise(py)?;
    Ok(Cassette::new(cassette))
}
