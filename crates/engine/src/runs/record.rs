//! The run record: how a run's lifecycle is stored, as a value under its `TypeTag::Run` key.
//!
//! Stored as a `Value::Map` so that later fields (parent, tags, metadata) can be added without a
//! format change: readers ignore fields they do not know.

use std::collections::BTreeMap;

use in_mem_core_types::{Timestamp, Value, Version};

/// The lifecycle states that are written to the log. `Interrupted` is never written: it is what
/// recovery calls a run whose last record says `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredStatus {
    Active,
    Completed,
}

/// One run's record, as written by begin, end and resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunRecord {
    pub status: StoredStatus,
    pub snapshot: Version,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl RunRecord {
    pub fn to_value(&self) -> Value {
        let mut map = BTreeMap::new();
        let status = match self.status {
            StoredStatus::Active => "active",
            StoredStatus::Completed => "completed",
        };
        map.insert("status".to_owned(), Value::String(status.to_owned()));
        map.insert(
            "snapshot".to_owned(),
            Value::I64(as_i64(self.snapshot.get())),
        );
        map.insert(
            "created_at".to_owned(),
            Value::I64(as_i64(self.created_at.as_micros())),
        );
        if let Some(ended) = self.ended_at {
            map.insert("ended_at".to_owned(), Value::I64(as_i64(ended.as_micros())));
        }
        Value::Map(map)
    }

    pub fn from_value(value: &Value) -> Result<Self, String> {
        let Value::Map(map) = value else {
            return Err(format!("run record is a {}, not a map", value.type_name()));
        };
        let status = match map.get("status") {
            Some(Value::String(s)) if s == "active" => StoredStatus::Active,
            Some(Value::String(s)) if s == "completed" => StoredStatus::Completed,
            other => return Err(format!("run record has an unknown status {other:?}")),
        };
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
        Ok(RunRecord {
            status,
            snapshot: Version::new(required("snapshot")?),
            created_at: Timestamp::from_micros(required("created_at")?),
            ended_at: number("ended_at")?.map(Timestamp::from_micros),
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

    #[test]
    fn round_trips_through_a_value() {
        let record = RunRecord {
            status: StoredStatus::Completed,
            snapshot: Version::new(42),
            created_at: Timestamp::from_micros(1_000),
            ended_at: Some(Timestamp::from_micros(2_000)),
        };
        assert_eq!(RunRecord::from_value(&record.to_value()).unwrap(), record);
        let active = RunRecord {
            status: StoredStatus::Active,
            ended_at: None,
            ..record
        };
        assert_eq!(RunRecord::from_value(&active.to_value()).unwrap(), active);
    }

    #[test]
    fn damaged_records_are_errors_not_defaults() {
        // Named regression (TESTING.md): a metadata decode failure must never silently reset
        // state; every damaged field is an error.
        assert!(RunRecord::from_value(&Value::Null).is_err());
        let mut map = BTreeMap::new();
        map.insert("status".to_owned(), Value::String("active".to_owned()));
        assert!(
            RunRecord::from_value(&Value::Map(map.clone())).is_err(),
            "no snapshot"
        );
        map.insert("snapshot".to_owned(), Value::I64(-1));
        map.insert("created_at".to_owned(), Value::I64(5));
        assert!(
            RunRecord::from_value(&Value::Map(map)).is_err(),
            "negative snapshot"
        );
    }
}
