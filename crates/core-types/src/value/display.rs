//! `Display` for values: one line, JSON-like, for diffs, logs and the inspector. Text is quoted
//! with Rust escapes; bytes are `b"..."` with non-printable bytes escaped; maps keep key order.

use std::fmt;

use super::Value;

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(n) => write!(f, "{n}"),
            Value::U64(n) => write!(f, "{n}"),
            Value::F64(x) => write!(f, "{x:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(bytes) => write!(f, "b\"{}\"", bytes.escape_ascii()),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("{")?;
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key:?}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn values_print_on_one_line() {
        let map = BTreeMap::from([
            ("b".to_owned(), Value::Bytes(b"hi\n\x00".to_vec())),
            (
                "a".to_owned(),
                Value::Array(vec![Value::I64(-1), Value::Null]),
            ),
        ]);
        assert_eq!(
            Value::Map(map).to_string(),
            r#"{"a": [-1, null], "b": b"hi\n\x00"}"#
        );
        assert_eq!(
            Value::String("say \"x\"".into()).to_string(),
            r#""say \"x\"""#
        );
        assert_eq!(Value::F64(1.0).to_string(), "1.0");
        assert_eq!(Value::Bool(true).to_string(), "true");
    }
}
