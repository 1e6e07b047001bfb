//! `TraceStore`: the spans of a run (tool calls, decisions, queries, thoughts, errors, custom),
//! linked parent to child, with queries by kind, tag, time and as a tree.
//!
//! The spans and their indexes are the engine's [`Spans`](in_mem_engine::Spans); this adds the
//! run-scoped calls (retried on conflict) and serde results.

use in_mem_core_types::{RunId, Timestamp, Value};
use in_mem_engine::{
    Database, NewSpan, Result, RetryPolicy, Span, SpanId, SpanStatus, SpanTree, Transaction,
};

/// The traces of a database's runs.
///
/// ```
/// use in_mem_core_types::Value;
/// use in_mem_engine::Database;
/// use in_mem_primitives::{NewSpan, SpanStatus, TraceStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// let trace = TraceStore::new(&db);
/// let plan = trace.start(run, NewSpan::thought("find the weather"))?;
/// let call = trace.record(run, NewSpan::tool_call("weather", Value::from("Oslo")).parent(plan))?;
/// trace.finish(run, plan, SpanStatus::Ok)?;
/// assert_eq!(trace.children(run, plan)?[0].id, call);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TraceStore {
    db: Database,
}

impl TraceStore {
    /// The traces of `db`'s runs.
    pub fn new(db: &Database) -> Self {
        TraceStore { db: db.clone() }
    }

    /// Records a finished span; returns its id.
    // Spans are built by value (`NewSpan::thought(..).tag(..)`) at the call site; a retried
    // transaction clones it per attempt.
    #[allow(clippy::needless_pass_by_value)]
    pub fn record(&self, run: RunId, span: NewSpan) -> Result<SpanId> {
        self.retried(run, |tx| tx.spans().record(span.clone()))
    }

    /// [`TraceStore::record`] inside a transaction.
    pub fn record_in(tx: &mut Transaction<'_>, span: NewSpan) -> Result<SpanId> {
        tx.spans().record(span)
    }

    /// Starts a long span (status `Running`, no end); [`TraceStore::finish`] ends it.
    #[allow(clippy::needless_pass_by_value)] // as for `record`
    pub fn start(&self, run: RunId, span: NewSpan) -> Result<SpanId> {
        self.retried(run, |tx| tx.spans().start(span.clone()))
    }

    /// [`TraceStore::start`] inside a transaction.
    pub fn start_in(tx: &mut Transaction<'_>, span: NewSpan) -> Result<SpanId> {
        tx.spans().start(span)
    }

    /// Finishes a running span now, with `status`.
    pub fn finish(&self, run: RunId, id: SpanId, status: SpanStatus) -> Result<Span> {
        self.finish_with(run, id, status, None)
    }

    /// Finishes a running span now, with `status` and, for a tool call or query, its result
    /// (a tool call's duration is set from its start to now).
    #[allow(clippy::needless_pass_by_value)] // as for `record`
    pub fn finish_with(
        &self,
        run: RunId,
        id: SpanId,
        status: SpanStatus,
        result: Option<Value>,
    ) -> Result<Span> {
        self.retried(run, |tx| tx.spans().finish(id, status, result.clone()))
    }

    /// [`TraceStore::finish_with`] inside a transaction.
    pub fn finish_in(
        tx: &mut Transaction<'_>,
        id: SpanId,
        status: SpanStatus,
        result: Option<Value>,
    ) -> Result<Span> {
        tx.spans().finish(id, status, result)
    }

    /// The span with this id.
    pub fn get(&self, run: RunId, id: SpanId) -> Result<Option<Span>> {
        self.db.transaction(run, |tx| tx.spans().get(id))
    }

    /// The spans whose parent is `id`, in id order.
    pub fn children(&self, run: RunId, id: SpanId) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| tx.spans().children(id))
    }

    /// The spans without a parent, in id order.
    pub fn roots(&self, run: RunId) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| tx.spans().roots())
    }

    /// `root` and every span inside it, as a tree.
    pub fn tree(&self, run: RunId, root: SpanId) -> Result<Option<SpanTree>> {
        self.db.transaction(run, |tx| tx.spans().tree(root))
    }

    /// The spans of a kind (`"tool_call"`, `"decision"`, `"query"`, `"thought"`, `"error"`,
    /// `"custom"`), in id order.
    pub fn by_kind(&self, run: RunId, kind: &str) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| tx.spans().by_kind(kind))
    }

    /// The spans carrying `tag`, in id order.
    pub fn by_tag(&self, run: RunId, tag: &str) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| tx.spans().by_tag(tag))
    }

    /// The spans that started at or after `from` and before `before`, in start order.
    pub fn started_between(
        &self,
        run: RunId,
        from: Timestamp,
        before: Timestamp,
    ) -> Result<Vec<Span>> {
        self.db
            .transaction(run, |tx| tx.spans().started_between(from, before))
    }

    /// Every span of the run, in id order.
    pub fn spans(&self, run: RunId) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| tx.spans().all())
    }

    fn retried<T>(
        &self,
        run: RunId,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), f)
    }
}
