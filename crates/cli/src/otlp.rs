//! Stored traces as OpenTelemetry spans (OTLP protobuf messages), following the `gen_ai` semantic
//! conventions: a run is an agent invocation (`invoke_agent {agent}`) whose children are its
//! spans; a tool call is a tool execution (`execute_tool {tool}`); a custom span named after a
//! `gen_ai` operation (`chat`, `text_completion`, `generate_content`, `embeddings`), or carrying
//! `gen_ai.request.model`, is a model call. Attributes a span already names `gen_ai.*` pass
//! through; everything else of in-mem's is under `in_mem.*`.
//!
//! Ids are derived, never random: the trace id is the run id's 16 bytes, a span id is a hash of
//! the run id and the stored span id (the run's own span takes span id 0), so sending the same
//! runs again sends the same spans and a backend that deduplicates by id keeps one copy.

use in_mem::primitives::{Span, SpanKind, SpanStatus};
use in_mem::{RunInfo, RunStatus, Timestamp, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{self as trace, ResourceSpans, ScopeSpans, Status};

/// `gen_ai` operations that are model calls, as a custom span's name may say.
const MODEL_OPERATIONS: [&str; 4] = ["chat", "text_completion", "generate_content", "embeddings"];

/// The request that carries `runs` (each with its spans) for service `service`.
pub fn request(service: &str, runs: &[(RunInfo, Vec<Span>)]) -> ExportTraceServiceRequest {
    let spans = runs
        .iter()
        .flat_map(|(info, spans)| {
            std::iter::once(run_span(info, spans)).chain(spans.iter().map(|s| span(info, s)))
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "in-mem".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The trace id of a run: its id's bytes.
pub fn trace_id(info: &RunInfo) -> Vec<u8> {
    info.run.to_bytes().to_vec()
}

/// The span id of span `id` of a run (0: the run's own span): 8 bytes of a 64-bit mix of the
/// run id and the span id, never all zero.
pub fn span_id(info: &RunInfo, id: u64) -> Vec<u8> {
    let bytes = info.run.to_bytes();
    let (hi, lo) = bytes.split_at(8);
    let fold = u64::from_le_bytes(hi.try_into().unwrap_or_default())
        ^ u64::from_le_bytes(lo.try_into().unwrap_or_default()).rotate_left(29);
    let mixed = splitmix(fold ^ splitmix(id));
    (if mixed == 0 { 1 } else { mixed }).to_be_bytes().to_vec()
}

/// The `SplitMix64` finalizer: a bijection that spreads every input bit over the output.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn nanos(t: Timestamp) -> u64 {
    t.as_micros().saturating_mul(1000)
}

/// The run as the agent invocation every one of its spans happened in.
fn run_span(info: &RunInfo, spans: &[Span]) -> trace::Span {
    let agent = info.agent.agent();
    let last = spans
        .iter()
        .map(|s| s.end.unwrap_or(s.start))
        .max()
        .unwrap_or(info.updated_at);
    let end = info.ended_at.unwrap_or(last.max(info.created_at));
    let mut attributes = vec![
        text("gen_ai.operation.name", "invoke_agent"),
        text("gen_ai.agent.name", agent),
        text(
            "gen_ai.agent.id",
            &format!("{}/{}/{agent}", info.agent.tenant(), info.agent.app()),
        ),
        text("gen_ai.conversation.id", &info.run.to_string()),
        text("in_mem.run.id", &info.run.to_string()),
        text("in_mem.run.status", info.status.as_str()),
        text("in_mem.agent.tenant", info.agent.tenant()),
        text("in_mem.agent.app", info.agent.app()),
    ];
    if !info.tags.is_empty() {
        attributes.push(kv("in_mem.run.tags", strings(&info.tags)));
    }
    if let Some(parent) = info.parent {
        attributes.push(text("in_mem.run.parent", &parent.to_string()));
    }
    let status = match info.status {
        RunStatus::Failed => Status {
            message: info.error.clone().unwrap_or_default(),
            code: trace::status::StatusCode::Error as i32,
        },
        RunStatus::Completed => Status {
            message: String::new(),
            code: trace::status::StatusCode::Ok as i32,
        },
        _ => Status::default(),
    };
    trace::Span {
        trace_id: trace_id(info),
        span_id: span_id(info, 0),
        name: format!("invoke_agent {agent}"),
        kind: trace::span::SpanKind::Internal as i32,
        start_time_unix_nano: nanos(info.created_at),
        end_time_unix_nano: nanos(end),
        attributes,
        status: Some(status),
        ..Default::default()
    }
}

/// A stored span, under its parent span or the run's.
fn span(info: &RunInfo, s: &Span) -> trace::Span {
    let mut attributes = vec![
        text("in_mem.span.kind", s.kind.name()),
        int("in_mem.span.id", s.id),
    ];
    let (name, kind) = what(info, s, &mut attributes);
    if !s.tags.is_empty() {
        attributes.push(kv("in_mem.span.tags", strings(&s.tags)));
    }
    for (key, value) in &s.attributes {
        let key = if key.starts_with("gen_ai.") {
            key.clone()
        } else {
            format!("in_mem.attribute.{key}")
        };
        attributes.push(kv(&key, any(value)));
    }
    let status = match s.status {
        SpanStatus::Ok => Status {
            message: String::new(),
            code: trace::status::StatusCode::Ok as i32,
        },
        SpanStatus::Error => Status {
            message: match &s.kind {
                SpanKind::Error { message } => message.clone(),
                _ => String::new(),
            },
            code: trace::status::StatusCode::Error as i32,
        },
        SpanStatus::Running => {
            attributes.push(kv("in_mem.span.running", any(&Value::Bool(true))));
            Status::default()
        }
    };
    trace::Span {
        trace_id: trace_id(info),
        span_id: span_id(info, s.id),
        parent_span_id: span_id(info, s.parent.unwrap_or(0)),
        name,
        kind: kind as i32,
        start_time_unix_nano: nanos(s.start),
        // A span still running ends where it started: the export stays the same until it ends.
        end_time_unix_nano: nanos(s.end.unwrap_or(s.start)),
        attributes,
        status: Some(status),
        ..Default::default()
    }
}

fn is_model_call(name: &str, s: &Span) -> bool {
    MODEL_OPERATIONS.contains(&name)
        || matches!(name, "llm" | "model_call")
        || s.attributes.contains_key("gen_ai.request.model")
}

fn json_text(value: &Value) -> String {
    crate::json::to_json(value).to_string()
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any(&Value::String(value.to_owned())))
}

fn int(key: &str, value: u64) -> KeyValue {
    kv(key, any(&Value::from(value)))
}

fn strings(items: &[String]) -> AnyValue {
    any(&Value::Array(
        items.iter().cloned().map(Value::String).collect(),
    ))
}

/// A value as an attribute value: scalars as themselves, arrays and maps as OTLP's.
fn any(value: &Value) -> AnyValue {
    use any_value::Value as V;
    let inner = match value {
        Value::Null => return AnyValue::default(),
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(n) => V::IntValue(*n),
        Value::U64(n) => V::StringValue(n.to_string()),
        Value::F64(x) => V::DoubleValue(*x),
        Value::String(s) => V::StringValue(s.clone()),
        Value::Bytes(b) => V::BytesValue(b.clone()),
        Value::Array(items) => V::ArrayValue(ArrayValue {
            values: items.iter().map(any).collect(),
        }),
        Value::Map(map) => V::KvlistValue(KeyValueList {
            values: map.iter().map(|(k, v)| kv(k, any(v))).collect(),
        }),
    };
    AnyValue { value: Some(inner) }
}

/// The span's name and kind, and the attributes that say what it was, by its kind.
fn what(
    info: &RunInfo,
    s: &Span,
    attributes: &mut Vec<KeyValue>,
) -> (String, trace::span::SpanKind) {
    match &s.kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            ..
        } => {
            attributes.push(text("gen_ai.operation.name", "execute_tool"));
            attributes.push(text("gen_ai.tool.name", tool));
            attributes.push(text("gen_ai.tool.type", "function"));
            attributes.push(text(
                "gen_ai.tool.call.id",
                &format!("{}:{}", info.run, s.id),
            ));
            attributes.push(text("gen_ai.tool.call.arguments", &json_text(arguments)));
            if let Some(result) = result {
                attributes.push(text("gen_ai.tool.call.result", &json_text(result)));
            }
            (
                format!("execute_tool {tool}"),
                trace::span::SpanKind::Internal,
            )
        }
        SpanKind::Custom { name, data } if is_model_call(name, s) => {
            let operation = if MODEL_OPERATIONS.contains(&name.as_str()) {
                name.as_str()
            } else {
                "chat"
            };
            attributes.push(text("gen_ai.operation.name", operation));
            attributes.push(text("in_mem.custom.name", name));
            if *data != Value::Null {
                attributes.push(text("in_mem.custom.data", &json_text(data)));
            }
            let model = s.attributes.get("gen_ai.request.model").map(|m| match m {
                Value::String(m) => m.clone(),
                other => other.to_string(),
            });
            let span_name = match model {
                Some(model) => format!("{operation} {model}"),
                None => operation.to_owned(),
            };
            (span_name, trace::span::SpanKind::Client)
        }
        SpanKind::Custom { name, data } => {
            attributes.push(text("in_mem.custom.name", name));
            attributes.push(text("in_mem.custom.data", &json_text(data)));
            (name.clone(), trace::span::SpanKind::Internal)
        }
        SpanKind::Decision {
            question,
            options,
            chosen,
            reasoning,
        } => {
            attributes.push(text("in_mem.decision.question", question));
            attributes.push(kv("in_mem.decision.options", strings(options)));
            attributes.push(text("in_mem.decision.chosen", chosen));
            attributes.push(text("in_mem.decision.reasoning", reasoning));
            (
                format!("decision {question}"),
                trace::span::SpanKind::Internal,
            )
        }
        SpanKind::Query { query, result } => {
            attributes.push(text("in_mem.query.text", query));
            if let Some(result) = result {
                attributes.push(text("in_mem.query.result", &json_text(result)));
            }
            ("query".to_owned(), trace::span::SpanKind::Client)
        }
        SpanKind::Thought { text: thought } => {
            attributes.push(text("in_mem.thought.text", thought));
            ("thought".to_owned(), trace::span::SpanKind::Internal)
        }
        SpanKind::Error { message } => {
            attributes.push(text("error.type", "agent_error"));
            attributes.push(text("in_mem.error.message", message));
            ("error".to_owned(), trace::span::SpanKind::Internal)
        }
        other => (other.name().to_owned(), trace::span::SpanKind::Internal),
    }
}
