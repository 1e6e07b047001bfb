//! `diff`: what differs between two runs (the memory each sees, their events, state cells and
//! spans), as a unified diff in colour, or as JSON.

use std::io::Write;
use std::path::Path;

use in_mem::{CellChange, KvChange, RunDiff, SpanChange};
use serde_json::{Value as Json, json};

use super::Out;
use super::tree::span_json;
use crate::error::Result;
use crate::json::{bytes_to_json, to_json};
use crate::open;
use crate::term::{self, stdout_error};

pub fn diff(dir: &Path, a: &str, b: &str, json: bool, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let (a, b) = (open::run(&db, a)?, open::run(&db, b)?);
    let diff = db.diff_runs(a, b)?;
    if json {
        return out.json_line(&diff_json(&diff));
    }
    let s = out.style;
    for line in diff.to_string().lines() {
        let painted = if line.starts_with("+++") || line.starts_with("---") {
            s.bold(line)
        } else if line.starts_with("@@") {
            s.cyan(line)
        } else if line.starts_with('+') {
            s.green(line)
        } else if line.starts_with('-') {
            s.red(line)
        } else {
            line.to_owned()
        };
        writeln!(out.stdout, "{painted}").map_err(stdout_error)?;
    }
    Ok(())
}

fn diff_json(diff: &RunDiff) -> Json {
    let kv: Vec<Json> = diff
        .kv
        .iter()
        .map(|change| match change {
            KvChange::Added { key, value } => {
                json!({"change": "added", "key": bytes_to_json(key), "b": to_json(value)})
            }
            KvChange::Removed { key, value } => {
                json!({"change": "removed", "key": bytes_to_json(key), "a": to_json(value)})
            }
            KvChange::Changed { key, before, after } => json!({"change": "changed",
                "key": bytes_to_json(key), "a": to_json(before), "b": to_json(after)}),
        })
        .collect();
    let event = |e: &in_mem::primitives::Event| {
        json!({"sequence": e.sequence, "type": e.event_type, "timestamp": term::time(e.timestamp),
            "payload": to_json(&e.payload)})
    };
    let cell = |c: &Option<in_mem::primitives::Cell>| {
        c.as_ref()
            .map(|c| json!({"value": to_json(&c.value), "version": c.version}))
    };
    let cells: Vec<Json> = diff
        .cells
        .iter()
        .map(|CellChange { name, a, b, .. }| json!({"name": name, "a": cell(a), "b": cell(b)}))
        .collect();
    let spans: Vec<Json> = diff
        .spans
        .iter()
        .map(|change| match change {
            SpanChange::Added { position, span } => {
                json!({"change": "added", "position": position, "b": span_json(span)})
            }
            SpanChange::Removed { position, span } => {
                json!({"change": "removed", "position": position, "a": span_json(span)})
            }
            SpanChange::Changed { position, a, b, .. } => {
                json!({"change": "changed", "position": position,
                "a": span_json(a), "b": span_json(b)})
            }
        })
        .collect();
    json!({
        "a": {"run": diff.a.0.to_string(), "version": diff.a.1},
        "b": {"run": diff.b.0.to_string(), "version": diff.b.1},
        "same": diff.is_empty(),
        "kv": kv,
        "events": {
            "first_divergence": diff.events.first_divergence,
            "only_a": diff.events.only_a.iter().map(event).collect::<Vec<_>>(),
            "only_b": diff.events.only_b.iter().map(event).collect::<Vec<_>>(),
        },
        "cells": cells,
        "spans": spans,
    })
}
