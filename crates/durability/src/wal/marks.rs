//! The log's progress marks: how far it is appended and written, each as an LSN with the commit
//! count and version it reaches. The synced mark is the group commit's output and lives there
//! (`group_commit.rs`), since it is what decides which waiters return.
//!
//! LSNs count bytes appended since this open; a ticket's LSN is the end of its record. Every
//! mark only moves forward, over prefixes of the log, and `appended >= written >= synced`.

use in_mem_core_types::Version;

/// A position in the log: the end of a record (or of everything before it), the number of
/// commits up to it in this open, and the version of the last of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Mark {
    pub(super) lsn: u64,
    pub(super) commits: u64,
    pub(super) version: Version,
}

impl Mark {
    /// The start of a log opened after `version` (everything recovery found, which it synced).
    pub(super) fn start(version: Version) -> Mark {
        Mark {
            lsn: 0,
            commits: 0,
            version,
        }
    }
}

/// Appended and written marks, behind the log lock.
#[derive(Debug)]
pub(super) struct Marks {
    /// Everything in the log or its buffer; its version is the last allocated.
    pub(super) appended: Mark,
    /// Everything handed to the OS.
    pub(super) written: Mark,
}

impl Marks {
    pub(super) fn new(last_version: Version) -> Marks {
        Marks {
            appended: Mark::start(last_version),
            written: Mark::start(last_version),
        }
    }

    /// Moves the written mark to `to`, the end of a write that has just completed. Writes
    /// complete in log order (the write lock), so this never moves it back.
    pub(super) fn written_through(&mut self, to: Mark) {
        debug_assert!(to.lsn >= self.written.lsn && to.lsn <= self.appended.lsn);
        self.written = to;
    }
}
