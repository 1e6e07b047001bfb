//! Points in a run's history, as Python callers name them: at most one of `version=` (a
//! commit version), `event=` (an event sequence of the run's own log) or `time=` (a
//! `datetime`, compared with the commits' own timestamps, as `run_timeline` shows them: a time
//! stored in a record, such as an event's, is taken a little before its commit, so it names
//! the step before); none means the run as it is now.

use in_mem::At;
use pyo3::prelude::*;

use crate::convert::to_timestamp;
use crate::errors::invalid;

/// The engine's point from the keyword arguments; more than one given is an error, because
/// a point is one of them and guessing which the caller meant would read the wrong history.
pub(crate) fn at_of(
    py: Python<'_>,
    version: Option<u64>,
    event: Option<u64>,
    time: Option<&Bound<'_, PyAny>>,
) -> PyResult<At> {
    match (version, event, time) {
        (None, None, None) => Ok(At::Now),
        (Some(v), None, None) => Ok(At::Version(v)),
        (None, Some(seq), None) => Ok(At::Event(seq)),
        (None, None, Some(t)) => Ok(At::Time(to_timestamp(t)?)),
        _ => Err(invalid(
            py,
            "a point in history is one of version=, event= or time=, not several".to_string(),
        )),
    }
}
