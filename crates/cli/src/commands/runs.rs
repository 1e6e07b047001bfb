//! `runs` (the run index as a table) and `show` (one run: status, lineage, timing, what it
//! holds, its last error).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use in_mem::{AgentId, At, Database, RunId, RunInfo, RunQuery, RunStatus, Timestamp};
use serde_json::{Value as Json, json};

use super::Out;
use crate::error::{CliError, Result};
use crate::json::to_json;
use crate::open;
use crate::term::{self, Table, stdout_error};

/// What `runs` filters on.
pub struct RunFilter<'a> {
    pub agent: Option<&'a str>,
    pub status: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub since: Option<&'a str>,
    pub limit: Option<usize>,
}

pub fn runs(dir: &Path, filter: &RunFilter<'_>, json: bool, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let query = query(filter)?;
    let runs = db.query_runs(&query);
    if json {
        for info in &runs {
            out.json_line(&run_json(info))?;
        }
        return Ok(());
    }
    let style = out.style;
    let now = SystemTime::now();
    let mut table = Table::new(&["RUN", "AGENT", "STATUS", "BEGAN", "TOOK", "TAGS", "PARENT"]);
    for info in &runs {
        let took = info
            .ended_at
            .map(|end| term::duration(end.saturating_since(info.created_at).as_micros() as u64));
        table.row(vec![
            style.cyan(&open::short(info.run)),
            agent_text(&info.agent),
            style.status(info.status.as_str()),
            term::ago(info.created_at, now),
            took.unwrap_or_else(|| "-".to_owned()),
            info.tags.join(","),
            info.parent.map_or_else(|| "-".to_owned(), open::short),
        ]);
    }
    table.print(&mut out.stdout, &style)?;
    if runs.is_empty() {
        writeln!(out.stdout, "{}", style.dim("(no runs)")).map_err(stdout_error)?;
    }
    Ok(())
}

fn query(filter: &RunFilter<'_>) -> Result<RunQuery> {
    let mut query = RunQuery::new().newest_first();
    if let Some(agent) = filter.agent {
        let parts: Vec<&str> = agent.split('/').collect();
        query = match parts.as_slice() {
            [agent] => query.agent(*agent),
            [app, agent] => query.app(*app).agent(*agent),
            [tenant, app, agent] => query.tenant(*tenant).app(*app).agent(*agent),
            _ => {
                return Err(CliError::BadArgument {
                    what: "--agent",
                    given: agent.to_owned(),
                    expected: "AGENT, APP/AGENT or TENANT/APP/AGENT".to_owned(),
                });
            }
        };
    }
    if let Some(status) = filter.status {
        let parsed = RunStatus::ALL.into_iter().find(|s| s.as_str() == status);
        let Some(status) = parsed else {
            return Err(CliError::BadArgument {
                what: "--status",
                given: status.to_owned(),
                expected: "active, paused, completed, failed, cancelled or interrupted".to_owned(),
            });
        };
        query = query.status(status);
    }
    if let Some(tag) = filter.tag {
        query = query.tag(tag);
    }
    if let Some(since) = filter.since {
        let span = humantime::parse_duration(since).map_err(|e| CliError::BadArgument {
            what: "--since",
            given: since.to_owned(),
            expected: format!("a duration such as 90s, 15m, 1h or 2days ({e})"),
        })?;
        let now = SystemTime::now();
        let from = now.checked_sub(span).unwrap_or(UNIX_EPOCH);
        let micros = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        };
        let before = now + Duration::from_secs(3600);
        query = query.created_between(
            Timestamp::from_micros(micros(from)),
            Timestamp::from_micros(micros(before)),
        );
    }
    if let Some(limit) = filter.limit {
        query = query.limit(limit);
    }
    Ok(query)
}

pub fn agent_text(agent: &AgentId) -> String {
    format!("{}/{}/{}", agent.tenant(), agent.app(), agent.agent())
}

/// A run's record as JSON.
pub fn run_json(info: &RunInfo) -> Json {
    json!({
        "run": info.run.to_string(),
        "agent": {"tenant": info.agent.tenant(), "app": info.agent.app(), "agent": info.agent.agent()},
        "status": info.status.as_str(),
        "parent": info.parent.map(|p| p.to_string()),
        "fork_point": info.fork_point,
        "snapshot": info.snapshot,
        "created_at": term::time(info.created_at),
        "updated_at": term::time(info.updated_at),
        "ended_at": info.ended_at.map(term::time),
        "tags": info.tags,
        "metadata": to_json(&info.metadata),
        "error": info.error,
    })
}

/// What a run holds, counted.
struct Counts {
    steps: usize,
    events: u64,
    cells: usize,
    machines: usize,
    spans: usize,
    failed_spans: usize,
    keys_visible: usize,
    keys_written: usize,
    last_error: Option<String>,
}

fn counts(db: &Database, run: RunId, info: &RunInfo) -> Result<Counts> {
    let timeline = db.run_timeline(run)?;
    let mut view = db.run_view_at(run, At::Now)?;
    let keys_visible = view.list_versioned(b"")?.len();
    let events = view.events().len()?;
    let cells = view.cells().list()?.len();
    let spans = view.spans().all()?;
    let mut machines: Vec<&String> = timeline.steps.iter().flat_map(|s| &s.machines).collect();
    machines.sort();
    machines.dedup();
    let mut written: Vec<&Vec<u8>> = timeline.steps.iter().flat_map(|s| &s.kv_keys).collect();
    written.sort();
    written.dedup();
    let failed: Vec<&in_mem::primitives::Span> = spans
        .iter()
        .filter(|s| s.status == in_mem::primitives::SpanStatus::Error)
        .collect();
    let last_error = info.error.clone().or_else(|| {
        failed.last().map(|s| match &s.kind {
            in_mem::primitives::SpanKind::Error { message } => message.clone(),
            other => format!("span {} ({}) failed", s.id, other.name()),
        })
    });
    Ok(Counts {
        steps: timeline.steps.len(),
        events,
        cells,
        machines: machines.len(),
        spans: spans.len(),
        failed_spans: failed.len(),
        keys_visible,
        keys_written: written.len(),
        last_error,
    })
}

pub fn show(dir: &Path, given: &str, json: bool, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let run = open::run(&db, given)?;
    let info = db.run_info(run)?;
    let counts = counts(&db, run, &info)?;
    let forks = db.query_runs(&RunQuery::new().forked_from(run));
    let children = db.query_runs(&RunQuery::new().parent(run));
    let took = info
        .ended_at
        .map(|end| end.saturating_since(info.created_at).as_micros() as u64);
    if json {
        let mut object = run_json(&info);
        if let Json::Object(map) = &mut object {
            map.insert("took_us".into(), json!(took));
            map.insert(
                "counts".into(),
                json!({
                    "steps": counts.steps,
                    "events": counts.events,
                    "cells": counts.cells,
                    "machines": counts.machines,
                    "spans": counts.spans,
                    "failed_spans": counts.failed_spans,
                    "keys_visible": counts.keys_visible,
                    "keys_written": counts.keys_written,
                }),
            );
            map.insert("last_error".into(), json!(counts.last_error));
            map.insert(
                "children".into(),
                json!(
                    children
                        .iter()
                        .map(|c| c.run.to_string())
                        .collect::<Vec<_>>()
                ),
            );
            map.insert(
                "forks".into(),
                json!(forks.iter().map(|c| c.run.to_string()).collect::<Vec<_>>()),
            );
        }
        return out.json_line(&object);
    }
    let s = out.style;
    let mut lines = vec![
        format!("{} {}", s.bold("run"), s.cyan(&run.to_string())),
        format!("  agent     {}", agent_text(&info.agent)),
        format!("  status    {}", s.status(info.status.as_str())),
    ];
    match (info.parent, info.fork_point) {
        (Some(parent), Some(point)) => lines.push(format!(
            "  lineage   forked from {} at version {point}",
            s.cyan(&parent.to_string())
        )),
        (Some(parent), None) => lines.push(format!(
            "  lineage   continues {}",
            s.cyan(&parent.to_string())
        )),
        _ => {}
    }
    for fork in &forks {
        lines.push(format!("  fork      {}", s.cyan(&fork.run.to_string())));
    }
    for child in children.iter().filter(|c| c.fork_point.is_none()) {
        lines.push(format!("  child     {}", s.cyan(&child.run.to_string())));
    }
    lines.push(format!("  began     {}", term::time(info.created_at)));
    if let Some(end) = info.ended_at {
        lines.push(format!("  ended     {}", term::time(end)));
    }
    if let Some(took) = took {
        lines.push(format!("  took      {}", term::duration(took)));
    }
    if !info.tags.is_empty() {
        lines.push(format!("  tags      {}", info.tags.join(", ")));
    }
    if info.metadata != in_mem::Value::Null {
        lines.push(format!("  metadata  {}", info.metadata));
    }
    lines.push(format!(
        "  holds     {} steps, {} events, {} state cells, {} machines, {} spans ({} failed)",
        counts.steps,
        counts.events,
        counts.cells,
        counts.machines,
        counts.spans,
        counts.failed_spans
    ));
    lines.push(format!(
        "  memory    {} keys visible, {} written by this run",
        counts.keys_visible, counts.keys_written
    ));
    if let Some(error) = &counts.last_error {
        lines.push(format!("  error     {}", s.red(error)));
    }
    for line in lines {
        writeln!(out.stdout, "{line}").map_err(stdout_error)?;
    }
    Ok(())
}
