//! The parent process: for each mode, iterations of spawn a child on the mode's data directory
//! (or, with `--remote`, on a schema of the shared store), kill it with SIGKILL at a seeded
//! moment, recover (or connect as a fresh host), and check the oracles; then a summary. With
//! `--failover`, the parent kills the store's primary first and promotes its synchronous standby
//! (`failover.rs`). The totals and the lines that report them are in `driver/summary.rs`.

mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use in_mem::RunId;

use super::args::Args;
use super::failover::{self, Failover, Moments, Pair, Servers};
use super::observe::{Probe, observe, observe_shared, panic_text};
use super::oracle::{self, Observed, OpRecord, Outcome, Params, Promise, State};
use super::rng::{Rng, derive};
use super::shared::{self, Store};
use super::workload::{ASYNC_INTERVAL_MS, AckResult, Line, Mode, Op, OpId, SEGMENT_BYTES, now_us};
use summary::{IterationReport, ModeSummary, RecoveredFrom, describe_summary, print_iteration};

/// How long a child may take to open its directory before the run counts as hung.
const OPEN_TIMEOUT: Duration = Duration::from_secs(90);
/// How long any phase of an iteration may take before the watchdog stops everything.
const PHASE_TIMEOUT: Duration = Duration::from_secs(200);

/// `cargo xtask crash-test`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub modes: Vec<Mode>,
    pub iterations: Option<u64>,
    pub seed: u64,
    pub duration: Option<Duration>,
    pub threads: u16,
    pub kill_max_ms: u64,
    pub async_slack_ms: u64,
    pub fresh_every: u64,
    pub dir: Option<PathBuf>,
    pub keep: bool,
    pub verbose: bool,
    /// Shared mode (`--remote`), and on which store.
    pub remote: Option<Remote>,
}

/// The store of shared mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// The PostgreSQL server `INMEM_PG_URL` names, one schema per mode and `--fresh-every`
    /// window; the children are client hosts of it.
    Server,
    /// `--failover`: a primary with a synchronous standby that the parent runs itself, and
    /// whose primary it kills (then promotes the standby) before it kills each child.
    Failover,
}

/// Default total duration when neither `--iterations` nor `--duration` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(75);
const DEFAULT_SEED: u64 = 1;
const DEFAULT_THREADS: u16 = 4;
const DEFAULT_KILL_MAX_MS: u64 = 1200;
/// Scheduling slack on top of `Async`'s interval: on a loaded two-core machine the log's
/// background thread can be late by a few hundred milliseconds.
const DEFAULT_ASYNC_SLACK_MS: u64 = 400;
/// Iterations on one directory before starting from an empty one, which bounds the log (and so
/// each recovery's time) under the fastest modes.
const DEFAULT_FRESH_EVERY: u64 = 8;

pub const USAGE: &str = "\
usage: cargo xtask crash-test [--mode strict|batched|async|all|<mode>,<mode>] [--iterations N]
                              [--seed S] [--duration SECS] [--threads N] [--kill-max-ms MS]
                              [--async-slack-ms MS] [--fresh-every N] [--dir PATH] [--keep]
                              [--verbose] [--remote [--failover]]
--remote: shared mode, against the PostgreSQL server INMEM_PG_URL names
          (cargo xtask pg-run cargo xtask crash-test --remote starts a private one)
--failover: with --remote, Strict only: on a primary with a synchronous standby that this
          task starts; each iteration SIGKILLs the primary under load, promotes the standby,
          and kills the child once it has gone on on the promoted server";

impl Options {
    pub fn parse(raw: &[String]) -> Result<Self, String> {
        let mut args = Args::new(raw);
        let remote = args.flag("--remote")?;
        let failover = args.flag("--failover")?;
        if failover && !remote {
            return Err("--failover is a variant of shared mode: give --remote too".to_owned());
        }
        let modes = match args.value("--mode")?.as_deref() {
            // Only `Strict` waits for the synchronous standby: the others may lose acknowledged
            // commits in a failover by design (docs/REMOTE.md, "Durability modes").
            None if failover => vec![Mode::Strict],
            Some(names) if failover && names.split(',').any(|n| n != "strict") => {
                return Err(format!(
                    "--failover runs in strict mode only (got --mode {names}): batched and \
                     async may lose acknowledged commits when the primary is lost"
                ));
            }
            None | Some("all") => Mode::ALL.to_vec(),
            Some(names) => names
                .split(',')
                .map(|name| Mode::parse(name).ok_or_else(|| format!("unknown mode {name:?}")))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let iterations = args.number("--iterations")?;
        let duration = args.number::<f64>("--duration")?;
        let duration = match (duration, iterations) {
            (Some(secs), _) if secs.is_finite() && secs > 0.0 => {
                Some(Duration::from_secs_f64(secs))
            }
            (Some(secs), _) => return Err(format!("--duration {secs} is not a positive number")),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_DURATION),
        };
        let options = Options {
            modes,
            iterations,
            seed: args.number("--seed")?.unwrap_or(DEFAULT_SEED),
            duration,
            threads: args.number("--threads")?.unwrap_or(DEFAULT_THREADS).max(1),
            kill_max_ms: args
                .number("--kill-max-ms")?
                .unwrap_or(DEFAULT_KILL_MAX_MS)
                .max(2),
            async_slack_ms: args
                .number("--async-slack-ms")?
                .unwrap_or(DEFAULT_ASYNC_SLACK_MS),
            fresh_every: args
                .number("--fresh-every")?
                .unwrap_or(DEFAULT_FRESH_EVERY)
                .max(1),
            dir: args.value("--dir")?.map(PathBuf::from),
            keep: args.flag("--keep")?,
            verbose: args.flag("--verbose")?,
            remote: match (remote, failover) {
                (false, _) => None,
                (true, false) => Some(Remote::Server),
                (true, true) => Some(Remote::Failover),
            },
        };
        args.finish()?;
        Ok(options)
    }

    /// The command that replays `mode` up to and including iteration `iteration` (in shared
    /// mode on a private server: every invocation starts on schemas of its own anyway).
    fn command(&self, mode: Mode, iteration: u64) -> String {
        let mut cmd = format!(
            "cargo xtask {}crash-test --mode {} --seed {} --iterations {}",
            if self.remote == Some(Remote::Server) {
                "pg-run cargo xtask "
            } else {
                ""
            },
            mode.name(),
            self.seed,
            iteration + 1
        );
        if self.threads != DEFAULT_THREADS {
            let _ = write!(cmd, " --threads {}", self.threads);
        }
        if self.kill_max_ms != DEFAULT_KILL_MAX_MS {
            let _ = write!(cmd, " --kill-max-ms {}", self.kill_max_ms);
        }
        if self.async_slack_ms != DEFAULT_ASYNC_SLACK_MS && mode == Mode::Async {
            let _ = write!(cmd, " --async-slack-ms {}", self.async_slack_ms);
        }
        if self.fresh_every != DEFAULT_FRESH_EVERY {
            let _ = write!(cmd, " --fresh-every {}", self.fresh_every);
        }
        match self.remote {
            None => {}
            Some(Remote::Server) => cmd.push_str(" --remote"),
            Some(Remote::Failover) => cmd.push_str(" --remote --failover"),
        }
        cmd
    }
}

/// Runs the crash test; `Err` if any oracle failed.
pub fn run(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let root = match &options.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("in-mem-crash-test-{}", std::process::id())),
    };
    // Shared mode: the server (refused at once when none is named; none with `--failover`,
    // whose servers this process runs) and a tag for the names of this invocation's schemas.
    let remote = match options.remote {
        None => None,
        Some(Remote::Server) => Some((Some(shared::url_from_env()?), shared::invocation_tag())),
        Some(Remote::Failover) => Some((None, shared::invocation_tag())),
    };
    let watchdog = Watchdog::start();
    let mut summaries = Vec::new();
    for (n, &mode) in options.modes.iter().enumerate() {
        let deadline = options.duration.map(|d| {
            let modes = u32::try_from(options.modes.len()).unwrap_or(1);
            let done = u32::try_from(n + 1).unwrap_or(1);
            started + d / modes * done
        });
        let dir = root.join(mode.name());
        let summary = run_mode(
            options,
            mode,
            &exe,
            &dir,
            remote.as_ref(),
            deadline,
            &watchdog,
        )?;
        if !summary.failed && !options.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        summaries.push((mode, summary));
    }
    if !options.keep && summaries.iter().all(|(_, s)| !s.failed) {
        let _ = std::fs::remove_dir(&root);
    }

    let failed = summaries.iter().any(|(_, s)| s.failed);
    let per_mode: Vec<String> = summaries
        .iter()
        .map(|(mode, s)| describe_summary(*mode, s, options))
        .collect();
    println!(
        "crash-test: {}; {} in {:.0} s (seed {})",
        per_mode.join("; "),
        if failed { "FAILED" } else { "passed" },
        started.elapsed().as_secs_f64(),
        options.seed
    );
    if failed {
        Err("an oracle failed (see above)".to_owned())
    } else {
        Ok(())
    }
}

/// The iterations of one mode on one directory (or schema of the shared store: `remote` names
/// the server, none with `--failover`, and this invocation's tag), each continuing from the last
/// one's state.
fn run_mode(
    options: &Options,
    mode: Mode,
    exe: &Path,
    dir: &Path,
    remote: Option<&(Option<String>, String)>,
    deadline: Option<Instant>,
    watchdog: &Watchdog,
) -> Result<ModeSummary, String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let data = dir.join("data");
    let mut summary = ModeSummary::default();
    let mut base = State::default();
    let mut open_estimate = Duration::from_millis(20);
    let mode_seed = derive(&[options.seed, mode.salt()]);
    let mut servers = (options.remote == Some(Remote::Failover)).then(|| Servers::new(mode));
    for i in 0.. {
        if options.iterations.is_some_and(|n| i >= n)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        let context = format!(
            "{} iteration {i} (seed {}; reproduce: {})",
            mode.name(),
            options.seed,
            options.command(mode, i)
        );
        if i > 0 && i % options.fresh_every == 0 {
            // Shared mode starts on a new schema instead (`store` below).
            if remote.is_none() {
                std::fs::remove_dir_all(&data)
                    .map_err(|e| format!("cannot clear {}: {e}", data.display()))?;
            }
            base = State::default();
            open_estimate = Duration::from_millis(20);
        }
        // `--failover`: this iteration's primary and standby; a new chain with each window.
        let pair = match &mut servers {
            Some(servers) => {
                watchdog.phase(format!("{context}: starting a primary and its standby"));
                Some(servers.pair(i % options.fresh_every == 0)?)
            }
            None => None,
        };
        let store = remote.map(|(url, tag)| Store {
            url: pair
                .as_ref()
                .map_or_else(|| url.clone().unwrap_or_default(), |p| p.url.clone()),
            schema: shared::schema_name(tag, mode, i / options.fresh_every),
        });
        watchdog.phase(format!("{context}: running"));
        let iteration = Iteration {
            options,
            mode,
            exe,
            dir,
            data: &data,
            store: store.as_ref(),
            pair: pair.as_ref(),
            i,
            seed: derive(&[mode_seed, i]),
        };
        let outcome = iteration.run(&mut base, &mut open_estimate, watchdog, &context);
        if let (Some(servers), Some(pair)) = (&mut servers, pair) {
            if outcome.is_err() {
                eprintln!(
                    "server log of the promoted standby ({}):\n{}",
                    pair.standby.log().display(),
                    pair.standby.log_tail()
                );
            }
            servers.after(pair);
        }
        summary.iterations += 1;
        match outcome {
            Ok(report) => {
                summary.add(&report);
                if options.verbose {
                    print_iteration(mode, i, &report, base.last_version);
                }
            }
            Err(failures) => {
                summary.failed = true;
                summary.kills += 1;
                eprintln!("\ncrash-test FAILED: {context}");
                for failure in &failures {
                    eprintln!("  - {failure}");
                }
                match &store {
                    // The servers go with this process; the seed repeats the run.
                    Some(_) if options.remote == Some(Remote::Failover) => {}
                    Some(store) => {
                        eprintln!("  schema kept: {} (of {})", store.schema, shared::URL_VAR);
                    }
                    None => eprintln!("  data directory kept: {}", data.display()),
                }
                eprintln!("  child output kept: {}\n", dir.display());
                // Later iterations would start from a state the oracle does not know.
                break;
            }
        }
    }
    watchdog.idle();
    Ok(summary)
}

/// Forks of earlier children whose parents' views at the fork point a check reads again: at
/// most this many, a seeded choice each time. Their own data is checked exactly against the
/// previous check anyway; reading every fork's parent's past each time would cost more than the
/// kills, as forks pile up on a directory.
const OLD_FORK_VIEWS_MAX: usize = 12;

/// The forks of `base` whose parents' views this check reads again (see `OLD_FORK_VIEWS_MAX`).
fn old_forks(base: &State, seed: u64) -> BTreeSet<RunId> {
    let mut forks: Vec<(u64, RunId)> = base
        .runs
        .iter()
        .filter(|(_, e)| e.fork_point.is_some())
        .map(|(run, _)| {
            let id = u128::from_le_bytes(run.to_bytes());
            (derive(&[seed, 61, id as u64, (id >> 64) as u64]), *run)
        })
        .collect();
    forks.sort_unstable();
    forks
        .into_iter()
        .take(OLD_FORK_VIEWS_MAX)
        .map(|(_, run)| run)
        .collect()
}

/// When the child is killed.
#[derive(Debug, Clone, Copy)]
enum KillPlan {
    /// This long after the spawn, likely during the child's own recovery.
    DuringOpen(Duration),
    /// This long after the child reported its open complete.
    AfterReady(Duration),
    /// `--failover`: after the child reported its connection complete, the primary is killed
    /// and the standby promoted; the child is killed after the promotion, and no earlier than
    /// its first acknowledgement after it.
    AfterFailover(Moments),
}

/// One iteration: its place in the run, and where its files go.
struct Iteration<'a> {
    options: &'a Options,
    mode: Mode,
    exe: &'a Path,
    /// Where the child's standard error goes.
    dir: &'a Path,
    /// The data directory.
    data: &'a Path,
    /// Shared mode: the store's schema, where the child connects instead of opening `data`.
    store: Option<&'a Store>,
    /// `--failover`: the primary `store` is on and its synchronous standby.
    pair: Option<&'a Pair>,
    i: u64,
    seed: u64,
}

impl Iteration<'_> {
    /// Spawns, kills, recovers and checks; on success, `base` becomes the verified state.
    fn run(
        &self,
        base: &mut State,
        open_estimate: &mut Duration,
        watchdog: &Watchdog,
        context: &str,
    ) -> Result<IterationReport, Vec<String>> {
        let mut rng = Rng::new(self.seed);
        let plan = self.plan(&mut rng, *open_estimate);
        let segment_bytes = SEGMENT_BYTES[rng.below(SEGMENT_BYTES.len() as u64) as usize];
        let (lines, kill_us, failover) = self.spawn_and_kill(plan, segment_bytes, open_estimate)?;
        let (records, protocol) = records_of(&lines);
        if !protocol.is_empty() {
            return Err(self.keep_lines(&lines, protocol));
        }

        watchdog.phase(format!("{context}: recovering and checking"));
        let probe = Probe {
            keys: base
                .kv
                .keys()
                .cloned()
                .chain(records.iter().flat_map(|r| r.op.kv_keys()))
                .collect(),
            forks: records
                .iter()
                .filter_map(|r| match r.outcome {
                    Outcome::Acked {
                        result: AckResult::Fork { run, .. },
                        ..
                    } => Some((run, r.id)),
                    _ => None,
                })
                .collect(),
            deleted: records.iter().flat_map(|r| r.op.deleted_runs()).collect(),
            known: base.runs.keys().copied().collect(),
            old_forks: old_forks(base, self.seed),
        };
        // Whether the log starts after segment 1: a checkpoint pruned its first segments.
        let pruned = first_segment(self.data).is_some_and(|s| s > 1);
        let observed = self
            .observe(kill_us, &probe)
            .map_err(|failures| self.keep_lines(&lines, failures))?;
        let params = Params {
            promise: self.promise(),
            kill_us,
        };
        let verdict = oracle::check(&params, base, &records, &observed);
        if !verdict.failures.is_empty() {
            return Err(self.keep_lines(&lines, verdict.failures));
        }
        *base = verdict.next_base;
        if self.options.keep {
            self.keep_lines(&lines, Vec::new());
        }
        let in_open = matches!(plan, KillPlan::DuringOpen(_))
            && !lines.iter().any(|(_, l)| matches!(l, Line::Ready { .. }));
        Ok(IterationReport {
            ops: records.len(),
            acked_commits: verdict.acked_commits,
            acked_primitive: verdict.acked_primitive,
            forks: verdict.acked_forks,
            deleted_runs: verdict.acked_deleted_runs,
            refused_deletes: verdict.refused_deletes,
            lost: verdict.lost,
            oldest_loss_us: verdict.oldest_loss_us,
            in_open,
            checkpoints: verdict.checkpoints,
            in_checkpoint: verdict.killed_in_checkpoint,
            longest_checkpoint_us: records
                .iter()
                .filter(|r| matches!(r.op, Op::Checkpoint))
                .filter_map(|r| match r.outcome {
                    Outcome::Acked { us, .. } => Some(us.saturating_sub(r.submit_us)),
                    _ => None,
                })
                .max(),
            from: match (observed.checkpoint, pruned) {
                _ if self.store.is_some() => RecoveredFrom::Store,
                (None, _) => RecoveredFrom::Log,
                (Some(_), false) => RecoveredFrom::Checkpoint,
                (Some(_), true) => RecoveredFrom::PrunedLog,
            },
            kill: describe_kill(plan, failover.as_ref()),
            retries: lines
                .iter()
                .filter(|(_, l)| matches!(l, Line::Retry { .. }))
                .count() as u64,
            failover,
            tail: match &observed.agent_versions {
                Some(versions) => format!("agents' versions {versions:?}"),
                None => format!(
                    "{} KiB segments, recovered version {}",
                    segment_bytes >> 10,
                    observed.last_version
                ),
            },
        })
    }

    /// When this iteration kills the child (and, with `--failover`, the primary).
    fn plan(&self, rng: &mut Rng, open_estimate: Duration) -> KillPlan {
        if self.pair.is_some() {
            // The primary dies under load, the outage lasts up to 2 s (past the child's
            // lease half the time), and the child goes on for up to 1.5 s after the promotion,
            // so that some of what is checked was committed on the promoted server.
            KillPlan::AfterFailover(Moments {
                kill_primary: Duration::from_millis(rng.range(50, self.options.kill_max_ms)),
                promote_after: Duration::from_millis(rng.range(0, 2000)),
                go_on: Duration::from_millis(rng.range(0, 1500)),
            })
        } else if self.i > 0 && rng.chance(150) {
            let max = u64::try_from(open_estimate.as_micros()).unwrap_or(u64::MAX);
            KillPlan::DuringOpen(Duration::from_micros(rng.below(max + 1)))
        } else if rng.chance(200) {
            KillPlan::AfterReady(Duration::from_millis(rng.range(1, 50)))
        } else {
            let max = self.options.kill_max_ms;
            KillPlan::AfterReady(Duration::from_millis(rng.range(50, max)))
        }
    }

    /// Recovers (or connects as fresh hosts: with `--failover`, to the promoted standby
    /// alone) and reads back what `probe` asks for.
    fn observe(&self, kill_us: u64, probe: &Probe) -> Result<Observed, Vec<String>> {
        let promoted = self.store.zip(self.pair).map(|(store, pair)| Store {
            url: pair.standby.url(),
            schema: store.schema.clone(),
        });
        // A panic anywhere in recovery or the reads is a failure of this iteration, reported
        // with its seed like any other.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match promoted.as_ref().or(self.store) {
                None => observe(self.data, probe),
                Some(store) => observe_shared(store, kill_us, &self.check_host(), probe),
            }
        }))
        .map_err(|panic| {
            vec![format!(
                "the database panicked during recovery or the reads after it: {}",
                panic_text(&*panic)
            )]
        })?
    }

    /// Writes the child's lines beside its standard error, for a failed check (the oracle's
    /// messages name operations by id), and returns `failures` with where they are.
    fn keep_lines(&self, lines: &[(u64, Line)], mut failures: Vec<String>) -> Vec<String> {
        let path = self.dir.join(format!("child-{}.out", self.i));
        let text = lines.iter().fold(String::new(), |mut text, (_, line)| {
            let _ = writeln!(text, "{line}");
            text
        });
        match std::fs::write(&path, text) {
            Ok(()) => failures.push(format!("the child's lines: {}", path.display())),
            Err(e) => failures.push(format!("cannot keep the child's lines: {e}")),
        }
        failures
    }

    /// What the mode promises of acknowledged commits through the kill.
    fn promise(&self) -> Promise {
        match self.mode {
            // A killed client host loses nothing it was told was committed, in any mode: the
            // store answers a commit only once it has it (docs/REMOTE.md, "Durability modes").
            _ if self.store.is_some() => Promise::Lossless,
            Mode::Strict | Mode::Batched => Promise::Lossless,
            Mode::Async => Promise::Window {
                window_us: (ASYNC_INTERVAL_MS + self.options.async_slack_ms) * 1000,
            },
        }
    }

    /// Shared mode: the name of the hosts that check this iteration (a suffix tells the two
    /// connections apart).
    fn check_host(&self) -> String {
        format!(
            "crash-check-{}-{}-{}",
            self.mode.name(),
            self.i,
            std::process::id()
        )
    }

    /// Runs the child until the plan's moment (failing the store over first with
    /// `--failover`), kills it, and returns its complete lines, the time of the kill and what
    /// the failover did.
    fn spawn_and_kill(
        &self,
        plan: KillPlan,
        segment_bytes: u64,
        open_estimate: &mut Duration,
    ) -> Result<(Numbered, u64, Option<Failover>), Vec<String>> {
        let stderr_path = self.dir.join(format!("child-{}.stderr", self.i));
        let stderr = File::create(&stderr_path).map_err(|e| vec![format!("stderr file: {e}")])?;
        let spawned_at = Instant::now();
        let mut command = Command::new(self.exe);
        command.arg("crash-child");
        match self.store {
            // The child reads the server's URL from `INMEM_PG_URL`.
            Some(store) => command
                .args(["--schema", &store.schema])
                .env(shared::URL_VAR, &store.url),
            None => command.arg("--dir").arg(self.data),
        };
        if self.pair.is_some() {
            command.arg("--failover");
        }
        let mut child = command
            .args(["--mode", self.mode.name()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--threads", &self.options.threads.to_string()])
            .args(["--iteration", &self.i.to_string()])
            .args(["--segment-bytes", &segment_bytes.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| vec![format!("cannot start the child: {e}")])?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(vec!["the child has no standard output".to_owned()]);
        };
        let (events, acks, reader) = read_lines(stdout);

        let mut failures = Vec::new();
        let mut failover = None;
        let waited = match (plan, self.pair) {
            (KillPlan::AfterFailover(moments), Some(pair)) => {
                wait_for_ready(&events, spawned_at, open_estimate).and_then(|()| {
                    let done = failover::fail_over(pair, &events, &acks, moments)?;
                    failover = Some(done);
                    Ok(())
                })
            }
            _ => wait_for_kill(plan, &events, spawned_at, open_estimate),
        };
        let kill_us = match waited {
            Ok(()) => {
                if let Ok(Some(status)) = child.try_wait() {
                    failures.push(format!("the child exited by itself ({status})"));
                }
                let at = now_us();
                let _ = child.kill();
                at
            }
            Err(e) => {
                let _ = child.kill();
                failures.push(e);
                now_us()
            }
        };
        let status = child.wait();
        if let Some(done) = &mut failover {
            // The reader has read every line by now (the child is dead and its output ended).
            done.acks_after = acks.load(Ordering::SeqCst) - done.acks_at_promotion;
        }
        let (lines, bad) = reader.join().unwrap_or_else(|_| {
            (
                Vec::new(),
                vec!["the output reader thread panicked".to_owned()],
            )
        });
        failures.extend(bad);
        match status {
            Ok(status) if status.signal() == Some(9) => {}
            Ok(status) if failures.is_empty() => {
                failures.push(format!("the child ended with {status}, not by SIGKILL"));
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("cannot wait for the child: {e}")),
        }
        let child_err = read_text(&stderr_path);
        if child_err.contains("panicked") || !failures.is_empty() {
            failures.push(format!(
                "the child's standard error ends with: {}",
                tail_of(&child_err, 1500)
            ));
        }
        if failures.is_empty() {
            Ok((lines, kill_us, failover))
        } else {
            Err(failures)
        }
    }
}

/// How an iteration's kill came, for `--verbose`.
fn describe_kill(plan: KillPlan, failover: Option<&Failover>) -> String {
    match (plan, failover) {
        (KillPlan::DuringOpen(d), _) => format!("{} us after spawn", d.as_micros()),
        (KillPlan::AfterReady(d), _) => format!("{} ms after open", d.as_millis()),
        (KillPlan::AfterFailover(moments), Some(f)) => format!(
            "{} ms after a promotion {} ms after the primary's kill (which came {} ms after \
             connect; {} calls acknowledged after the promotion)",
            f.since_promotion.as_millis(),
            f.promotion.as_millis(),
            moments.kill_primary.as_millis(),
            f.acks_after
        ),
        (KillPlan::AfterFailover(_), None) => "after a failover".to_owned(),
    }
}

/// Waits until the plan says to kill. Learns how long the child's open takes, so that later
/// kills during open land inside it.
fn wait_for_kill(
    plan: KillPlan,
    events: &Receiver<Event>,
    spawned_at: Instant,
    open_estimate: &mut Duration,
) -> Result<(), String> {
    match plan {
        KillPlan::DuringOpen(delay) => {
            let until = spawned_at + delay;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match events.recv_timeout(left) {
                    Ok(Event::Ready) => *open_estimate = spawned_at.elapsed(),
                    Ok(Event::Eof) => return Err("the child closed its output early".to_owned()),
                    Err(RecvTimeoutError::Timeout) => return Ok(()),
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err("the child's output ended before the kill".to_owned());
                    }
                }
            }
        }
        KillPlan::AfterReady(delay) => {
            wait_for_ready(events, spawned_at, open_estimate)?;
            match events.recv_timeout(delay) {
                Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    Err("the child's output ended before the kill".to_owned())
                }
                Ok(Event::Ready) | Err(RecvTimeoutError::Timeout) => Ok(()),
            }
        }
        KillPlan::AfterFailover(_) => Err("a failover plan without servers".to_owned()),
    }
}

/// Waits until the child reports its open (or connection) complete, learning how long it took.
fn wait_for_ready(
    events: &Receiver<Event>,
    spawned_at: Instant,
    open_estimate: &mut Duration,
) -> Result<(), String> {
    match events.recv_timeout(OPEN_TIMEOUT) {
        Ok(Event::Ready) => {
            *open_estimate = spawned_at.elapsed();
            Ok(())
        }
        Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
            Err("the child stopped before its open completed".to_owned())
        }
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "the child did not complete open within {} s",
            OPEN_TIMEOUT.as_secs()
        )),
    }
}

/// What the reader thread tells the main thread as it happens.
pub enum Event {
    Ready,
    Eof,
}

type Numbered = Vec<(u64, Line)>;

/// The thread that reads the child's lines: they, and what was wrong with them.
type Reader = JoinHandle<(Numbered, Vec<String>)>;

/// Reads the child's lines on a thread; a last line without its newline was cut by the kill
/// and is dropped (its call either never started, or never acknowledged). The counter counts
/// the `ACK` lines read so far (`--failover` waits for one after the promotion).
fn read_lines(stdout: impl Read + Send + 'static) -> (Receiver<Event>, Arc<AtomicU64>, Reader) {
    let (tx, rx) = mpsc::channel();
    let acks = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&acks);
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 16, stdout);
        let mut lines = Vec::new();
        let mut bad = Vec::new();
        let mut buf = String::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            match reader.read_line(&mut buf) {
                Ok(0) => break,
                Ok(_) if !buf.ends_with('\n') => break,
                Ok(_) => {
                    n += 1;
                    match buf.trim_end_matches('\n').parse::<Line>() {
                        Ok(line) => {
                            match line {
                                Line::Ready { .. } => {
                                    let _ = tx.send(Event::Ready);
                                }
                                Line::Ack { .. } => {
                                    counted.fetch_add(1, Ordering::SeqCst);
                                }
                                _ => {}
                            }
                            lines.push((n, line));
                        }
                        Err(e) => bad.push(format!("child line {n} does not parse ({e}): {buf:?}")),
                    }
                }
                Err(e) => {
                    bad.push(format!("reading the child's output failed: {e}"));
                    break;
                }
            }
        }
        let _ = tx.send(Event::Eof);
        (lines, bad)
    });
    (rx, acks, handle)
}

/// Pairs `SUBMIT` lines with their `ACK` / `FAIL` lines.
fn records_of(lines: &[(u64, Line)]) -> (Vec<OpRecord>, Vec<String>) {
    let mut records: Vec<OpRecord> = Vec::new();
    let mut index: BTreeMap<OpId, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (n, line) in lines {
        match line {
            Line::Submit { id, us, op } => {
                if index.insert(*id, records.len()).is_some() {
                    problems.push(format!("operation {id} submitted twice"));
                }
                records.push(OpRecord {
                    id: *id,
                    submit_line: *n,
                    submit_us: *us,
                    op: op.clone(),
                    outcome: Outcome::InFlight,
                    retries: 0,
                });
            }
            Line::Ack {
                id,
                us,
                version,
                result,
            } => match index.get(id) {
                Some(&at) if matches!(records[at].outcome, Outcome::InFlight) => {
                    records[at].outcome = Outcome::Acked {
                        line: *n,
                        us: *us,
                        version: *version,
                        result: *result,
                    };
                }
                _ => problems.push(format!("acknowledgement of {id} without a submission")),
            },
            // A call of the operation failed with the store out of reach and is made again:
            // the operation is still in flight.
            Line::Retry { id, .. } => match index.get(id) {
                Some(&at) if matches!(records[at].outcome, Outcome::InFlight) => {
                    records[at].retries += 1;
                }
                _ => problems.push(format!("retry of {id} without a submission in flight")),
            },
            Line::Fail { id, message, .. } => match index.get(id) {
                Some(&at) => {
                    records[at].outcome = Outcome::Failed {
                        message: message.clone(),
                    };
                }
                None => problems.push(format!("failure of {id} without a submission")),
            },
            Line::Opening | Line::Ready { .. } => {}
        }
    }
    (records, problems)
}

/// The sequence number of the first log segment in the data directory `data`, if any.
fn first_segment(data: &Path) -> Option<u64> {
    std::fs::read_dir(data.join("wal"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?.strip_suffix(".seg")?.parse::<u64>().ok()
        })
        .min()
}

fn read_text(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail_of(text: &str, max: usize) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return "(nothing)".to_owned();
    }
    let start = (text.len().saturating_sub(max)..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[start..].to_owned()
}

/// Stops the whole run, naming the phase and how to reproduce it, if any phase hangs.
struct Watchdog {
    phase: Arc<Mutex<Option<(Instant, String)>>>,
}

impl Watchdog {
    fn start() -> Self {
        let phase: Arc<Mutex<Option<(Instant, String)>>> = Arc::new(Mutex::new(None));
        let watched = Arc::clone(&phase);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let guard = watched
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((since, what)) = &*guard
                    && since.elapsed() > PHASE_TIMEOUT
                {
                    eprintln!(
                        "\ncrash-test FAILED: {what}: no progress for {} s (a hang)",
                        PHASE_TIMEOUT.as_secs()
                    );
                    std::process::exit(1);
                }
            }
        });
        Watchdog { phase }
    }

    fn phase(&self, what: String) {
        *self
            .phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), what));
    }

    fn idle(&self) {
        *self
            .phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
