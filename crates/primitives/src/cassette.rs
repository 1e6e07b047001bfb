//! `Cassette`: the answers a run's tool calls and queries got, read from its trace and served
//! back in the order they were made, so that the run can be executed again without calling
//! anything, and any step where the new execution asks for something else is caught.
//!
//! A cassette is a list of recorded calls, one per `ToolCall` or `Query` span, in span id order
//! (the order the spans were begun). Each call is known by its name (the tool's name, or the
//! query's text) and a *fingerprint* of the request:
//!
//! - the span's [`FINGERPRINT_ATTRIBUTE`] (text), when the caller recorded one: a caller whose
//!   arguments carry noise that must not count (a request id, a timestamp) records its own;
//! - otherwise [`Cassette::fingerprint_of`] the request: the SHA-256 (hex) of the canonical
//!   encoding of a tool call's arguments, or of a query's text as a `Value::String`.
//!
//! Re-execution asks the cassette instead of the tool: [`Cassette::call`] (or the typed
//! [`Cassette::tool`] and [`Cassette::query`]) serves the next recorded answer if the call
//! matches the next recorded one, name and fingerprint; [`Cassette::finish`] checks that every
//! recorded call was made. Anything else is a [`Divergence`] naming the call's index, the
//! recorded call and the call made. A divergence leaves the cassette where it was.
//!
//! Why order and not a lookup by request: an agent may ask the same thing twice and get two
//! answers (a clock, a queue, a model at temperature); only the order tells them apart, and a
//! re-execution that asks in another order is no longer the recorded run.
//!
//! A cassette is built from a run as it is now ([`Cassette::from_run`]) or from any view of it
//! ([`Cassette::from_view`]: a run as of an earlier point, or a fork, whose trace includes its
//! parent's spans up to the fork point). It copies what it serves: the database may change or
//! close afterwards.

use std::any::type_name;
use std::fmt;

use in_mem_core_types::{ConvertError, RunId, Value, from_value};
use in_mem_engine::{
    At, Database, Error, NewSpan, Result, RunView, Span, SpanId, SpanKind, SpanStatus,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::convert::to_stored;

/// The span attribute that holds a call's fingerprint (text), when the caller chose one. Without
/// it the fingerprint is [`Cassette::fingerprint_of`] the request.
pub const FINGERPRINT_ATTRIBUTE: &str = "fingerprint";

/// What a call identifies itself by: its name (a tool's name, or a query's text) and the
/// fingerprint of its request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    /// The tool's name, or the query's text.
    pub name: String,
    /// The request's fingerprint.
    pub fingerprint: String,
}

impl Call {
    /// A call named `name` with request fingerprint `fingerprint`.
    pub fn new(name: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        Call {
            name: name.into(),
            fingerprint: fingerprint.into(),
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} with fingerprint {}", self.name, self.fingerprint)
    }
}

/// Which kind of span a call was recorded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// A `ToolCall` span.
    Tool,
    /// A `Query` span.
    Query,
}

/// One call of the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// The span that recorded it.
    pub span: SpanId,
    /// Tool call or query.
    pub kind: CallKind,
    /// Its name and fingerprint.
    pub call: Call,
    /// The span's status: `Error` if the call failed (its result then says how, if the caller
    /// recorded that).
    pub status: SpanStatus,
    /// What it returned: `None` only while the span is running (the call never returned); a
    /// finished call that recorded no result returned `Value::Null`.
    pub result: Option<Value>,
}

/// Why a re-execution is not the recorded one. `step` is the index of the call in the recording
/// (0 for the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Divergence {
    /// The call made is not the one recorded at this step.
    #[error(
        "call {step} diverges from the recording: the recording has {recorded} there (span \
         {span}), this execution made {made}"
    )]
    Mismatch {
        step: usize,
        span: SpanId,
        recorded: Call,
        made: Call,
    },
    /// A call made after every recorded call was served.
    #[error(
        "call {step} is past the end of the recording, which has {step} calls: this execution \
         made {made}"
    )]
    Extra { step: usize, made: Call },
    /// Recorded calls the execution never made ([`Cassette::finish`]).
    #[error(
        "the recording has {unplayed} call(s) this execution never made, from call {step}: \
         {recorded} (span {span})"
    )]
    Unplayed {
        step: usize,
        span: SpanId,
        recorded: Call,
        unplayed: usize,
    },
    /// The recorded call matches, but it never returned: its span was still running when the
    /// cassette was built.
    #[error(
        "call {step} has no recorded answer: {recorded} (span {span}) was still running when \
         the cassette was built; make this call for real"
    )]
    Unanswered {
        step: usize,
        span: SpanId,
        recorded: Call,
    },
}

impl Divergence {
    /// The index of the call in the recording where the executions part.
    pub fn step(&self) -> usize {
        match self {
            Divergence::Mismatch { step, .. }
            | Divergence::Extra { step, .. }
            | Divergence::Unplayed { step, .. }
            | Divergence::Unanswered { step, .. } => *step,
        }
    }
}

/// Why a typed call of a cassette ([`Cassette::tool`], [`Cassette::query`]) failed. Converts
/// from [`Error`], so it can be the error type of a `Database::transaction` closure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CassetteError {
    /// The re-execution is not the recorded one.
    #[error(transparent)]
    Diverged(#[from] Divergence),
    /// The recorded result is not a value of the type asked for.
    #[error(
        "call {step} (span {span}) recorded a {stored} result that cannot be read as \
         {requested}: {source}"
    )]
    ResultType {
        step: usize,
        span: SpanId,
        stored: &'static str,
        requested: &'static str,
        #[source]
        source: ConvertError,
    },
    /// The arguments have no stored form, or the database failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl CassetteError {
    /// The divergence, if that is what this is.
    pub fn divergence(&self) -> Option<&Divergence> {
        match self {
            CassetteError::Diverged(d) => Some(d),
            _ => None,
        }
    }
}

/// The recorded answers of a run's tool calls and queries, served in recording order.
///
/// ```
/// use in_mem_engine::Database;
/// use in_mem_primitives::{Cassette, Divergence, TraceStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// // Recording: each call's answer goes into the trace.
/// let trace = TraceStore::new(&db);
/// trace.record(run, Cassette::tool_span("weather", "Oslo", "rain")?)?;
/// trace.record(run, Cassette::tool_span("weather", "Bergen", "sun")?)?;
///
/// // Re-execution: the same calls get the same answers, without calling anything.
/// let mut cassette = Cassette::from_run(&db, run)?;
/// let oslo: String = cassette.tool("weather", "Oslo")?;
/// assert_eq!(oslo, "rain");
/// // A call the recording did not make next is a divergence naming the step.
/// let err = cassette.tool::<_, String>("weather", "Paris").unwrap_err();
/// assert!(matches!(err.divergence(), Some(Divergence::Mismatch { step: 1, .. })));
/// let bergen: String = cassette.tool("weather", "Bergen")?;
/// assert_eq!(bergen, "sun");
/// cassette.finish()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Cassette {
    run: RunId,
    version: u64,
    calls: Vec<RecordedCall>,
    next: usize,
}

impl Cassette {
    /// The calls of `run` as it is now.
    pub fn from_run(db: &Database, run: RunId) -> Result<Self> {
        Self::from_view(&mut db.run_view_at(run, At::Now)?)
    }

    /// The calls of the run `view` shows, as of the view's point.
    ///
    /// A span whose [`FINGERPRINT_ATTRIBUTE`] is not text is [`Error::InvalidSpan`]: the
    /// recording does not follow the convention, and guessing would match the wrong calls.
    pub fn from_view(view: &mut RunView) -> Result<Self> {
        let mut calls = Vec::new();
        for span in view.spans().all()? {
            if let Some(call) = recorded(span)? {
                calls.push(call);
            }
        }
        Ok(Cassette {
            run: view.run(),
            version: view.version(),
            calls,
            next: 0,
        })
    }

    /// The default fingerprint of a request: the SHA-256, in lower-case hex, of the canonical
    /// encoding of `request` (`Value::encode`: maps in key order, so the order a map was built
    /// in does not count). Fails only for a value that cannot be stored (too deep, too large).
    pub fn fingerprint_of(request: &Value) -> Result<String> {
        let digest = Sha256::digest(request.encode()?);
        Ok(digest.iter().fold(String::with_capacity(64), |mut hex, b| {
            use fmt::Write;
            let _ = write!(hex, "{b:02x}");
            hex
        }))
    }

    /// A finished `ToolCall` span recording that `tool` was called with `arguments` and
    /// returned `result`, as the cassette reads it back (record it with
    /// [`TraceStore::record`](crate::TraceStore::record) or `record_in`). Add a
    /// [`FINGERPRINT_ATTRIBUTE`] to match calls by a fingerprint of your own, and a parent,
    /// tags, a duration as usual.
    pub fn tool_span<A, R>(tool: &str, arguments: &A, result: &R) -> Result<NewSpan>
    where
        A: Serialize + ?Sized,
        R: Serialize + ?Sized,
    {
        Ok(NewSpan::tool_call(tool, to_stored(arguments)?).result(to_stored(result)?))
    }

    /// A finished `Query` span recording that `query` returned `result`, as the cassette reads
    /// it back.
    pub fn query_span<R: Serialize + ?Sized>(query: &str, result: &R) -> Result<NewSpan> {
        Ok(NewSpan::query(query).result(to_stored(result)?))
    }

    /// The run the calls were recorded in.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// The version the run was read at.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every recorded call, in recording order.
    pub fn calls(&self) -> &[RecordedCall] {
        &self.calls
    }

    /// How many recorded calls have been served.
    pub fn position(&self) -> usize {
        self.next
    }

    /// How many recorded calls are left to serve.
    pub fn remaining(&self) -> usize {
        self.calls.len() - self.next
    }

    /// Serves the next recorded call, which must be `call` (name and fingerprint), and returns
    /// the whole record (status and result). The lowest-level way in: [`Cassette::call`] and
    /// the typed calls are built on it.
    pub fn play(&mut self, call: Call) -> std::result::Result<&RecordedCall, Divergence> {
        let step = self.next;
        let Some(recorded) = self.calls.get(step) else {
            return Err(Divergence::Extra { step, made: call });
        };
        if recorded.call != call {
            return Err(Divergence::Mismatch {
                step,
                span: recorded.span,
                recorded: recorded.call.clone(),
                made: call,
            });
        }
        if recorded.result.is_none() {
            return Err(Divergence::Unanswered {
                step,
                span: recorded.span,
                recorded: recorded.call.clone(),
            });
        }
        self.next += 1;
        Ok(recorded)
    }

    /// The recorded result of the next call, which must be `name` with request fingerprint
    /// `fingerprint`.
    pub fn call(
        &mut self,
        name: &str,
        fingerprint: &str,
    ) -> std::result::Result<Value, Divergence> {
        let recorded = self.play(Call::new(name, fingerprint))?;
        Ok(recorded.result.clone().unwrap_or(Value::Null))
    }

    /// The recorded result of the next call, which must be tool `name` called with `arguments`
    /// (matched by their default fingerprint), read as an `R`.
    pub fn tool<A, R>(&mut self, name: &str, arguments: &A) -> std::result::Result<R, CassetteError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let fingerprint = Self::fingerprint_of(&to_stored(arguments)?)?;
        self.typed(Call::new(name, fingerprint))
    }

    /// The recorded result of the next call, which must be query `query` (matched by the
    /// default fingerprint of its text), read as an `R`.
    pub fn query<R: DeserializeOwned>(
        &mut self,
        query: &str,
    ) -> std::result::Result<R, CassetteError> {
        let fingerprint = Self::fingerprint_of(&Value::from(query))?;
        self.typed(Call::new(query, fingerprint))
    }

    /// Checks that every recorded call was served.
    pub fn finish(&self) -> std::result::Result<(), Divergence> {
        match self.calls.get(self.next) {
            None => Ok(()),
            Some(recorded) => Err(Divergence::Unplayed {
                step: self.next,
                span: recorded.span,
                recorded: recorded.call.clone(),
                unplayed: self.remaining(),
            }),
        }
    }

    fn typed<R: DeserializeOwned>(&mut self, call: Call) -> std::result::Result<R, CassetteError> {
        let step = self.next;
        let recorded = self.play(call)?;
        let span = recorded.span;
        let value = recorded.result.clone().unwrap_or(Value::Null);
        let stored = value.type_name();
        from_value(value).map_err(|source| CassetteError::ResultType {
            step,
            span,
            stored,
            requested: type_name::<R>(),
            source,
        })
    }
}

/// The call `span` records, if it is a tool call or a query.
fn recorded(span: Span) -> Result<Option<RecordedCall>> {
    let (kind, name, request, result) = match span.kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            ..
        } => (CallKind::Tool, tool, arguments, result),
        SpanKind::Query { query, result } => {
            let request = Value::from(query.as_str());
            (CallKind::Query, query, request, result)
        }
        _ => return Ok(None),
    };
    let fingerprint = match span.attributes.get(FINGERPRINT_ATTRIBUTE) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => {
            return Err(Error::InvalidSpan {
                reason: format!(
                    "span {} ({name:?}) has a {FINGERPRINT_ATTRIBUTE} attribute that is a {}, \
                     not text; a cassette matches calls by text fingerprints",
                    span.id,
                    other.type_name()
                ),
            });
        }
        None => Cassette::fingerprint_of(&request)?,
    };
    // Stored spans keep a result of `Null` as no result: a finished call returned `Null`.
    let result = match span.status {
        SpanStatus::Running => None,
        SpanStatus::Ok | SpanStatus::Error => Some(result.unwrap_or(Value::Null)),
    };
    Ok(Some(RecordedCall {
        span: span.id,
        kind,
        call: Call::new(name, fingerprint),
        status: span.status,
        result,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, fingerprint: &str) -> Call {
        Call::new(name, fingerprint)
    }

    #[test]
    fn fingerprints_are_the_sha256_of_the_canonical_encoding() {
        // The SHA-256 of the encoding of Null (one tag byte, 0x00).
        assert_eq!(
            Cassette::fingerprint_of(&Value::Null).unwrap(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        // Maps are encoded in key order: the order they were built in does not count.
        let a = Value::Map([("x".into(), Value::I64(1)), ("y".into(), Value::I64(2))].into());
        let b = Value::Map([("y".into(), Value::I64(2)), ("x".into(), Value::I64(1))].into());
        assert_eq!(
            Cassette::fingerprint_of(&a).unwrap(),
            Cassette::fingerprint_of(&b).unwrap()
        );
        assert_ne!(
            Cassette::fingerprint_of(&Value::I64(1)).unwrap(),
            Cassette::fingerprint_of(&Value::from("1")).unwrap()
        );
    }

    #[test]
    fn divergences_name_the_step_and_both_calls() {
        let mismatch = Divergence::Mismatch {
            step: 2,
            span: 5,
            recorded: call("weather", "aa"),
            made: call("weather", "bb"),
        };
        assert_eq!(
            mismatch.to_string(),
            "call 2 diverges from the recording: the recording has \"weather\" with fingerprint \
             aa there (span 5), this execution made \"weather\" with fingerprint bb"
        );
        let extra = Divergence::Extra {
            step: 3,
            made: call("search", "cc"),
        };
        assert_eq!(
            extra.to_string(),
            "call 3 is past the end of the recording, which has 3 calls: this execution made \
             \"search\" with fingerprint cc"
        );
        let unplayed = Divergence::Unplayed {
            step: 1,
            span: 2,
            recorded: call("search", "dd"),
            unplayed: 2,
        };
        assert_eq!(
            unplayed.to_string(),
            "the recording has 2 call(s) this execution never made, from call 1: \"search\" \
             with fingerprint dd (span 2)"
        );
        let unanswered = Divergence::Unanswered {
            step: 0,
            span: 1,
            recorded: call("search", "ee"),
        };
        assert_eq!(
            unanswered.to_string(),
            "call 0 has no recorded answer: \"search\" with fingerprint ee (span 1) was still \
             running when the cassette was built; make this call for real"
        );
        assert_eq!(
            [&mismatch, &extra, &unplayed, &unanswered].map(Divergence::step),
            [2, 3, 1, 0]
        );
    }
}
