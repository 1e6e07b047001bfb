//! Integers through the serde bridge: every `u64` and `i64`, the 128-bit types inside the
//! stored range, one stored form per number, and the exact errors of reads that do not fit.

use std::collections::BTreeMap;

use crate::BigU64;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::super::*;
use super::round_trip;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Counters {
    id: u64,
    offset: i64,
    wide: u128,
    signed_wide: i128,
    last: Option<u64>,
    by_name: BTreeMap<String, u64>,
    by_id: BTreeMap<u64, u64>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Plain,
    Seq(u64),
    Range { from: u64, to: u64 },
}

fn any_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Plain),
        any::<u64>().prop_map(Kind::Seq),
        (any::<u64>(), any::<u64>()).prop_map(|(from, to)| Kind::Range { from, to }),
    ]
}

/// Any 128-bit integer that a value can hold: `i64::MIN..=u64::MAX`.
fn in_range() -> impl Strategy<Value = i128> {
    prop_oneof![
        any::<i64>().prop_map(i128::from),
        any::<u64>().prop_map(i128::from),
    ]
}

proptest! {
    #[test]
    fn every_u64_round_trips_in_its_one_form(n in any::<u64>()) {
        let stored = to_value(&n).unwrap();
        // Up to i64::MAX the stored form is the I64 it always was; above, the U64 form.
        let form = i64::try_from(n).map_or_else(|_| Value::U64(BigU64::new(n).unwrap()), Value::I64);
        prop_assert_eq!(&stored, &form);
        round_trip(&n);
        prop_assert_eq!(from_value::<u128>(stored.clone()).unwrap(), u128::from(n));
        prop_assert_eq!(from_value::<i128>(stored).unwrap(), i128::from(n));
    }

    #[test]
    fn every_i64_round_trips(n in any::<i64>()) {
        prop_assert_eq!(to_value(&n).unwrap(), Value::I64(n));
        round_trip(&n);
    }

    #[test]
    fn small_u64_values_read_as_i64(n in 0..=i64::MAX.unsigned_abs()) {
        prop_assert_eq!(from_value::<i64>(to_value(&n).unwrap()).unwrap().unsigned_abs(), n);
    }

    #[test]
    fn big_u64_values_do_not_read_as_i64(n in BigU64::MIN.get()..=u64::MAX) {
        let err = from_value::<i64>(to_value(&n).unwrap()).unwrap_err();
        prop_assert_eq!(err.0, format!("invalid value: integer `{n}`, expected i64"));
    }

    #[test]
    fn wide_integers_in_range_round_trip(n in in_range()) {
        let stored = to_value(&n).unwrap();
        prop_assert_eq!(Some(stored.clone()), Value::from_integer(n));
        round_trip(&n);
        if let Ok(unsigned) = u128::try_from(n) {
            // The same number as a u128 takes the same form.
            prop_assert_eq!(to_value(&unsigned).unwrap(), stored);
            round_trip(&unsigned);
        }
    }

    #[test]
    fn integers_round_trip_inside_structs_options_maps_and_enums(
        id in any::<u64>(),
        offset in any::<i64>(),
        wide in any::<u64>(),
        signed_wide in in_range(),
        last in any::<Option<u64>>(),
        by_name in prop::collection::btree_map("[a-z]{1,4}", any::<u64>(), 0..4),
        by_id in prop::collection::btree_map(any::<u64>(), any::<u64>(), 0..4),
        kind in any_kind(),
    ) {
        round_trip(&Counters {
            id,
            offset,
            wide: u128::from(wide),
            signed_wide,
            last,
            by_name,
            by_id,
            kind,
        });
    }
}

#[test]
fn the_edges_of_the_two_forms() {
    let last_small = i64::MAX.unsigned_abs();
    assert_eq!(to_value(&last_small).unwrap(), Value::I64(i64::MAX));
    assert_eq!(
        to_value(&(last_small + 1)).unwrap(),
        Value::U64(BigU64::MIN)
    );
    assert_eq!(to_value(&u64::MAX).unwrap(), Value::from(u64::MAX));
    assert_eq!(to_value(&i64::MIN).unwrap(), Value::I64(i64::MIN));
    assert_eq!(
        to_value(&i128::from(i64::MIN)).unwrap(),
        Value::I64(i64::MIN)
    );
    assert_eq!(
        to_value(&u128::from(u64::MAX)).unwrap(),
        Value::from(u64::MAX)
    );
    assert_eq!(from_value::<u64>(Value::I64(7)).unwrap(), 7);
}

#[test]
fn wide_integers_outside_the_stored_range_are_refused_not_wrapped() {
    let range = "(-9223372036854775808 to 18446744073709551615)";
    assert_eq!(
        to_value(&(u128::from(u64::MAX) + 1)).unwrap_err().0,
        format!("integer 18446744073709551616 is outside the stored integer range {range}")
    );
    assert_eq!(
        to_value(&(i128::from(i64::MIN) - 1)).unwrap_err().0,
        format!("integer -9223372036854775809 is outside the stored integer range {range}")
    );
    assert!(to_value(&u128::MAX).is_err());
    assert!(to_value(&i128::MIN).is_err());
}

#[test]
fn reading_a_big_u64_as_a_narrower_type_names_both() {
    let big = Value::from(u64::MAX);
    for (err, ty) in [
        (from_value::<i64>(big.clone()).unwrap_err(), "i64"),
        (from_value::<u32>(big.clone()).unwrap_err(), "u32"),
        (from_value::<i8>(big.clone()).unwrap_err(), "i8"),
    ] {
        assert_eq!(
            err.0,
            format!("invalid value: integer `18446744073709551615`, expected {ty}")
        );
    }
    assert_eq!(
        from_value::<String>(big).unwrap_err().0,
        "invalid type: integer `18446744073709551615`, expected a string"
    );
    assert_eq!(
        from_value::<u64>(Value::I64(-1)).unwrap_err().0,
        "invalid value: integer `-1`, expected u64"
    );
}

#[test]
fn a_value_holding_a_big_u64_converts_to_itself() {
    let value = Value::Array(vec![Value::from(u64::MAX), Value::I64(-1)]);
    assert_eq!(to_value(&value).unwrap(), value);
    assert_eq!(from_value::<Value>(value.clone()).unwrap(), value);
}

#[test]
fn wide_integer_map_keys_round_trip() {
    round_trip(&BTreeMap::from([(u128::from(u64::MAX) + 1, 1u8), (0, 2)]));
    round_trip(&BTreeMap::from([(i128::MIN, 1u8)]));
}
