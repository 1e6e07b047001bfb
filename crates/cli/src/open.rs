//! Opening the database for a command (read-only, beside any writer) and finding the run a
//! command names by its id or a unique prefix of it.

use std::path::Path;

use in_mem::{Database, RunId};

use crate::error::{CliError, Result};

/// Opens the database at `dir` read-only: no lock, nothing written, a writer may be running.
pub fn read_only(dir: &Path) -> Result<Database> {
    Ok(Database::open_read_only(dir)?)
}

/// The run `given` names: a whole id, or the start of exactly one run's id (as git takes
/// commit prefixes), case-insensitively.
pub fn run(db: &Database, given: &str) -> Result<RunId> {
    if let Ok(id) = given.parse::<RunId>() {
        return Ok(id);
    }
    let prefix = given.to_ascii_lowercase();
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(CliError::BadArgument {
            what: "run",
            given: given.to_owned(),
            expected: "a run id, or the start of one (hex digits and dashes)".to_owned(),
        });
    }
    let matches: Vec<RunId> = db
        .runs()
        .into_iter()
        .map(|info| info.run)
        .filter(|run| run.to_string().starts_with(&prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(CliError::UnknownRun {
            prefix: given.to_owned(),
        }),
        [first, ..] => Err(CliError::AmbiguousRun {
            prefix: given.to_owned(),
            count: matches.len(),
            example: first.to_string(),
        }),
    }
}

/// The first eight characters of a run's id, as tables show it.
pub fn short(run: RunId) -> String {
    run.to_string().chars().take(8).collect()
}
