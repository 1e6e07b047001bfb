//! Record, replay, fork: a simulated agent whose tool answers are random runs once, recording
//! its tool calls as spans; it is then executed again from its recording (a `Cassette`) in a
//! new run, with the same outcome and the same events byte for byte; a changed agent is caught
//! at the call where it parts from the recording; and the original run is forked at its third
//! step, where it goes on with a different tool answer, and the two runs are compared.
//!
//! ```text
//! cargo run --release --example replay [-- <seed>]
//! ```
//!
//! Without a seed the tool answers are seeded from the clock, so every run of the example
//! records something else; the claims it prints are checked (it panics if one fails).

use std::time::{SystemTime, UNIX_EPOCH};

use in_mem::primitives::{
    Cassette, CassetteError, Divergence, EventLog, StateMachine, TraceStore, from_value,
};
use in_mem::{At, Database, DurabilityMode, RunId, Value};
use serde::{Deserialize, Serialize};

/// The days the agent looks at, in order.
const DAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

/// What the forecast tool is asked.
#[derive(Serialize)]
struct Ask<'a> {
    day: &'a str,
}

/// What it answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Forecast {
    rain_mm: u64,
    wind_ms: u64,
}

/// The agent's progress: the driest day so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Driest {
    day: String,
    rain_mm: u64,
}

/// A random world: xorshift64, enough for a simulation (no dependency needed).
struct World(u64);

impl World {
    fn seeded(seed: u64) -> Self {
        // The state must never be zero (xorshift would stay there).
        World((seed ^ 0x9E37_79B9_7F4A_7C15).max(1))
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        lo + x % (hi - lo + 1)
    }
}

/// Where the agent's answers come from.
enum Tools {
    /// The (random) world: never 0 mm of rain.
    Live(World),
    /// A recording.
    Replay(Cassette),
    /// A forecast service that has changed its mind: dry everywhere.
    Dry,
}

impl Tools {
    fn forecast(&mut self, day: &str) -> Result<Forecast, CassetteError> {
        match self {
            Tools::Live(world) => Ok(Forecast {
                rain_mm: world.between(1, 30),
                wind_ms: world.between(0, 20),
            }),
            Tools::Replay(cassette) => cassette.tool("forecast", &Ask { day }),
            Tools::Dry => Ok(Forecast {
                rain_mm: 0,
                wind_ms: 2,
            }),
        }
    }
}

/// Picks the driest of `days` for a hike. Each answer is one step (one commit): the tool call's
/// span, an `observed` event and, if the day is the driest so far, the state cell `driest`.
/// All its progress lives in the run (the days it has seen are its events, the best so far a
/// cell), so it resumes where the run is: a fork goes on from its parent's point.
fn plan_hike(
    db: &Database,
    run: RunId,
    days: &[&str],
    tools: &mut Tools,
) -> Result<String, CassetteError> {
    let state = StateMachine::new(db);
    let mut driest = Driest {
        day: String::new(),
        rain_mm: u64::MAX,
    };
    if let Some(cell) = state.read(run, "driest")? {
        driest = from_value(cell.value).expect("the agent wrote it");
    } else {
        state.init(run, "driest", &driest)?;
    }
    let seen = EventLog::new(db).len(run)?;
    for day in days.iter().skip(seen as usize) {
        let forecast = tools.forecast(day)?;
        db.transaction(run, |tx| {
            let call = Cassette::tool_span("forecast", &Ask { day }, &forecast)?;
            TraceStore::record_in(tx, call)?;
            EventLog::append_in(tx, "observed", (day, forecast))?;
            if forecast.rain_mm < driest.rain_mm {
                driest = Driest {
                    day: (*day).to_owned(),
                    rain_mm: forecast.rain_mm,
                };
                StateMachine::set_in(tx, "driest", &driest)?;
            }
            Ok::<_, in_mem::Error>(())
        })?;
    }
    db.transaction(run, |tx| {
        EventLog::append_in(tx, "decided", &driest.day)?;
        tx.put_value(b"hike", &Value::from(driest.day.as_str()))
    })?;
    Ok(driest.day)
}

/// A run's events as (sequence, type, canonical payload bytes): their content. (Their hashes
/// differ between runs: they cover the timestamps.)
fn event_content(db: &Database, run: RunId) -> in_mem::Result<Vec<(u64, String, Vec<u8>)>> {
    EventLog::new(db)
        .read_range(run, 0..u64::MAX)?
        .into_iter()
        .map(|e| Ok((e.sequence, e.event_type, e.payload.encode()?)))
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64,
    };
    let dir = std::env::temp_dir().join(format!("in-mem-replay-{}", std::process::id()));
    let db = Database::open_with_mode(
        &dir,
        DurabilityMode::Batched {
            interval_ms: 50,
            max_commits: 500,
        },
    )?;
    println!("tool answers seeded with {seed}");

    // 1. Record: the agent meets the random world.
    let original = db.begin_run();
    let choice = plan_hike(&db, original, &DAYS, &mut Tools::Live(World::seeded(seed)))?;
    db.end_run(original)?;
    println!("\noriginal run {original}: hike on {choice}");
    for event in EventLog::new(&db).read_range(original, 0..u64::MAX)? {
        println!(
            "  #{} {} {}",
            event.sequence, event.event_type, event.payload
        );
    }

    // 2. Replay: the same agent, answered from the recording, in a new run.
    let cassette = Cassette::from_run(&db, original)?;
    println!("\ncassette: {} recorded calls", cassette.calls().len());
    let replay = db.begin_run();
    let mut tools = Tools::Replay(cassette);
    let replayed = plan_hike(&db, replay, &DAYS, &mut tools)?;
    let Tools::Replay(cassette) = tools else {
        unreachable!("the tools were a cassette")
    };
    cassette.finish()?;
    db.end_run(replay)?;
    assert_eq!(replayed, choice, "the replay reached another outcome");
    let events = event_content(&db, original)?;
    assert_eq!(
        event_content(&db, replay)?,
        events,
        "the replay's events differ"
    );
    let diff = db.diff_runs(original, replay)?;
    assert!(diff.kv.is_empty(), "{diff}");
    assert!(diff.events.first_divergence.is_none(), "{diff}");
    assert!(diff.cells.is_empty(), "{diff}");
    assert!(diff.spans.is_empty(), "{diff}");
    println!(
        "replayed as run {replay}: hike on {replayed}, {} events byte-identical, no difference \
         in memory, events, state or trace",
        events.len()
    );

    // 3. A changed agent (it looks at saturday third) parts from the recording at call 2.
    let mut tools = Tools::Replay(Cassette::from_run(&db, original)?);
    let changed = ["monday", "tuesday", "saturday", "thursday", "friday"];
    let diverged = db.begin_run();
    let err = plan_hike(&db, diverged, &changed, &mut tools).expect_err("it must diverge");
    assert!(
        matches!(err.divergence(), Some(Divergence::Mismatch { step: 2, .. })),
        "{err}"
    );
    println!("\na changed agent is caught: {err}");
    db.end_run(diverged)?;

    // 4. Fork the original at its third step (the commit of event #2) and go on with another
    //    answer: the forecast service now says every other day is dry.
    let timeline = db.run_timeline(original)?;
    let third = timeline
        .steps
        .iter()
        .find(|step| step.events.iter().any(|(sequence, _)| *sequence == 2))
        .expect("the original observed five days");
    assert_eq!(
        db.run_view_at(original, At::Event(2))?.version(),
        third.version
    );
    let fork = db.fork_run(original, At::Event(2))?;
    let forked = plan_hike(&db, fork, &DAYS, &mut Tools::Dry)?;
    db.end_run(fork)?;
    assert_eq!(forked, "thursday", "the first dry day the fork asked about");
    println!(
        "\nforked the original at step 3 (version {}) as run {fork}: hike on {forked}",
        third.version
    );
    let fork_calls = Cassette::from_run(&db, fork)?;
    let original_calls = Cassette::from_run(&db, original)?;
    assert_eq!(
        fork_calls.calls()[..3],
        original_calls.calls()[..3],
        "a fork's recording starts with its parent's calls up to the fork point"
    );

    let diff = db.diff_runs(original, fork)?;
    assert_eq!(diff.events.first_divergence, Some(3), "{diff}");
    assert!(!diff.spans.is_empty(), "{diff}");
    println!("\n{diff}");

    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
