//! The commit path of a connected database (shared mode): validated here as in embedded mode,
//! queued to the shipper under the run's pending lock, applied at the version the store gives,
//! then the agent caught up below it, so the run reads its own write and every commit before it.

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{Key, RunId, Version};
use in_mem_remote::{CommitId, CommitOutcome, CommitRequest, RemoteError, RemoteWrite, Ticket};
use in_mem_storage::Mutation;

use super::Instance;
use super::shared::agent_cache;
use crate::error::{Error, Result};
use crate::runs::RunState;
use crate::shared::{AgentCache, SharedLog};
use crate::write::{PendingOp, PendingWrite, ReadCheck, describe_key, mutation};

/// How often a catch-up right after a commit is tried before the commit reports its failure.
const CATCH_UP_TRIES: u32 = 3;

impl Instance {
    /// Commits `writes` of `run` through the shipper (see the module docs).
    pub(super) fn commit_shared(
        &self,
        shared: &SharedLog,
        run: &RunState,
        writes: &[PendingWrite],
        reads: &[ReadCheck],
    ) -> Result<Version> {
        let epoch = shared.epoch(run.id)?;
        let cache = Arc::clone(agent_cache(shared, run));
        if cache.highest() > cache.visible() {
            // An earlier commit's catch-up failed: the run's view lacks writes below its newest,
            // so validating against it now could pass a stale read.
            self.catch_up(shared, &cache, cache.highest())?;
        }
        let request = CommitRequest {
            agent: run.agent.id.clone(),
            run: run.id,
            epoch,
            commit: CommitId::new(),
            writes: writes.iter().map(remote_write).collect::<Result<_>>()?,
        };
        let placeholder = shared.placeholder();
        let ticket = {
            let mut pending = run.pending();
            self.validate(run, &pending, reads, self.clock.now())?;
            // Queued under the lock: the run's commits reach the store, and get their versions,
            // in the order they were validated and registered here, so the newest entry of a key
            // in the pending map is always its newest commit (as in embedded mode).
            let ticket = shared.shipper.enqueue(request)?;
            for write in writes {
                pending.insert(Arc::clone(&write.key), placeholder);
            }
            ticket
        };
        let shipped = self.ship(shared, run, &cache, epoch, writes, ticket);
        let mut pending = run.pending();
        for write in writes {
            if pending.get(&write.key) != Some(&placeholder) {
                continue;
            }
            match &shipped {
                // Refused, or applied and visible to the run: nothing left to guard.
                Shipped::Visible(_) | Shipped::Refused(_) => {
                    pending.remove(&write.key);
                }
                // In the memtable but not yet visible to the run (a catch-up failed): the key's
                // entry names the commit's version, which a later catch-up makes visible.
                Shipped::Invisible(version) => {
                    pending.insert(Arc::clone(&write.key), *version);
                }
                // Perhaps in the store, not here: reads of these keys fail validation (they
                // cannot match a stand-in) rather than miss the write. The shipper refuses every
                // later commit after such an outcome, so nothing can depend on it.
                Shipped::Unknown(_) => {}
            }
        }
        drop(pending);
        match shipped {
            Shipped::Visible(version) | Shipped::Invisible(version) => Ok(version),
            Shipped::Refused(e) | Shipped::Unknown(e) => Err(e),
        }
    }

    /// Waits for the commit `ticket` names and applies it; see `commit_shared`.
    fn ship(
        &self,
        shared: &SharedLog,
        run: &RunState,
        cache: &Arc<AgentCache>,
        epoch: u64,
        writes: &[PendingWrite],
        ticket: Ticket,
    ) -> Shipped {
        let outcome = match shared.shipper.wait(ticket) {
            Ok(outcome) => outcome,
            Err(e @ RemoteError::OutcomeUnknown(_)) => return Shipped::Unknown(e.into()),
            // Refused whole, never sent, or not sent after an earlier batch's unknown outcome.
            Err(e) => return Shipped::Refused(e.into()),
        };
        let version = match outcome {
            CommitOutcome::Committed { version, timestamp } => {
                let mutations: Vec<Mutation> =
                    writes.iter().map(|w| mutation(w, timestamp)).collect();
                let mut applying = cache.applying();
                if !applying.has(version) {
                    self.memtable.apply(version, run.id, timestamp, &mutations);
                    applying.applied(version, &mutations);
                }
                version
            }
            // Sent again after a lost reply: catch-up reads what the first send wrote.
            CommitOutcome::AlreadyCommitted { version } => version,
            CommitOutcome::Fenced { current } => {
                // Another host owns the run now: its records, which catch-up brings, say what
                // the run has become.
                shared.disown(run.id);
                return Shipped::Refused(
                    RemoteError::Fenced {
                        run: run.id,
                        held: epoch,
                        current,
                    }
                    .into(),
                );
            }
            CommitOutcome::RunNotWritable => {
                return Shipped::Refused(why_not_writable(shared, run.id));
            }
            CommitOutcome::CreateOnlyExists { key } => {
                return Shipped::Refused(Error::Immutable {
                    key: describe_key(&key),
                });
            }
        };
        for attempt in 1..=CATCH_UP_TRIES {
            match self.catch_up(shared, cache, version) {
                Ok(()) => return Shipped::Visible(version),
                Err(e) => {
                    tracing::warn!(
                        attempt,
                        error = %e,
                        "catching up after a commit failed; the run will see its write once a \
                         later catch-up succeeds"
                    );
                    if attempt < CATCH_UP_TRIES {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        // Committed and acknowledged: the write is in the store and the memtable, and the
        // next commit of the agent (or `refresh`) catches up first.
        Shipped::Invisible(version)
    }
}

/// What became of a shipped commit.
enum Shipped {
    /// Committed, and visible to its run.
    Visible(Version),
    /// Committed and in the memtable, but a commit of another host below it is not yet.
    Invisible(Version),
    /// Refused: nothing was written.
    Refused(Error),
    /// Perhaps committed: the outcome was lost.
    Unknown(Error),
}

/// One write as the store takes it.
fn remote_write(write: &PendingWrite) -> Result<RemoteWrite> {
    let tag = Key::decode_type_tag(&write.key)?;
    let (value, ttl) = match &write.op {
        PendingOp::Put { value, ttl } => (Some(value.to_vec()), *ttl),
        PendingOp::Delete => (None, None),
        PendingOp::DeletePrefix => {
            return Err(Error::SharedModeUnsupported {
                operation: "deleting a run",
            });
        }
    };
    Ok(RemoteWrite {
        key: write.key.to_vec(),
        tag,
        value,
        ttl,
    })
}

/// Why the store refused a commit of `run` as not writable: it ended, or is paused.
fn why_not_writable(shared: &SharedLog, run: RunId) -> Error {
    match shared.store.run(run) {
        Ok(Some(row)) if row.status.is_ended() => Error::RunEnded { run },
        Ok(Some(row)) => Error::RunState {
            run,
            status: match row.status {
                in_mem_remote::StoredRunStatus::Paused => "paused",
                _ => "not active in the store",
            },
            action: "written to",
        },
        Ok(None) => Error::UnknownRun { run },
        Err(e) => e.into(),
    }
}
