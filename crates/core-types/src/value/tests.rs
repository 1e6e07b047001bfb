use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::error::Error;
use crate::limits::{VALUE_BYTES_MAX, VALUE_DEPTH_MAX};

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
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
