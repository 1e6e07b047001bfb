//! `in-mem`: the command-line inspector of in-mem databases.
//!
//! When an agent misbehaves, its builder opens the store and sees what happened: which runs
//! (`runs`, `show`), which tool calls in which order and how long each took (`tree`), what it
//! observed and believed at each step (`events`, `state`, `kv --as-of`), how two runs differ
//! (`diff`); checks that nothing was tampered with (`verify`); and moves data out (`export`,
//! `import`, `backup`, `otlp` to an OpenTelemetry collector). Every command but `import` opens
//! the database read-only, beside a process that may be writing it, and writes nothing there.
//! The commands, the export format and the exit codes are documented in `docs/cli.md`.
//!
//! This crate is *not* a library: the database, its read-only opening and its history API live
//! in `in-mem`; this is their command line.
//!
//! ```text
//! in-mem runs ./agent-db
//! in-mem tree ./agent-db 3f2a
//! ```

// Durations and bars on screen are approximate by nature: float conversions of counters are
// fine there.
#![allow(clippy::cast_precision_loss, clippy::cast_sign_loss)]

mod args;
mod commands;
mod error;
mod export;
mod json;
mod open;
mod otlp;
mod progress;
mod term;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("in-mem: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(error::EXIT_FAILED)
        }
    }
}
