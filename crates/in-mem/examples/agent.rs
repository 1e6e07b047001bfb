//! A small simulated agent: it plans a trip, calls (simulated) tools, and records everything in
//! in-mem: tool calls and decisions as trace spans, what it observed as events, its plan as a
//! declared state machine, facts in its KV memory. Then it prints what it stored and verifies
//! the event chain.
//!
//! ```text
//! cargo run --release --example agent                 # in a temporary directory, removed after
//! cargo run --release --example agent -- DIR [CITY]   # in DIR, kept: one more run each time
//! ```
//!
//! With a directory, the database stays there for the `in-mem` inspector (`in-mem runs DIR`,
//! `in-mem tree DIR RUN` ...); a second run from another home city (`Trondheim` has sun, so the
//! agent stays) gives `in-mem diff` something to show.

use std::time::Duration;

use in_mem::primitives::{
    EventLog, KVStore, MachineDefinition, NewSpan, SpanId, SpanStatus, SpanTree, StateMachine,
    TraceStore,
};
use in_mem::{AgentId, Database, DurabilityMode, RunId, RunOptions, Value};

/// A tool the agent can call; simulated, deterministic.
fn call_tool(tool: &str, input: &str) -> Value {
    match tool {
        "weather" => Value::from(if input == "Oslo" {
            "rain, 9 C"
        } else {
            "sun, 21 C"
        }),
        "trains" => Value::Array(vec![
            Value::from("08:15 Oslo-Bergen"),
            Value::from("12:25 Oslo-Bergen"),
        ]),
        _ => Value::Null,
    }
}

fn main() -> in_mem::Result<()> {
    let mut args = std::env::args().skip(1);
    let kept = args.next().map(std::path::PathBuf::from);
    let home = args.next().unwrap_or_else(|| "Oslo".to_owned());
    let dir = kept.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("in-mem-agent-{}", std::process::id()))
    });
    let db = Database::open_with_mode(
        &dir,
        DurabilityMode::Batched {
            interval_ms: 50,
            max_commits: 500,
        },
    )?;
    let (kv, events, state, trace) = (
        KVStore::new(&db),
        EventLog::new(&db),
        StateMachine::new(&db),
        TraceStore::new(&db),
    );

    let agent = AgentId::new("acme", "travel", "planner");
    let run = db.begin_run_with(RunOptions::new().agent(agent).tag("demo"))?;
    println!("run {run} of acme/travel/planner, from {home}");

    let plan = MachineDefinition::new("planning")
        .transition("planning", "plan_ready", "researching")
        .transition("researching", "facts_gathered", "deciding")
        .transition("deciding", "booked", "done")
        .transition("researching", "tool_failed", "planning")
        .terminal("done");
    state.define(run, "plan", &plan)?;

    // Step 1: think, and move the plan forward, atomically.
    let root = trace.start(
        run,
        NewSpan::thought(format!("plan a day trip from {home}")),
    )?;
    db.transaction(run, |tx| {
        EventLog::append_in(tx, "goal", format!("a day trip from {home}, by train"))?;
        StateMachine::fire_in(tx, "plan", "plan_ready")?;
        Ok::<_, in_mem::Error>(())
    })?;

    // Step 2: call tools; each call is a span, each result an event and a fact in memory.
    let route = format!("{home}-Bergen");
    for (tool, input) in [
        ("weather", home.as_str()),
        ("weather", "Bergen"),
        ("trains", route.as_str()),
    ] {
        let span = trace.start(
            run,
            NewSpan::tool_call(tool, Value::from(input))
                .parent(root)
                .tag("tool"),
        )?;
        std::thread::sleep(Duration::from_millis(2)); // the tool "works"
        let result = call_tool(tool, input);
        trace.finish_with(run, span, SpanStatus::Ok, Some(result.clone()))?;
        events.append(run, "observation", (tool, input, &result))?;
        db.put_value(run, format!("fact:{tool}:{input}"), &result)?;
    }
    state.fire(run, "plan", "facts_gathered")?;

    // Step 3: decide, and record the decision with the state change and an event, atomically.
    let rains_at_home = call_tool("weather", &home) == Value::from("rain, 9 C");
    let stay = format!("stay in {home}");
    let (chosen, reasoning, booking) = if rains_at_home {
        (
            "Bergen by the 08:15".to_owned(),
            format!("it rains in {home} and the morning train arrives by lunch"),
            format!("08:15 {route}"),
        )
    } else {
        (
            stay.clone(),
            format!("the sun is out in {home}: no train needed"),
            format!("a walk in {home}"),
        )
    };
    db.transaction(run, |tx| {
        TraceStore::record_in(
            tx,
            NewSpan::decision(
                "where to go?",
                vec![stay.clone(), "Bergen by the 08:15".into()],
                chosen.clone(),
                reasoning.clone(),
            )
            .parent(root),
        )?;
        EventLog::append_in(tx, "booked", booking.as_str())?;
        StateMachine::fire_in(tx, "plan", "booked")?;
        tx.put_value(b"booking", &Value::from(booking.as_str()))?;
        Ok::<_, in_mem::Error>(())
    })?;
    kv.put(run, "trips_planned", 1)?;
    trace.finish(run, root, SpanStatus::Ok)?;

    // A forbidden move is refused with a clear error.
    if let Err(e) = state.fire(run, "plan", "tool_failed") {
        println!("refused as expected: {e}");
    }
    db.end_run(run)?;

    report(&db, run, root)?;

    db.close()?;
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Prints what the run stored: its events (and the chain's verification), its trace, its plan's
/// state, its memory and its status.
fn report(db: &Database, run: RunId, root: SpanId) -> in_mem::Result<()> {
    let (events, state, trace) = (
        EventLog::new(db),
        StateMachine::new(db),
        TraceStore::new(db),
    );
    println!("\nevents:");
    for event in events.iter(run) {
        let event = event?;
        println!(
            "  #{} {:<12} {:?}",
            event.sequence, event.event_type, event.payload
        );
    }
    let chain = events.verify_chain(run)?;
    let head = hex(&chain.head_hash[..8]);
    println!(
        "event chain verified: {} events, head hash {head}...",
        chain.events
    );

    println!("\ntrace:");
    if let Some(tree) = trace.tree(run, root)? {
        print_tree(&tree, 1);
    }

    let plan_state = state
        .machine_state(run, "plan")?
        .expect("the plan was defined");
    println!(
        "\nplan state: {:?} (version {})",
        plan_state.value, plan_state.version
    );
    println!("memory:");
    for (key, value) in db.list_values(run, b"")? {
        println!("  {} = {value:?}", String::from_utf8_lossy(&key));
    }
    let info = db.run_info(run)?;
    println!("\nrun status: {} (tags {:?})", info.status, info.tags);

    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn print_tree(tree: &SpanTree, depth: usize) {
    let span = &tree.span;
    let took = span.end.map(|end| end.saturating_since(span.start));
    println!(
        "  {}[{}] {} {:?} {:?}",
        "  ".repeat(depth - 1),
        span.id,
        span.kind.name(),
        span.status,
        took
    );
    for child in &tree.children {
        print_tree(child, depth + 1);
    }
}
