//! Opening the database for a command (read-only, beside any writer; or connected to a shared
//! store when given a PostgreSQL URL) and finding the run a command names by its id or a
//! unique prefix of it.

use std::path::Path;
use std::sync::OnceLock;

use in_mem::{Database, RemoteOptions, RunId};

use crate::error::{CliError, Result};

/// The `--schema` option: the PostgreSQL schema of a shared store. Set once, before the
/// command runs (one invocation, one store), so that every command's opening sees it without
/// each command passing it along.
static SCHEMA: OnceLock<Option<String>> = OnceLock::new();

/// Records the `--schema` option for [`read_only`].
pub fn set_schema(schema: Option<String>) {
    // A second call cannot happen (main calls it once); if it did, the first value stands.
    let _ = SCHEMA.set(schema);
}

/// The URL `dir` is, if it names a PostgreSQL store rather than a directory.
pub fn store_url(dir: &Path) -> Option<&str> {
    dir.to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// Opens the database at `dir` read-only: no lock, nothing written, a writer may be running.
/// A PostgreSQL URL connects to that shared store as a host of its own instead (it begins and
/// writes no run; its lease row says it was there). It never creates or migrates the store's
/// schema: that is for the hosts that run on it, and a newer tool migrating a production
/// schema would leave older hosts unable to reconnect.
pub fn read_only(dir: &Path) -> Result<Database> {
    let Some(url) = store_url(dir) else {
        return Ok(Database::open_read_only(dir)?);
    };
    let mut options = RemoteOptions::new(url).migrate_schema(false);
    if let Some(schema) = SCHEMA.get().cloned().flatten() {
        options = options.schema(schema);
    }
    Ok(Database::connect(options)?)
}

/// Refuses a PostgreSQL URL where `command` works on a directory's files.
pub fn directory_only(dir: &Path, command: &'static str) -> Result<()> {
    match store_url(dir) {
        None => Ok(()),
        // The URL itself is not repeated: it may carry a password.
        Some(_) => Err(CliError::BadArgument {
            what: "database",
            given: "(a PostgreSQL URL)".to_owned(),
            expected: format!(
                "a data directory: `{command}` works on its files, not on a shared store"
            ),
        }),
    }
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
