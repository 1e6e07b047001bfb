//! Connections driven by the threads that call the store. Each connection has a current-thread
//! runtime of its own, polled only while a caller waits on it: the caller's thread writes the
//! request, waits in the runtime's own `epoll`, and reads the answer, so a call crosses no
//! thread. Handing the request to a runtime's worker and the answer back cost two thread
//! wake-ups a call, tens of microseconds each on a small virtual machine, against a loopback
//! round trip of about 130 us (docs/REMOTE.md, "Measured").
//!
//! A caller takes an idle connection for the whole of its call, so calls never share one: up to
//! `limit` callers run side by side, and the next waits in line until one is given back (its
//! waker), re-checking against its deadline. PostgreSQL runs one statement at a time per
//! connection anyway; pipelining several callers' requests on one connection, as the private
//! runtime's pool does, saves only the round trip between two of them.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio_postgres::Config;

use in_mem_remote::{RemoteError, RemoteResult};

use crate::pool::{Connection, open};

/// One connection and the runtime that drives it.
struct Driven {
    /// `Option` only so that `Drop` can shut it down without blocking.
    runtime: Option<Runtime>,
    connection: Arc<Connection>,
}

impl Driven {
    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("a driven connection's runtime lives until it is dropped")
    }

    /// Whether the connection still works, as far as the client can tell without a request. The
    /// connection's task runs only inside `block_on`, so a connection the server closed while
    /// it was idle looks open until its task reads the end of the stream: two yields let the
    /// runtime poll the socket and then run that task.
    fn still_open(&self) -> bool {
        self.runtime().block_on(async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        });
        !self.connection.client.is_closed()
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        // Not `drop(runtime)`, which may block, and panics inside another runtime's task (a
        // store dropped in async code drops its idle connections there).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A connection in a caller's hands. Dropped, it goes back to the pool if its call was
/// answered, and is closed otherwise: after a timeout (its request may still be in flight) or
/// a panic in the call, so that the pool's count of open connections stays true.
struct Lent<'p> {
    pool: &'p DrivenPool,
    driven: Option<Driven>,
    reusable: bool,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(driven) = self.driven.take() {
            if self.reusable {
                self.pool.give_back(driven);
            } else {
                self.pool.close(driven);
            }
        }
    }
}

/// The idle connections, how many exist (idle or in a caller's hands), and the callers waiting
/// for one, served in the order they came.
struct Slots {
    idle: Vec<Driven>,
    open: usize,
    /// Tickets of the callers waiting, oldest first: only the oldest may take a connection, so
    /// a thread calling in a loop cannot pass a waiter by (a renewal of the host's lease behind
    /// busy readers, say) for as long as its deadline.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

/// Up to `limit` connections, each lent to one caller at a time.
pub struct DrivenPool {
    config: Config,
    limit: usize,
    slots: Mutex<Slots>,
    /// Woken when a connection is given back or closed, or a waiter leaves the line: the
    /// oldest waiter may take or open one.
    given_back: Condvar,
}

/// What a call through the pool ended with.
pub enum Outcome<T> {
    /// The work ran and answered (perhaps with an error).
    Answered(RemoteResult<T>),
    /// No connection could be had or opened before the deadline: nothing was sent.
    NoConnection(RemoteError),
    /// The work was sent and had not answered by the deadline.
    TimedOut,
}

impl DrivenPool {
    pub fn new(config: Config, limit: usize) -> Self {
        DrivenPool {
            config,
            limit: limit.max(1),
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
                waiting: VecDeque::new(),
                next_ticket: 0,
            }),
            given_back: Condvar::new(),
        }
    }

    /// Runs `work` on a connection, on this thread, for at most `timeout` from now in all (the
    /// wait for a connection included). Must not be called from inside a tokio runtime: its
    /// `block_on` would panic there.
    pub fn call<T, F, Fut>(&self, timeout: Duration, work: F) -> Outcome<T>
    where
        F: FnOnce(Arc<Connection>) -> Fut,
        Fut: Future<Output = RemoteResult<T>>,
    {
        let deadline = Instant::now() + timeout;
        let mut borrowed = match self.take(deadline) {
            Ok(driven) => Lent {
                pool: self,
                driven: Some(driven),
                reusable: false,
            },
            Err(e) => return Outcome::NoConnection(e),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // The wait for a connection took the whole time: nothing was sent, and the
            // connection is as good as it was.
            borrowed.reusable = true;
            return Outcome::NoConnection(RemoteError::Unavailable(
                "a connection was free only as the request timed out".into(),
            ));
        }
        let driven = borrowed.driven.as_ref().expect("lent until dropped");
        let answer = driven.runtime().block_on(async {
            tokio::time::timeout(left, work(Arc::clone(&driven.connection))).await
        });
        match answer {
            Ok(result) => {
                borrowed.reusable = true;
                Outcome::Answered(result)
            }
            // The request may still be in flight on it: the connection is closed, not reused.
            Err(_elapsed) => Outcome::TimedOut,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // The slots are a list and a count, each changed in one step: a panic elsewhere under
        // the lock leaves them consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection that still works, or a new one if fewer than `limit` exist; else
    /// waits in line for one to be given back, until `deadline`.
    fn take(&self, deadline: Instant) -> RemoteResult<Driven> {
        let mut slots = self.lock();
        let ticket = slots.next_ticket;
        slots.next_ticket += 1;
        slots.waiting.push_back(ticket);
        loop {
            if slots.waiting.front() == Some(&ticket) {
                let idle = slots.idle.pop();
                if idle.is_some() || slots.open < self.limit {
                    if idle.is_none() {
                        slots.open += 1;
                    }
                    slots.waiting.pop_front();
                    drop(slots);
                    // The next in line may find another connection or a free slot.
                    self.given_back.notify_all();
                    return match idle {
                        Some(driven) if driven.still_open() => Ok(driven),
                        // Closed while idle: a new connection takes its slot.
                        _ => self.open(deadline).inspect_err(|_| self.forget_one()),
                    };
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                slots.waiting.retain(|t| *t != ticket);
                drop(slots);
                self.given_back.notify_all();
                return Err(RemoteError::Unavailable(format!(
                    "all {} connections stayed busy until the request timed out",
                    self.limit
                )));
            }
            slots = self
                .given_back
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Opens a connection on a runtime of its own (its slot is already counted).
    fn open(&self, deadline: Instant) -> RemoteResult<Driven> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Store(format!("cannot start a connection's runtime: {e}")))?;
        let left = deadline.saturating_duration_since(Instant::now());
        let opened =
            runtime.block_on(async { tokio::time::timeout(left, open(&self.config)).await });
        match opened {
            Ok(Ok(connection)) => Ok(Driven {
                runtime: Some(runtime),
                connection: Arc::new(connection),
            }),
            Ok(Err(e)) => Err(e),
            Err(_elapsed) => Err(RemoteError::Unavailable(
                "no connection opened before the request timed out".into(),
            )),
        }
    }

    fn give_back(&self, driven: Driven) {
        if driven.connection.client.is_closed() {
            self.close(driven);
            return;
        }
        self.lock().idle.push(driven);
        self.given_back.notify_all();
    }

    /// Drops a connection that broke or may be mid-request, freeing its slot.
    fn close(&self, driven: Driven) {
        drop(driven);
        self.forget_one();
    }

    fn forget_one(&self) {
        self.lock().open -= 1;
        self.given_back.notify_all();
    }
}
