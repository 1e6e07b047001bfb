//! `events` (a run's event log, and `--follow` as the run appends), `state` (its cells and
//! state machines) and `kv` (the memory it sees, now or as of a step).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use in_mem::primitives::Event;
use in_mem::{At, Database, RunId};
use serde_json::json;

use super::Out;
use crate::error::{CliError, Result};
use crate::json::{bytes_to_json, to_json};
use crate::open;
use crate::term::{self, Table, stdout_error};

/// How often `events --follow` looks for what the writer appended.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub fn events(
    dir: &Path,
    given: &str,
    event_type: Option<&str>,
    follow: bool,
    json: bool,
    out: &mut Out,
) -> Result<()> {
    let mut db = open::read_only(dir)?;
    let run = open::run(&db, given)?;
    let mut next = 0u64;
    loop {
        let mut view = db.run_view_at(run, At::Now)?;
        let len = view.events().len()?;
        let batch: Vec<Event> = if next < len {
            view.events().range(next..len)?
        } else {
            Vec::new()
        };
        next = len;
        for event in batch
            .iter()
            .filter(|e| event_type.is_none_or(|t| e.event_type == t))
        {
            print_event(event, json, out)?;
        }
        out.stdout.flush().map_err(stdout_error)?;
        if !follow || db.run_info(run)?.status.is_terminal() {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
        match db.refresh() {
            Ok(_) => {}
            // The writer checkpointed past this reader: open again and read on.
            Err(e) if e.is_reader_behind() => db = open::read_only(dir)?,
            Err(e) => return Err(e.into()),
        }
    }
}

fn print_event(event: &Event, json: bool, out: &mut Out) -> Result<()> {
    if json {
        return out.json_line(&json!({
            "sequence": event.sequence,
            "type": event.event_type,
            "timestamp": term::time(event.timestamp),
            "payload": to_json(&event.payload),
            "hash": hex(&event.hash),
        }));
    }
    let s = out.style;
    let head = format!(
        "#{:<4} {} {:<14}",
        event.sequence,
        s.dim(&term::time(event.timestamp)),
        event.event_type
    );
    let room = s.width.saturating_sub(45).max(20);
    writeln!(out.stdout, "{} {}", head, term::value(&event.payload, room)).map_err(stdout_error)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

pub fn state(dir: &Path, given: &str, json: bool, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let run = open::run(&db, given)?;
    let mut view = db.run_view_at(run, At::Now)?;
    let cells = view.cells().list()?;
    let timeline = db.run_timeline(run)?;
    let mut names: Vec<&String> = timeline.steps.iter().flat_map(|s| &s.machines).collect();
    names.sort();
    names.dedup();
    let mut machines = Vec::new();
    for name in names {
        if let Some(cell) = view.cells().machine_state(name)? {
            machines.push((name.clone(), cell));
        }
    }
    let rows = cells
        .iter()
        .map(|(n, c)| ("cell", n, c))
        .chain(machines.iter().map(|(n, c)| ("machine", n, c)));
    if json {
        for (kind, name, cell) in rows {
            out.json_line(&json!({
                "kind": kind,
                "name": name,
                "value": to_json(&cell.value),
                "version": cell.version,
                "updated_at": term::time(cell.updated_at),
            }))?;
        }
        return Ok(());
    }
    let s = out.style;
    let mut table = Table::new(&["KIND", "NAME", "VERSION", "UPDATED", "VALUE"]);
    let mut any = false;
    for (kind, name, cell) in rows {
        any = true;
        table.row(vec![
            kind.to_owned(),
            s.bold(name),
            cell.version.to_string(),
            term::time(cell.updated_at),
            cell.value.to_string(),
        ]);
    }
    table.print(&mut out.stdout, &s)?;
    if !any {
        writeln!(out.stdout, "{}", s.dim("(no state cells or machines)")).map_err(stdout_error)?;
    }
    Ok(())
}

/// The point `as_of` names in `run`'s life (see the `kv --as-of` help).
fn point(db: &Database, run: RunId, as_of: &str) -> Result<At> {
    let bad = |expected: String| CliError::BadArgument {
        what: "--as-of",
        given: as_of.to_owned(),
        expected,
    };
    if let Some(v) = as_of.strip_prefix("version:") {
        return v
            .parse()
            .map(At::Version)
            .map_err(|_| bad("version:V with V a number".into()));
    }
    if let Some(n) = as_of.strip_prefix("event:") {
        return n
            .parse()
            .map(At::Event)
            .map_err(|_| bad("event:N with N a number".into()));
    }
    let step: usize = as_of
        .parse()
        .map_err(|_| bad("N (a step), version:V or event:N".into()))?;
    let timeline = db.run_timeline(run)?;
    let count = timeline.steps.len();
    match step.checked_sub(1).and_then(|i| timeline.steps.get(i)) {
        Some(found) => Ok(At::Version(found.version)),
        None => Err(bad(format!(
            "a step from 1 to {count} (the run has {count})"
        ))),
    }
}

pub fn kv(
    dir: &Path,
    given: &str,
    prefix: Option<&str>,
    as_of: Option<&str>,
    json: bool,
    out: &mut Out,
) -> Result<()> {
    let db = open::read_only(dir)?;
    let run = open::run(&db, given)?;
    let at = match as_of {
        Some(as_of) => point(&db, run, as_of)?,
        None => At::Now,
    };
    let view = db.run_view_at(run, at)?;
    let entries = view.list_versioned(prefix.unwrap_or("").as_bytes())?;
    if json {
        for (key, v) in &entries {
            out.json_line(&json!({
                "key": bytes_to_json(key),
                "value": to_json(&v.value),
                "version": v.version,
                "written_at": term::time(v.timestamp),
                "expires_at": v.expires_at().map(term::time),
            }))?;
        }
        return Ok(());
    }
    let s = out.style;
    let mut table = Table::new(&["KEY", "VERSION", "WRITTEN", "VALUE"]);
    for (key, v) in &entries {
        table.row(vec![
            s.bold(&term::key(key)),
            v.version.to_string(),
            term::time(v.timestamp),
            v.value.to_string(),
        ]);
    }
    table.print(&mut out.stdout, &s)?;
    if entries.is_empty() {
        writeln!(out.stdout, "{}", s.dim("(no keys)")).map_err(stdout_error)?;
    }
    Ok(())
}
