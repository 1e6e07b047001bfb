#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `Cassette`: a run re-executed from its recorded tool answers is the same run (events, state,
//! memory, trace), and every way a re-execution can part from the recording is a `Divergence`
//! naming the step and both calls; cassettes of views, forks and reopened databases.

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{At, Database, DurabilityMode, Error, OpenOptions};
use in_mem_primitives::{
    Call, CallKind, Cassette, CassetteError, Divergence, EventLog, FINGERPRINT_ATTRIBUTE, NewSpan,
    StateMachine, TraceStore,
};
use serde::{Deserialize, Serialize};

fn open(dir: &std::path::Path) -> Database {
    let options = OpenOptions::new()
        .mode(DurabilityMode::Batched {
            interval_ms: 20,
            max_commits: 100,
        })
        .segment_bytes(64 * 1024);
    Database::open_with_options(dir, options).unwrap()
}

const CITIES: [&str; 4] = ["Oslo", "Bergen", "Tromso", "Stavanger"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ask {
    city: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Forecast {
    celsius: i64,
}

/// Where the agent's answers come from: the world (recorded as it goes) or a cassette.
enum Tools<'a> {
    Live(&'a mut dyn FnMut(&Ask) -> Forecast),
    Replay(&'a mut Cassette),
}

impl Tools<'_> {
    fn weather(&mut self, ask: &Ask) -> Result<Forecast, CassetteError> {
        match self {
            Tools::Live(world) => Ok(world(ask)),
            Tools::Replay(cassette) => cassette.tool("weather", ask),
        }
    }
}

/// A small agent: asks for the weather in `cities` in order, one step (a commit) per answer with
/// the tool call's span, an event and its state; then picks the warmest city. It keeps all its
/// state in the run, so it resumes where its state says (a fork continues its parent's work).
fn agent(
    db: &Database,
    run: RunId,
    cities: &[&str],
    mut tools: Tools<'_>,
) -> Result<String, CassetteError> {
    let state = StateMachine::new(db);
    if state.read(run, "best")?.is_none() {
        state.init(run, "best", ("", i64::MIN))?;
    }
    let done = EventLog::new(db).len(run)?;
    for city in cities.iter().skip(done as usize) {
        let ask = Ask {
            city: (*city).to_owned(),
        };
        let forecast = tools.weather(&ask)?;
        db.transaction(run, |tx| {
            TraceStore::record_in(tx, Cassette::tool_span("weather", &ask, &forecast)?)?;
            EventLog::append_in(tx, "observed", (city, forecast.celsius))?;
            let best = tx.cells().get("best")?.expect("initialized above").value;
            let (_, warmest): (String, i64) = in_mem_core_types::from_value(best).unwrap();
            if forecast.celsius > warmest {
                StateMachine::set_in(tx, "best", (city, forecast.celsius))?;
            }
            Ok::<_, CassetteError>(())
        })?;
    }
    let best = state.read(run, "best")?.expect("initialized above").value;
    let (choice, _): (String, i64) = in_mem_core_types::from_value(best).unwrap();
    db.transaction(run, |tx| {
        EventLog::append_in(tx, "decided", &choice)?;
        tx.put_value(b"choice", &Value::from(choice.as_str()))?;
        Ok::<_, Error>(())
    })?;
    Ok(choice)
}

/// A world whose answers are fixed by a seed (a real one would be anything).
fn world(seed: i64) -> impl FnMut(&Ask) -> Forecast {
    let mut calls = 0;
    move |ask| {
        calls += 1;
        let celsius =
            (seed * 31 + calls * 17 + i64::try_from(ask.city.len()).unwrap() * 7) % 40 - 5;
        Forecast { celsius }
    }
}

/// The run's events as (type, canonical payload bytes): what must be identical.
fn event_content(db: &Database, run: RunId) -> Vec<(u64, String, Vec<u8>)> {
    EventLog::new(db)
        .read_range(run, 0..u64::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.sequence, e.event_type, e.payload.encode().unwrap()))
        .collect()
}

fn recorded_run(db: &Database, seed: i64) -> (RunId, String) {
    let run = db.begin_run();
    let mut live = world(seed);
    let choice = agent(db, run, &CITIES, Tools::Live(&mut live)).unwrap();
    (run, choice)
}

#[test]
fn a_run_re_executed_from_its_cassette_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let (original, choice) = recorded_run(&db, 3);
    let mut cassette = Cassette::from_run(&db, original).unwrap();
    assert_eq!(cassette.run(), original);
    assert_eq!(cassette.calls().len(), CITIES.len());
    assert!(
        cassette
            .calls()
            .iter()
            .all(|c| c.kind == CallKind::Tool && c.call.name == "weather")
    );

    let again = db.begin_run();
    let replayed = agent(&db, again, &CITIES, Tools::Replay(&mut cassette)).unwrap();
    cassette.finish().unwrap();
    assert_eq!(replayed, choice);
    assert_eq!(event_content(&db, again), event_content(&db, original));
    let diff = db.diff_runs(original, again).unwrap();
    assert!(diff.is_empty(), "{diff}");
    // The replayed run's own trace makes the same cassette.
    let second = Cassette::from_run(&db, again).unwrap();
    assert_eq!(second.calls(), cassette.calls());
}

#[test]
fn a_changed_call_is_a_divergence_naming_the_step_and_both_calls() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let (original, _) = recorded_run(&db, 5);
    let mut cassette = Cassette::from_run(&db, original).unwrap();
    let fingerprint = |city: &str| {
        Cassette::fingerprint_of(&in_mem_core_types::to_value(&Ask { city: city.into() }).unwrap())
            .unwrap()
    };

    // A re-execution that asks about Tromso where the recording asked about Bergen.
    let again = db.begin_run();
    let err = agent(
        &db,
        again,
        &["Oslo", "Tromso", "Bergen"],
        Tools::Replay(&mut cassette),
    )
    .unwrap_err();
    let divergence = err.divergence().unwrap();
    assert_eq!(
        divergence,
        &Divergence::Mismatch {
            step: 1,
            span: 2,
            recorded: Call::new("weather", fingerprint("Bergen")),
            made: Call::new("weather", fingerprint("Tromso")),
        }
    );
    let text = err.to_string();
    assert!(
        text.starts_with("call 1 diverges from the recording"),
        "{text}"
    );
    assert!(text.contains(&fingerprint("Bergen")), "{text}");
    assert!(text.contains(&fingerprint("Tromso")), "{text}");

    // A divergence leaves the cassette where it was: the recorded call is still next.
    assert_eq!(cassette.position(), 1);
    let tool_name_changed = cassette
        .call("forecast", &fingerprint("Bergen"))
        .unwrap_err();
    assert!(matches!(
        tool_name_changed,
        Divergence::Mismatch { step: 1, ref made, .. } if made.name == "forecast"
    ));
    let bergen: Forecast = cassette
        .tool(
            "weather",
            &Ask {
                city: "Bergen".into(),
            },
        )
        .unwrap();
    assert_eq!(
        Some(in_mem_core_types::to_value(&bergen).unwrap()),
        cassette.calls()[1].result
    );
}

#[test]
fn calls_past_the_end_and_calls_never_made_are_divergences() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let (original, _) = recorded_run(&db, 7);
    let mut cassette = Cassette::from_run(&db, original).unwrap();
    let recorded: Vec<Call> = cassette.calls().iter().map(|c| c.call.clone()).collect();

    // Unplayed: the re-execution stops after two calls.
    for call in &recorded[..2] {
        cassette.call(&call.name, &call.fingerprint).unwrap();
    }
    assert_eq!(cassette.remaining(), 2);
    assert_eq!(
        cassette.finish(),
        Err(Divergence::Unplayed {
            step: 2,
            span: 3,
            recorded: recorded[2].clone(),
            unplayed: 2,
        })
    );

    // Extra: the re-execution asks once more after the last recorded call.
    for call in &recorded[2..] {
        cassette.call(&call.name, &call.fingerprint).unwrap();
    }
    cassette.finish().unwrap();
    let err = cassette
        .tool::<_, Forecast>(
            "weather",
            &Ask {
                city: "Oslo".into(),
            },
        )
        .unwrap_err();
    match err.divergence() {
        Some(Divergence::Extra { step: 4, made }) => assert_eq!(made.name, "weather"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with(
        "call 4 is past the end of the recording, which has 4 calls: this execution made \
         \"weather\""
    ));
    // The agent meets the same divergence when it runs over a longer list.
    let mut fresh = Cassette::from_run(&db, original).unwrap();
    let again = db.begin_run();
    let err = agent(
        &db,
        again,
        &[&CITIES[..], &["Alta"]].concat(),
        Tools::Replay(&mut fresh),
    )
    .unwrap_err();
    assert!(matches!(
        err.divergence(),
        Some(Divergence::Extra { step: 4, .. })
    ));
}

#[test]
fn a_cassette_of_a_fork_holds_the_parents_calls_up_to_the_fork_point() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let (parent, _) = recorded_run(&db, 11);
    let parent_calls = Cassette::from_run(&db, parent).unwrap().calls().to_vec();

    // Fork after the agent's second observation (event 1), and go on with other answers.
    let fork = db.fork_run(parent, At::Event(1)).unwrap();
    let mut other = |_: &Ask| Forecast { celsius: 40 };
    let choice = agent(&db, fork, &CITIES, Tools::Live(&mut other)).unwrap();
    assert_eq!(
        choice, "Tromso",
        "the first city the fork asked about itself"
    );

    let cassette = Cassette::from_run(&db, fork).unwrap();
    assert_eq!(cassette.run(), fork);
    let calls = cassette.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[..2], parent_calls[..2], "the parent's, as they were");
    let spans: Vec<u64> = calls.iter().map(|c| c.span).collect();
    assert_eq!(
        spans,
        vec![1, 2, 3, 4],
        "the fork's span ids continue the parent's"
    );
    assert_eq!(calls[2].call, parent_calls[2].call, "the same question ...");
    assert_ne!(
        calls[2].result, parent_calls[2].result,
        "... another answer"
    );

    // The fork re-executed from its cassette in a new run is the fork again.
    let mut replay = cassette.clone();
    let again = db.begin_run();
    assert_eq!(
        agent(&db, again, &CITIES, Tools::Replay(&mut replay)).unwrap(),
        choice
    );
    replay.finish().unwrap();
    assert_eq!(event_content(&db, again), event_content(&db, fork));

    // A cassette of the parent as of the fork point holds what the fork inherited.
    let mut then = db.run_view_at(parent, At::Event(1)).unwrap();
    let at_point = Cassette::from_view(&mut then).unwrap();
    assert_eq!(at_point.version(), then.version());
    assert_eq!(at_point.calls(), &parent_calls[..2]);
}

#[test]
fn a_cassette_reads_the_same_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (original, choice, events, calls) = {
        let db = open(dir.path());
        let (original, choice) = recorded_run(&db, 13);
        db.end_run(original).unwrap();
        let calls = Cassette::from_run(&db, original).unwrap().calls().to_vec();
        let events = event_content(&db, original);
        db.close().unwrap();
        (original, choice, events, calls)
    };
    let db = open(dir.path());
    let mut cassette = Cassette::from_run(&db, original).unwrap();
    assert_eq!(cassette.calls(), &calls[..]);
    let again = db.begin_run();
    assert_eq!(
        agent(&db, again, &CITIES, Tools::Replay(&mut cassette)).unwrap(),
        choice
    );
    cassette.finish().unwrap();
    assert_eq!(event_content(&db, again), events);
    assert!(db.diff_runs(original, again).unwrap().is_empty());
}

#[test]
fn queries_custom_fingerprints_and_other_spans() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    let trace = TraceStore::new(&db);
    let plan = trace.start(run, NewSpan::thought("plan")).unwrap();
    trace
        .record(
            run,
            Cassette::query_span("capital of Norway", "Oslo")
                .unwrap()
                .parent(plan),
        )
        .unwrap();
    // The request carries a nonce that must not count: the caller fingerprints it itself.
    trace
        .record(
            run,
            Cassette::tool_span("search", &("trains", "nonce-81f2"), &vec!["08:15"])
                .unwrap()
                .attribute(FINGERPRINT_ATTRIBUTE, Value::from("search:trains")),
        )
        .unwrap();
    trace
        .record(run, NewSpan::decision("go?", vec![], "yes", "sun"))
        .unwrap();
    // A tool that returned nothing.
    trace
        .record(run, Cassette::tool_span("notify", "done", &()).unwrap())
        .unwrap();

    let mut cassette = Cassette::from_run(&db, run).unwrap();
    let kinds: Vec<CallKind> = cassette.calls().iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![CallKind::Query, CallKind::Tool, CallKind::Tool]);
    let capital: String = cassette.query("capital of Norway").unwrap();
    assert_eq!(capital, "Oslo");
    let trains = cassette.call("search", "search:trains").unwrap();
    assert_eq!(trains, Value::Array(vec![Value::from("08:15")]));
    let () = cassette.tool("notify", "done").unwrap();
    cassette.finish().unwrap();

    // A result read as the wrong type names the call and both types.
    let mut again = Cassette::from_run(&db, run).unwrap();
    let err = again.query::<i64>("capital of Norway").unwrap_err();
    assert!(
        matches!(
            err,
            CassetteError::ResultType {
                step: 0,
                span: 2,
                stored: "string",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_call_that_never_returned_has_no_answer_and_a_bad_fingerprint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let trace = TraceStore::new(&db);
    let run = db.begin_run();
    trace
        .start(run, NewSpan::tool_call("book", Value::from("08:15")))
        .unwrap();
    let mut cassette = Cassette::from_run(&db, run).unwrap();
    assert_eq!(cassette.calls()[0].result, None);
    let err = cassette.tool::<_, Value>("book", "08:15").unwrap_err();
    assert!(
        matches!(
            err.divergence(),
            Some(Divergence::Unanswered {
                step: 0,
                span: 1,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(cassette.position(), 0);

    let bad = db.begin_run();
    trace
        .record(
            bad,
            Cassette::tool_span("book", "08:15", "ok")
                .unwrap()
                .attribute(FINGERPRINT_ATTRIBUTE, Value::I64(7)),
        )
        .unwrap();
    let err = Cassette::from_run(&db, bad).unwrap_err();
    assert!(matches!(err, Error::InvalidSpan { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("has a fingerprint attribute that is a i64, not text"),
        "{err}"
    );
}
