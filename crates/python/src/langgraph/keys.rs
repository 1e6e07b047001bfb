//! Keys: a one-letter kind, then each part escaped and ended by NUL, so that a part may hold any
//! character and the keys of one namespace or one checkpoint are the keys under one prefix. The
//! escape writes NUL as SOH 1 and SOH as SOH 2: no escaped part holds NUL, and two different
//! parts never share an escaped prefix that ends in NUL.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

const SEP: char = '\0';
const ESC: char = '\u{1}';

/// Kinds of keys (the first letter).
pub(crate) const CHECKPOINT: &str = "c";
pub(crate) const BLOB: &str = "b";
pub(crate) const WRITE: &str = "w";
pub(crate) const LATEST: &str = "l";
pub(crate) const PART: &str = "x";

/// Appends `part`, escaped, and its NUL.
fn push_part(out: &mut String, part: &str) {
    // Both are ASCII, so a byte search finds them (and is far cheaper than a char pattern).
    if part.bytes().any(|b| b == SEP as u8 || b == ESC as u8) {
        for c in part.chars() {
            match c {
                ESC => out.push_str("\u{1}\u{2}"),
                SEP => out.push_str("\u{1}\u{1}"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(part);
    }
    out.push(SEP);
}

/// The key of `kind` with these parts.
pub(crate) fn key(kind: &str, parts: &[&str]) -> String {
    let mut out =
        String::with_capacity(kind.len() + 1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    out.push_str(kind);
    out.push(SEP);
    for part in parts {
        push_part(&mut out, part);
    }
    out
}

/// The parts of a key made by `key`, unescaped (without the kind); `None` if it is not one.
pub(crate) fn split(key: &str) -> Option<Vec<String>> {
    let mut chars = key.chars();
    chars.next()?;
    if chars.next()? != SEP {
        return None;
    }
    let mut parts = Vec::new();
    let mut part = String::new();
    while let Some(c) = chars.next() {
        match c {
            SEP => parts.push(std::mem::take(&mut part)),
            ESC => match chars.next()? {
                '\u{1}' => part.push(SEP),
                '\u{2}' => part.push(ESC),
                _ => return None,
            },
            c => part.push(c),
        }
    }
    part.is_empty().then_some(parts)
}

/// `key(kind, *parts)`: the key of `kind` with these parts (anything but `str` written as its
/// `str()`, so ints in decimal). With only some of a key's parts, it is the prefix of every key
/// that starts with them.
#[pyfunction]
#[pyo3(name = "_lg_key", signature = (kind, *parts))]
pub(crate) fn key_py(kind: &str, parts: &Bound<'_, PyTuple>) -> PyResult<String> {
    let texts = parts
        .iter()
        .map(|part| part_text(&part))
        .collect::<PyResult<Vec<_>>>()?;
    let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
    Ok(key(kind, &parts))
}

/// A key part as text: a `str` as it is, anything else as its `str()` (so ints in decimal).
pub(crate) fn part_text(part: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(match part.cast::<PyString>() {
        Ok(text) => text.to_cow()?.into_owned(),
        Err(_) => part.str()?.to_cow()?.into_owned(),
    })
}

/// `split(key)`: the parts of a key made by `_lg_key`, unescaped.
#[pyfunction]
#[pyo3(name = "_lg_split")]
pub(crate) fn split_py(key: &str) -> PyResult<Vec<String>> {
    split(key).ok_or_else(|| PyValueError::new_err(format!("{key:?} is not a saver key")))
}
