//! The run record: how a run's lifecycle and metadata are stored, as a value under its
//! `TypeTag::Run` key (see docs/FORMAT.md, "What the engine stores in the log").
//!
//! Stored as a `Value::Map` so that later fields can be added without a format change: readers
//! ignore fields they do not know, and optional fields may be absent.

use std::collections::BTreeMap;

use in_mem_core_types::{RunId, Timestamp, Value, Version};

/// The lifecycle states that are written to the log. `Interrupted` is never written: it is what
/// recovery calls a run whose last record says `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredStatus {
    Active,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl StoredStatus {
    const NAMES: [(StoredStatus, &'static str); 5] = [
        (StoredStatus::Active, "active"),
        (StoredStatus::Paused, "paused"),
        (StoredStatus::Completed, "completed"),
        (StoredStatus::Failed, "failed"),
        (StoredStatus::Cancelled, "cancelled"),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("active", |(_, n)| n)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(s, _)| *s)
    }
}

/// One run's record, as written by every lifecycle call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRecord {
    pub status: StoredStatus,
    pub snapshot: Version,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub parent: Option<RunId>,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub error: Option<String>,
}

impl RunRecord {
    pub fn to_value(&self) -> Value {
        let mut map = BTreeMap::new();
        let mut put = |field: &str, value: Value| map.insert(field.to_owned(), value);
        put("status", Value::String(self.status.name().to_owned()));
        put("snapshot", Value::I64(as_i64(self.snapshot.get())));
        put(
            "created_at",
            Value::I64(as_i64(self.created_at.as_micros())),
        );
        put(
            "updated_at",
            Value::I64(as_i64(self.updated_at.as_micros())),
        );
        if let Some(ended) = self.ended_at {
            put("ended_at", Value::I64(as_i64(ended.as_micros())));
        }
        if let Some(parent) = self.parent {
            put("parent", Value::String(parent.to_string()));
        }
        if !self.tags.is_empty() {
            put(
                "tags",
                Value::Array(self.tags.iter().cloned().map(Value::String).collect()),
            );
        }
        if self.metadata != Value::Null {
            put("metadata", self.metadata.clone());
        }
        if let Some(error) = &self.error {
            put("error", Value::String(error.clone()));
        }
        Value::Map(map)
    }

    pub fn from_value(value: &Value) -> Result<Self, String> {
        let Value::Map(map) = value else {
            return Err(format!("run record is a {}, not a map", value.type_name()));
        };
        let status = match map.get("status") {
            Some(Value::String(s)) => StoredStatus::parse(s),
            _ => None,
        }
        .ok_or_else(|| format!("run record has an unknown status {:?}", map.get("status")))?;
        let number = |field: &str| match map.get(field) {
            Some(Value::I64(n)) if *n >= 0 => Ok(Some(n.unsigned_abs())),
            None => Ok(None),
            Some(other) => Err(format!(
                "run record field {field} is {other:?}, not a count"
            )),
        };
        let required = |field: &str| {
            number(field)?.ok_or_else(|| format!("run record lacks the field {field}"))
        };
        let text = |field: &str| match map.get(field) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None => Ok(None),
            Some(other) => Err(format!("run record field {field} is {other:?}, not text")),
        };
        let created_at = Timestamp::from_micros(required("created_at")?);
        let parent = text("parent")?
            .map(|p| {
                p.parse::<RunId>()
                    .map_err(|e| format!("run record parent: {e}"))
            })
            .transpose()?;
        let tags = match map.get("tags") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| match t {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(format!("run record tag {other:?} is not text")),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("run record tags are {other:?}, not a list")),
        };
        Ok(RunRecord {
            status,
            snapshot: Version::new(required("snapshot")?),
            created_at,
            updated_at: number("updated_at")?.map_or(created_at, Timestamp::from_micros),
            ended_at: number("ended_at")?.map(Timestamp::from_micros),
            parent,
            tags,
            metadata: map.get("metadata").cloned().unwrap_or(Value::Null),
            error: text("error")?,
        })
    }
}

fn as_i64(n: u64) -> i64 {
    // Versions and microsecond timestamps stay far below 2^63 for the next 290,000 years.
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunRecord {
        RunRecord {
            status: StoredStatus::Failed,
            snapshot: Version::new(42),
            created_at: Timestamp::from_micros(1_000),
            updated_at: Timestamp::from_micros(1_500),
            ended_at: Some(Timestamp::from_micros(2_000)),
            parent: Some(RunId::from_bytes([9; 16])),
            tags: vec!["eval".to_owned(), "nightly".to_owned()],
            metadata: Value::Map(BTreeMap::from([("model".to_owned(), Value::from("m1"))])),
            error: Some("tool timed out".to_owned()),
        }
    }

    #[test]
    fn round_trips_through_a_value_with_and_without_optional_fields() {
        let full = sample();
        assert_eq!(RunRecord::from_value(&full.to_value()).unwrap(), full);
        let bare = RunRecord {
            status: StoredStatus::Active,
            ended_at: None,
            parent: None,
            tags: Vec::new(),
            metadata: Value::Null,
            error: None,
            ..sample()
        };
        assert_eq!(RunRecord::from_value(&bare.to_value()).unwrap(), bare);
        for (status, _) in StoredStatus::NAMES {
            let record = RunRecord { status, ..sample() };
            assert_eq!(
                RunRecord::from_value(&record.to_value()).unwrap().status,
                status
            );
        }
    }

    #[test]
    fn damaged_records_are_errors_not_defaults() {
        // Named regression (TESTING.md): a metadata decode failure must never silently reset
        // state; every damaged field is an error.
        assert!(RunRecord::from_value(&Value::Null).is_err());
        let Value::Map(good) = sample().to_value() else {
            unreachable!()
        };
        for (field, bad) in [
            ("status", Value::from("resurrected")),
            ("snapshot", Value::I64(-1)),
            ("created_at", Value::from("yesterday")),
            ("parent", Value::from("not-a-run")),
            ("tags", Value::I64(3)),
            ("error", Value::I64(3)),
        ] {
            let mut map = good.clone();
            map.insert(field.to_owned(), bad);
            assert!(RunRecord::from_value(&Value::Map(map)).is_err(), "{field}");
        }
        let mut map = good;
        map.remove("snapshot");
        assert!(
            RunRecord::from_value(&Value::Map(map)).is_err(),
            "missing snapshot"
        );
    }
}
