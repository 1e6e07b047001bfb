//! Bytes through the serde bridge: `Vec<u8>`, `[u8; N]`, `&[u8]` and `serde_bytes` types store
//! as `Value::Bytes` and read back, at the top level and inside every serde shape; stored arrays
//! of integers still read as bytes; and sequences that are not bytes stay arrays.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::super::*;
use super::round_trip;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Blob {
    plain: Vec<u8>,
    #[serde(with = "serde_bytes")]
    tagged: Vec<u8>,
    buf: ByteBuf,
    fixed: [u8; 4],
    maybe: Option<Vec<u8>>,
    by_name: BTreeMap<String, Vec<u8>>,
    nested: Vec<Vec<u8>>,
    pair: (u8, u8),
    external: External,
    internal: Internal,
    adjacent: Adjacent,
    untagged: Untagged,
    #[serde(flatten)]
    flat: Flat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum External {
    Empty,
    Raw(Vec<u8>),
    Pair(u8, u8),
    Named { data: Vec<u8>, id: u64 },
}

// serde buffers internally tagged, adjacently tagged, untagged and flattened content with
// `deserialize_any` before reading it: the cases that need bytes to look like a sequence there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum Internal {
    Blob { data: Vec<u8>, id: u64 },
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Raw(Vec<u8>),
    Fixed([u8; 2]),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Raw(Vec<u8>),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flat {
    flat_data: Vec<u8>,
    #[serde(with = "serde_bytes")]
    flat_tagged: Vec<u8>,
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn any_external() -> impl Strategy<Value = External> {
    prop_oneof![
        Just(External::Empty),
        bytes(16).prop_map(External::Raw),
        any::<(u8, u8)>().prop_map(|(a, b)| External::Pair(a, b)),
        (bytes(16), any::<u64>()).prop_map(|(data, id)| External::Named { data, id }),
    ]
}

fn any_blob() -> impl Strategy<Value = Blob> {
    (
        (bytes(32), bytes(32), bytes(32), any::<[u8; 4]>()),
        (
            prop::option::of(bytes(8)),
            prop::collection::btree_map("[a-z]{1,3}", bytes(8), 0..3),
            prop::collection::vec(bytes(8), 0..3),
            any::<(u8, u8)>(),
        ),
        (
            any_external(),
            prop_oneof![
                (bytes(8), any::<u64>()).prop_map(|(data, id)| Internal::Blob { data, id }),
                Just(Internal::Nothing),
            ],
            prop_oneof![
                bytes(8).prop_map(Adjacent::Raw),
                any::<[u8; 2]>().prop_map(Adjacent::Fixed),
            ],
            prop_oneof![
                bytes(8).prop_map(Untagged::Raw),
                "[a-z]{0,4}".prop_map(Untagged::Text),
            ],
            (bytes(8), bytes(8)).prop_map(|(flat_data, flat_tagged)| Flat {
                flat_data,
                flat_tagged,
            }),
        ),
    )
        .prop_map(
            |(
                (plain, tagged, buf, fixed),
                (maybe, by_name, nested, pair),
                (external, internal, adjacent, untagged, flat),
            )| Blob {
                plain,
                tagged,
                buf: ByteBuf::from(buf),
                fixed,
                maybe,
                by_name,
                nested,
                pair,
                external,
                internal,
                adjacent,
                untagged,
                flat,
            },
        )
}

proptest! {
    #[test]
    fn byte_vectors_round_trip_as_bytes(b in bytes(256)) {
        let stored = to_value(&b).unwrap();
        if b.is_empty() {
            prop_assert_eq!(&stored, &Value::Array(vec![]));
        } else {
            prop_assert_eq!(&stored, &Value::Bytes(b.clone()));
        }
        prop_assert_eq!(to_value(b.as_slice()).unwrap(), stored.clone());
        prop_assert_eq!(to_value(&ByteBuf::from(b.clone())).unwrap(), Value::Bytes(b.clone()));
        round_trip(&b);
        round_trip(&ByteBuf::from(b.clone()));
        prop_assert_eq!(from_value::<ByteBuf>(stored.clone()).unwrap().into_vec(), b.clone());
        prop_assert_eq!(from_value::<VecDeque<u8>>(stored).unwrap(), VecDeque::from(b));
    }

    #[test]
    fn fixed_arrays_round_trip_as_bytes(a in any::<[u8; 16]>()) {
        prop_assert_eq!(to_value(&a).unwrap(), Value::Bytes(a.to_vec()));
        round_trip(&a);
    }

    #[test]
    fn bytes_round_trip_inside_structs_options_maps_and_enums(blob in any_blob()) {
        round_trip(&blob);
    }

    #[test]
    fn stored_bytes_read_as_a_sequence_of_any_integer(b in bytes(64)) {
        let stored = Value::Bytes(b.clone());
        let widened: Vec<u32> = b.iter().copied().map(u32::from).collect();
        prop_assert_eq!(from_value::<Vec<u32>>(stored.clone()).unwrap(), widened);
        let signed: Vec<i64> = b.iter().copied().map(i64::from).collect();
        prop_assert_eq!(from_value::<Vec<i64>>(stored.clone()).unwrap(), signed);
        prop_assert_eq!(from_value::<Vec<u8>>(stored).unwrap(), b);
    }

    #[test]
    fn arrays_of_integers_stored_before_still_read_as_bytes(b in bytes(64)) {
        // What `Vec<u8>` was stored as before it became `Bytes`.
        let old = Value::Array(b.iter().map(|&x| Value::I64(i64::from(x))).collect());
        prop_assert_eq!(from_value::<Vec<u8>>(old.clone()).unwrap(), b.clone());
        prop_assert_eq!(from_value::<ByteBuf>(old).unwrap().into_vec(), b);
    }
}

#[test]
fn byte_fields_are_stored_as_bytes() {
    #[derive(Serialize)]
    struct Fields<'a> {
        plain: Vec<u8>,
        slice: &'a [u8],
        fixed: [u8; 2],
        #[serde(with = "serde_bytes")]
        tagged: Vec<u8>,
        #[serde(with = "serde_bytes")]
        tagged_empty: Vec<u8>,
    }
    let stored = to_value(&Fields {
        plain: vec![1, 2],
        slice: &[3],
        fixed: [4, 5],
        tagged: vec![6],
        tagged_empty: vec![],
    })
    .unwrap();
    let expected = BTreeMap::from([
        ("plain".to_owned(), Value::Bytes(vec![1, 2])),
        ("slice".to_owned(), Value::Bytes(vec![3])),
        ("fixed".to_owned(), Value::Bytes(vec![4, 5])),
        ("tagged".to_owned(), Value::Bytes(vec![6])),
        // `serialize_bytes` says "bytes" even when there are none.
        ("tagged_empty".to_owned(), Value::Bytes(vec![])),
    ]);
    assert_eq!(stored, Value::Map(expected));
}

#[test]
fn an_empty_sequence_is_an_empty_array_and_reads_as_any_sequence() {
    // Serde names no element type, so an empty `Vec<u8>` looks like any empty sequence.
    let stored = to_value(&Vec::<u8>::new()).unwrap();
    assert_eq!(stored, Value::Array(vec![]));
    assert_eq!(to_value(&Vec::<String>::new()).unwrap(), stored);
    assert_eq!(to_value(&[0u8; 0]).unwrap(), stored);
    assert!(from_value::<Vec<u8>>(stored.clone()).unwrap().is_empty());
    assert!(from_value::<ByteBuf>(stored.clone()).unwrap().is_empty());
    assert_eq!(from_value::<[u8; 0]>(stored.clone()).unwrap(), []);
    assert!(from_value::<Vec<String>>(stored).unwrap().is_empty());
    // Empty bytes stored by the byte API read as every empty sequence too.
    assert!(
        from_value::<Vec<u8>>(Value::Bytes(vec![]))
            .unwrap()
            .is_empty()
    );
    assert!(
        from_value::<ByteBuf>(Value::Bytes(vec![]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn sequences_that_are_not_bare_bytes_stay_arrays() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapped(u8);
    let ints = |xs: &[i64]| Value::Array(xs.iter().map(|&x| Value::I64(x)).collect());
    assert_eq!(to_value(&vec![1u16, 2]).unwrap(), ints(&[1, 2]));
    assert_eq!(to_value(&vec![1i8, 2]).unwrap(), ints(&[1, 2]));
    assert_eq!(to_value(&vec![Wrapped(1)]).unwrap(), ints(&[1]));
    assert_eq!(
        to_value(&vec![Some(1u8), None]).unwrap(),
        Value::Array(vec![Value::I64(1), Value::Null])
    );
    assert_eq!(to_value(&vec![Some(1u8)]).unwrap(), ints(&[1]));
    // A byte first, then something else: the byte joins the array as an integer.
    assert_eq!(
        to_value(&(7u8, "x")).unwrap(),
        Value::Array(vec![Value::I64(7), Value::from("x")])
    );
    assert_eq!(to_value(&(7u8, 8u8, 9u16)).unwrap(), ints(&[7, 8, 9]));
    round_trip(&vec![Wrapped(1), Wrapped(255)]);
    round_trip(&vec![Some(1u8), Some(2)]);
    round_trip(&(7u8, 8u8, 9u16));
}

#[test]
fn fixed_arrays_refuse_a_stored_sequence_of_another_length() {
    for stored in [
        Value::Bytes(vec![1, 2, 3]),
        Value::Array(vec![Value::I64(1), Value::I64(2), Value::I64(3)]),
    ] {
        assert_eq!(
            from_value::<[u8; 2]>(stored.clone()).unwrap_err().0,
            "invalid length 3, expected 2 elements in sequence"
        );
        assert_eq!(
            from_value::<[u8; 4]>(stored.clone()).unwrap_err().0,
            "invalid length 3, expected an array of length 4"
        );
        assert_eq!(
            from_value::<(u8,)>(stored).unwrap_err().0,
            "invalid length 3, expected 1 element in sequence"
        );
    }
}

#[test]
fn bytes_are_bytes_to_everything_but_sequences() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // only its failure to read is tested
    struct Two {
        a: u8,
        b: u8,
    }
    let stored = Value::Bytes(b"text".to_vec());
    // Text written through the byte API reads as a string, as before.
    assert_eq!(from_value::<String>(stored.clone()).unwrap(), "text");
    assert_eq!(
        from_value::<i64>(stored.clone()).unwrap_err().0,
        "invalid type: byte array, expected i64"
    );
    // A struct reads from a sequence too, but two bytes are not a struct of two fields.
    assert_eq!(
        from_value::<Two>(Value::Bytes(vec![1, 2])).unwrap_err().0,
        "invalid type: byte array, expected struct Two"
    );
    assert!(from_value::<String>(Value::Bytes(vec![0xff])).is_err());
}

#[test]
fn a_value_keeps_its_bytes_as_bytes() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        payload: Value,
        list: Vec<Value>,
    }
    let bytes = Value::Bytes(vec![0, 1, 255]);
    assert_eq!(to_value(&bytes).unwrap(), bytes);
    assert_eq!(from_value::<Value>(bytes.clone()).unwrap(), bytes);
    let record = Record {
        payload: bytes.clone(),
        list: vec![bytes.clone(), Value::Bytes(vec![])],
    };
    round_trip(&record);
    assert_eq!(
        from_value::<Option<Value>>(bytes.clone()).unwrap(),
        Some(bytes)
    );
}
