//! A background thread that runs a task at a fixed interval until it is stopped or the task
//! says it is done. The database uses one for sweeps and background checkpoints; it knows
//! nothing of what the task does.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

/// What the task wants after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run again after the interval.
    Continue,
    /// Stop the thread (what it worked on is gone).
    Stop,
}

/// Handle to a periodic thread; [`Periodic::stop`] stops and joins it (also on drop).
#[derive(Debug)]
pub(crate) struct Periodic {
    /// True once stop is asked; the condition variable is the thread's named waker.
    stopped: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl Periodic {
    /// Starts thread `name`, which calls `task` every `interval` until stopped or until `task`
    /// returns [`Next::Stop`].
    pub fn start(
        name: &str,
        interval: Duration,
        mut task: impl FnMut() -> Next + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let stopped = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stopped);
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let (flag, wake) = &*signal;
                loop {
                    let guard = flag.lock().unwrap_or_else(PoisonError::into_inner);
                    // Woken by `stop` (its named waker), or by the interval's timeout.
                    let (guard, _) = wake
                        .wait_timeout_while(guard, interval, |stop| !*stop)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                    drop(guard);
                    if task() == Next::Stop {
                        return;
                    }
                }
            })?;
        let thread_id = thread.thread().id();
        Ok(Periodic {
            stopped,
            thread: Some(thread),
            thread_id,
        })
    }

    /// Stops the thread and waits for its current run to finish, unless called from the thread
    /// itself (its task may drop the last reference to what owns this handle).
    pub fn stop(&mut self) {
        let (flag, wake) = &*self.stopped;
        *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread::current().id() != self.thread_id
        {
            // A task that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn runs_until_stopped_and_stop_waits_for_it() {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let mut periodic = Periodic::start("test-periodic", Duration::from_millis(1), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Next::Continue
        })
        .unwrap();
        while runs.load(Ordering::SeqCst) < 3 {
            thread::sleep(Duration::from_millis(1));
        }
        periodic.stop();
        let after = runs.load(Ordering::SeqCst);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            after,
            "no run after stop returned"
        );
    }

    #[test]
    fn a_task_can_end_its_thread() {
        let mut periodic =
            Periodic::start("test-periodic", Duration::from_millis(1), || Next::Stop).unwrap();
        let thread = periodic.thread.take().unwrap();
        thread.join().unwrap();
    }
}
