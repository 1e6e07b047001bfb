//! The third batch's tables in report.md.

use std::fmt::Write;

use super::{Third, WRITERS, WRITERS_BESIDE_GETS};
use crate::bench::median;
use crate::report::percentile;

/// Percentiles of `samples` (nanoseconds) as microseconds: p50, p99, p99.9, and the maximum.
fn spread(samples: &[u32]) -> [f64; 4] {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |p: f64| f64::from(percentile(&sorted, p)) / 1e3;
    [at(0.5), at(0.99), at(0.999), at(1.0)]
}

fn us(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} s", x / 1e6)
    } else if x >= 1000.0 {
        format!("{:.1} ms", x / 1e3)
    } else if x >= 10.0 {
        format!("{x:.0} us")
    } else {
        format!("{x:.1} us")
    }
}

fn per_second(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M/s", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k/s", x / 1e3)
    } else {
        format!("{x:.0}/s")
    }
}

/// The third batch as markdown; empty when it did not run.
pub fn markdown(third: &Third) -> String {
    let mut s = String::new();
    if !third.latency_ns.is_empty() {
        s.push_str(&commit_latency(third));
        s.push_str(&gets_beside_writers(third));
    }
    if !third.sustained.is_empty() {
        s.push_str(&sustained(third));
    }
    if !third.data_sets.is_empty() {
        s.push_str(&data_sets(third));
    }
    s
}

fn commit_latency(third: &Third) -> String {
    let mut s = String::from(
        "\n### Commit latency (one put a commit, each timed; pooled over the rounds)\n\n\
         | commits | writers | engine | commits/s (median round) | p50 | p99 | p99.9 | max |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for prefix in ["strict", "nosync"] {
        for writers in WRITERS {
            let row = format!("{prefix}_commit_{writers}w");
            let Some(engines) = third.latency_ns.get(&row) else {
                continue;
            };
            let kind = if prefix == "strict" {
                "durable (Strict)"
            } else {
                "without a sync (Batched, Async)"
            };
            for (engine, samples) in engines {
                let r = third.rates.get(&row).and_then(|m| median(m.get(engine)?));
                let [p50, p99, p999, max] = spread(samples);
                let _ = writeln!(
                    s,
                    "| {kind} | {writers} | {engine} | {} | {} | {} | {} | {} |",
                    r.map_or_else(|| "-".into(), per_second),
                    us(p50),
                    us(p99),
                    us(p999),
                    us(max)
                );
            }
        }
    }
    s
}

fn gets_beside_writers(third: &Third) -> String {
    let (Some(idle), Some(beside)) = (
        third.latency_ns.get("get_idle"),
        third.latency_ns.get("get_beside_strict"),
    ) else {
        return String::new();
    };
    let mut s = format!(
        "\n### Gets beside durable writers (1M-key read set, one reader; {WRITERS_BESIDE_GETS} \
         writers committing one put at a time, durably)\n\n\
         | engine | alone p50 | p99 | p99.9 | beside the writers p50 | p99 | p99.9 | the writers' commits/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for (engine, alone) in idle {
        let Some(with) = beside.get(engine) else {
            continue;
        };
        let [a50, a99, a999, _] = spread(alone);
        let [w50, w99, w999, _] = spread(with);
        let writers = third
            .writers_beside_gets
            .get(engine)
            .and_then(|r| median(r));
        let _ = writeln!(
            s,
            "| {engine} | {} | {} | {} | {} | {} | {} | {} |",
            us(a50),
            us(a99),
            us(a999),
            us(w50),
            us(w99),
            us(w999),
            writers.map_or_else(|| "-".into(), per_second)
        );
    }
    s
}

fn sustained(third: &Third) -> String {
    let mut s = String::from(
        "\n### Sustained writes (one writer, fresh keys, one put a commit, no sync per commit)\n\n\
         | engine | puts | seconds | puts/s | slowest second | median second | fastest second | \
         p50 | p99 | p99.9 | p99.99 | max | disk after |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for run in &third.sustained {
        // Counts here stay far below 2^52: the conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let seconds: Vec<f64> = run.per_second.iter().map(|&n| n as f64).collect();
        let slowest = seconds.iter().copied().fold(f64::INFINITY, f64::min);
        let fastest = seconds.iter().copied().fold(0.0, f64::max);
        #[allow(clippy::cast_precision_loss)]
        let overall = run.puts as f64 / run.seconds.max(1e-9);
        #[allow(clippy::cast_precision_loss)]
        let disk_mib = run.disk_bytes as f64 / f64::from(1u32 << 20);
        let [p50, p99, p999, p9999, max] = run.latency_us;
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {disk_mib:.0} MiB |",
            run.engine,
            crate::workloads::count(run.puts),
            run.seconds,
            per_second(overall),
            per_second(slowest),
            median(&seconds).map_or_else(|| "-".into(), per_second),
            per_second(fastest),
            us(p50),
            us(p99),
            us(p999),
            us(p9999),
            us(max)
        );
    }
    if let Some(run) = third.sustained.first() {
        let _ = writeln!(
            s,
            "\nMaking each put's key and value costs the loop ~{:.0} ns (measured apart, the \
             same for every engine).",
            run.making_ns
        );
    }
    s
}

fn data_sets(third: &Third) -> String {
    let mut s = String::from(
        "\n### Data sets: load, size, cold open (a fresh process: open and the first get), gets after\n\n\
         | data set | engine | puts a commit | load | resident after the load | disk | cold open | \
         resident after the open | random gets after the open |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for d in &third.data_sets {
        // Counts here stay far below 2^52: the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let load = d.keys as f64 / d.load_seconds.max(1e-9);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ({:.1} s) | {:.0} B/entry | {:.0} B/entry | {} | {:.0} B/entry | {} |",
            d.name,
            d.engine,
            d.puts_per_commit,
            per_second(load),
            d.load_seconds,
            d.resident_per_entry,
            d.disk_per_entry,
            us(d.open_seconds * 1e6),
            d.open_resident_per_entry,
            per_second(d.gets_per_second)
        );
    }
    s
}
