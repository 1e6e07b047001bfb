//! History through the `Database` handle: views of a run's past, forks, timelines, a key's
//! versions, diffs and replays (the machinery is in `history/`).

use std::ops::RangeBounds;

use super::{Database, Lifecycle, Result, RunId};
use crate::history::{self, At, KeyHistory, Replay, RunDiff, RunView, Timeline};
use crate::runs::RunStatus;

impl Database {
    /// `run` as it was right after point `at` of its life: its snapshot of the agent's memory
    /// plus its own writes up to the point, with the whole read API (KV, events, state, spans).
    ///
    /// ```
    /// # use in_mem_engine::{At, Database};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = Database::open(dir.path()).unwrap();
    /// let run = db.begin_run();
    /// let first = db.put(run, b"plan", b"search")?;
    /// db.put(run, b"plan", b"answer")?;
    /// let then = db.run_view_at(run, At::Version(first))?;
    /// assert_eq!(then.get(b"plan")?, Some(b"search".to_vec()));
    /// # Ok::<(), in_mem_engine::Error>(())
    /// ```
    pub fn run_view_at(&self, run: RunId, at: At) -> Result<RunView> {
        let state = self.instance.run_state(run)?;
        let point = history::resolve(&self.instance, &state, at)?;
        Ok(RunView::new(
            std::sync::Arc::clone(&self.instance),
            state,
            point,
            at == At::Now,
        ))
    }

    /// Begins a run whose view is `parent`'s at point `at`: the same snapshot of the agent's
    /// memory, the parent's own KV writes, events (the fork's log continues from the parent's
    /// head at the point), state cells (with their versions) and spans up to the point; then
    /// its own writes, which the parent never sees. Nothing is copied: a fork costs the same
    /// whatever the parent holds. The fork's parent and fork point are in its record
    /// ([`RunInfo::fork_point`](crate::RunInfo::fork_point),
    /// [`RunQuery::forked_from`](crate::RunQuery::forked_from)); forks of forks work. A run
    /// with forks can only be deleted with them ([`Database::delete_run_tree`]).
    ///
    /// ```
    /// # use in_mem_engine::{At, Database};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = Database::open(dir.path()).unwrap();
    /// let run = db.begin_run();
    /// let step = db.put(run, b"answer", b"draft")?;
    /// db.put(run, b"answer", b"final")?;
    /// let fork = db.fork_run(run, At::Version(step))?;
    /// assert_eq!(db.get(fork, b"answer")?, Some(b"draft".to_vec()));
    /// db.put(fork, b"answer", b"other")?;
    /// assert_eq!(db.get(run, b"answer")?, Some(b"final".to_vec()));
    /// # Ok::<(), in_mem_engine::Error>(())
    /// ```
    pub fn fork_run(&self, parent: RunId, at: At) -> Result<RunId> {
        self.fork_run_with(parent, at, crate::RunOptions::new())
    }

    /// [`Database::fork_run`] with the fork's id, tags and metadata from `options`, written in
    /// the fork's first record (so nothing ever finds the fork without them). A fork runs in
    /// its parent's agent: `options`' agent and parent, if set, must be the parent's.
    pub fn fork_run_with(
        &self,
        parent: RunId,
        at: At,
        options: crate::RunOptions,
    ) -> Result<RunId> {
        let parent_state = self.instance.run_state(parent)?;
        let begin = options.for_fork_of(parent, &parent_state.agent.id)?;
        let point = history::resolve(&self.instance, &parent_state, at)?;
        let lifecycle = Lifecycle::begun(self.instance.now(), begin.tags, begin.metadata);
        self.instance
            .fork_run(&parent_state, begin.run, point, lifecycle, self.handle.wait)?;
        Ok(begin.run)
    }

    /// Deletes `run` and every run forked from it (and from those, and so on), forks first.
    /// Every run in the tree must have ended. Returns how many runs were deleted.
    pub fn delete_run_tree(&self, run: RunId) -> Result<usize> {
        // Deepest first: a run is deleted only once it has no forks left.
        let mut order = vec![run];
        let mut next = 0;
        while let Some(&current) = order.get(next) {
            order.extend(self.instance.runs().forks_of(current));
            next += 1;
        }
        for member in &order {
            let status = self.instance.run_info(*member)?.status;
            if matches!(status, RunStatus::Active | RunStatus::Paused) {
                return Err(crate::Error::RunState {
                    run: *member,
                    status: status.as_str(),
                    action: "deleted (end it first)",
                });
            }
        }
        for member in order.iter().rev() {
            self.instance.delete_run(*member, self.handle.wait)?;
        }
        Ok(order.len())
    }

    /// `run`'s steps (its commits), oldest first, with what each wrote.
    pub fn run_timeline(&self, run: RunId) -> Result<Timeline> {
        self.run_timeline_range(run, .., usize::MAX)
    }

    /// `run`'s steps with versions in `versions`, oldest first, at most `limit` of them.
    pub fn run_timeline_range(
        &self,
        run: RunId,
        versions: impl RangeBounds<u64>,
        limit: usize,
    ) -> Result<Timeline> {
        let state = self.instance.run_state(run)?;
        let range = (
            versions.start_bound().cloned(),
            versions.end_bound().cloned(),
        );
        Ok(history::timeline(&self.instance, &state, range, limit))
    }

    /// The versions of `key` in the agent's memory that `run` can see (its snapshot's, its own,
    /// a fork's ancestors' up to the fork points), newest first.
    pub fn key_history(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<KeyHistory> {
        let state = self.instance.run_state(run)?;
        history::key_history(&self.instance, &state, key.as_ref())
    }

    /// What differs between runs `a` and `b` as they are now.
    pub fn diff_runs(&self, a: RunId, b: RunId) -> Result<RunDiff> {
        let mut left = self.run_view_at(a, At::Now)?;
        let mut right = self.run_view_at(b, At::Now)?;
        history::diff(&mut left, &mut right)
    }

    /// What changed in `run` from point `from` to point `to`.
    pub fn diff_run(&self, run: RunId, from: At, to: At) -> Result<RunDiff> {
        let mut left = self.run_view_at(run, from)?;
        let mut right = self.run_view_at(run, to)?;
        history::diff(&mut left, &mut right)
    }

    /// Walks `run` step by step, oldest first: each step's writes and a view right after it,
    /// verified on the way (event sequences and hash chain, span parents).
    pub fn replay(&self, run: RunId) -> Result<Replay> {
        let state = self.instance.run_state(run)?;
        let steps = self.run_timeline(run)?.steps;
        Replay::new(std::sync::Arc::clone(&self.instance), state, steps)
    }
}
