//! Dumping a database's stored history and restoring one from a dump (see `transfer/`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Database, Result, RunId};
use crate::error::Error;
use crate::transfer::{self, Dump};

impl Database {
    /// Every version the database keeps, decoded, in commit order (see [`Dump`]); with
    /// `runs`, only those runs' records and the memory they wrote. What it holds is a
    /// consistent state: the newest commit visible when it was called, and everything before.
    ///
    /// Connected to a shared store, it dumps the store: each agent as the store had it when
    /// the dump reached it (caught up to the store's clock then), the agents' commits ranked
    /// in one sequence that keeps each agent's order and otherwise follows commit time (see
    /// `transfer/shared_dump.rs`). It holds everything in memory, as it does embedded.
    pub fn dump(&self, runs: Option<&[RunId]>) -> Result<Dump> {
        let runs: Option<BTreeSet<RunId>> = runs.map(|r| r.iter().copied().collect());
        transfer::dump(&self.instance, runs.as_ref())
    }

    /// Creates a database at `path` (missing, or an empty directory) holding exactly what
    /// `dump` holds, and opens it. The dump is checked entry by entry first
    /// ([`Error::BadDump`] names the first bad one); the database is built beside `path` and
    /// moved there only once it opened, so a failure leaves `path` as it was.
    pub fn restore(path: impl AsRef<Path>, dump: &Dump) -> Result<Database> {
        let path = path.as_ref();
        let empty_dir = match std::fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Error::TargetNotEmpty {
                        path: path.to_owned(),
                    });
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io("inspect", path, e)),
        };
        let building = building_path(path);
        if building.exists() {
            std::fs::remove_dir_all(&building).map_err(|e| io("remove", &building, e))?;
        }
        let built = transfer::write_restore(&building, dump)
            .and_then(|()| Database::open(&building)?.close());
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&building);
            return Err(e);
        }
        if empty_dir {
            std::fs::remove_dir(path).map_err(|e| io("replace", path, e))?;
        }
        std::fs::rename(&building, path).map_err(|e| io("move the new database to", path, e))?;
        Database::open(path)
    }
}

/// Where a restore builds the database before moving it to `path`: a hidden sibling.
fn building_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "database".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.restoring-{}", std::process::id()))
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Durability(in_mem_durability::Error::Io {
        op,
        path: path.to_owned(),
        source,
    })
}
