//! The background thread: reclaims expired values and versions no view can see any more when a
//! sweep is due (see `Instance::sweep_if_due`), and writes a checkpoint when the log has grown
//! enough (see `Instance::checkpoint_if_due`).

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use crate::instance::Instance;

/// Handle to the sweeper thread; stops and joins it on `stop`.
#[derive(Debug)]
pub(crate) struct Sweeper {
    signal: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl Sweeper {
    /// Starts a thread that sweeps `instance` every `interval` until stopped or until the
    /// instance is gone. It holds only a weak reference, so it never keeps a database open.
    pub fn start(instance: Weak<Instance>, interval: Duration) -> std::io::Result<Sweeper> {
        let signal = Arc::new((Mutex::new(false), Condvar::new()));
        let thread_signal = Arc::clone(&signal);
        let thread = thread::Builder::new()
            .name("in-mem-sweeper".to_owned())
            .spawn(move || {
                let (stopped, wake) = &*thread_signal;
                loop {
                    let guard = stopped
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let (guard, _) = wake
                        .wait_timeout_while(guard, interval, |stop| !*stop)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                    drop(guard);
                    let Some(instance) = instance.upgrade() else {
                        return;
                    };
                    instance.sweep_if_due();
                if let Some(Err(e)) = instance.checkpoint_if_due() {
                    tracing::error!(error = %e, "background checkpoint failed; the log keeps growing until one succeeds");
                }
                }
            })?;
        let thread_id = thread.thread().id();
        Ok(Sweeper {
            signal,
            thread: Some(thread),
            thread_id,
        })
    }

    /// Stops the thread and waits for it, unless called from the thread itself (the sweeper
    /// may hold the last reference to the instance it is dropping).
    pub fn stop(&mut self) {
        let (stopped, wake) = &*self.signal;
        *stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread::current().id() != self.thread_id
        {
            // A sweep that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}
