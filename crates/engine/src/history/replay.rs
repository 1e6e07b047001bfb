//! `Replay`: a run walked step by step, each step with its writes and a view of the run right
//! after it, verifying on the way what the store can verify: the event log's sequences are
//! dense and continue the log (a fork's from its parent's head at the fork point), each event's
//! hash is recomputed and chains to the one before, and every span's parent exists by the step
//! that recorded the span.

use std::sync::Arc;

use in_mem_core_types::Version;

use super::{RunView, Step};
use crate::error::{Error, Result};
use crate::instance::{Instance, RunRef};
use crate::records::event_hash;

/// One step of a replay: what the commit wrote, and the run as it was right after it.
#[derive(Debug)]
pub struct ReplayStep {
    /// The commit and the keys it wrote.
    pub step: Step,
    /// The run right after the commit.
    pub view: RunView,
}

/// A run's steps, oldest first, each verified before it is yielded. Made by
/// [`Database::replay`](crate::Database::replay). After an error the iterator ends.
#[derive(Debug)]
pub struct Replay {
    instance: Arc<Instance>,
    /// Its agent held in a connected database's cache while this lives.
    run: RunRef,
    steps: std::vec::IntoIter<Step>,
    next_event: u64,
    prev_hash: [u8; 32],
    done: bool,
}

impl Replay {
    pub(crate) fn new(instance: Arc<Instance>, run: RunRef, steps: Vec<Step>) -> Result<Self> {
        // The run as it began: a fork's log continues its parent's head at the fork point.
        let mut start = RunView::new(Arc::clone(&instance), run.clone(), run.snapshot, false);
        let (next_event, prev_hash) = match start.events().head()? {
            Some(head) => (head.sequence + 1, head.hash),
            None => (0, crate::records::GENESIS),
        };
        Ok(Replay {
            instance,
            run,
            steps: steps.into_iter(),
            next_event,
            prev_hash,
            done: false,
        })
    }

    fn verify(&mut self, step: &Step, view: &mut RunView) -> Result<()> {
        let run = self.run.id;
        for (sequence, _) in &step.events {
            if *sequence != self.next_event {
                return Err(Error::ChainBroken {
                    run,
                    sequence: self.next_event,
                    reason: format!(
                        "step at version {} appended event {sequence}, but the log's next is {}",
                        step.version, self.next_event
                    ),
                });
            }
            let event = view
                .events()
                .get(*sequence)?
                .ok_or_else(|| Error::ChainBroken {
                    run,
                    sequence: *sequence,
                    reason: format!(
                        "step at version {} indexes an event that is missing",
                        step.version
                    ),
                })?;
            let broken = |reason: &str| Error::ChainBroken {
                run,
                sequence: *sequence,
                reason: reason.to_owned(),
            };
            if event.prev_hash != self.prev_hash {
                return Err(broken(
                    "its previous hash is not the hash of the event before it",
                ));
            }
            let hash = event_hash(
                &self.prev_hash,
                event.sequence,
                event.timestamp,
                &event.event_type,
                &event.payload,
            )?;
            if hash != event.hash {
                return Err(broken("its content does not match its hash"));
            }
            self.prev_hash = hash;
            self.next_event += 1;
        }
        for id in &step.spans {
            let span = view
                .spans()
                .get(*id)?
                .ok_or(Error::UnknownSpan { id: *id })?;
            if let Some(parent) = span.parent
                && view.spans().get(parent)?.is_none()
            {
                return Err(Error::ParentSpanMissing { parent });
            }
        }
        Ok(())
    }
}

impl Iterator for Replay {
    type Item = Result<ReplayStep>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.steps.next()?;
        let mut view = RunView::new(
            Arc::clone(&self.instance),
            self.run.clone(),
            Version::new(step.version),
            false,
        );
        match self.verify(&step, &mut view) {
            Ok(()) => Some(Ok(ReplayStep { step, view })),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
