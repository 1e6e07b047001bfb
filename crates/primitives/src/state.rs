//! `StateMachine`: a run's named cells, each a value with a version that only goes forward,
//! with compare-and-swap; and declared machines whose transitions the store enforces.
//!
//! The cells and machines themselves are the engine's [`Cells`](in_mem_engine::Cells); this
//! adds serde values and the run-scoped calls (retried on conflict).

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{
    Cell, Database, MachineDefinition, Result, RetryPolicy, Transaction, Transition,
};
use serde::Serialize;

use crate::convert::to_stored;

/// A run's state cells and declared machines.
///
/// ```
/// use in_mem_engine::Database;
/// use in_mem_primitives::StateMachine;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// let state = StateMachine::new(&db);
/// let v1 = state.init(run, "attempts", 0)?;
/// let v2 = state.cas(run, "attempts", v1, 1)?;
/// assert!(state.cas(run, "attempts", v1, 2).is_err(), "a stale version never wins");
/// assert_eq!(state.read(run, "attempts")?.unwrap().version, v2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StateMachine {
    db: Database,
}

impl StateMachine {
    /// The state cells and machines of `db`'s runs.
    pub fn new(db: &Database) -> Self {
        StateMachine { db: db.clone() }
    }

    /// Creates cell `name` with `value`; an error if it exists. Returns its version (1 for a
    /// new cell, or one past the version it had before it was deleted).
    pub fn init<T: Serialize>(&self, run: RunId, name: &str, value: T) -> Result<u64> {
        let value = to_stored(&value)?;
        self.retried(run, |tx| tx.cells().init(name, value.clone()))
    }

    /// [`StateMachine::init`] inside a transaction.
    pub fn init_in<T: Serialize>(tx: &mut Transaction<'_>, name: &str, value: T) -> Result<u64> {
        tx.cells().init(name, to_stored(&value)?)
    }

    /// The cell, if it exists.
    pub fn read(&self, run: RunId, name: &str) -> Result<Option<Cell>> {
        self.db.transaction(run, |tx| tx.cells().get(name))
    }

    /// Sets the cell's value whatever it was (creating it if needed); returns the new version.
    pub fn set<T: Serialize>(&self, run: RunId, name: &str, value: T) -> Result<u64> {
        let value = to_stored(&value)?;
        self.retried(run, |tx| tx.cells().set(name, value.clone()))
    }

    /// [`StateMachine::set`] inside a transaction.
    pub fn set_in<T: Serialize>(tx: &mut Transaction<'_>, name: &str, value: T) -> Result<u64> {
        tx.cells().set(name, to_stored(&value)?)
    }

    /// Sets the cell to `value` only if its version is `expected`; returns the new version.
    /// `Error::CellMissing` if there is no such cell, `Error::StaleVersion` if its version
    /// has moved on.
    pub fn cas<T: Serialize>(
        &self,
        run: RunId,
        name: &str,
        expected: u64,
        value: T,
    ) -> Result<u64> {
        let value = to_stored(&value)?;
        self.retried(run, |tx| tx.cells().cas(name, expected, value.clone()))
    }

    /// [`StateMachine::cas`] inside a transaction.
    pub fn cas_in<T: Serialize>(
        tx: &mut Transaction<'_>,
        name: &str,
        expected: u64,
        value: T,
    ) -> Result<u64> {
        tx.cells().cas(name, expected, to_stored(&value)?)
    }

    /// Applies `f` to the cell's value and stores the result, retrying on conflict: `f` may run
    /// more than once. Returns the new value and version.
    pub fn transition(
        &self,
        run: RunId,
        name: &str,
        mut f: impl FnMut(&Value) -> Result<Value>,
    ) -> Result<(Value, u64)> {
        self.retried(run, |tx| tx.cells().update(name, &mut f))
    }

    /// Deletes the cell; returns whether it existed. Its version is kept, so re-creating it
    /// continues from there.
    pub fn delete(&self, run: RunId, name: &str) -> Result<bool> {
        self.retried(run, |tx| tx.cells().delete(name))
    }

    /// Every live cell of `run`, by name.
    pub fn cells(&self, run: RunId) -> Result<Vec<(String, Cell)>> {
        self.db.transaction(run, |tx| tx.cells().list())
    }

    /// Declares machine `name` in `run` and puts it in its initial state. An error if a machine
    /// of that name exists, or if the definition is inconsistent.
    pub fn define(&self, run: RunId, name: &str, definition: &MachineDefinition) -> Result<()> {
        self.retried(run, |tx| tx.cells().define(name, definition))
    }

    /// Machine `name`'s definition.
    pub fn definition(&self, run: RunId, name: &str) -> Result<Option<MachineDefinition>> {
        self.db.transaction(run, |tx| tx.cells().definition(name))
    }

    /// Machine `name`'s current state, with its version and update time.
    pub fn machine_state(&self, run: RunId, name: &str) -> Result<Option<Cell>> {
        self.db
            .transaction(run, |tx| tx.cells().machine_state(name))
    }

    /// Applies `event` to machine `name` atomically: the allowed move from its current state,
    /// or `Error::ForbiddenTransition` naming the state and the event.
    pub fn fire(&self, run: RunId, name: &str, event: &str) -> Result<Transition> {
        self.retried(run, |tx| tx.cells().fire(name, event))
    }

    /// [`StateMachine::fire`] inside a transaction.
    pub fn fire_in(tx: &mut Transaction<'_>, name: &str, event: &str) -> Result<Transition> {
        tx.cells().fire(name, event)
    }

    fn retried<T>(
        &self,
        run: RunId,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), f)
    }
}
