//! `verify`: every checksum of every file (log segments, checkpoints) and every run's event
//! hash chain and records, with a progress bar on a large database; the exit code says what
//! failed (4 a log segment, 8 a checkpoint, 16 a run's records, added together; 0 none). Of a
//! shared store (a PostgreSQL URL), which has no files here: every run's records.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use in_mem::{At, Database};
use in_mem_durability::inspect::{self, Finding, LogCheck};
use in_mem_durability::{DataDir, StdFs};
use serde_json::json;

use super::Out;
use crate::error::Result;
use crate::open;
use crate::progress;
use crate::term::stdout_error;

/// Exit code bit: a log segment is damaged (or ends in a torn record).
pub const EXIT_LOG: u8 = 4;
/// Exit code bit: a checkpoint is damaged.
pub const EXIT_CHECKPOINT: u8 = 8;
/// Exit code bit: a run's records do not verify (a broken event hash chain, a record that
/// does not decode), or the database could not be read to check them.
pub const EXIT_RECORDS: u8 = 16;

/// How long to wait before reading a torn last record again: a writer appending right now
/// completes it within that time.
const TAIL_SETTLE: Duration = Duration::from_millis(300);

pub fn verify(dir: &Path, json: bool, out: &mut Out) -> Result<u8> {
    if open::store_url(dir).is_some() {
        return verify_store(dir, json, out);
    }
    let data = DataDir::open_read_only(Arc::new(StdFs), dir)?;
    let total = inspect::data_bytes(&data)?;
    let bar = progress::bytes(total, "verifying files");
    let mut log = inspect::verify_log(&data, &mut |n| bar.inc(n))?;
    if log.findings.iter().any(|f| f.tail) {
        // A record being appended right now reads as torn: look again once it had time.
        std::thread::sleep(TAIL_SETTLE);
        log = settle_tail(&data, &log)?;
    }
    let checkpoints = inspect::verify_checkpoints(&data, &mut |n| bar.inc(n))?;
    bar.finish_and_clear();
    let mut code = 0;
    if !log.findings.is_empty() {
        code |= EXIT_LOG;
    }
    if !checkpoints.findings.is_empty() {
        code |= EXIT_CHECKPOINT;
    }
    let records = match open::read_only(dir) {
        Ok(db) => check_runs(&db),
        Err(e) => RunsCheck {
            runs: 0,
            events: 0,
            problems: vec![format!("the database cannot be read: {e}")],
        },
    };
    if !records.problems.is_empty() {
        code |= EXIT_RECORDS;
    }
    if json {
        out.json_line(&json!({
            "log": {
                "segments": log.segments, "records": log.records, "bytes": log.bytes,
                "problems": log.findings.iter().map(finding_text).collect::<Vec<_>>(),
            },
            "checkpoints": {
                "checkpoints": checkpoints.checkpoints, "entries": checkpoints.entries,
                "bytes": checkpoints.bytes,
                "problems": checkpoints.findings.iter().map(|(f, e)| format!("{}: {e}", f.display())).collect::<Vec<_>>(),
            },
            "runs": {"runs": records.runs, "events": records.events, "problems": records.problems},
            "exit_code": code,
        }))?;
        return Ok(code);
    }
    let s = out.style;
    let verdict = |ok: bool| if ok { s.green("ok") } else { s.red("FAILED") };
    let mut lines = vec![format!("{} {}", s.bold("verifying"), dir.display())];
    lines.push(format!(
        "  log          {} segments, {} records, {} bytes: {}",
        log.segments,
        log.records,
        log.bytes,
        verdict(log.findings.is_empty())
    ));
    for f in &log.findings {
        lines.push(format!("    {}", s.red(&finding_text(f))));
    }
    lines.push(format!(
        "  checkpoints  {} checkpoints, {} entries, {} bytes: {}",
        checkpoints.checkpoints,
        checkpoints.entries,
        checkpoints.bytes,
        verdict(checkpoints.findings.is_empty())
    ));
    for (file, e) in &checkpoints.findings {
        lines.push(format!(
            "    {}",
            s.red(&format!("{}: {e}", file.display()))
        ));
    }
    lines.push(format!(
        "  runs         {} runs, {} events in their hash chains: {}",
        records.runs,
        records.events,
        verdict(records.problems.is_empty())
    ));
    for p in &records.problems {
        lines.push(format!("    {}", s.red(p)));
    }
    lines.push(if code == 0 {
        s.green("verified: no problems")
    } else {
        s.red(&format!("problems found (exit code {code})"))
    });
    for line in lines {
        writeln!(out.stdout, "{line}").map_err(stdout_error)?;
    }
    Ok(code)
}

/// `verify` of a shared store: every run's records, as a connected host reads them (the store
/// keeps its own files, which PostgreSQL checks).
fn verify_store(url: &Path, json: bool, out: &mut Out) -> Result<u8> {
    let records = check_runs(&open::read_only(url)?);
    let code = if records.problems.is_empty() {
        0
    } else {
        EXIT_RECORDS
    };
    if json {
        out.json_line(&json!({
            "runs": {"runs": records.runs, "events": records.events, "problems": records.problems},
            "exit_code": code,
        }))?;
        return Ok(code);
    }
    let s = out.style;
    let verdict = if code == 0 {
        s.green("ok")
    } else {
        s.red("FAILED")
    };
    // The URL is not repeated: it may carry a password.
    let mut lines = vec![format!("{} a shared store", s.bold("verifying"))];
    lines.push(format!(
        "  runs         {} runs, {} events in their hash chains: {verdict}",
        records.runs, records.events
    ));
    for p in &records.problems {
        lines.push(format!("    {}", s.red(p)));
    }
    lines.push(if code == 0 {
        s.green("verified: no problems")
    } else {
        s.red(&format!("problems found (exit code {code})"))
    });
    for line in lines {
        writeln!(out.stdout, "{line}").map_err(stdout_error)?;
    }
    Ok(code)
}

/// The log checked again: a torn tail that moved or went was a record being written.
fn settle_tail(data: &DataDir, first: &LogCheck) -> Result<LogCheck> {
    let again = inspect::verify_log(data, &mut |_| {})?;
    let settled: Vec<Finding> = again
        .findings
        .iter()
        .filter(|f| !f.tail || first.findings.contains(f))
        .cloned()
        .collect();
    Ok(LogCheck {
        findings: settled,
        ..again
    })
}

fn finding_text(f: &Finding) -> String {
    let what = if f.tail {
        "the last record is torn (a crash in the middle of an append): opening the database \
         for writing cuts it"
    } else {
        "damage before valid records: opening for writing refuses this database until it is \
         restored from a backup or opened with RecoveryMode::Salvage"
    };
    format!(
        "{} at offset {}: {}; {what}",
        f.file.display(),
        f.offset,
        f.kind
    )
}

struct RunsCheck {
    runs: u64,
    events: u64,
    problems: Vec<String>,
}

/// Every run's event hash chain verified, and its cells and spans decoded.
fn check_runs(db: &Database) -> RunsCheck {
    let runs = db.runs();
    let bar = progress::bar(runs.len() as u64, "verifying runs");
    let mut check = RunsCheck {
        runs: runs.len() as u64,
        events: 0,
        problems: Vec::new(),
    };
    for info in runs {
        let run = info.run;
        let outcome = db.run_view_at(run, At::Now).and_then(|mut view| {
            let chain = view.events().verify_chain(run)?;
            view.cells().list()?;
            view.spans().all()?;
            Ok(chain.events)
        });
        match outcome {
            Ok(events) => check.events += events,
            Err(e) => check.problems.push(format!("run {run}: {e}")),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    check
}
