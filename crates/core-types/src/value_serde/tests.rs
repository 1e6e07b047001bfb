//! Tests of the serde bridge: structs, enums, options and collections; integers and bytes have
//! their own files.

mod bytes;
mod integers;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    name: String,
    retries: u8,
    ratio: f64,
    tags: Vec<String>,
    parent: Option<Box<Config>>,
    mode: Mode,
    raw: Vec<u8>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Mode {
    Off,
    Fixed(u32),
    Range { lo: i64, hi: i64 },
    Pair(i8, i8),
}

/// Converts `v` to a `Value`, through its encoding and back, and checks it arrives unchanged.
fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let value = to_value(v).unwrap();
    let encoded = value.encode().unwrap();
    let decoded = Value::decode(&encoded).unwrap();
    assert_eq!(&from_value::<T>(decoded).unwrap(), v);
}

#[test]
fn structs_enums_options_and_collections_round_trip() {
    for mode in [
        Mode::Off,
        Mode::Fixed(7),
        Mode::Range { lo: -1, hi: 9 },
        Mode::Pair(-3, 4),
    ] {
        let inner = Config {
            name: "inner".into(),
            retries: 1,
            ratio: 0.5,
            tags: vec![],
            parent: None,
            mode: Mode::Off,
            raw: vec![],
        };
        round_trip(&Config {
            name: "agent".into(),
            retries: 3,
            ratio: 1.25,
            tags: vec!["a".into(), "b".into()],
            parent: Some(Box::new(inner)),
            mode,
            raw: vec![0, 1, 255],
        });
    }
    round_trip(&(1u8, "two".to_owned(), 3.5f64));
    round_trip(&BTreeMap::from([("k".to_owned(), vec![1i64, 2])]));
    round_trip(&HashMap::from([(7u32, true), (9u32, false)]));
    round_trip(&'x');
    round_trip(&());
    round_trip(&Some(Some(5i16)));
}

#[test]
fn integers_read_back_as_any_width_they_fit() {
    let stored = to_value(&3i32).unwrap();
    assert_eq!(stored, Value::I64(3));
    assert_eq!(from_value::<i64>(stored.clone()).unwrap(), 3);
    assert_eq!(from_value::<u8>(stored.clone()).unwrap(), 3);
    assert_eq!(from_value::<u128>(stored.clone()).unwrap(), 3);
    assert_eq!(
        from_value::<f64>(stored).unwrap().to_bits(),
        3.0f64.to_bits()
    );
    let big = to_value(&300u16).unwrap();
    assert!(from_value::<u8>(big).unwrap_err().0.contains("300"));
    let negative = to_value(&-1i64).unwrap();
    assert!(from_value::<u32>(negative).is_err());
}

#[test]
fn wrong_types_are_errors_that_name_what_was_found() {
    let err = from_value::<i64>(Value::String("three".into())).unwrap_err();
    assert!(err.0.contains("string"), "{err}");
    let err = from_value::<String>(Value::I64(3)).unwrap_err();
    assert!(err.0.contains("integer"), "{err}");
    assert!(from_value::<i64>(Value::F64(1.5)).is_err());
    assert!(from_value::<Mode>(Value::I64(1)).is_err());
}

#[test]
fn map_keys_must_be_text_or_integers() {
    let map = BTreeMap::from([(vec![1u8], 1u8)]);
    assert!(to_value(&map).unwrap_err().0.contains("map keys"));
}

#[test]
fn null_is_stored_as_a_value() {
    // Named regression (docs/TESTING.md): storing Null looked like a delete.
    assert_eq!(to_value(&None::<i32>).unwrap(), Value::Null);
    assert_eq!(from_value::<Option<i32>>(Value::Null).unwrap(), None);
}

#[test]
fn a_value_converts_to_itself_both_ways() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Record {
        payload: Value,
    }
    // `Value`'s serde is transparent, so primitive records with `Value` fields store the data
    // they hold, not an enum wrapper around it.
    let value = Value::Array(vec![
        Value::Null,
        Value::Bool(true),
        Value::I64(-3),
        Value::F64(1.5),
        Value::from("text"),
        Value::Bytes(vec![0, 255]),
        Value::Map(BTreeMap::from([("k".to_owned(), Value::I64(1))])),
    ]);
    assert_eq!(to_value(&value).unwrap(), value);
    assert_eq!(from_value::<Value>(value.clone()).unwrap(), value);
    let record = Record {
        payload: Value::I64(7),
    };
    let stored = to_value(&record).unwrap();
    assert_eq!(
        stored,
        Value::Map(BTreeMap::from([("payload".to_owned(), Value::I64(7))]))
    );
    assert_eq!(from_value::<Record>(stored).unwrap(), record);
}
