//! `in-mem otlp` received by a real OTLP/HTTP receiver started by the test (a small HTTP
//! server decoding the body with opentelemetry-proto's types), checked span by span and
//! attribute by attribute; sending again sends the same ids.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::{agent_db, in_mem, path, run_ids};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// A request the receiver got: its path, content type and decoded body.
struct Received {
    path: String,
    content_type: String,
    request: ExportTraceServiceRequest,
}

/// Listens on a free loopback port; answers every OTLP request 200 and hands it over. Stops
/// after `requests` requests (every read has a timeout: nothing waits forever).
fn receiver(requests: usize) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            let path = first
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => value.trim().clone_into(&mut content_type),
                    _ => {}
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
            let mut stream = reader.into_inner();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            tx.send(Received {
                path,
                content_type,
                request,
            })
            .unwrap();
        }
    });
    (endpoint, rx)
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> &'a str {
    match attr(span, key) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("{key} of span {:?} is {other:?}", span.name),
    }
}

fn send(db: &std::path::Path, args: &[&str]) -> Vec<Span> {
    let (endpoint, rx) = receiver(1);
    let mut all = vec![
        "otlp",
        path(db),
        "--endpoint",
        &endpoint,
        "--service-name",
        "trips",
    ];
    all.extend_from_slice(args);
    let out = in_mem(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got.path, "/v1/traces");
    assert_eq!(got.content_type, "application/x-protobuf");
    let resource = &got.request.resource_spans[0];
    let service = resource.resource.as_ref().unwrap().attributes[0].clone();
    assert_eq!(service.key, "service.name");
    assert_eq!(
        service.value.unwrap().value,
        Some(any_value::Value::StringValue("trips".into()))
    );
    resource.scope_spans[0].spans.clone()
}

#[test]
fn the_agent_runs_arrive_as_gen_ai_spans_with_ids_derived_from_runs_and_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    let oslo = run_ids(&db)[1].clone();
    let spans = send(&db, &["--run", &oslo[..8]]);
    // The run's invoke_agent span and its five spans.
    assert_eq!(spans.len(), 6);
    let trace_id: Vec<u8> = oslo.parse::<in_mem::RunId>().unwrap().to_bytes().to_vec();
    assert!(
        spans.iter().all(|s| s.trace_id == trace_id),
        "trace id = run id"
    );
    let by_name: BTreeMap<&str, &Span> = spans.iter().map(|s| (s.name.as_str(), s)).collect();

    let agent = by_name["invoke_agent planner"];
    assert!(agent.parent_span_id.is_empty() || agent.parent_span_id == vec![0; 8]);
    assert_eq!(text(agent, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(text(agent, "gen_ai.agent.name"), "planner");
    assert_eq!(text(agent, "gen_ai.agent.id"), "acme/travel/planner");
    assert_eq!(text(agent, "gen_ai.conversation.id"), oslo);
    assert_eq!(text(agent, "in_mem.run.status"), "completed");
    assert_eq!(agent.status.as_ref().unwrap().code, 1, "completed is OK");
    assert!(agent.end_time_unix_nano > agent.start_time_unix_nano);

    let thought = by_name["thought"];
    assert_eq!(
        thought.parent_span_id, agent.span_id,
        "root spans hang under the run"
    );
    assert_eq!(
        text(thought, "in_mem.thought.text"),
        "plan a day trip from Oslo"
    );

    let tools: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("execute_tool"))
        .collect();
    assert_eq!(tools.len(), 3);
    let weather = tools[0];
    assert_eq!(weather.name, "execute_tool weather");
    assert_eq!(weather.parent_span_id, thought.span_id);
    assert_eq!(text(weather, "gen_ai.operation.name"), "execute_tool");
    assert_eq!(text(weather, "gen_ai.tool.name"), "weather");
    assert_eq!(text(weather, "gen_ai.tool.type"), "function");
    assert_eq!(text(weather, "gen_ai.tool.call.arguments"), "\"Oslo\"");
    assert_eq!(text(weather, "gen_ai.tool.call.result"), "\"rain, 9 C\"");
    assert_eq!(
        attr(weather, "in_mem.span.tags"),
        Some(&any_value::Value::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: vec![AnyValue {
                    value: Some(any_value::Value::StringValue("tool".into()))
                }]
            }
        ))
    );
    assert!(
        weather.end_time_unix_nano - weather.start_time_unix_nano >= 2_000_000,
        "the tool took 2 ms"
    );
    let decision = by_name["decision where to go?"];
    assert_eq!(
        text(decision, "in_mem.decision.chosen"),
        "Bergen by the 08:15"
    );
    // Span ids are distinct and derived: sending again sends exactly the same spans.
    let mut ids: Vec<&Vec<u8>> = spans.iter().map(|s| &s.span_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    assert_eq!(
        send(&db, &["--run", &oslo]),
        spans,
        "a re-export is idempotent"
    );
}

#[test]
fn a_model_call_is_a_chat_span_and_gen_ai_attributes_pass_through() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("db");
    let run;
    {
        let db = in_mem::Database::open(&db_path).unwrap();
        run = db.begin_run();
        let trace = in_mem::primitives::TraceStore::new(&db);
        let call = in_mem::primitives::NewSpan::custom("chat", in_mem::Value::from("hello?"))
            .attribute("gen_ai.request.model", in_mem::Value::from("small-model"))
            .attribute("gen_ai.usage.input_tokens", in_mem::Value::I64(12))
            .attribute("temperature", in_mem::Value::F64(0.5));
        let id = trace.start(run, call).unwrap();
        trace
            .finish(run, id, in_mem::primitives::SpanStatus::Error)
            .unwrap();
        db.fail_run(run, "the model refused").unwrap();
        db.close().unwrap();
    }
    let spans = send(&db_path, &[]);
    assert_eq!(spans.len(), 2);
    let chat = spans.iter().find(|s| s.name == "chat small-model").unwrap();
    assert_eq!(chat.kind, 3, "a model call is a client span");
    assert_eq!(text(chat, "gen_ai.operation.name"), "chat");
    assert_eq!(text(chat, "gen_ai.request.model"), "small-model");
    assert_eq!(
        attr(chat, "gen_ai.usage.input_tokens"),
        Some(&any_value::Value::IntValue(12))
    );
    assert_eq!(
        attr(chat, "in_mem.attribute.temperature"),
        Some(&any_value::Value::DoubleValue(0.5))
    );
    assert_eq!(chat.status.as_ref().unwrap().code, 2, "an error span");
    let agent = spans
        .iter()
        .find(|s| s.name.starts_with("invoke_agent"))
        .unwrap();
    assert_eq!(agent.status.as_ref().unwrap().message, "the model refused");
    assert_eq!(text(agent, "gen_ai.conversation.id"), run.to_string());
}

#[test]
fn a_collector_that_is_not_there_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    agent_db(&db);
    // A port nothing listens on: bind one, then let it go.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = in_mem(&[
        "otlp",
        path(&db),
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sending spans to"));
}
