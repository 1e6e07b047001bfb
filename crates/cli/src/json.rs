//! Values as JSON, losslessly, for `--json` output and the export format (see `docs/cli.md`):
//!
//! - null, booleans, strings and arrays as themselves; maps as objects;
//! - integers as JSON integers (`i64` and, above it, `u64`), floats as JSON numbers that always
//!   have a fraction or an exponent (`1.0`, never `1`), so each reads back as the type it was;
//! - bytes as `{"$bytes": "<base64>"}`; a float that is not finite as `{"$f64": "inf"}`
//!   (`-inf`, `nan`); a map with a key starting with `$` as `{"$map": {...}}`, so that no map
//!   is ever read back as one of these.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use in_mem::{BigU64, Value};
use serde_json::{Map, Number, Value as Json};

/// The JSON form of `value`.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(n) => Json::Number(Number::from(*n)),
        Value::U64(n) => Json::Number(Number::from(n.get())),
        Value::F64(x) => match Number::from_f64(*x) {
            Some(n) => Json::Number(n),
            None => tagged("$f64", Json::String(non_finite(*x).to_owned())),
        },
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => tagged("$bytes", Json::String(BASE64.encode(b))),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => {
            let object: Map<String, Json> =
                map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            if map.keys().any(|k| k.starts_with('$')) {
                tagged("$map", Json::Object(object))
            } else {
                Json::Object(object)
            }
        }
    }
}

fn non_finite(x: f64) -> &'static str {
    if x.is_nan() {
        "nan"
    } else if x > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

fn tagged(tag: &str, inner: Json) -> Json {
    Json::Object(Map::from_iter([(tag.to_owned(), inner)]))
}

/// The value `json` is the form of; an error says what is wrong, and where in it.
pub fn from_json(json: &Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => number(n)?,
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| from_json(item).map_err(|e| format!("[{i}]: {e}")))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(object) => {
            if let Some((tag, inner)) = single_tag(object) {
                return tag_value(tag, inner);
            }
            if let Some(bad) = object.keys().find(|k| k.starts_with('$')) {
                return Err(format!(
                    "key {bad:?} starts with `$`: such maps are written as {{\"$map\": {{...}}}}"
                ));
            }
            map(object)?
        }
    })
}

fn number(n: &Number) -> Result<Value, String> {
    if let Some(i) = n.as_i64() {
        return Ok(Value::I64(i));
    }
    if let Some(u) = n.as_u64() {
        return Ok(Value::U64(BigU64::new(u).ok_or("an integer out of range")?));
    }
    if let Some(x) = n.as_f64() {
        return Ok(Value::F64(x));
    }
    Err(format!("{n} is not a number in range"))
}

fn map(object: &Map<String, Json>) -> Result<Value, String> {
    let mut out = BTreeMap::new();
    for (k, v) in object {
        out.insert(k.clone(), from_json(v).map_err(|e| format!("{k:?}: {e}"))?);
    }
    Ok(Value::Map(out))
}

/// `{"$tag": inner}`, if `object` is exactly that.
fn single_tag(object: &Map<String, Json>) -> Option<(&str, &Json)> {
    let mut entries = object.iter();
    let (k, v) = entries.next()?;
    (entries.next().is_none() && k.starts_with('$')).then_some((k.as_str(), v))
}

fn tag_value(tag: &str, inner: &Json) -> Result<Value, String> {
    match (tag, inner) {
        ("$bytes", Json::String(b64)) => BASE64
            .decode(b64)
            .map(Value::Bytes)
            .map_err(|e| format!("$bytes is not base64: {e}")),
        ("$f64", Json::String(s)) => match s.as_str() {
            "inf" => Ok(Value::F64(f64::INFINITY)),
            "-inf" => Ok(Value::F64(f64::NEG_INFINITY)),
            "nan" => Ok(Value::F64(f64::NAN)),
            other => Err(format!("$f64 {other:?} is not inf, -inf or nan")),
        },
        ("$map", Json::Object(object)) => map(object),
        (tag, _) => Err(format!(
            "{tag:?} is not $bytes (base64 text), $f64 (inf, -inf, nan) or $map (an object)"
        )),
    }
}

/// Bytes as JSON: a string if they are UTF-8, else `{"$bytes": "<base64>"}`.
pub fn bytes_to_json(bytes: &[u8]) -> Json {
    match std::str::from_utf8(bytes) {
        Ok(text) => Json::String(text.to_owned()),
        Err(_) => tagged("$bytes", Json::String(BASE64.encode(bytes))),
    }
}

/// The bytes [`bytes_to_json`] wrote.
pub fn bytes_from_json(json: &Json) -> Result<Vec<u8>, String> {
    match json {
        Json::String(text) => Ok(text.as_bytes().to_vec()),
        Json::Object(object) => match single_tag(object) {
            Some(("$bytes", Json::String(b64))) => BASE64
                .decode(b64)
                .map_err(|e| format!("$bytes is not base64: {e}")),
            _ => Err("expected text or {\"$bytes\": \"<base64>\"}".to_owned()),
        },
        _ => Err("expected text or {\"$bytes\": \"<base64>\"}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value) -> Value {
        let text = serde_json::to_string(&to_json(value)).unwrap();
        from_json(&serde_json::from_str(&text).unwrap()).unwrap()
    }

    #[test]
    fn every_kind_of_value_reads_back_as_the_same_value() {
        let tricky_map = Value::Map(BTreeMap::from([
            ("$bytes".to_owned(), Value::from("not bytes")),
            ("plain".to_owned(), Value::I64(1)),
        ]));
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::I64(-7),
            Value::I64(i64::MAX),
            Value::from(u64::MAX),
            Value::F64(1.0),
            Value::F64(-0.5e-300),
            Value::F64(f64::INFINITY),
            Value::F64(f64::NEG_INFINITY),
            Value::String("héllo \"quoted\"\n".to_owned()),
            Value::Bytes(vec![0, 159, 146, 150, 255]),
            Value::Array(vec![Value::I64(1), Value::F64(1.0), Value::from("1")]),
            tricky_map,
        ];
        for value in &values {
            assert_eq!(&round_trip(value), value, "{value:?}");
        }
        // NaN is not equal to itself: check the form.
        assert!(matches!(round_trip(&Value::F64(f64::NAN)), Value::F64(x) if x.is_nan()));
        // An integer-valued float keeps its fraction, so it is not read back as an integer.
        assert_eq!(
            serde_json::to_string(&to_json(&Value::F64(3.0))).unwrap(),
            "3.0"
        );
    }

    #[test]
    fn bad_forms_are_refused_saying_where() {
        let bad = |text: &str| from_json(&serde_json::from_str(text).unwrap()).unwrap_err();
        assert!(bad(r#"{"$bytes": "***"}"#).contains("base64"));
        assert!(bad(r#"{"$f64": "big"}"#).contains("inf"));
        assert!(bad(r#"{"a": {"$x": 1, "b": 2}}"#).contains("\"a\""));
        assert!(bad(r#"[1, {"$oops": 1}]"#).starts_with("[1]"));
    }
}
