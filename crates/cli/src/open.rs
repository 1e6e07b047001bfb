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

/// The connection string `dir` is, if it names a PostgreSQL store rather than a directory:
/// a `postgres://` or `postgresql://` URL, or libpq's `keyword=value` form
/// (`host=db.internal dbname=agents user=reader`). A directory whose name looks like the
/// latter is named as a path instead (`./host=x`).
pub fn store_url(dir: &Path) -> Option<&str> {
    dir.to_str().filter(|s| is_connection_string(s))
}

/// Keywords libpq accepts in a `keyword=value` connection string (the common ones).
const CONNECTION_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "options",
    "application_name",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "service",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "channel_binding",
    "load_balance_hosts",
    "sslnegotiation",
    "gssencmode",
    "krbsrvname",
    "requiressl",
    "require_auth",
];

fn is_connection_string(s: &str) -> bool {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return true;
    }
    // The start decides: a keyword libpq knows, then `=` (libpq allows spaces around it).
    let s = s.trim_start();
    let keyword_end = s
        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .unwrap_or(s.len());
    let (keyword, rest) = s.split_at(keyword_end);
    CONNECTION_KEYWORDS.contains(&keyword) && rest.trim_start().starts_with('=')
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
    // A reader: it neither migrates the schema nor asks the store to collect (what the hosts'
    // own retention settings decide).
    let mut options = RemoteOptions::new(url)
        .migrate_schema(false)
        .collect_every(std::time::Duration::ZERO);
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

#[cfg(test)]
mod tests {
    use super::is_connection_string;

    #[test]
    fn urls_and_keyword_strings_name_a_store_and_paths_do_not() {
        for store in [
            "postgres://u@h/db",
            "postgresql://h:5433/db?sslmode=require",
            "host=db.internal dbname=agents user=reader password=secret",
            "dbname=agents",
            "  port=5432 host=h",
            "host = h password = secret",
            "keepalives=1 host=h",
        ] {
            assert!(is_connection_string(store), "{store}");
        }
        for path in [
            "./my-agent-db",
            "/var/lib/agents",
            "./host=x",
            "data=old",
            "postgres",
            "",
        ] {
            assert!(!is_connection_string(path), "{path}");
        }
    }
}
