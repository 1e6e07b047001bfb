//! `tree`: a run's spans as a tree, each with its kind, what it was about, its status and
//! duration, and a waterfall bar placing it in the run's time, like a trace viewer in text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use in_mem::At;
use in_mem::primitives::{Span, SpanId, SpanKind, SpanStatus};
use serde_json::{Value as Json, json};

use super::Out;
use crate::error::Result;
use crate::json::to_json;
use crate::open;
use crate::term::{self, stdout_error};

/// Columns of the waterfall bar.
const BAR_COLUMNS: usize = 24;
/// Columns of the status and duration columns together.
const STATUS_COLUMNS: usize = 18;
/// Narrowest the label column gets.
const LABEL_COLUMNS_MIN: usize = 24;

pub fn tree(dir: &Path, given: &str, json: bool, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let run = open::run(&db, given)?;
    let info = db.run_info(run)?;
    let spans = db.run_view_at(run, At::Now)?.spans().all()?;
    let mut children: BTreeMap<Option<SpanId>, Vec<&Span>> = BTreeMap::new();
    for span in &spans {
        children.entry(span.parent).or_default().push(span);
    }
    let mut ordered: Vec<(usize, bool, &Span, Vec<bool>)> = Vec::new();
    walk(&children, None, 0, &mut Vec::new(), &mut ordered);
    if json {
        for (depth, _, span, _) in &ordered {
            let mut object = span_json(span);
            if let Json::Object(map) = &mut object {
                map.insert("depth".into(), json!(depth));
            }
            out.json_line(&object)?;
        }
        return Ok(());
    }
    let s = out.style;
    let start = spans
        .iter()
        .map(|sp| sp.start.as_micros())
        .min()
        .unwrap_or(0);
    let end = spans
        .iter()
        .map(|sp| sp.end.unwrap_or(sp.start).as_micros())
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let took = info
        .ended_at
        .map(|e| term::duration(e.saturating_since(info.created_at).as_micros() as u64));
    writeln!(
        out.stdout,
        "{} {}  {}  {}{}",
        s.bold("run"),
        s.cyan(&open::short(run)),
        super::runs::agent_text(&info.agent),
        s.status(info.status.as_str()),
        took.map(|t| format!("  took {t}")).unwrap_or_default()
    )
    .map_err(stdout_error)?;
    if spans.is_empty() {
        writeln!(out.stdout, "{}", s.dim("(no spans)")).map_err(stdout_error)?;
        return Ok(());
    }
    let label_columns = s
        .width
        .saturating_sub(BAR_COLUMNS + STATUS_COLUMNS + 2)
        .clamp(LABEL_COLUMNS_MIN, 72);
    for (depth, last, span, open_levels) in &ordered {
        let mut prefix = String::new();
        for open in open_levels.iter().skip(1) {
            prefix.push_str(if *open { "│  " } else { "   " });
        }
        if *depth > 0 {
            prefix.push_str(if *last { "└─ " } else { "├─ " });
        }
        let label = format!("{prefix}#{} {} {}", span.id, span.kind.name(), about(span));
        let label = term::fit(&label, label_columns);
        let pad = label_columns.saturating_sub(label.chars().count());
        let took = span.end.map_or_else(
            || "-".to_owned(),
            |e| term::duration(e.saturating_since(span.start).as_micros() as u64),
        );
        let status = span.status.as_str();
        let status_text = format!("{status:<8}{took:>9}");
        let status_text = if span.status == SpanStatus::Ok {
            status_text
        } else {
            status_text.replacen(status, &s.status(status), 1)
        };
        let bar = bar(span, start, end);
        let bar = if span.status == SpanStatus::Error {
            s.red(&bar)
        } else {
            s.green(&bar)
        };
        writeln!(out.stdout, "{label}{} {status_text} {bar}", " ".repeat(pad))
            .map_err(stdout_error)?;
    }
    Ok(())
}

/// Depth-first order: (depth, last child of its parent, span, which ancestors have siblings
/// still to come).
fn walk<'a>(
    children: &BTreeMap<Option<SpanId>, Vec<&'a Span>>,
    parent: Option<SpanId>,
    depth: usize,
    open_levels: &mut Vec<bool>,
    out: &mut Vec<(usize, bool, &'a Span, Vec<bool>)>,
) {
    let Some(siblings) = children.get(&parent) else {
        return;
    };
    for (i, span) in siblings.iter().enumerate() {
        let last = i + 1 == siblings.len();
        out.push((depth, last, span, open_levels.clone()));
        open_levels.push(!last);
        walk(children, Some(span.id), depth + 1, open_levels, out);
        open_levels.pop();
    }
}

/// What a span was about, on one line.
pub fn about(span: &Span) -> String {
    match &span.kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            ..
        } => {
            let mut text = format!("{tool}({arguments})");
            if let Some(result) = result {
                let _ = write!(text, " → {result}");
            }
            text
        }
        SpanKind::Decision {
            question, chosen, ..
        } => format!("{question} → {chosen}"),
        SpanKind::Query { query, result } => match result {
            Some(result) => format!("{query} → {result}"),
            None => query.clone(),
        },
        SpanKind::Thought { text } => text.clone(),
        SpanKind::Error { message } => message.clone(),
        SpanKind::Custom { name, data } => format!("{name} {data}"),
        _ => String::new(),
    }
}

/// The span's place in `start..end` as a bar of `BAR_COLUMNS` columns.
fn bar(span: &Span, start: u64, end: u64) -> String {
    let total = (end - start) as f64;
    let column =
        |t: u64| (((t.saturating_sub(start)) as f64 / total) * BAR_COLUMNS as f64) as usize;
    let from = column(span.start.as_micros()).min(BAR_COLUMNS - 1);
    let to = span
        .end
        .map_or(BAR_COLUMNS, |e| column(e.as_micros()))
        .clamp(from + 1, BAR_COLUMNS);
    let mut text = " ".repeat(from);
    text.push_str(&"█".repeat(to - from));
    if span.end.is_none() {
        // Still running: open-ended.
        text.pop();
        text.push('▶');
    }
    text
}

/// A span as JSON.
pub fn span_json(span: &Span) -> Json {
    let kind = match &span.kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            duration_us,
        } => json!({"tool": tool, "arguments": to_json(arguments),
            "result": result.as_ref().map(to_json), "duration_us": duration_us}),
        SpanKind::Decision {
            question,
            options,
            chosen,
            reasoning,
        } => json!({"question": question, "options": options, "chosen": chosen,
            "reasoning": reasoning}),
        SpanKind::Query { query, result } => {
            json!({"query": query, "result": result.as_ref().map(to_json)})
        }
        SpanKind::Thought { text } => json!({"text": text}),
        SpanKind::Error { message } => json!({"message": message}),
        SpanKind::Custom { name, data } => json!({"name": name, "data": to_json(data)}),
        _ => json!({}),
    };
    json!({
        "id": span.id,
        "parent": span.parent,
        "kind": span.kind.name(),
        "detail": kind,
        "status": span.status.as_str(),
        "start": term::time(span.start),
        "end": span.end.map(term::time),
        "duration_us": span.end.map(|e| e.saturating_since(span.start).as_micros() as u64),
        "tags": span.tags,
        "attributes": span.attributes.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<serde_json::Map<_, _>>(),
    })
}
