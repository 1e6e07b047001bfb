//! The commands, one module per group, and what they share: where output goes and how it
//! looks.

mod diff;
mod records;
mod runs;
mod ship;
mod stats;
mod transfer;
mod tree;
mod verify;

use std::io::{StdoutLock, Write};

use crate::args::{Cli, Command};
use crate::error::Result;
use crate::term::{Style, stdout_error};

/// Where a command writes, and how.
pub struct Out {
    pub stdout: StdoutLock<'static>,
    pub style: Style,
}

impl Out {
    /// Writes `value` as one line of JSON.
    pub fn json_line(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.stdout, value)
            .map_err(|e| stdout_error(std::io::Error::other(e)))?;
        writeln!(self.stdout).map_err(stdout_error)
    }
}

/// Runs the command; returns the process's exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let mut out = Out {
        stdout: std::io::stdout().lock(),
        style: Style::detect(cli.color),
    };
    crate::open::set_schema(cli.schema);
    let out = &mut out;
    match cli.command {
        Command::Runs {
            dir,
            agent,
            status,
            tag,
            since,
            limit,
            json,
        } => {
            let filter = runs::RunFilter {
                agent: agent.as_deref(),
                status: status.as_deref(),
                tag: tag.as_deref(),
                since: since.as_deref(),
                limit,
            };
            runs::runs(&dir, &filter, json.json, out)?;
        }
        Command::Show { dir, run, json } => runs::show(&dir, &run, json.json, out)?,
        Command::Tree { dir, run, json } => tree::tree(&dir, &run, json.json, out)?,
        Command::Events {
            dir,
            run,
            event_type,
            follow,
            json,
        } => records::events(&dir, &run, event_type.as_deref(), follow, json.json, out)?,
        Command::State { dir, run, json } => records::state(&dir, &run, json.json, out)?,
        Command::Kv {
            dir,
            run,
            prefix,
            as_of,
            json,
        } => records::kv(
            &dir,
            &run,
            prefix.as_deref(),
            as_of.as_deref(),
            json.json,
            out,
        )?,
        Command::Diff {
            dir,
            run_a,
            run_b,
            json,
        } => diff::diff(&dir, &run_a, &run_b, json.json, out)?,
        Command::Export { dir, run } => transfer::export(&dir, run.as_deref(), out)?,
        Command::Import { dir } => {
            crate::open::directory_only(&dir, "import")?;
            transfer::import(&dir)?;
        }
        Command::Stats { dir, json } => stats::stats(&dir, json.json, out)?,
        Command::Backup { dir, dest } => {
            crate::open::directory_only(&dir, "backup")?;
            crate::open::directory_only(&dest, "backup")?;
            ship::backup(&dir, &dest, out)?;
        }
        Command::Otlp {
            dir,
            run,
            endpoint,
            service_name,
        } => ship::otlp(&dir, run.as_deref(), &endpoint, &service_name, out)?,
        Command::Verify { dir, json } => {
            let code = verify::verify(&dir, json.json, out)?;
            out.stdout.flush().map_err(stdout_error)?;
            return Ok(code);
        }
    }
    out.stdout.flush().map_err(stdout_error)?;
    Ok(0)
}
