//! `backup` (a consistent copy of a live database that opens as the same database) and `otlp`
//! (stored traces sent to an OpenTelemetry collector over OTLP/HTTP, protobuf).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use in_mem::At;
use in_mem_durability::{StdFs, backup_database};
use prost::Message as _;

use super::Out;
use crate::error::{CliError, Result};
use crate::open;
use crate::otlp;
use crate::progress;
use crate::term::stdout_error;

/// Longest an OTLP request may take, connection included.
const OTLP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most spans sent in one request (collectors refuse very large bodies).
const OTLP_SPANS_PER_REQUEST_MAX: usize = 2_000;

pub fn backup(dir: &Path, dest: &Path, out: &mut Out) -> Result<()> {
    let backup = backup_database(
        &(Arc::new(StdFs) as Arc<dyn in_mem_durability::Vfs>),
        dir,
        dest,
    )?;
    // The copy must open: read it back as a reader would, and count what it holds.
    let copy = open::read_only(dest)?;
    let runs = copy.runs().len();
    let last = copy.stats().visible_version;
    if last != backup.last_version.get() {
        return Err(CliError::BadArgument {
            what: "backup",
            given: dest.display().to_string(),
            expected: format!(
                "a copy reading to version {}, but it reads to {last}",
                backup.last_version
            ),
        });
    }
    writeln!(
        out.stdout,
        "backed up {} to {}: {last} commits, {runs} runs ({}{} log segments, {} bytes)",
        dir.display(),
        dest.display(),
        backup
            .checkpoint
            .map(|v| format!("checkpoint at {v} and "))
            .unwrap_or_default(),
        backup.segments,
        backup.bytes
    )
    .map_err(stdout_error)
}

pub fn otlp(
    dir: &Path,
    run: Option<&str>,
    endpoint: &str,
    service: &str,
    out: &mut Out,
) -> Result<()> {
    let db = open::read_only(dir)?;
    let runs = match run {
        Some(given) => vec![db.run_info(open::run(&db, given)?)?],
        None => db.runs(),
    };
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(OTLP_TIMEOUT))
        .build()
        .into();
    let bar = progress::bar(runs.len() as u64, "sending runs");
    let (mut batch, mut in_batch, mut sent_spans, mut requests) = (Vec::new(), 0, 0, 0);
    let total = runs.len();
    for (i, info) in runs.into_iter().enumerate() {
        let spans = db.run_view_at(info.run, At::Now)?.spans().all()?;
        in_batch += spans.len() + 1;
        batch.push((info, spans));
        if in_batch >= OTLP_SPANS_PER_REQUEST_MAX || i + 1 == total {
            let request = otlp::request(service, &batch);
            send(&agent, &url, &request.encode_to_vec())?;
            sent_spans += in_batch;
            requests += 1;
            bar.inc(batch.len() as u64);
            batch.clear();
            in_batch = 0;
        }
    }
    bar.finish_and_clear();
    writeln!(
        out.stdout,
        "sent {sent_spans} spans of {total} runs to {url} in {requests} requests"
    )
    .map_err(stdout_error)
}

fn send(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<()> {
    let failed = |reason: String| CliError::Otlp {
        endpoint: url.to_owned(),
        reason,
    };
    match agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .send(body)
    {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(failed(format!(
            "the collector answered {}",
            response.status()
        ))),
        Err(ureq::Error::StatusCode(code)) => Err(failed(format!("the collector answered {code}"))),
        Err(e) => Err(failed(e.to_string())),
    }
}
