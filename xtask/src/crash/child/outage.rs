//! Riding out a failover of the store (`--failover`): a call that fails because the store was
//! out of reach is made again, as an application would, since nothing of it was applied.
//! Commits need nothing of this (the shipper resends them by commit id for
//! `RemoteOptions::outage_limit`), nor do a run's begin and end (sent again for as long); the
//! other calls that go to the store directly (taking a run over, reads of a run whose ownership
//! must be confirmed) fail at once while it is down.

use std::time::{Duration, Instant};

use in_mem::RunId;
use in_mem::remote::RemoteError;

use super::Worker;
use crate::crash::workload::{Line, OpId, now_us};

/// How long one call is made again before its error stands: longer than the shipper's
/// `outage_limit` (30 s), so that a commit's own error (an unknown outcome) is what shows if the
/// store stays away.
const OUTAGE_LIMIT: Duration = Duration::from_secs(40);
/// Between two tries.
const PAUSE: Duration = Duration::from_millis(50);

impl Worker<'_> {
    /// Calls `call` for operation `id`; with `--failover`, again while it fails with the store
    /// out of reach, printing a `RETRY` line each time (up to `OUTAGE_LIMIT`).
    pub(super) fn again<T>(
        &self,
        id: OpId,
        mut call: impl FnMut() -> in_mem::Result<T>,
    ) -> in_mem::Result<T> {
        let since = Instant::now();
        loop {
            match call() {
                Err(e) if self.failover && unapplied(&e) && since.elapsed() < OUTAGE_LIMIT => {
                    let retry = Line::Retry {
                        id,
                        us: now_us(),
                        message: e.to_string(),
                    };
                    // The parent is gone if this fails; the error then ends the thread.
                    if self.out.emit(&retry).is_err() {
                        return Err(e);
                    }
                    std::thread::sleep(PAUSE);
                }
                done => return done,
            }
        }
    }
}

/// Whether `e` says the call changed nothing because the store could not be reached: the
/// store unreachable (or the connection lost before the request was sent), or a refusal because
/// this host's lease ran out during the outage (its renewal thread renews it once the store is
/// back). An unknown outcome is not: the call may have been applied.
fn unapplied(e: &in_mem::Error) -> bool {
    matches!(
        e,
        in_mem::Error::Remote(RemoteError::Unavailable(_) | RemoteError::NoLease(_))
    )
}

impl Worker<'_> {
    /// `end_run` of `run` for operation `id`, made again through an outage. A try that fails
    /// with the store out of reach may have ended the run all the same: the run's end record is
    /// a commit, which the shipper carries through the outage, and only the status change after
    /// it (sent again through `outage_limit`) failed. The next try then finds the run ended,
    /// which is the operation's effect, so it is acknowledged (and the oracle checks the run is
    /// ended).
    pub(super) fn end_run_again(&self, id: OpId, run: RunId) -> in_mem::Result<()> {
        let mut tries = 0;
        let ended = self.again(id, || {
            tries += 1;
            self.db.end_run(run)
        });
        match ended {
            Err(in_mem::Error::RunEnded { run: ended }) if tries > 1 && ended == run => Ok(()),
            other => other,
        }
    }
}
