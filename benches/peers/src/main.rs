//! `in-mem-peers`: in-mem beside redb, fjall, sled, LMDB (heed), `SQLite` in WAL mode and the raw
//! `crossbeam_skiplist::SkipMap`, every workload of docs/PERFORMANCE.md in one invocation, engines
//! interleaved round by round after a warm-up round, medians reported as ratios. The read
//! workloads run each engine in a child process of this binary (`reads.rs`), as the memory
//! measurement does (`memory.rs`), and so do the workloads users will run themselves (value
//! sizes, missing and Zipfian gets, mixed gets and puts: `workloads.rs`; scans, writes on 4
//! threads, deletes, overwrites, TTLs, contended read-modify-writes, runs: `workloads2/`;
//! commit latency percentiles, gets beside Strict writers, a sustained write run, data sets of
//! 1M commits and 10M keys with their disk, memory and cold open: `workloads3/`; `--only
//! workloads` runs all three, `--only workloads1`, `workloads2` or `workloads3` one).
//!
//! ```sh
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- [--quick] [--out target/bench] [--plots docs]
//! ```
//!
//! Writes `report.md` and `report.json` to `--out`, and `strict_writers.png` and
//! `get_latency.png` to `--plots` (default: `--out`). Every engine runs on glibc's allocator
//! (no global allocator is set), as the criterion benches do.

mod agent;
mod bench;
mod engines;
mod memory;
mod plot;
mod profile;
mod reads;
mod recovery;
mod report;
mod workload;
mod workloads;
mod workloads2;
mod workloads3;
mod zipf;

use std::path::PathBuf;
use std::time::Instant;

use engines::Result;
use workload::Plan;

/// One group of workloads (see `bench.rs`).
type Phase = fn(&Plan, &bench::Scratch, &mut bench::Results) -> Result<()>;

/// What the command line asked for.
struct Args {
    quick: bool,
    out: PathBuf,
    plots: Option<PathBuf>,
    only: Option<Vec<String>>,
    memory_child: Option<String>,
    read_child: Option<String>,
    workload_child: Option<String>,
    workload2_child: Option<String>,
    workload3_child: Option<String>,
    open_child: Option<PathBuf>,
    plan: Option<String>,
    profile: Option<String>,
    engine: Option<String>,
    entries: u64,
    ops: u64,
    scratch: Option<PathBuf>,
}

const USAGE: &str = "usage: in-mem-peers [--quick] [--out DIR] [--plots DIR] \
[--only durable,nosync,reads,workloads,workloads1,workloads2,workloads3,agent,recovery,memory] [--plan JSON] | --profile NAME [--ops N] [--engine PEER]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        quick: false,
        out: PathBuf::from("target/bench"),
        plots: None,
        only: None,
        memory_child: None,
        read_child: None,
        workload_child: None,
        workload2_child: None,
        workload3_child: None,
        open_child: None,
        plan: None,
        profile: None,
        engine: None,
        entries: 1_000_000,
        ops: 100_000,
        scratch: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--out" => args.out = PathBuf::from(value()?),
            "--plots" => args.plots = Some(PathBuf::from(value()?)),
            "--only" => args.only = Some(value()?.split(',').map(str::to_string).collect()),
            "--memory-child" => args.memory_child = Some(value()?),
            "--read-child" => args.read_child = Some(value()?),
            "--workload-child" => args.workload_child = Some(value()?),
            "--workload2-child" => args.workload2_child = Some(value()?),
            "--workload3-child" => args.workload3_child = Some(value()?),
            "--open-child" => args.open_child = Some(PathBuf::from(value()?)),
            "--plan" => args.plan = Some(value()?),
            "--entries" => args.entries = value()?.parse()?,
            "--profile" => args.profile = Some(value()?),
            "--ops" => args.ops = value()?.parse()?,
            "--engine" => args.engine = Some(value()?),
            "--scratch" => args.scratch = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}; {USAGE}").into()),
        }
    }
    Ok(args)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

fn cpu_model() -> String {
    read_trimmed("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "?".into(), |m| m.trim().to_string())
}

fn memory_gib() -> f64 {
    read_trimmed("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1024.0 * 1024.0))
}

fn load_average() -> String {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU time (in clock ticks, 100 a second) used by the whole machine and by this process.
fn cpu_ticks() -> (u64, u64) {
    let stat = read_trimmed("/proc/stat");
    let machine = stat.lines().next().map_or(0, |l| {
        // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
        l.split_whitespace()
            .skip(1)
            .take(8)
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .filter_map(|(_, v)| v.parse::<u64>().ok())
            .sum()
    });
    // Fields 14-17 of /proc/self/stat: utime, stime, cutime, cstime (after the command name,
    // which is in parentheses and may hold spaces).
    let own = read_trimmed("/proc/self/stat");
    let own = own.rsplit_once(')').map_or(0, |(_, rest)| {
        rest.split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    });
    (machine, own)
}

/// Cores' worth of CPU that other processes used since `from` (see [`cpu_ticks`]).
fn others_cores(from: (u64, u64), seconds: f64) -> f64 {
    let now = cpu_ticks();
    let others = now
        .0
        .saturating_sub(from.0)
        .saturating_sub(now.1.saturating_sub(from.1));
    // Tick counts over a run stay far below 2^52: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let others = others as f64;
    others / 100.0 / seconds.max(1e-3)
}

/// The sizes of this run, and its name in the report: `--plan` (the JSON of `workload::Plan`,
/// as report.md prints it) sets every size, to try a workload at small sizes (the children get
/// theirs the same way); otherwise `--quick` or the full plan.
fn chosen_plan(args: &Args) -> Result<(Plan, &'static str)> {
    Ok(match &args.plan {
        Some(json) => (serde_json::from_str(json)?, "custom-plan"),
        None if args.quick => (Plan::quick(), "quick"),
        None => (Plan::full(), "full"),
    })
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Runs this process as the child it was started as (memory, reads, workloads, an open), if it
/// was one.
fn as_child(args: &Args, scratch_dir: &std::path::Path) -> Option<Result<()>> {
    let plan = |flag: &str| {
        args.plan
            .as_deref()
            .ok_or_else(|| format!("{flag} needs --plan").into())
    };
    if let Some(dir) = &args.open_child {
        return Some(recovery::open_child(dir));
    }
    if let Some(engine) = &args.memory_child {
        return Some(memory::child(engine, args.entries, scratch_dir));
    }
    if let Some(engine) = &args.read_child {
        return Some(plan("--read-child").and_then(|p| reads::child(engine, p, scratch_dir)));
    }
    if let Some(engine) = &args.workload2_child {
        return Some(
            plan("--workload2-child").and_then(|p| workloads2::child(engine, p, scratch_dir)),
        );
    }
    if let Some(engine) = &args.workload3_child {
        return Some(
            plan("--workload3-child").and_then(|p| workloads3::child(engine, p, scratch_dir)),
        );
    }
    let engine = args.workload_child.as_ref()?;
    Some(plan("--workload-child").and_then(|p| workloads::child(engine, p, scratch_dir)))
}

/// Runs this binary again with `args` as a child process and returns what it printed; `what`
/// names the child in the error if it fails.
pub(crate) fn child_stdout(what: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .output()?;
    if !output.status.success() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let scratch_dir = args
        .scratch
        .clone()
        .unwrap_or_else(|| args.out.join("scratch"));
    if let Some(outcome) = as_child(&args, &scratch_dir) {
        return outcome;
    }
    if let Some(name) = &args.profile {
        let outcome = profile::run(name, args.ops, &scratch_dir, args.engine.as_deref());
        let _ = std::fs::remove_dir_all(&scratch_dir);
        return outcome;
    }
    let (plan, mode) = chosen_plan(&args)?;
    // `workloads` names both batches of the workloads users will run themselves;
    // `workloads1` and `workloads2` name one each.
    let wants = |part: &str| {
        args.only.as_ref().is_none_or(|o| {
            o.iter()
                .any(|x| x == part || (x == "workloads" && part.starts_with("workloads")))
        })
    };
    std::fs::create_dir_all(&args.out)?;
    let scratch = bench::Scratch::new(&scratch_dir)?;
    let load_before = load_average();
    eprintln!(
        "in-mem-peers: {} run, {} rounds, load average {load_before}",
        mode, plan.rounds
    );
    let started = Instant::now();
    let mut results = bench::Results::default();
    let phases: [(&str, Phase); 8] = [
        ("durable", bench::durable),
        ("nosync", bench::nosync),
        ("reads", reads::reads),
        ("workloads1", workloads::workloads),
        ("workloads2", workloads2::workloads),
        ("workloads3", workloads3::workloads),
        ("agent", bench::agent),
        ("recovery", recovery::recovery),
    ];
    let mut disturbance = Vec::new();
    for (name, phase) in phases {
        if wants(name) {
            let t = Instant::now();
            let ticks = cpu_ticks();
            eprintln!("{name} ...");
            phase(&plan, &scratch, &mut results)?;
            let seconds = t.elapsed().as_secs_f64();
            let others = others_cores(ticks, seconds);
            eprintln!("{name}: {seconds:.0} s; other processes used {others:.2} cores");
            disturbance.push((name.to_string(), seconds, others));
        }
    }
    let memory = if wants("memory") {
        eprintln!("memory ...");
        memory::measure(plan.memory_entries, &scratch_dir)?
    } else {
        Vec::new()
    };
    let ctx = report::Context {
        mode,
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        memory_gib: memory_gib(),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        load_before,
        load_after: load_average(),
        seconds: started.elapsed().as_secs_f64(),
        allocator: "glibc malloc (the system allocator) for every engine",
        plan,
        disturbance,
    };
    let targets = report::targets(&results, &memory);
    let md = report::markdown(&ctx, &results, &memory, &targets);
    println!("{md}");
    std::fs::write(args.out.join("report.md"), &md)?;
    let json = report::json(&ctx, &results, &memory, &targets);
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    let plots = args.plots.unwrap_or_else(|| args.out.clone());
    std::fs::create_dir_all(&plots)?;
    plot::register_font()?;
    if results.rates.contains_key("durable_put_1t") {
        plot::strict_writers(&results, &plots.join("strict_writers.png"))?;
    }
    plot::get_latency(&results, &plots.join("get_latency.png"))?;
    eprintln!(
        "wrote {} and report.json; plots in {}; {:.0} s in all",
        args.out.join("report.md").display(),
        plots.display(),
        ctx.seconds
    );
    let _ = std::fs::remove_dir_all(&scratch_dir);
    Ok(())
}
