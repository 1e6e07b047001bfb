//! The command line: every command, its arguments and options (clap derive). The first
//! argument of every command is the data directory, or for the commands that read, a
//! PostgreSQL URL (`postgres://...`: a store in shared mode).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Inspect an in-mem database: runs, their traces, events, state and memory; verify, export,
/// import, back up, and ship traces to OpenTelemetry. Every command opens the database
/// read-only (beside a live writer if there is one) except `import`, which creates one.
/// Commands that read also take a PostgreSQL URL instead of a directory (shared mode).
#[derive(Debug, Parser)]
#[command(name = "in-mem", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour the output: auto (when writing to a terminal and `NO_COLOR` is unset),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Where the database argument is a PostgreSQL URL (shared mode): the schema holding the
    /// store's tables (default: the connection's, `public`).
    #[arg(long, global = true)]
    pub schema: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Output as JSON Lines instead of text: one JSON object per line.
#[derive(Debug, Clone, Copy, Args)]
pub struct Json {
    /// Print JSON Lines (one object per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List runs, newest first.
    Runs {
        dir: PathBuf,
        /// Only runs of this agent: `AGENT`, `APP/AGENT` or `TENANT/APP/AGENT`.
        #[arg(long)]
        agent: Option<String>,
        /// Only runs in this status (active, paused, completed, failed, cancelled, interrupted).
        #[arg(long)]
        status: Option<String>,
        /// Only runs with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only runs begun within this long before now (`90s`, `15m`, `1h`, `2days`).
        #[arg(long)]
        since: Option<String>,
        /// At most this many runs.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        json: Json,
    },
    /// A run: status, lineage, timing, what it holds, its last error.
    Show {
        dir: PathBuf,
        /// The run: its id, or a prefix of it that names one run.
        run: String,
        #[command(flatten)]
        json: Json,
    },
    /// A run's spans as a tree, with kinds, durations and failures.
    Tree {
        dir: PathBuf,
        run: String,
        #[command(flatten)]
        json: Json,
    },
    /// A run's events, oldest first.
    Events {
        dir: PathBuf,
        run: String,
        /// Only events of this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Keep printing events as the run appends them, until it ends (or Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        json: Json,
    },
    /// A run's state cells and state machines.
    State {
        dir: PathBuf,
        run: String,
        #[command(flatten)]
        json: Json,
    },
    /// The agent memory a run sees, now or as of a step of the run.
    Kv {
        dir: PathBuf,
        run: String,
        /// Only keys that start with this.
        prefix: Option<String>,
        /// As of a step of the run: `N` (the Nth commit of the run, as `show` numbers them),
        /// `version:V` (database version V) or `event:N` (right after event N).
        #[arg(long)]
        as_of: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// What differs between two runs: memory, events, state, spans.
    Diff {
        dir: PathBuf,
        run_a: String,
        run_b: String,
        #[command(flatten)]
        json: Json,
    },
    /// Check every checksum of every file and every run's event hash chain (of a shared
    /// store: every run's records). The exit code says what failed (see `docs/cli.md`): 0 all
    /// verified, 4 a log segment, 8 a checkpoint, 16 a run's records, added together.
    Verify {
        dir: PathBuf,
        #[command(flatten)]
        json: Json,
    },
    /// Keys, versions, memory and disk use, segments, checkpoints, runs by status (of a shared
    /// store: agents, commits, stored versions and keys, bytes, runs, live hosts).
    Stats {
        dir: PathBuf,
        #[command(flatten)]
        json: Json,
    },
    /// Write the database (or one run and its ancestors) as versioned JSON Lines to stdout.
    Export {
        dir: PathBuf,
        /// Only this run (with the runs it was forked from).
        #[arg(long)]
        run: Option<String>,
    },
    /// Create a database in DIR (missing or empty) from an export read on stdin.
    Import { dir: PathBuf },
    /// Copy a consistent state of the database, while writers run, into DEST (missing or
    /// empty), which then opens as the same database.
    Backup { dir: PathBuf, dest: PathBuf },
    /// Send stored traces to an OpenTelemetry collector as OTLP/HTTP (protobuf).
    Otlp {
        dir: PathBuf,
        /// Only this run.
        #[arg(long)]
        run: Option<String>,
        /// The collector's OTLP/HTTP endpoint (`http://localhost:4318`); spans go to
        /// `ENDPOINT/v1/traces`.
        #[arg(long)]
        endpoint: String,
        /// The `service.name` resource attribute.
        #[arg(long, default_value = "in-mem")]
        service_name: String,
    },
}
