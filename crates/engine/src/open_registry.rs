//! The process-wide registry of open databases, so that opening a path that is already open
//! returns another handle to the same instance instead of failing on the directory lock.
//!
//! The registry knows nothing of what it holds (any `Send + Sync` type): [`open`] hands the
//! constructor a [`Registration`], which the opened value keeps; dropping the registration (with
//! the value) takes the entry out again, unless a newer open of the same path has replaced it.

use std::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// One slot per path. Its own mutex serializes opens of that path without holding up others.
/// `None` until the first open; afterwards the (possibly dead) value last opened there.
type Slot = Arc<Mutex<Option<Weak<dyn Any + Send + Sync>>>>;

static OPEN: LazyLock<Mutex<HashMap<PathBuf, Slot>>> = LazyLock::new(Mutex::default);

/// How long to wait for a value of the same path that is being dropped in this process to
/// release its directory lock.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// How long to sleep between tries while waiting for that.
const SHUTDOWN_POLL: Duration = Duration::from_millis(2);

/// A registry entry, held by the value it registered; dropping it forgets the entry.
#[derive(Debug)]
pub(crate) struct Registration {
    key: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = lock(&OPEN);
        let reopened = open.get(&self.key).is_some_and(|slot| {
            slot.try_lock().map_or(true, |last| {
                last.as_ref().is_some_and(|w| w.strong_count() > 0)
            })
        });
        if !reopened {
            open.remove(&self.key);
        }
    }
}

/// The value open at `path`, or a new one from `create` if nobody in this process has it open.
///
/// `create` gets the registration to keep. If the path's previous value is still being
/// dropped on another thread, its directory lock goes when that drop finishes: a locked error
/// from `create` is then retried (every `SHUTDOWN_POLL`, re-checking, for up to
/// `SHUTDOWN_WAIT`) instead of returned.
pub(crate) fn open<T: Send + Sync + 'static>(
    path: &Path,
    mut create: impl FnMut(Registration) -> Result<Arc<T>>,
) -> Result<Arc<T>> {
    let key = registry_key(path);
    let slot = Arc::clone(lock(&OPEN).entry(key.clone()).or_default());
    let mut last = lock(&slot);
    if let Some(live) = last.as_ref().and_then(Weak::upgrade) {
        // Only one type is ever registered per process; a mismatch would be a bug here.
        return live.downcast::<T>().map_err(|_| unreachable_type(path));
    }
    let draining = last.is_some();
    let started = Instant::now();
    let value = loop {
        let registration = Registration { key: key.clone() };
        match create(registration) {
            Err(e) if e.is_locked() && draining && started.elapsed() < SHUTDOWN_WAIT => {
                thread::sleep(SHUTDOWN_POLL);
            }
            other => break other?,
        }
    };
    let erased: Arc<dyn Any + Send + Sync> = value.clone();
    *last = Some(Arc::downgrade(&erased));
    Ok(value)
}

fn unreachable_type(path: &Path) -> Error {
    Error::InvalidOptions {
        reason: format!(
            "{} is open in this process as something other than a database",
            path.display()
        ),
    }
}

/// A stable name for `path`: the canonical form of its longest existing ancestor with the rest
/// appended, so that the name is the same before and after the directory is created.
fn registry_key(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return rest
                .iter()
                .rev()
                .fold(canonical, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single insert or assignment, so a panic elsewhere
    // cannot leave them half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
