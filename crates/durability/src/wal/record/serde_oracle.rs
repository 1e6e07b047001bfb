//! The commit body's encoding through serde and postcard, as it was written before the
//! one-pass encoder (`encode.rs`): the oracle the tests hold that encoder to, byte for byte.

use serde::Serialize;
use serde::ser::{SerializeStructVariant, SerializeTuple, Serializer};

use super::{OpRef, WriteRef, ttl_micros};

/// The serde encoding of `(timestamp, writer, writes)`.
pub(super) fn encode(timestamp: u64, run: [u8; 16], writes: &[WriteRef<'_>]) -> Vec<u8> {
    postcard::to_stdvec(&BodySer {
        timestamp,
        writer: run,
        writes,
    })
    .expect("encoding integers and bytes into a Vec cannot fail")
}

struct BodySer<'a> {
    timestamp: u64,
    writer: [u8; 16],
    writes: &'a [WriteRef<'a>],
}

impl Serialize for BodySer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.timestamp)?;
        t.serialize_element(&self.writer)?;
        t.serialize_element(&WritesSer(self.writes))?;
        t.end()
    }
}

struct WritesSer<'a>(&'a [WriteRef<'a>]);

impl Serialize for WritesSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(WriteSer))
    }
}

struct WriteSer<'a>(&'a WriteRef<'a>);

impl Serialize for WriteSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&Bytes(self.0.key))?;
        t.serialize_element(&OpSer(&self.0.op))?;
        t.end()
    }
}

struct OpSer<'a>(&'a OpRef<'a>);

impl Serialize for OpSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self.0 {
            OpRef::Put { value, ttl } => {
                let mut v = s.serialize_struct_variant("Op", 0, "Put", 2)?;
                v.serialize_field("value", &Bytes(value))?;
                v.serialize_field("ttl", &ttl_micros(ttl))?;
                v.end()
            }
            OpRef::Delete => s.serialize_unit_variant("Op", 1, "Delete"),
            OpRef::DeletePrefix => s.serialize_unit_variant("Op", 2, "DeletePrefix"),
        }
    }
}

/// Bytes serialized as bytes (a length and one copy), not as a sequence of `u8`.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}
