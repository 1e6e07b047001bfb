//! Python values to stored `Value`s and back, and the other conversions every call shares:
//! keys, run ids, durations and timestamps.
//!
//! What is stored: `None`, `bool`, `int` (from -2**63 to 2**64 - 1: the engine's `i64` and the
//! `u64` range above it), `float`, `str`, `bytes` (and `bytearray`, read back as `bytes`),
//! `list` and `tuple` (read back as `list`), and `dict` with `str` keys. Anything else is a
//! `TypeError` naming its type; a bigger `int` is an `OverflowError`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use in_mem::limits::VALUE_DEPTH_MAX;
use in_mem::{RunId, Timestamp, Value};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

use crate::errors::{OrRaise, raise};

/// `datetime.datetime(1970, 1, 1, tzinfo=timezone.utc)`: timestamps are offsets from it.
static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// `datetime.timedelta`.
static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The stored form of a Python value.
pub(crate) fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(obj, 1)
}

/// `obj` at nesting level `level` (1 for the value itself). A container below level
/// `VALUE_DEPTH_MAX` nests deeper than the engine stores whatever it holds, so conversion stops
/// there: this also ends the walk of a list or dict that contains itself.
fn to_value_at(obj: &Bound<'_, PyAny>, level: usize) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: `True` is an `int` too.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_value(obj);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::F64(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    let is_container = obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyDict>();
    if is_container && level > VALUE_DEPTH_MAX {
        return Err(raise(
            obj.py(),
            "LimitExceeded",
            format!(
                "value nests deeper than the limit of {VALUE_DEPTH_MAX} levels (a list or dict \
                 that contains itself nests forever)"
            ),
            &[],
        ));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        let mut items = Vec::with_capacity(list.len());
        for item in list.iter() {
            items.push(to_value_at(&item, level + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        let mut items = Vec::with_capacity(tuple.len());
        for item in tuple.iter() {
            items.push(to_value_at(&item, level + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = BTreeMap::new();
        for (key, item) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "dict keys must be str to be stored, not {}",
                    type_name(&key)
                )));
            };
            map.insert(key.to_cow()?.into_owned(), to_value_at(&item, level + 1)?);
        }
        return Ok(Value::Map(map));
    }
    Err(PyTypeError::new_err(format!(
        "cannot store a value of type {}: in_mem stores None, bool, int, float, str, bytes, \
         list, tuple and dict with str keys",
        type_name(obj)
    )))
}

/// An `int` as `I64` if it fits, else as `U64`; outside both an `OverflowError`.
fn int_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(n) = obj.extract::<i64>() {
        return Ok(Value::I64(n));
    }
    if let Ok(n) = obj.extract::<u64>() {
        return Ok(Value::from(n));
    }
    Err(PyOverflowError::new_err(format!(
        "int {} is outside the range in_mem stores, -2**63 to 2**64 - 1",
        short_repr(obj)
    )))
}

/// `repr(obj)`, cut short for huge values (an `int` can have millions of digits).
fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    const SHOWN_CHARS_MAX: usize = 60;
    let text = obj
        .repr()
        .map_or_else(|_| "<unprintable>".to_owned(), |r| r.to_string());
    if text.chars().count() <= SHOWN_CHARS_MAX {
        text
    } else {
        let head: String = text.chars().take(SHOWN_CHARS_MAX).collect();
        format!("{head}...")
    }
}

/// The quoted name of `obj`'s type, as Python's own messages give it.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "'?'".to_owned(), |n| format!("'{n}'"))
}

/// The Python form of a stored value.
pub(crate) fn from_value<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::I64(n) => n.into_pyobject(py)?.into_any(),
        Value::U64(n) => n.get().into_pyobject(py)?.into_any(),
        Value::F64(x) => x.into_pyobject(py)?.into_any(),
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_value(py, item)?)?;
            }
            list.into_any()
        }
        Value::Map(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, from_value(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A key: `str` (stored as its UTF-8 bytes) or `bytes`.
pub(crate) fn key_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "keys are str or bytes, not {}",
        type_name(obj)
    )))
}

/// A key read back: `str` if `as_text` and it is UTF-8, else `bytes`.
pub(crate) fn key_to_py<'py>(py: Python<'py>, key: &[u8], as_text: bool) -> Bound<'py, PyAny> {
    match std::str::from_utf8(key) {
        Ok(text) if as_text => PyString::new(py, text).into_any(),
        _ => PyBytes::new(py, key).into_any(),
    }
}

/// A run id from its text (what `Run.id` gives).
pub(crate) fn parse_run_id(py: Python<'_>, text: &str) -> PyResult<RunId> {
    RunId::from_str(text)
        .map_err(in_mem::Error::from)
        .or_raise(py)
}

/// A duration: seconds as `int` or `float`, or a `datetime.timedelta`. `what` names it in errors.
pub(crate) fn duration(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let py = obj.py();
    if obj.is_instance(timedelta_type(py)?)? {
        let days: i64 = obj.getattr("days")?.extract()?;
        let seconds: i64 = obj.getattr("seconds")?.extract()?;
        let micros: i64 = obj.getattr("microseconds")?.extract()?;
        // timedelta normalizes: seconds in 0..86400, microseconds in 0..1e6, sign in days.
        let negative = || PyValueError::new_err(format!("{what} must not be negative"));
        let days = u64::try_from(days).map_err(|_| negative())?;
        let seconds = u64::try_from(seconds).map_err(|_| negative())?;
        let micros = u64::try_from(micros).map_err(|_| negative())?;
        return Ok(Duration::from_secs(days * 86_400 + seconds) + Duration::from_micros(micros));
    }
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} is seconds (int or float) or a timedelta, not bool"
        )));
    }
    let Ok(seconds) = obj.extract::<f64>() else {
        return Err(PyTypeError::new_err(format!(
            "{what} is seconds (int or float) or a timedelta, not {}",
            type_name(obj)
        )));
    };
    if seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must not be negative, got {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| {
        PyValueError::new_err(format!("{what} of {seconds} seconds cannot be used: {e}"))
    })
}

/// A timestamp as an aware `datetime` in UTC.
pub(crate) fn timestamp(py: Python<'_>, ts: Timestamp) -> PyResult<Bound<'_, PyAny>> {
    let epoch = EPOCH.get_or_try_init(py, || {
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("tzinfo", utc)?;
        datetime
            .getattr("datetime")?
            .call((1970, 1, 1), Some(&kwargs))
            .map(Bound::unbind)
    })?;
    let offset = micros_delta(py, ts.as_micros())?;
    epoch.bind(py).call_method1("__add__", (offset,))
}

/// A duration as a `datetime.timedelta` (to the microsecond).
pub(crate) fn timedelta(py: Python<'_>, d: Duration) -> PyResult<Bound<'_, PyAny>> {
    micros_delta(py, u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn micros_delta(py: Python<'_>, micros: u64) -> PyResult<Bound<'_, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("microseconds", micros)?;
    timedelta_type(py)?.call((), Some(&kwargs))
}

fn timedelta_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    TIMEDELTA
        .get_or_try_init(py, || {
            py.import("datetime")?
                .getattr("timedelta")
                .map(Bound::unbind)
        })
        .map(|t| t.bind(py))
}

/// A timestamp from an aware or naive `datetime` (naive ones are read as UTC).
pub(crate) fn to_timestamp(obj: &Bound<'_, PyAny>) -> PyResult<Timestamp> {
    let py = obj.py();
    let epoch = timestamp(py, Timestamp::EPOCH)?;
    let aware = if obj.getattr("tzinfo")?.is_none() {
        let utc = epoch.getattr("tzinfo")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("tzinfo", utc)?;
        obj.call_method("replace", (), Some(&kwargs))?
    } else {
        obj.clone()
    };
    let since = aware.call_method1("__sub__", (epoch,))?;
    let d = duration(&since, "a time before 1970")?;
    Ok(Timestamp::from_micros(
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
    ))
}
