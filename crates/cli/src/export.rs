//! The export format (version 1), both ways: a [`Dump`] as JSON Lines, and JSON Lines read
//! back into a dump, refusing the first bad line by its number. The format is specified in
//! `docs/cli.md`; in short:
//!
//! ```text
//! {"format":"in-mem-export","version":1,"commits":N,"entries":M,"history_from":H}
//! {"commit":1,"at":MICROS,"writer":"RUN","key":{KEY},"run":{RUN RECORD}}
//! {"commit":2,"at":MICROS,"writer":"RUN","key":{KEY},"value":VALUE,"expires_at":MICROS}
//! {"commit":3,"at":MICROS,"writer":"RUN","key":{KEY},"deleted":true,"cut":["below"]}
//! ```
//!
//! One line per stored version, by commit then key; objects' keys in alphabetical order, so
//! one dump has exactly one text.

use std::io::{BufRead, Write};

use in_mem::{
    AgentId, Content, Dump, DumpEntry, Key, Namespace, RunFields, RunId, RunStatus, Timestamp,
    TypeTag,
};
use serde_json::{Map, Value as Json, json};

use crate::json::{bytes_from_json, bytes_to_json, from_json, to_json};

/// The format's name, in the header line.
pub const FORMAT_NAME: &str = "in-mem-export";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Writes `dump` as an export; `progress` is called after each line.
pub fn write(dump: &Dump, out: &mut impl Write, progress: &mut dyn FnMut()) -> std::io::Result<()> {
    let commits = dump.entries.last().map_or(0, |e| e.version);
    let header = json!({
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "commits": commits,
        "entries": dump.entries.len(),
        "history_from": dump.history_from,
    });
    line(out, &header)?;
    for entry in &dump.entries {
        line(out, &entry_json(entry))?;
        progress();
    }
    out.flush()
}

fn line(out: &mut impl Write, value: &Json) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

fn entry_json(entry: &DumpEntry) -> Json {
    let ns = entry.key.namespace();
    let run = ns.run();
    let mut object = Map::new();
    object.insert("commit".into(), json!(entry.version));
    object.insert("at".into(), json!(entry.timestamp.as_micros()));
    object.insert("writer".into(), json!(entry.writer.to_string()));
    object.insert(
        "key".into(),
        json!({
            "tenant": ns.tenant(),
            "app": ns.app(),
            "agent": ns.agent(),
            "run": (!run.is_nil()).then(|| run.to_string()),
            "type": entry.key.type_tag().name(),
            "key": bytes_to_json(entry.key.user_key()),
        }),
    );
    match &entry.content {
        Content::Value(value) => {
            object.insert("value".into(), to_json(value));
        }
        Content::Run(fields) => {
            object.insert("run".into(), run_json(fields));
        }
        Content::Tombstone => {
            object.insert("deleted".into(), json!(true));
        }
        Content::Raw(bytes) => {
            object.insert("raw".into(), to_json(&in_mem::Value::Bytes(bytes.clone())));
        }
        _ => {}
    }
    if let Some(at) = entry.expires_at {
        object.insert("expires_at".into(), json!(at.as_micros()));
    }
    let cuts: Vec<&str> = [(entry.cut_below, "below"), (entry.cut_above, "above")]
        .into_iter()
        .filter_map(|(cut, name)| cut.then_some(name))
        .collect();
    if !cuts.is_empty() {
        object.insert("cut".into(), json!(cuts));
    }
    Json::Object(object)
}

fn run_json(fields: &RunFields) -> Json {
    json!({
        "status": fields.status.as_str(),
        "snapshot": fields.snapshot,
        "created_at": fields.created_at.as_micros(),
        "updated_at": fields.updated_at.as_micros(),
        "ended_at": fields.ended_at.map(Timestamp::as_micros),
        "parent": fields.parent.map(|p| p.to_string()),
        "fork_point": fields.fork_point,
        "tags": fields.tags,
        "error": fields.error,
        "metadata": to_json(&fields.metadata),
    })
}

/// A line that cannot be read: its number (from 1) and why.
#[derive(Debug)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Reads an export. `progress` is called after each line.
pub fn read(input: impl BufRead, progress: &mut dyn FnMut()) -> Result<Dump, BadLine> {
    let mut lines = input.lines().enumerate();
    let bad = |line: usize, reason: String| BadLine { line, reason };
    let header = match lines.next() {
        Some((_, Ok(text))) => text,
        Some((_, Err(e))) => return Err(bad(1, format!("cannot be read: {e}"))),
        None => {
            return Err(bad(
                1,
                "the input is empty: an export starts with its header line".into(),
            ));
        }
    };
    let header: Json =
        serde_json::from_str(&header).map_err(|e| bad(1, format!("is not JSON: {e}")))?;
    let field = |name: &str| header.get(name).and_then(Json::as_u64);
    if header.get("format").and_then(Json::as_str) != Some(FORMAT_NAME) {
        return Err(bad(
            1,
            format!("is not an in-mem export header (no \"format\": \"{FORMAT_NAME}\")"),
        ));
    }
    match field("version") {
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(bad(
                1,
                format!("format version {v}: this build reads version {FORMAT_VERSION}"),
            ));
        }
        None => return Err(bad(1, "the header has no format version".into())),
    }
    let (Some(entries), Some(history_from)) = (field("entries"), field("history_from")) else {
        return Err(bad(
            1,
            "the header lacks \"entries\" or \"history_from\"".into(),
        ));
    };
    let mut dump = Dump {
        history_from,
        entries: Vec::new(),
    };
    for (i, text) in lines {
        let number = i + 1;
        let text = text.map_err(|e| bad(number, format!("cannot be read: {e}")))?;
        let json: Json =
            serde_json::from_str(&text).map_err(|e| bad(number, format!("is not JSON: {e}")))?;
        dump.entries
            .push(entry(&json).map_err(|reason| bad(number, reason))?);
        progress();
    }
    if dump.entries.len() as u64 != entries {
        return Err(bad(
            dump.entries.len() + 2,
            format!(
                "the header says {entries} entries but {} follow: the export is cut short or \
                 was changed",
                dump.entries.len()
            ),
        ));
    }
    Ok(dump)
}

fn entry(json: &Json) -> Result<DumpEntry, String> {
    let object = json.as_object().ok_or("an entry is a JSON object")?;
    let known = [
        "commit",
        "at",
        "writer",
        "key",
        "value",
        "run",
        "deleted",
        "raw",
        "expires_at",
        "cut",
    ];
    if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown field {unknown:?}"));
    }
    let number = |name: &str| {
        object
            .get(name)
            .and_then(Json::as_u64)
            .ok_or_else(|| format!("{name:?} must be a non-negative integer"))
    };
    let contents = ["value", "run", "deleted", "raw"]
        .into_iter()
        .filter(|k| object.contains_key(*k))
        .count();
    if contents != 1 {
        return Err("an entry has exactly one of \"value\", \"run\", \"deleted\", \"raw\"".into());
    }
    let content = if let Some(value) = object.get("value") {
        Content::Value(from_json(value).map_err(|e| format!("\"value\": {e}"))?)
    } else if let Some(run) = object.get("run") {
        Content::Run(run_fields(run).map_err(|e| format!("\"run\": {e}"))?)
    } else if let Some(raw) = object.get("raw") {
        match from_json(raw) {
            Ok(in_mem::Value::Bytes(bytes)) => Content::Raw(bytes),
            _ => return Err("\"raw\" must be {\"$bytes\": \"<base64>\"}".into()),
        }
    } else if object.get("deleted") == Some(&Json::Bool(true)) {
        Content::Tombstone
    } else {
        return Err("\"deleted\" can only be true".into());
    };
    let (mut cut_below, mut cut_above) = (false, false);
    if let Some(cut) = object.get("cut") {
        for side in cut.as_array().ok_or("\"cut\" must be a list")? {
            match side.as_str() {
                Some("below") => cut_below = true,
                Some("above") => cut_above = true,
                _ => return Err("\"cut\" holds \"below\" and/or \"above\"".into()),
            }
        }
    }
    let expires_at = match object.get("expires_at") {
        None => None,
        Some(_) => Some(Timestamp::from_micros(number("expires_at")?)),
    };
    Ok(DumpEntry {
        version: number("commit")?,
        key: key(object.get("key").ok_or("missing \"key\"")?)
            .map_err(|e| format!("\"key\": {e}"))?,
        writer: run_id(object.get("writer")).map_err(|e| format!("\"writer\": {e}"))?,
        timestamp: Timestamp::from_micros(number("at")?),
        content,
        expires_at,
        cut_below,
        cut_above,
    })
}

fn run_id(json: Option<&Json>) -> Result<RunId, String> {
    let text = json.and_then(Json::as_str).ok_or("must be a run id")?;
    text.parse()
        .map_err(|e| format!("{text:?} is not a run id: {e}"))
}

fn key(json: &Json) -> Result<Key, String> {
    let text = |name: &str| {
        json.get(name)
            .and_then(Json::as_str)
            .ok_or_else(|| format!("{name:?} must be text"))
    };
    let agent = AgentId::try_new(text("tenant")?, text("app")?, text("agent")?)
        .map_err(|e| e.to_string())?;
    let run = match json.get("run") {
        None | Some(Json::Null) => RunId::NIL,
        Some(run) => run_id(Some(run)).map_err(|e| format!("\"run\": {e}"))?,
    };
    let name = text("type")?;
    let Some(tag) = TypeTag::ALL.into_iter().find(|t| t.name() == name) else {
        return Err(format!(
            "type {name:?} is not kv, event, state, trace, run or index"
        ));
    };
    let user_key = bytes_from_json(json.get("key").ok_or("missing \"key\"")?)
        .map_err(|e| format!("\"key\": {e}"))?;
    // The engine checks the rest (a user key's length; a run record's key is empty).
    Ok(Key::new(Namespace::for_run(agent, run), tag, user_key))
}

fn run_fields(json: &Json) -> Result<RunFields, String> {
    let micros = |name: &str| {
        json.get(name)
            .and_then(Json::as_u64)
            .map(Timestamp::from_micros)
            .ok_or_else(|| format!("{name:?} must be microseconds since the epoch"))
    };
    let optional = |name: &str| match json.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(_) => micros(name).map(Some),
    };
    let status = json
        .get("status")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let status = RunStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == status)
        .ok_or_else(|| format!("status {status:?} is not a run status"))?;
    let tags = json
        .get("tags")
        .and_then(Json::as_array)
        .ok_or("\"tags\" must be a list")?
        .iter()
        .map(|t| t.as_str().map(str::to_owned).ok_or("a tag is text"))
        .collect::<Result<Vec<_>, _>>()?;
    let error = match json.get("error") {
        None | Some(Json::Null) => None,
        Some(Json::String(e)) => Some(e.clone()),
        Some(_) => return Err("\"error\" must be text or null".into()),
    };
    let parent = match json.get("parent") {
        None | Some(Json::Null) => None,
        Some(p) => Some(run_id(Some(p)).map_err(|e| format!("\"parent\": {e}"))?),
    };
    let fork_point = match json.get("fork_point") {
        None | Some(Json::Null) => None,
        Some(p) => Some(p.as_u64().ok_or("\"fork_point\" must be a commit number")?),
    };
    Ok(RunFields {
        status,
        snapshot: json
            .get("snapshot")
            .and_then(Json::as_u64)
            .ok_or("\"snapshot\" must be a commit number")?,
        created_at: micros("created_at")?,
        updated_at: micros("updated_at")?,
        ended_at: optional("ended_at")?,
        parent,
        fork_point,
        tags,
        error,
        metadata: from_json(json.get("metadata").unwrap_or(&Json::Null))
            .map_err(|e| format!("\"metadata\": {e}"))?,
    })
}
