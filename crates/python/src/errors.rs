//! Rust errors as Python exceptions: each `in_mem::Error` becomes an instance of the class of
//! `in_mem._errors` its variant maps to, with the Rust message as its text and the variant's
//! fields as attributes.
//!
//! The classes are defined in Python (a class with two bases, such as `InvalidInput(Error,
//! ValueError)`, cannot be declared through `PyO3`), so they are looked up by name, once.

use in_mem::Error;
use in_mem::remote::RemoteError;
use in_mem_core_types::Error as CoreError;
use in_mem_durability::Error as DurabilityError;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

use crate::worker::TxError;

/// `in_mem._errors`, imported at the first error.
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An attribute of a raised exception: a name and a Python value.
type Attr<'py> = (&'static str, Bound<'py, PyAny>);

/// A fallible engine result turned into a Python one.
pub(crate) trait OrRaise<T> {
    /// The value, or the engine's error as the Python exception it maps to.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for in_mem::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

/// An instance of the `in_mem._errors` class `class` with `message` and `attrs`.
///
/// If the class cannot be found (the package is damaged), the import error itself is returned:
/// it says more than a generic error would.
pub(crate) fn raise(py: Python<'_>, class: &str, message: String, attrs: &[Attr<'_>]) -> PyErr {
    let ty = match error_class(py, class) {
        Ok(ty) => ty,
        Err(e) => return e,
    };
    let err = PyErr::from_type(ty, (message,));
    let value = err.value(py);
    for (name, attr) in attrs {
        // An attribute that cannot be set leaves the message, which says the same.
        let _ = value.setattr(*name, attr);
    }
    err
}

/// `in_mem.ClosedError` with `message`.
pub(crate) fn closed(py: Python<'_>, message: &str) -> PyErr {
    raise(py, "ClosedError", message.to_owned(), &[])
}

/// `in_mem.InvalidInput` with `message`, for bad input the binding itself catches.
pub(crate) fn invalid(py: Python<'_>, message: String) -> PyErr {
    raise(py, "InvalidInput", message, &[])
}

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || py.import("in_mem._errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// The Python exception for an engine error.
pub(crate) fn to_py(py: Python<'_>, err: &Error) -> PyErr {
    let (class, attrs) = describe(py, err);
    raise(py, class, err.to_string(), &attrs)
}

/// The class name and attributes of an engine error.
#[allow(clippy::too_many_lines)] // One arm per variant: the whole mapping reads in one place.
fn describe<'py>(py: Python<'py>, err: &Error) -> (&'static str, Vec<Attr<'py>>) {
    let text = |s: &str| s.into_bound_py_any(py);
    let attr =
        |name: &'static str, value: PyResult<Bound<'py, PyAny>>| value.ok().map(|v| (name, v));
    let int = |n: u64| n.into_bound_py_any(py);
    let opt = |n: Option<u64>| n.into_bound_py_any(py);
    let run = |r: &in_mem::RunId| attr("run", text(&r.to_string()));
    let (class, attrs): (&'static str, Vec<Option<Attr<'py>>>) = match err {
        Error::Invalid(inner) => (core_class(inner), Vec::new()),
        Error::CommitTooLarge { .. } => ("LimitExceeded", Vec::new()),
        Error::InvalidOptions { .. }
        | Error::InvalidName { .. }
        | Error::NotCanonical { .. }
        | Error::InvalidMachine { .. }
        | Error::InvalidSpan { .. }
        | Error::Unrepresentable { .. } => ("InvalidInput", Vec::new()),
        Error::TypeMismatch {
            key,
            stored,
            requested,
            ..
        } => (
            "TypeMismatch",
            vec![
                attr("key", text(key)),
                attr("stored", text(stored)),
                attr("requested", text(requested)),
            ],
        ),
        Error::NotBytes { key, found } => (
            "TypeMismatch",
            vec![
                attr("key", text(key)),
                attr("stored", text(found)),
                attr("requested", text("bytes")),
            ],
        ),
        Error::UnknownRun { run: r } => ("UnknownRun", vec![run(r)]),
        Error::UnknownParent { parent } => ("UnknownRun", vec![run(parent)]),
        Error::RunEnded { run: r } => ("RunEnded", vec![run(r)]),
        Error::RunInterrupted { run: r } => ("RunInterrupted", vec![run(r)]),
        Error::RunState {
            run: r,
            status,
            action,
        } => (
            "RunStateError",
            vec![
                run(r),
                attr("status", text(status)),
                attr("action", text(action)),
            ],
        ),
        Error::HistoryPruned {
            run: r,
            at,
            oldest_kept,
        } => (
            "HistoryPruned",
            vec![
                run(r),
                attr("at", int(*at)),
                attr("oldest_kept", int(*oldest_kept)),
            ],
        ),
        Error::UnknownPoint { run: r, at, reason } => (
            "UnknownPoint",
            vec![run(r), attr("at", text(at)), attr("reason", text(reason))],
        ),
        Error::HasForks {
            run: r,
            forks,
            example,
        } => (
            "HasForks",
            vec![
                run(r),
                attr("forks", int(*forks as u64)),
                attr("example", text(&example.to_string())),
            ],
        ),
        Error::ReadOnlyView { run: r } => ("ReadOnlyView", vec![run(r)]),
        Error::Conflict {
            run: r,
            key,
            read,
            found,
        } => (
            "Conflict",
            vec![
                run(r),
                attr("key", text(key)),
                attr("read", opt(*read)),
                attr("found", opt(*found)),
            ],
        ),
        Error::StaleVersion {
            what,
            name,
            expected,
            actual,
        } => (
            "StaleVersion",
            vec![
                attr("what", text(what)),
                attr("name", text(name)),
                attr("expected", opt(*expected)),
                attr("actual", opt(*actual)),
            ],
        ),
        Error::Immutable { key } => ("Immutable", vec![attr("key", text(key))]),
        Error::CellExists { name } => ("CellExists", vec![attr("name", text(name))]),
        Error::CellMissing { name } => ("CellMissing", vec![attr("name", text(name))]),
        Error::UnknownMachine { name } => ("UnknownMachine", vec![attr("name", text(name))]),
        Error::ForbiddenTransition {
            machine,
            state,
            event,
            terminal,
        } => (
            "ForbiddenTransition",
            vec![
                attr("machine", text(machine)),
                attr("state", text(state)),
                attr("event", text(event)),
                attr("terminal", terminal.into_bound_py_any(py)),
            ],
        ),
        Error::ChainBroken {
            run: r,
            sequence,
            reason,
        } => (
            "ChainBroken",
            vec![
                run(r),
                attr("sequence", int(*sequence)),
                attr("reason", text(reason)),
            ],
        ),
        Error::ParentSpanMissing { parent } => ("UnknownSpan", vec![attr("span", int(*parent))]),
        Error::UnknownSpan { id } => ("UnknownSpan", vec![attr("span", int(*id))]),
        Error::SpanFinished { id } => ("SpanFinished", vec![attr("span", int(*id))]),
        Error::Durability(inner) => return durability(py, inner),
        Error::Remote(inner) => return remote(py, inner),
        Error::SharedModeUnsupported { operation } => (
            "SharedModeUnsupported",
            vec![attr("operation", text(operation))],
        ),
        Error::NotOwner { run: r, owner } => ("NotOwner", vec![run(r), attr("owner", text(owner))]),
        Error::Damaged { .. } => ("CorruptionError", Vec::new()),
        // The engine's error is non-exhaustive: a variant added later is still an in_mem.Error.
        _ => ("Error", Vec::new()),
    };
    (class, attrs.into_iter().flatten().collect())
}

/// The class and attributes of an error of the shared store (shared mode).
fn remote<'py>(py: Python<'py>, err: &RemoteError) -> (&'static str, Vec<Attr<'py>>) {
    let run = |r: &in_mem::RunId| r.to_string().into_bound_py_any(py).ok().map(|v| ("run", v));
    let int = |name: &'static str, n: u64| n.into_bound_py_any(py).ok().map(|v| (name, v));
    let (class, attrs) = match err {
        RemoteError::Unavailable(_) => ("StoreUnavailable", Vec::new()),
        RemoteError::OutcomeUnknown(_) => ("OutcomeUnknown", Vec::new()),
        RemoteError::Poisoned(_) => ("StorePoisoned", Vec::new()),
        RemoteError::Fenced {
            run: r,
            held,
            current,
        } => (
            "Fenced",
            vec![run(r), int("held", *held), int("current", *current)],
        ),
        RemoteError::NoSuchRun(r) => ("UnknownRun", vec![run(r)]),
        RemoteError::RunEnded { run: r, .. } => ("RunEnded", vec![run(r)]),
        _ => ("RemoteError", Vec::new()),
    };
    (class, attrs.into_iter().flatten().collect())
}

/// The class of a bad-input error caught by the core types.
fn core_class(err: &CoreError) -> &'static str {
    use CoreError as Core;
    match err {
        Core::ValueTooLarge { .. } | Core::KeyTooLong { .. } | Core::ValueTooDeep { .. } => {
            "LimitExceeded"
        }
        _ => "InvalidInput",
    }
}

/// The class and attributes of a durability error.
fn durability<'py>(py: Python<'py>, err: &DurabilityError) -> (&'static str, Vec<Attr<'py>>) {
    let path = |p: &std::path::Path| {
        p.display()
            .to_string()
            .into_bound_py_any(py)
            .ok()
            .map(|v| ("path", v))
    };
    match err {
        DurabilityError::Locked { path: p } => ("LockedError", path(p).into_iter().collect()),
        DurabilityError::Corruption { file, offset, .. } => {
            let offset = offset.into_bound_py_any(py).ok().map(|v| ("offset", v));
            (
                "CorruptionError",
                path(file).into_iter().chain(offset).collect(),
            )
        }
        DurabilityError::FileMismatch { file, .. } => {
            ("CorruptionError", path(file).into_iter().collect())
        }
        DurabilityError::Poisoned { .. } => ("PoisonedError", Vec::new()),
        DurabilityError::CommitTooLarge { .. } => ("LimitExceeded", Vec::new()),
        DurabilityError::EmptyPath | DurabilityError::InvalidOption { .. } => {
            ("InvalidInput", Vec::new())
        }
        DurabilityError::Closed => ("ClosedError", Vec::new()),
        _ => ("DurabilityError", Vec::new()),
    }
}

/// The Python exception for a call on a transaction that did not run or did not commit.
pub(crate) fn tx_to_py(py: Python<'_>, err: &TxError) -> PyErr {
    match err {
        TxError::Engine(e) => to_py(py, e),
        TxError::Finished => closed(
            py,
            "the transaction has already committed or been abandoned; open a new one",
        ),
        TxError::Lost => PyRuntimeError::new_err(
            "the transaction's worker thread stopped without an answer (a bug in in_mem); \
             nothing was committed",
        ),
        TxError::Spawn(e) => {
            PyOSError::new_err(format!("cannot start a thread for the transaction: {e}"))
        }
    }
}
