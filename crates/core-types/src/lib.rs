//! The shared vocabulary of in-mem: identifiers, keys, values, versions and limits.
//!
//! Every other crate speaks in these types. This crate holds no state and does no I/O; it defines
//! what a key *is* (and its memcomparable byte encoding), what a value is (and its canonical byte
//! encoding), and the limits that every layer enforces.
//!
//! It is *not* a storage engine: nothing here stores anything.
//!
//! ```
//! use in_mem_core_types::{Key, Namespace, RunId, TypeTag};
//!
//! let run = RunId::new();
//! let ns = Namespace::new("tenant1", "my-app", "agent-v1", run);
//! let a = Key::new(ns.clone(), TypeTag::Kv, b"user:1".to_vec());
//! let b = Key::new(ns, TypeTag::Kv, b"user:2".to_vec());
//! // Byte order of the encoding is key order, so prefix scans are range scans.
//! assert!(a < b);
//! assert!(a.encode() < b.encode());
//! assert_eq!(Key::decode(&a.encode()).unwrap(), a);
//! ```

mod clock;
mod error;
mod key;
pub mod limits;
mod namespace;
mod run_id;
mod shared;
mod time;
mod type_tag;
mod value;
pub mod value_serde;
mod varint;
mod version;
mod versioned;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, NamespaceProblem, Result};
pub use key::Key;
pub use namespace::{AgentId, Namespace};
pub use run_id::RunId;
pub use shared::concat_shared;
pub use time::Timestamp;
pub use type_tag::TypeTag;
pub use value::{BigU64, Encoded, Encoder, Value};
pub use value_serde::{ConvertError, from_value, to_value};
pub use version::Version;
pub use versioned::VersionedValue;
