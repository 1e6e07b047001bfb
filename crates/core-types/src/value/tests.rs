//! Tests of `Value`: encoding round trips, canonical forms, pinned bytes, and refusals.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::error::Error;
use crate::limits::{VALUE_BYTES_MAX, VALUE_DEPTH_MAX};

pub(super) fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |x| !x.is_nan())
            .prop_map(Value::F64),
        ".{0,8}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,4}", inner, 0..4).prop_map(Value::Map),
        ]
    })
}

proptest! {
    #[test]
    fn encoding_round_trips(v in arb_value()) {
        let bytes = v.encode().unwrap();
        prop_assert_eq!(Value::decode(&bytes).unwrap(), v);
    }

    /// The encoding is refused or sized from one measuring walk: its length must be exact
    /// (the encoder allocates that much once), and its depth the one the limits are held to.
    #[test]
    fn the_measuring_walk_gives_the_exact_length_and_depth(v in arb_value()) {
        let (depth, len) = v.measure();
        prop_assert_eq!(len, v.encode().unwrap().len());
        prop_assert_eq!(depth, depth_by_recursion(&v));
        let (shared, plain) = (v.encode_shared().unwrap(), v.encode().unwrap());
        prop_assert_eq!(&*shared, plain.as_slice());
        let (shared, plain) = (v.encode_record_shared().unwrap(), v.encode_record().unwrap());
        prop_assert_eq!(&*shared, plain.as_slice());
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Value::decode(&bytes);
        let _ = Value::decode_bytes(&bytes);
    }

    #[test]
    fn bytes_fast_path_agrees_with_the_general_encoding(b in prop::collection::vec(any::<u8>(), 0..64)) {
        let fast = Value::encode_bytes(&b).unwrap();
        prop_assert_eq!(&fast, &Value::Bytes(b.clone()).encode().unwrap());
        prop_assert_eq!(&*Value::encode_bytes_shared(&b).unwrap(), fast.as_slice());
        prop_assert_eq!(Value::decode_bytes(&fast).unwrap(), Some(b.as_slice()));
    }
}

proptest! {
    #[test]
    fn every_u64_has_one_form_and_round_trips(n in any::<u64>()) {
        let value = Value::from(n);
        // The form (and so the encoding) of values an i64 holds is what it always was.
        let (tag, form) = match i64::try_from(n) {
            Ok(small) => (0x02, Value::I64(small)),
            Err(_) => (0x08, Value::U64(BigU64::new(n).unwrap())),
        };
        prop_assert_eq!(&value, &form);
        let mut expected = vec![tag];
        expected.extend_from_slice(&n.to_le_bytes());
        prop_assert_eq!(value.encode().unwrap(), expected);
        prop_assert_eq!(Value::decode(&value.encode().unwrap()).unwrap(), value.clone());
        prop_assert_eq!(Value::from_integer(i128::from(n)), Some(value));
    }

    #[test]
    fn every_i64_keeps_its_form(n in any::<i64>()) {
        prop_assert_eq!(Value::from_integer(i128::from(n)), Some(Value::I64(n)));
    }

    #[test]
    fn a_u64_tag_holding_a_small_number_is_refused(n in 0..=i64::MAX.unsigned_abs()) {
        let mut bytes = vec![0x08];
        bytes.extend_from_slice(&n.to_le_bytes());
        prop_assert_eq!(
            Value::decode(&bytes),
            Err(Error::Malformed {
                what: "value",
                offset: 1,
                reason: "u64 value fits in an i64 (non-canonical)",
            })
        );
    }
}

/// The exact bytes of values of every type, pinned: event hashes cover these encodings, so a
/// change to any of them would break every stored chain. Never edit a line of this table; add
/// lines for new forms.
#[test]
fn encodings_never_change() {
    let cases: Vec<(Value, Vec<u8>)> = vec![
        (Value::Null, vec![0x00]),
        (Value::Bool(false), vec![0x01, 0x00]),
        (Value::Bool(true), vec![0x01, 0x01]),
        (Value::I64(3), vec![0x02, 3, 0, 0, 0, 0, 0, 0, 0]),
        (
            Value::I64(-2),
            vec![0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            Value::I64(i64::MAX),
            vec![0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        (Value::F64(1.5), vec![0x03, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]),
        (Value::from("hé"), vec![0x04, 3, b'h', 0xc3, 0xa9]),
        (Value::Bytes(vec![0, 255]), vec![0x05, 2, 0, 255]),
        (
            Value::Array(vec![Value::I64(1), Value::Null]),
            vec![0x06, 2, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 0x00],
        ),
        (
            Value::Map(BTreeMap::from([
                ("b".to_owned(), Value::Bool(true)),
                ("a".to_owned(), Value::Null),
            ])),
            vec![0x07, 2, 1, b'a', 0x00, 1, b'b', 0x01, 0x01],
        ),
        // Added with the U64 form (tag 0x08): the first and last numbers it holds.
        (
            Value::U64(BigU64::MIN),
            vec![0x08, 0, 0, 0, 0, 0, 0, 0, 0x80],
        ),
        (
            Value::from(u64::MAX),
            vec![0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];
    for (value, bytes) in cases {
        assert_eq!(value.encode().unwrap(), bytes, "{value:?}");
        assert_eq!(Value::decode(&bytes).unwrap(), value);
        assert_eq!(Value::encoded_type_name(&bytes), value.type_name());
    }
}

#[test]
fn big_u64_holds_exactly_the_numbers_above_i64_max() {
    assert_eq!(BigU64::new(i64::MAX.unsigned_abs()), None);
    assert_eq!(BigU64::new(0), None);
    assert_eq!(BigU64::new(1 << 63), Some(BigU64::MIN));
    assert_eq!(BigU64::MIN.get(), 1 << 63);
    assert_eq!(u64::from(BigU64::MIN), 1 << 63);
    assert_eq!(BigU64::MIN.to_string(), "9223372036854775808");
    assert_eq!(Value::from(u64::MAX).type_name(), "u64");
    assert_eq!(
        format!("{:?}", Value::from(u64::MAX)),
        "U64(18446744073709551615)"
    );
}

#[test]
fn integers_outside_the_value_range_have_no_form() {
    assert_eq!(Value::from_integer(i128::from(i64::MIN) - 1), None);
    assert_eq!(Value::from_integer(i128::from(u64::MAX) + 1), None);
    assert_eq!(Value::from_integer(i128::MAX), None);
    assert_eq!(Value::from_integer(i128::MIN), None);
}

#[test]
fn a_cut_short_u64_is_refused() {
    assert!(matches!(
        Value::decode(&[0x08, 0xff, 0xff]),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn encoding_is_canonical_for_maps_built_in_any_order() {
    let mut a = BTreeMap::new();
    a.insert("z".to_owned(), Value::I64(1));
    a.insert("a".to_owned(), Value::I64(2));
    let mut b = BTreeMap::new();
    b.insert("a".to_owned(), Value::I64(2));
    b.insert("z".to_owned(), Value::I64(1));
    assert_eq!(
        Value::Map(a).encode().unwrap(),
        Value::Map(b).encode().unwrap()
    );
}

#[test]
fn unsorted_map_keys_are_refused() {
    // Map of two entries, "b" then "a".
    let bytes = [0x07, 2, 1, b'b', 0x00, 1, b'a', 0x00];
    assert!(matches!(
        Value::decode(&bytes),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn null_is_a_value_not_an_absence() {
    let bytes = Value::Null.encode().unwrap();
    assert_eq!(bytes, [0x00]);
    assert_eq!(Value::decode(&bytes).unwrap(), Value::Null);
    assert_eq!(Value::decode_bytes(&bytes).unwrap(), None);
}

#[test]
fn nesting_past_the_limit_is_refused_both_ways() {
    let mut v = Value::Null;
    for _ in 0..VALUE_DEPTH_MAX {
        v = Value::Array(vec![v]);
    }
    assert!(matches!(v.encode(), Err(Error::ValueTooDeep { .. })));
    // A hand-built encoding nested a million deep must not overflow the stack.
    let mut deep = [0x06, 1].repeat(1_000_000);
    deep.push(0x00);
    assert!(matches!(Value::decode(&deep), Err(Error::Malformed { .. })));
}

#[test]
fn oversized_values_are_refused() {
    let big = vec![0u8; VALUE_BYTES_MAX];
    assert!(matches!(
        Value::encode_bytes(&big),
        Err(Error::ValueTooLarge { .. })
    ));
    assert!(matches!(
        Value::Bytes(big).encode(),
        Err(Error::ValueTooLarge { .. })
    ));
}

#[test]
fn lying_lengths_do_not_allocate_or_panic() {
    // An array claiming u64::MAX/2 items, then nothing.
    let mut bytes = vec![0x06];
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
    assert!(Value::decode(&bytes).is_err());
}

/// Depth by plain recursion, the definition the walk is checked against.
fn depth_by_recursion(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth_by_recursion).max().unwrap_or(0),
        Value::Map(map) => 1 + map.values().map(depth_by_recursion).max().unwrap_or(0),
        _ => 1,
    }
}
