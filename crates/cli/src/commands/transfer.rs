//! `export` (the database, or one run with its ancestors, as versioned JSON Lines on stdout)
//! and `import` (a new database from an export on stdin, or nothing at all).

use std::io::{BufReader, BufWriter};
use std::path::Path;

use in_mem::{Database, Error as DbError, RunId};

use super::Out;
use crate::error::{CliError, Result};
use crate::export;
use crate::open;
use crate::progress;
use crate::term::stdout_error;

pub fn export(dir: &Path, run: Option<&str>, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let runs = match run {
        Some(given) => Some(with_ancestors(&db, open::run(&db, given)?)?),
        None => None,
    };
    let dump = db.dump(runs.as_deref())?;
    let bar = progress::bar(dump.entries.len() as u64, "exporting");
    let mut writer = BufWriter::with_capacity(1 << 20, &mut out.stdout);
    export::write(&dump, &mut writer, &mut || bar.inc(1)).map_err(stdout_error)?;
    bar.finish_and_clear();
    Ok(())
}

/// `run` and the runs it was forked from or continues, nearest first: a fork's view reads its
/// ancestors' data, so an export of it carries theirs.
fn with_ancestors(db: &Database, run: RunId) -> Result<Vec<RunId>> {
    let mut runs = vec![run];
    let mut next = db.run_info(run)?.parent;
    while let Some(parent) = next {
        if runs.contains(&parent) {
            break;
        }
        runs.push(parent);
        next = db.run_info(parent)?.parent;
    }
    Ok(runs)
}

pub fn import(dir: &Path) -> Result<()> {
    let stdin = std::io::stdin().lock();
    let bar = progress::bar(0, "reading");
    let dump = export::read(BufReader::with_capacity(1 << 20, stdin), &mut || bar.inc(1)).map_err(
        |bad| CliError::BadImport {
            line: bad.line,
            reason: bad.reason,
        },
    )?;
    bar.finish_and_clear();
    let entries = dump.entries.len();
    match Database::restore(dir, &dump) {
        Ok(db) => {
            db.close()?;
            eprintln!("imported {entries} stored versions into {}", dir.display());
            Ok(())
        }
        // Entry i is on line i + 2 (after the header); the dump as a whole, on the last line.
        Err(DbError::BadDump { entry, reason }) => Err(CliError::BadImport {
            line: entry.min(entries.saturating_sub(1)) + 2,
            reason,
        }),
        Err(e) => Err(e.into()),
    }
}
