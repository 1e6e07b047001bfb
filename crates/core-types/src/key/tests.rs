use proptest::prelude::*;

use super::*;

fn arb_name() -> impl Strategy<Value = String> {
    // Short names from a small alphabet, so that prefixes and equal names are common.
    "[a-c]{1,3}"
}

fn arb_key() -> impl Strategy<Value = Key> {
    (
        arb_name(),
        arb_name(),
        arb_name(),
        prop_oneof![
            Just(RunId::NIL),
            Just(RunId::from_bytes([7; 16])),
            Just(RunId::from_bytes([9; 16]))
        ],
        prop::sample::select(TypeTag::ALL.to_vec()),
        prop::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()],
            1..6,
        ),
    )
        .prop_map(|(t, a, g, run, tag, user)| Key::new(Namespace::new(t, a, g, run), tag, user))
}

proptest! {
    #[test]
    fn encoding_order_is_key_order(a in arb_key(), b in arb_key()) {
        prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
    }

    #[test]
    fn encoding_round_trips(k in arb_key()) {
        let bytes = k.encode();
        prop_assert_eq!(bytes.len(), k.encoded_len());
        prop_assert_eq!(Key::decode(&bytes).unwrap(), k);
    }

    #[test]
    fn type_prefix_is_a_byte_prefix_of_every_key_of_that_type(k in arb_key()) {
        let prefix = Key::type_prefix(k.namespace(), k.type_tag());
        prop_assert!(k.encode().starts_with(&prefix));
    }

    #[test]
    fn type_tag_peek_agrees_with_full_decode(k in arb_key()) {
        prop_assert_eq!(Key::decode_type_tag(&k.encode()).unwrap(), k.type_tag());
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Key::decode(&bytes);
        let _ = Key::decode_type_tag(&bytes);
    }
}

#[test]
fn order_is_tenant_app_agent_run_tag_user_key() {
    let run_a = RunId::from_bytes([1; 16]);
    let run_b = RunId::from_bytes([2; 16]);
    let k =
        |t: &str, r, tag, u: &[u8]| Key::new(Namespace::new(t, "app", "agent", r), tag, u.to_vec());
    let ordered = [
        k("t1", run_b, TypeTag::Trace, b"z"),
        k("t2", run_a, TypeTag::Trace, b"z"),
        k("t2", run_b, TypeTag::Kv, b"z"),
        k("t2", run_b, TypeTag::Event, b"a"),
        k("t2", run_b, TypeTag::Event, b"b"),
    ];
    for pair in ordered.windows(2) {
        assert!(pair[0] < pair[1], "{pair:?}");
        assert!(pair[0].encode() < pair[1].encode(), "{pair:?}");
    }
}

#[test]
fn user_key_limits_are_typed_errors() {
    assert_eq!(Key::validate_user_key(b""), Err(Error::EmptyKey));
    let long = vec![b'k'; USER_KEY_BYTES_MAX + 1];
    assert_eq!(
        Key::validate_user_key(&long),
        Err(Error::KeyTooLong {
            len: USER_KEY_BYTES_MAX + 1,
            max: USER_KEY_BYTES_MAX
        })
    );
    assert!(Key::validate_user_key(&long[1..]).is_ok());
}

#[test]
fn truncated_encodings_are_malformed_not_panics() {
    let key = Key::new(
        Namespace::new("t", "a", "g", RunId::from_bytes([3; 16])),
        TypeTag::Kv,
        b"k".to_vec(),
    );
    let bytes = key.encode();
    for cut in 0..bytes.len() - 1 {
        assert!(Key::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}
