//! A one-entry, per-thread cache of the last run a thread used.
//!
//! Agent code uses one run per thread for long stretches, and every operation starts by looking
//! its run up. Through the shared registry that costs four atomic read-modify-writes on cache
//! lines every thread touches (the map shard's lock and the run's reference count, each taken
//! and released), which is what kept two reader threads from scaling. A hit here touches only
//! this thread's memory.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use in_mem_core_types::RunId;

use super::RunState;

/// Source of registry ids, so that a cache entry never outlives its database's identity (a new
/// database at the same address gets a new id).
static NEXT_REGISTRY_ID: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_registry_id() -> u64 {
    NEXT_REGISTRY_ID.fetch_add(1, Ordering::Relaxed)
}

struct Cached {
    registry: u64,
    run: RunId,
    state: Arc<RunState>,
}

thread_local! {
    static LAST_RUN: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// Calls `f` with the cached state of `run` in registry `registry`, if this thread has it.
/// `None` on a miss, or if the cache is in use further up this thread's stack.
pub(super) fn with_cached<T>(
    registry: u64,
    run: RunId,
    f: impl FnOnce(&RunState) -> T,
) -> Option<T> {
    LAST_RUN.with(|cell| {
        let cached = cell.try_borrow().ok()?;
        let hit = cached
            .as_ref()
            .filter(|c| c.registry == registry && c.run == run)?;
        Some(f(&hit.state))
    })
}

/// Remembers `state` as this thread's last run (unless the cache is in use further up).
pub(super) fn remember(registry: u64, state: &Arc<RunState>) {
    LAST_RUN.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(Cached {
                registry,
                run: state.id,
                state: Arc::clone(state),
            });
        }
    });
}

/// Forgets `run` if this thread cached it (the run left the registry).
pub(super) fn forget(registry: u64, run: RunId) {
    LAST_RUN.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut()
            && slot
                .as_ref()
                .is_some_and(|c| c.registry == registry && c.run == run)
        {
            *slot = None;
        }
    });
}
