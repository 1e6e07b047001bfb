//! The synchronization primitives of this crate: std's, or loom's under `--cfg inmem_loom`.
//!
//! Every atomic, mutex and condition variable of a protocol we want model-checked comes from here,
//! so `RUSTFLAGS="--cfg inmem_loom" cargo test --test loom` explores the protocol's interleavings
//! (see `tests/loom.rs`). The cfg is namespaced (`inmem_loom`, not `loom`) so that dependencies
//! which react to `--cfg loom` are not switched into their own loom mode. Loom cannot see inside
//! crossbeam-skiplist or dashmap, so only the version counter is checked this way.

#[cfg(inmem_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(inmem_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(inmem_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(inmem_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
