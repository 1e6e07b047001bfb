//! Agent primitives of in-mem, built on the engine's `Database`.
//!
//! Today: [`KVStore`], the agent's memory with typed values through serde. The type tags of
//! `EventLog`, `StateMachine` and `TraceStore` are reserved in `in-mem-core-types` (`TypeTag::Event`,
//! `TypeTag::State`, `TypeTag::Trace`); the primitives themselves come next.
//!
//! This crate never touches storage or durability directly: everything goes through
//! `Database`.

mod error;
mod kv;
pub mod value_serde;

pub use error::{Error, Result};
pub use kv::KVStore;
