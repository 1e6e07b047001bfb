//! The layout of a `LangGraph` thread inside its run, for `in_mem.langgraph` (its Python half is
//! `python/in_mem/langgraph/_keys.py`, whose docstring has the table of keys and values).
//!
//! The saver's hot paths cross into Rust once per call: keys are built here (`keys.rs`), values
//! too large for one in-mem value are split and put back together here (`parts.rs`), and a
//! checkpoint is read with its channel blobs and pending writes in one snapshot and one call
//! (`read.rs`), and written in one call (`write.rs`). Python keeps what needs the serializer
//! the saver was given.

mod keys;
mod parts;
mod read;
mod record;
mod write;

use pyo3::prelude::*;

/// Adds the layout's functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(keys::key_py, m)?)?;
    m.add_function(wrap_pyfunction!(keys::split_py, m)?)?;
    m.add_function(wrap_pyfunction!(parts::whole_py, m)?)?;
    m.add_function(wrap_pyfunction!(read::read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(read::read_checkpoints, m)?)?;
    m.add_function(wrap_pyfunction!(write::put_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(write::put_writes, m)?)?;
    m.add("_LG_PART_BYTES_MAX", parts::PART_BYTES_MAX)?;
    Ok(())
}
