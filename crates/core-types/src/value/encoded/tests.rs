use proptest::prelude::*;

use super::Encoded;
use crate::Value;
use crate::value::tests::arb_value;

/// A value mutated at one byte: mostly damage the reader must refuse as the decoder does.
fn damaged(bytes: &[u8], at: usize, to: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if !out.is_empty() {
        let at = at % out.len();
        out[at] = to;
    }
    out
}

proptest! {
    #[test]
    fn the_reader_accepts_exactly_what_the_decoder_accepts(
        v in arb_value(),
        at in any::<usize>(),
        to in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let good = v.encode().unwrap();
        for bytes in [
            good.clone(),
            damaged(&good, at, to),
            good[..cut % (good.len() + 1)].to_vec(),
        ] {
            let decoded = Value::decode(&bytes);
            // The one-pass map reader accepts what the two-pass one does.
            let entries = Encoded::map_entries(&bytes);
            let unchecked = Encoded::new_text_unchecked(&bytes);
            prop_assert_eq!(entries.is_ok(), unchecked.is_ok(), "{:?}", bytes);
            if let (Ok(Some(entries)), Ok(unchecked)) = (&entries, unchecked) {
                prop_assert_eq!(entries, &unchecked.entries().unwrap());
            }
            let read = Encoded::new(&bytes);
            prop_assert_eq!(read.is_ok(), decoded.is_ok(), "{:?}", bytes);
            // Leaving text to be checked on reading accepts at least as much.
            if read.is_ok() {
                prop_assert!(Encoded::new_text_unchecked(&bytes).is_ok());
            }
            if let (Ok(read), Ok(decoded)) = (read, decoded) {
                prop_assert_eq!(read.decode().unwrap(), decoded);
            }
        }
    }

    #[test]
    fn fields_and_items_are_the_decoded_ones(v in arb_value()) {
        let bytes = v.encode().unwrap();
        let read = Encoded::new(&bytes).unwrap();
        prop_assert_eq!(read.type_name(), v.type_name());
        match &v {
            Value::Map(map) => {
                let fields = read.entries().unwrap();
                prop_assert_eq!(fields.len(), map.len());
                for ((name, field), (key, value)) in fields.iter().zip(map) {
                    prop_assert_eq!(*name, key.as_bytes());
                    prop_assert_eq!(&field.decode().unwrap(), value);
                }
            }
            Value::Array(items) => {
                let read_items = read.array_items().unwrap();
                prop_assert_eq!(read_items.len(), items.len());
                for (item, value) in read_items.iter().zip(items) {
                    prop_assert_eq!(&item.decode().unwrap(), value);
                }
            }
            _ => {
                prop_assert!(read.entries().is_none() && read.array_items().is_none());
            }
        }
        prop_assert_eq!(read.as_str(), if let Value::String(s) = &v { Some(s.as_str()) } else { None });
        prop_assert_eq!(read.as_i64(), if let Value::I64(n) = &v { Some(*n) } else { None });
        prop_assert_eq!(read.as_bool(), if let Value::Bool(b) = &v { Some(*b) } else { None });
        prop_assert_eq!(read.as_bytes(), if let Value::Bytes(b) = &v { Some(b.as_slice()) } else { None });
        prop_assert_eq!(read.is_null(), v == Value::Null);
    }
}

#[test]
fn nesting_is_limited_as_the_decoder_limits_it() {
    // `levels` arrays around a Null, written by hand: one past the limit cannot be encoded.
    let nested = |levels: usize| -> Vec<u8> {
        let mut bytes = [0x06, 1].repeat(levels);
        bytes.push(0x00);
        bytes
    };
    let max = crate::limits::STORED_DEPTH_MAX;
    let at_limit = nested(max - 1);
    assert!(Value::decode(&at_limit).is_ok());
    let read = Encoded::new(&at_limit).unwrap();
    // A field deep inside is decoded at its own depth, not as if it were on top.
    let mut inner = read;
    for _ in 0..max - 1 {
        inner = inner.array_items().unwrap()[0];
    }
    assert!(inner.is_null() && inner.decode().unwrap() == Value::Null);
    let past = nested(max);
    assert!(Value::decode(&past).is_err());
    assert!(Encoded::new(&past).is_err());
}

#[test]
fn text_left_unchecked_is_checked_when_read() {
    let good = Value::Map(
        [
            ("name".to_owned(), Value::from("ok")),
            ("note".to_owned(), Value::from("xy")),
        ]
        .into_iter()
        .collect(),
    )
    .encode()
    .unwrap();
    // "xy" becomes two bytes that are not UTF-8.
    let at = good.windows(2).position(|w| w == b"xy").unwrap();
    let mut bad = good.clone();
    bad[at] = 0xff;
    bad[at + 1] = 0xfe;
    assert!(Value::decode(&bad).is_err() && Encoded::new(&bad).is_err());
    let read = Encoded::new_text_unchecked(&bad).unwrap();
    let fields = read.entries().unwrap();
    assert_eq!(fields[0].1.as_str(), Some("ok"));
    assert_eq!(fields[1].1.as_str(), None);
    assert!(fields[1].1.decode().is_err());
}
