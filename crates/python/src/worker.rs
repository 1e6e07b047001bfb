//! A transaction held open across Python calls, on a thread of its own.
//!
//! The engine scopes a transaction to a closure (`Database::transaction_committed(run, policy,
//! |tx| ..)`), while Python's `with db.transaction(run) as tx:` runs its body between two separate
//! calls into the binding. So each open transaction gets a worker thread whose closure waits for
//! the operations Python sends (each a boxed `FnOnce(&mut Transaction)` with a reply channel of
//! its own), runs them in order on the one `Transaction`, and returns when Python commits (the
//! engine then validates and commits, as for any closure) or abandons it (the closure returns an
//! error, so nothing is written). Dropping the last handle abandons it too: a transaction nobody
//! can reach any more never commits.
//!
//! Python values never cross to the worker: callers convert arguments before sending and
//! results after the reply, so the worker never needs the interpreter. Every wait here blocks,
//! and callers make it detached from the interpreter (`Python::detach`).

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};

use in_mem::{Database, Error, RetryPolicy, RunId, Transaction};

/// One operation on the open transaction; it sends its own result back.
type Op = Box<dyn FnOnce(&mut Transaction<'_>) + Send>;

/// What Python sends the worker.
enum Message {
    Op(Op),
    Commit,
}

/// What the worker says about its transaction.
enum Status {
    /// The closure runs: the transaction is open.
    Started,
    /// The engine call returned: committed (with its version, `None` if nothing was written),
    /// refused, or abandoned.
    Finished(Result<Option<u64>, Stop>),
}

/// Why the closure returned without committing.
enum Stop {
    Engine(Error),
    Abandoned,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Engine(e)
    }
}

/// Why a call on the transaction did not run.
#[derive(Debug)]
pub(crate) enum TxError {
    /// The engine refused: the run is unknown or ended, or the commit conflicted ...
    Engine(Error),
    /// The transaction has already committed or been abandoned.
    Finished,
    /// The worker thread is gone without saying how (it panicked: a bug).
    Lost,
    /// No thread could be started for the transaction.
    Spawn(std::io::Error),
}

/// An open transaction of one run, served by its worker thread.
pub(crate) struct Worker {
    /// `None` once the transaction was committed or abandoned.
    sender: Mutex<Option<Sender<Message>>>,
    status: Mutex<Receiver<Status>>,
    run: RunId,
}

impl Worker {
    /// Opens a transaction of `run`; returns once it is open (or refused). Blocks: call detached.
    pub(crate) fn begin(db: Database, run: RunId) -> Result<Worker, TxError> {
        let (sender, messages) = mpsc::channel::<Message>();
        let (status_sender, status) = mpsc::sync_channel::<Status>(2);
        std::thread::Builder::new()
            .name("in-mem-transaction".to_owned())
            .spawn(move || serve(&db, run, &messages, &status_sender))
            .map_err(TxError::Spawn)?;
        let worker = Worker {
            sender: Mutex::new(Some(sender)),
            status: Mutex::new(status),
            run,
        };
        match worker.next_status() {
            Some(Status::Started) => Ok(worker),
            Some(Status::Finished(Err(Stop::Engine(e)))) => Err(TxError::Engine(e)),
            Some(Status::Finished(_)) | None => Err(TxError::Lost),
        }
    }

    /// The run this transaction belongs to.
    pub(crate) fn run(&self) -> RunId {
        self.run
    }

    /// Runs `f` on the transaction and returns its result. Blocks: call detached.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> R + Send + 'static,
    ) -> Result<R, TxError> {
        let sender = self.sender().ok_or(TxError::Finished)?;
        let (reply, answer) = mpsc::sync_channel::<R>(1);
        let op: Op = Box::new(move |tx| {
            // The caller may have gone (its thread was interrupted); the result is then unused.
            let _ = reply.send(f(tx));
        });
        sender.send(Message::Op(op)).map_err(|_| TxError::Lost)?;
        // No answer means the worker left its loop before this operation: a commit or an
        // abandon from another thread came first.
        answer.recv().map_err(|_| TxError::Finished)
    }

    /// Commits: returns the commit's version (`None` if the transaction wrote nothing). Blocks
    /// until the commit is as durable as the handle's mode promises: call detached.
    pub(crate) fn commit(&self) -> Result<Option<u64>, TxError> {
        let sender = self.take_sender().ok_or(TxError::Finished)?;
        // If the worker is already gone, its status says why.
        let _ = sender.send(Message::Commit);
        drop(sender);
        loop {
            match self.next_status() {
                Some(Status::Started) => {}
                Some(Status::Finished(Ok(version))) => return Ok(version),
                Some(Status::Finished(Err(Stop::Engine(e)))) => return Err(TxError::Engine(e)),
                Some(Status::Finished(Err(Stop::Abandoned))) => return Err(TxError::Finished),
                None => return Err(TxError::Lost),
            }
        }
    }

    /// Abandons the transaction: nothing it wrote is committed. Does not wait for the worker.
    pub(crate) fn abandon(&self) {
        drop(self.take_sender());
    }

    /// Whether the transaction still takes calls.
    pub(crate) fn is_open(&self) -> bool {
        self.sender().is_some()
    }

    fn sender(&self) -> Option<Sender<Message>> {
        // The lock guards an `Option` clone or take; a panic cannot leave it half-done.
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn take_sender(&self) -> Option<Sender<Message>> {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn next_status(&self) -> Option<Status> {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv()
            .ok()
    }
}

/// The worker thread: one engine transaction whose closure serves Python's operations.
fn serve(db: &Database, run: RunId, messages: &Receiver<Message>, status: &SyncSender<Status>) {
    // One attempt: a conflict goes back to Python, which decides whether to run its code again
    // (`Database.transaction_with_retry` does).
    let once = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let result = db.transaction_committed(run, once, |tx| {
        let _ = status.send(Status::Started);
        loop {
            match messages.recv() {
                Ok(Message::Op(op)) => op(tx),
                Ok(Message::Commit) => return Ok(()),
                // Every sender is gone: abandoned, or its handle was dropped.
                Err(_) => return Err(Stop::Abandoned),
            }
        }
    });
    let _ = status.send(Status::Finished(result.map(|((), version)| version)));
}
