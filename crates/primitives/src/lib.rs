//! Agent primitives of in-mem: KVStore with typed serde values
