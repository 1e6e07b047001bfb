//! The report: the table of medians and ratios printed to the terminal, `report.md`,
//! `report.json`, and each docs/PERFORMANCE.md target as met or missed.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bench::{READER_THREADS, Results, WRITERS};
use crate::engines::{NOT_POWER_SAFE, SQLITE_SYNC_CALL, modes_doc};
use crate::memory::Memory;
use crate::workload::Plan;

/// Column order of the tables.
pub const PEERS: [&str; 9] = [
    "fdatasync floor",
    "skipmap floor",
    "design floor",
    "design floor, no log",
    "redb",
    "fjall",
    "sled",
    "lmdb",
    "sqlite",
];

/// Rows of the ratio table: workload, the in-mem label it compares, and the unit it prints in.
fn rows() -> Vec<(String, &'static str, Unit)> {
    let mut rows = Vec::new();
    for t in WRITERS {
        rows.push((format!("durable_put_{t}t"), "in-mem", Unit::PerSecond));
    }
    rows.push(("batch_1000_durable".into(), "in-mem", Unit::PerSecond));
    for w in ["put_seq", "put_random"] {
        rows.push((w.into(), "in-mem batched", Unit::PerSecond));
        rows.push((w.into(), "in-mem async", Unit::PerSecond));
    }
    for t in READER_THREADS {
        rows.push((format!("get_random_{t}t"), "in-mem", Unit::PerSecond));
    }
    for t in READER_THREADS {
        rows.push((format!("get_random_{t}t_txn"), "in-mem", Unit::PerSecond));
    }
    rows.push(("scan_1k".into(), "in-mem", Unit::MicrosEach));
    for w in [
        "agent_runs",
        "agent_kv_put",
        "agent_event_append",
        "agent_state_cas",
        "agent_trace_span",
        "agent_read_back",
    ] {
        rows.push((w.into(), "in-mem", Unit::PerSecond));
    }
    rows
}

#[derive(Clone, Copy)]
enum Unit {
    PerSecond,
    MicrosEach,
}

fn fmt_rate(rate: f64, unit: Unit) -> String {
    match unit {
        Unit::MicrosEach => format!("{:.0} us", 1e6 / rate),
        Unit::PerSecond if rate >= 1e6 => format!("{:.2}M/s", rate / 1e6),
        Unit::PerSecond if rate >= 1e4 => format!("{:.0}k/s", rate / 1e3),
        Unit::PerSecond if rate >= 1e3 => format!("{:.1}k/s", rate / 1e3),
        Unit::PerSecond => format!("{rate:.0}/s"),
    }
}

/// One docs/PERFORMANCE.md target, judged.
#[derive(Debug, Serialize)]
pub struct Target {
    pub area: String,
    pub target: String,
    pub measured: String,
    pub ratio: Option<f64>,
    pub at_least: f64,
    pub met: Option<bool>,
}

fn target(area: &str, text: &str, ratio: Option<f64>, at_least: f64, measured: String) -> Target {
    Target {
        area: area.into(),
        target: text.into(),
        measured,
        ratio,
        at_least,
        met: ratio.map(|r| r >= at_least),
    }
}

/// `mine` in `my_workload` over `other` in `other_workload`, and both figures as text.
fn ratio_of(
    r: &Results,
    my_workload: &str,
    mine: &str,
    other_workload: &str,
    other: &str,
) -> (Option<f64>, String) {
    match (r.median(my_workload, mine), r.median(other_workload, other)) {
        (Some(num), Some(den)) => (
            Some(num / den),
            format!(
                "{} / {}",
                fmt_rate(num, Unit::PerSecond),
                fmt_rate(den, Unit::PerSecond)
            ),
        ),
        _ => (None, "not measured".into()),
    }
}

/// Every target row of docs/PERFORMANCE.md, from one run's results.
pub fn targets(r: &Results, memory: &[Memory]) -> Vec<Target> {
    let mut out = Vec::new();
    strict_targets(r, &mut out);
    write_targets(r, &mut out);
    read_targets(r, &mut out);
    other_targets(r, memory, &mut out);
    out
}

/// Strict mode with 1, 2 and 8 writers.
fn strict_targets(r: &Results, out: &mut Vec<Target>) {
    let s1 = "durable_put_1t";
    for (peer, at_least) in [("fdatasync floor", 0.9), ("fjall", 1.0), ("redb", 2.0)] {
        let (ratio, m) = ratio_of(r, s1, "in-mem", s1, peer);
        let text = format!(">= {at_least}x {peer}");
        out.push(target("Strict, 1 writer", &text, ratio, at_least, m));
    }
    for (t, at_least) in [(2, 1.3), (8, 4.0)] {
        let w = format!("durable_put_{t}t");
        let (ratio, m) = ratio_of(r, &w, "in-mem", s1, "in-mem");
        let text = format!(">= {at_least}x our own 1-writer rate");
        out.push(target(
            &format!("Strict, {t} writers"),
            &text,
            ratio,
            at_least,
            m,
        ));
    }
    let w8 = "durable_put_8t";
    worst_peer(
        r,
        w8,
        &["redb", "fjall", "sled", "lmdb", "sqlite"],
        "every peer (sled's is not power-safe)",
        out,
    );
    // sled's flush is `sync_file_range`, which is no fsync: the same target against the peers
    // whose durable mode is one.
    let fsyncing = ["redb", "fjall", "lmdb", "sqlite"];
    worst_peer(
        r,
        w8,
        &fsyncing,
        "every peer that is power-safe (all but sled)",
        out,
    );
}

/// The lowest ratio of in-mem to any of `peers` in workload `w` against 3.5x.
fn worst_peer(r: &Results, w: &str, peers: &[&str], who: &str, out: &mut Vec<Target>) {
    let mut worst: Option<(f64, String, String)> = None;
    for &peer in peers {
        if let (Some(ratio), m) = ratio_of(r, w, "in-mem", w, peer)
            && worst.as_ref().is_none_or(|w| ratio < w.0)
        {
            worst = Some((ratio, peer.to_string(), m));
        }
    }
    let text = format!(">= 3.5x the 8-writer durable rate of {who}");
    out.push(match worst {
        Some((ratio, peer, m)) => {
            let safety = if not_power_safe(&peer) {
                ", whose flush is not power-safe"
            } else {
                ""
            };
            target(
                "Strict, 8 writers",
                &text,
                Some(ratio),
                3.5,
                format!("{m} (lowest ratio: {peer}{safety})"),
            )
        }
        None => target("Strict, 8 writers", &text, None, 3.5, "not measured".into()),
    });
}

/// Batched and Async puts.
fn write_targets(r: &Results, out: &mut Vec<Target>) {
    let rows = [
        (
            "Batched, 1 thread, seq keys",
            "in-mem batched",
            "fjall",
            1.0,
            "put_seq",
        ),
        (
            "Async, 1 thread, seq keys",
            "in-mem async",
            "fjall",
            2.0,
            "put_seq",
        ),
        (
            "Batched, random keys",
            "in-mem batched",
            "skipmap floor",
            0.8,
            "put_random",
        ),
    ];
    for (area, who, peer, at_least, w) in rows {
        let (ratio, m) = ratio_of(r, w, who, w, peer);
        let text = if peer == "fjall" {
            format!(">= {at_least}x fjall's no-sync put")
        } else {
            format!(">= {at_least}x raw SkipMap random insert")
        };
        out.push(target(area, &text, ratio, at_least, m));
    }
}

/// Point gets and the prefix scan.
fn read_targets(r: &Results, out: &mut Vec<Target>) {
    for t in READER_THREADS {
        let w = format!("get_random_{t}t");
        let (ratio, m) = ratio_of(r, &w, "in-mem", &w, "lmdb");
        let area = format!("point get, 1M keys, random, {t}T");
        out.push(target(&area, ">= 1.2x LMDB", ratio, 1.2, m));
    }
    let area = "prefix scan of 1,000 keys";
    let (ratio, m) = ratio_of(r, "scan_1k", "in-mem", "scan_1k", "skipmap floor");
    out.push(target(area, ">= 0.9x the raw SkipMap", ratio, 0.9, m));
    let (ratio, m) = ratio_of(r, "scan_1k", "in-mem", "scan_1k", "lmdb");
    out.push(target(area, "LMDB parity (long-run aim)", ratio, 1.0, m));
}

/// The primitives, recovery and memory.
fn other_targets(r: &Results, memory: &[Memory], out: &mut Vec<Target>) {
    for (w, what) in [
        ("agent_event_append", "event append"),
        ("agent_state_cas", "state CAS"),
        ("agent_trace_span", "trace span"),
    ] {
        let (ratio, m) = ratio_of(r, w, "in-mem", "agent_kv_put", "in-mem");
        let area = format!("{what}, Batched");
        out.push(target(&area, ">= 0.8x our own Batched put", ratio, 0.8, m));
    }
    if let Some(rec) = &r.recovery {
        let seconds = crate::bench::median(&rec.open_seconds).unwrap_or(f64::NAN);
        // Counts here stay far below 2^52: the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let per_second = rec.commits as f64 / seconds;
        let measured = format!(
            "{} commits ({} records) opened in {:.0} ms: {}",
            rec.commits,
            rec.records_replayed,
            seconds * 1e3,
            fmt_rate(per_second, Unit::PerSecond)
        );
        let ratio = Some(per_second / 1e6);
        out.push(target(
            "recovery",
            "replay >= 1M commits/s",
            ratio,
            1.0,
            measured,
        ));
        let seconds = crate::bench::median(&rec.checkpoint_open_seconds).unwrap_or(f64::NAN);
        let measured = format!(
            "{} keys from a checkpoint (+{} log records) opened in {:.0} ms",
            rec.checkpoint_keys,
            rec.checkpoint_records_replayed,
            seconds * 1e3
        );
        // "Well under a second" is read as at most half a second: the ratio is 0.5 s / open.
        out.push(Target {
            area: "recovery".into(),
            target: "open of 1M keys from a checkpoint well under 1 s (read: <= 0.5 s)".into(),
            measured,
            ratio: Some(0.5 / seconds),
            at_least: 1.0,
            met: Some(seconds <= 0.5),
        });
    }
    for m in memory.iter().filter(|m| m.engine.starts_with("in-mem")) {
        out.push(Target {
            area: format!("memory ({})", m.engine),
            target: "<= 2.5x the raw key+value bytes, 1M small entries".into(),
            measured: format!("{:.0} B/entry ({:.2}x raw)", m.bytes_per_entry, m.times_raw),
            ratio: Some(m.times_raw),
            at_least: 2.5,
            met: Some(m.times_raw <= 2.5),
        });
    }
}

/// The `p` quantile (0..=1) of sorted samples.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    // Sample counts here stay far below 2^52; p is in 0..=1, so the index is in range.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_sign_loss,
        clippy::cast_possible_truncation
    )]
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The machine and the run, for the report header.
#[derive(Debug, Serialize)]
pub struct Context {
    pub mode: &'static str,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
    pub seconds: f64,
    pub allocator: &'static str,
    pub plan: Plan,
    /// Per phase: name, seconds, and the cores' worth of CPU other processes used meanwhile
    /// (2-core machine: above ~0.1 the phase was disturbed).
    pub disturbance: Vec<(String, f64, f64)>,
}

/// Whether `peer`'s durable mode is not power-safe (see [`NOT_POWER_SAFE`]).
fn not_power_safe(peer: &str) -> bool {
    NOT_POWER_SAFE.iter().any(|(p, _)| *p == peer)
}

/// in-mem's Batched and Async puts beside fjall with the same sync schedule (like for like),
/// and fjall's plain insert (which never syncs), as markdown.
pub fn like_for_like_table(r: &Results) -> String {
    let mut s = String::from(
        "| workload | in-mem mode | in-mem | fjall, same sync schedule | in-mem / it | fjall plain insert (never syncs) | in-mem / it | what a power loss takes (both) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let modes = [
        (
            "in-mem batched",
            "fjall sync 100 ms",
            "the last 100 ms or 1,000 commits",
        ),
        ("in-mem async", "fjall manual, sync 1 s", "the last second"),
    ];
    for w in ["put_seq", "put_random"] {
        for (mine, twin, loss) in modes {
            let Some(m) = r.median(w, mine) else {
                continue;
            };
            let cell = |peer: &str| {
                r.median(w, peer).map_or_else(
                    || " | |".to_string(),
                    |x| format!(" {} | {:.2}x |", fmt_rate(x, Unit::PerSecond), m / x),
                )
            };
            let _ = writeln!(
                s,
                "| {w} | {} | {} |{}{} {loss} |",
                mine.trim_start_matches("in-mem "),
                fmt_rate(m, Unit::PerSecond),
                cell(twin),
                cell("fjall"),
            );
        }
    }
    s
}

/// A markdown table's header and separator rows: `first` columns, then one per peer.
fn table_header(first: &[&str], peers: &[&str]) -> String {
    let mut s = String::from("|");
    for column in first.iter().chain(peers) {
        let _ = write!(s, " {column} |");
    }
    s.push_str("\n|");
    for _ in first.iter().chain(peers) {
        s.push_str(" --- |");
    }
    s.push('\n');
    s
}

/// The ratio table as markdown (also what the terminal shows).
pub fn ratio_table(r: &Results) -> String {
    let mut s = table_header(&["workload", "in-mem"], &PEERS);
    for (w, me, unit) in rows() {
        let Some(mine) = r.median(&w, me) else {
            continue;
        };
        let name = if me == "in-mem" {
            w.clone()
        } else {
            format!("{w} ({me})")
        };
        let _ = write!(s, "| {name} | {} |", fmt_rate(mine, unit));
        let durable = w.starts_with("durable_") || w.ends_with("_durable");
        for p in PEERS {
            match r.median(&w, p) {
                Some(x) => {
                    let unsafe_mark = if durable && not_power_safe(p) {
                        ", not power-safe"
                    } else {
                        ""
                    };
                    let _ = write!(
                        s,
                        " {} ({:.2}x{unsafe_mark}) |",
                        fmt_rate(x, unit),
                        mine / x
                    );
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }
    s
}

/// Columns of the table of the workloads users will run themselves (`workloads.rs`): fjall twice,
/// plain and on Batched's sync schedule.
const WORKLOAD_PEERS: [&str; 7] = [
    "skipmap floor",
    "redb",
    "fjall",
    "fjall sync 100 ms",
    "sled",
    "lmdb",
    "sqlite",
];

/// The workloads users will run themselves, one row each with what it measures, as markdown;
/// empty when none ran.
pub fn workloads_table(r: &Results, plan: &Plan) -> String {
    let mut s = table_header(&["workload", "what it measures", "in-mem"], &WORKLOAD_PEERS);
    let mut any = false;
    let rows = crate::workloads::rows(plan)
        .into_iter()
        .chain(crate::workloads2::rows(plan));
    for (w, what) in rows {
        let Some(mine) = r.median(&w, "in-mem") else {
            continue;
        };
        any = true;
        let _ = write!(s, "| {w} | {what} | {} |", fmt_rate(mine, Unit::PerSecond));
        for p in WORKLOAD_PEERS {
            match r.median(&w, p) {
                Some(x) => {
                    let _ = write!(s, " {} ({:.2}x) |", fmt_rate(x, Unit::PerSecond), mine / x);
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }
    if any { s } else { String::new() }
}

/// Get-latency percentiles per engine, as markdown.
pub fn latency_table(r: &Results) -> String {
    let ps = [0.5, 0.9, 0.99, 0.999, 0.9999];
    let mut s = String::from(
        "| engine | p50 | p90 | p99 | p99.9 | p99.99 | samples |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (engine, samples) in &r.get_latency_ns {
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let _ = write!(s, "| {engine} |");
        for p in ps {
            let _ = write!(s, " {:.2} us |", f64::from(percentile(&sorted, p)) / 1e3);
        }
        let _ = writeln!(s, " {} |", sorted.len());
    }
    s
}

fn targets_table(targets: &[Target]) -> String {
    let mut s = String::from(
        "| area | target | measured (in-mem / other) | ratio | status |\n| --- | --- | --- | --- | --- |\n",
    );
    for t in targets {
        let ratio = t.ratio.map_or_else(|| "-".into(), |r| format!("{r:.2}x"));
        let status = match t.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {ratio} | {status} |",
            t.area, t.target, t.measured
        );
    }
    s
}

/// The whole report as markdown.
pub fn markdown(ctx: &Context, r: &Results, memory: &[Memory], targets: &[Target]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# in-mem beside its peers ({} run)\n", ctx.mode);
    let _ = writeln!(
        s,
        "Machine: {} ({} cores), {:.0} GiB, Linux {}; allocator: {}. Load average before: {}; \
         after: {}. Wall time {:.0} s. Rates are medians of {} interleaved rounds, after one \
         warm-up round per phase whose figures are dropped.\n",
        ctx.cpu,
        ctx.cores,
        ctx.memory_gib,
        ctx.kernel,
        ctx.allocator,
        ctx.load_before,
        ctx.load_after,
        ctx.seconds,
        ctx.plan.rounds
    );
    s.push_str("Phases (seconds; CPU used meanwhile by other processes, in cores of 2):");
    for (name, seconds, others) in &ctx.disturbance {
        let _ = write!(s, " {name} {seconds:.0} s ({others:.2});");
    }
    s.push_str("\n\n## Targets (docs/PERFORMANCE.md)\n\n");
    s.push_str(&targets_table(targets));
    s.push_str("\n## Every workload (median; in parentheses: in-mem / that engine)\n\n");
    s.push_str(&ratio_table(r));
    let _ = write!(
        s,
        "\nDurable rows (`durable_put_*`, `batch_1000_durable`) are power-safe per commit for \
         every engine but those marked \"not power-safe\" ({}); SQLite syncs with {SQLITE_SYNC_CALL}. \
         `get_random_Nt_txn`: redb and LMDB reuse one read transaction per thread for all of its \
         gets (in-mem has no read transaction: its figure is its plain get, measured again).\n",
        NOT_POWER_SAFE
            .iter()
            .map(|(p, why)| format!("{p}: {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    s.push_str("\n## Like for like: fjall with in-mem's sync schedules\n\n");
    s.push_str(&like_for_like_table(r));
    let workloads = workloads_table(r, &ctx.plan);
    if !workloads.is_empty() {
        s.push_str("\n## Workloads users will run themselves (median; in parentheses: in-mem / that engine)\n\n");
        s.push_str(&workloads);
        s.push_str(
            "\nin-mem runs in Batched (its default) beside each peer without a sync per commit, \
             and fjall again with a sync every 100 ms or 1,000 inserts (like for like). LMDB syncs \
             every commit, so it has no rows with puts; fjall with the sync thread reads as plain \
             fjall does, so it runs only the rows with puts. Each engine in a child process of \
             its own; a fresh store per round for the value sizes and the second batch's write \
             rows. `write_4t_async` is in-mem Async beside the same peer figures as `write_4t`. \
             The rows marked in-mem only have no peer figures: no peer here has a TTL or runs.\n",
        );
    }
    let third = crate::workloads3::markdown(&r.third);
    if !third.is_empty() {
        s.push_str("\n## Workloads users will run themselves: the third batch\n");
        s.push_str(&third);
    }
    s.push_str("\n## Get latency, 1 thread, 1M keys, random\n\n");
    s.push_str(&latency_table(r));
    s.push_str("\n## Memory, resident delta in a fresh process\n\n| engine | entries | bytes/entry | x raw (124 B) |\n| --- | --- | --- | --- |\n");
    for m in memory {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.2}x |",
            m.engine, m.entries, m.bytes_per_entry, m.times_raw
        );
    }
    s.push_str("\n## Loading the read set (10,000 puts per commit, random order, each engine in its own process)\n\n| engine | seconds |\n| --- | --- |\n");
    for (engine, seconds) in &r.load_seconds {
        let _ = writeln!(s, "| {engine} | {seconds:.1} |");
    }
    s.push_str("\n## Modes\n\n");
    s.push_str(&modes_doc());
    let _ = writeln!(
        s,
        "\nPlan: {}",
        serde_json::to_string(&ctx.plan).unwrap_or_default()
    );
    s
}

/// The JSON report.
#[derive(Serialize)]
pub struct Json<'a> {
    pub context: &'a Context,
    pub medians: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
    pub results: &'a Results,
    pub get_latency_us: std::collections::BTreeMap<String, [f64; 5]>,
    pub memory: &'a [Memory],
    pub targets: &'a [Target],
}

pub fn json<'a>(
    ctx: &'a Context,
    r: &'a Results,
    memory: &'a [Memory],
    targets: &'a [Target],
) -> Json<'a> {
    let medians = r
        .rates
        .iter()
        .map(|(w, engines)| {
            let m = engines
                .iter()
                .filter_map(|(e, xs)| Some((e.clone(), crate::bench::median(xs)?)))
                .collect();
            (w.clone(), m)
        })
        .collect();
    let get_latency_us = r
        .get_latency_ns
        .iter()
        .map(|(e, xs)| {
            let mut sorted = xs.clone();
            sorted.sort_unstable();
            let at = |p| f64::from(percentile(&sorted, p)) / 1e3;
            (
                e.clone(),
                [at(0.5), at(0.9), at(0.99), at(0.999), at(0.9999)],
            )
        })
        .collect();
    Json {
        context: ctx,
        medians,
        results: r,
        get_latency_us,
        memory,
        targets,
    }
}
