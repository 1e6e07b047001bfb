//! `StateMachine`: a run's named cells, each a value with a version that only goes forward,
//! with compare-and-swap; and declared machines whose transitions the store enforces.
//!
//! A cell is stored under `TypeTag::State` key `cell:<name>` as a record holding the value, the
//! version, the update time and whether it is deleted. Deleting keeps the record (marked
//! deleted), so a re-created cell continues from the old version and a stale compare-and-swap can
//! never succeed against it. A machine's definition lives under `machine:<name>` and its current
//! state in a cell of its own, `machine-state:<name>`.

mod machine;

use in_mem_core_types::{RunId, Timestamp, TypeTag, Value};
use in_mem_engine::{Database, RetryPolicy, Transaction};
use serde::Serialize;

pub use machine::{MachineDefinition, Transition};

use crate::error::{Error, Result};
use crate::record::{Record, RecordBuilder, check_canonical, check_name};
use crate::value_serde::to_value;

const CELL_PREFIX: &[u8] = b"cell:";

/// A cell as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The current value.
    pub value: Value,
    /// The cell's version: 1 when first created, +1 at every change, never reset.
    pub version: u64,
    /// When it last changed.
    pub updated_at: Timestamp,
}

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
        let value = cell_value(&value)?;
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                init_in(tx, CellKey::Cell(name), value.clone())
            })
    }

    /// [`StateMachine::init`] inside a transaction.
    pub fn init_in<T: Serialize>(tx: &mut Transaction<'_>, name: &str, value: T) -> Result<u64> {
        init_in(tx, CellKey::Cell(name), cell_value(&value)?)
    }

    /// The cell, if it exists.
    pub fn read(&self, run: RunId, name: &str) -> Result<Option<Cell>> {
        self.db.transaction(run, |tx| {
            Ok(read_in(tx, CellKey::Cell(name))?.and_then(Stored::live))
        })
    }

    /// Sets the cell's value whatever it was (creating it if needed); returns the new version.
    pub fn set<T: Serialize>(&self, run: RunId, name: &str, value: T) -> Result<u64> {
        let value = cell_value(&value)?;
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                Self::set_value_in(tx, name, value.clone())
            })
    }

    /// [`StateMachine::set`] inside a transaction.
    pub fn set_in<T: Serialize>(tx: &mut Transaction<'_>, name: &str, value: T) -> Result<u64> {
        Self::set_value_in(tx, name, cell_value(&value)?)
    }

    fn set_value_in(tx: &mut Transaction<'_>, name: &str, value: Value) -> Result<u64> {
        let key = CellKey::Cell(name);
        let previous = read_in(tx, key)?.map_or(0, |s| s.version);
        write_in(tx, key, &Stored::live_at(value, previous + 1, tx.now()))
    }

    /// Sets the cell to `value` only if its version is `expected`; returns the new version.
    /// [`Error::CellMissing`] if there is no such cell, [`Error::StaleVersion`] if its version
    /// has moved on.
    pub fn cas<T: Serialize>(
        &self,
        run: RunId,
        name: &str,
        expected: u64,
        value: T,
    ) -> Result<u64> {
        let value = cell_value(&value)?;
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                cas_in(tx, CellKey::Cell(name), expected, value.clone())
            })
    }

    /// [`StateMachine::cas`] inside a transaction.
    pub fn cas_in<T: Serialize>(
        tx: &mut Transaction<'_>,
        name: &str,
        expected: u64,
        value: T,
    ) -> Result<u64> {
        cas_in(tx, CellKey::Cell(name), expected, cell_value(&value)?)
    }

    /// Applies `f` to the cell's value and stores the result, retrying on conflict: `f` may run
    /// more than once. Returns the new value and version.
    pub fn transition(
        &self,
        run: RunId,
        name: &str,
        mut f: impl FnMut(&Value) -> Result<Value>,
    ) -> Result<(Value, u64)> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                let key = CellKey::Cell(name);
                let cell =
                    read_in(tx, key)?
                        .and_then(Stored::live)
                        .ok_or_else(|| Error::CellMissing {
                            name: name.to_owned(),
                        })?;
                let next = f(&cell.value)?;
                check_canonical(&next)?;
                let version = write_in(
                    tx,
                    key,
                    &Stored::live_at(next.clone(), cell.version + 1, tx.now()),
                )?;
                Ok((next, version))
            })
    }

    /// Deletes the cell; returns whether it existed. Its version is kept, so re-creating it
    /// continues from there.
    pub fn delete(&self, run: RunId, name: &str) -> Result<bool> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                let key = CellKey::Cell(name);
                match read_in(tx, key)? {
                    Some(stored) if !stored.deleted => {
                        let tombstone = Stored {
                            deleted: true,
                            updated_at: tx.now(),
                            ..stored
                        };
                        write_in(tx, key, &tombstone)?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
    }

    /// Every live cell of `run`, by name.
    pub fn cells(&self, run: RunId) -> Result<Vec<(String, Cell)>> {
        self.db.transaction(run, |tx| {
            let mut out = Vec::new();
            for (key, stored) in tx.scan_run_values(TypeTag::State, CELL_PREFIX)? {
                let name = String::from_utf8_lossy(&key[CELL_PREFIX.len()..]).into_owned();
                if let Some(cell) = Stored::decode(&stored.value)?.live() {
                    out.push((name, cell));
                }
            }
            Ok(out)
        })
    }
}

/// Which record a cell operation addresses: a plain cell or a machine's state.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CellKey<'a> {
    Cell(&'a str),
    MachineState(&'a str),
}

impl<'a> CellKey<'a> {
    fn name(self) -> &'a str {
        match self {
            CellKey::Cell(name) | CellKey::MachineState(name) => name,
        }
    }

    fn bytes(self) -> Result<Vec<u8>> {
        let (prefix, what) = match self {
            CellKey::Cell(_) => (CELL_PREFIX, "cell name"),
            CellKey::MachineState(_) => (&b"machine-state:"[..], "machine name"),
        };
        check_name(what, self.name())?;
        Ok([prefix, self.name().as_bytes()].concat())
    }
}

/// A cell record as stored, deleted or not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    value: Value,
    version: u64,
    updated_at: Timestamp,
    deleted: bool,
}

impl Stored {
    fn live_at(value: Value, version: u64, updated_at: Timestamp) -> Self {
        Stored {
            value,
            version,
            updated_at,
            deleted: false,
        }
    }

    fn live(self) -> Option<Cell> {
        (!self.deleted).then_some(Cell {
            value: self.value,
            version: self.version,
            updated_at: self.updated_at,
        })
    }

    fn encode(&self) -> Value {
        RecordBuilder::new()
            .field("value", self.value.clone())
            .count("version", self.version)
            .time("updated_at", self.updated_at)
            .flag("deleted", self.deleted)
            .build()
    }

    fn decode(value: &Value) -> Result<Self> {
        let record = Record::new("state cell", value)?;
        Ok(Stored {
            value: record.value("value")?.clone(),
            version: record.count("version")?,
            updated_at: record.time("updated_at")?,
            deleted: record.flag("deleted")?,
        })
    }
}

pub(crate) fn read_in(tx: &mut Transaction<'_>, key: CellKey<'_>) -> Result<Option<Stored>> {
    let stored = tx.get_run_value(TypeTag::State, &key.bytes()?)?;
    stored.map(|v| Stored::decode(&v.value)).transpose()
}

fn write_in(tx: &mut Transaction<'_>, key: CellKey<'_>, stored: &Stored) -> Result<u64> {
    tx.put_run_value(TypeTag::State, &key.bytes()?, &stored.encode())?;
    Ok(stored.version)
}

pub(crate) fn init_in(tx: &mut Transaction<'_>, key: CellKey<'_>, value: Value) -> Result<u64> {
    let previous = match read_in(tx, key)? {
        Some(stored) if !stored.deleted => {
            return Err(Error::CellExists {
                name: key.name().to_owned(),
            });
        }
        Some(stored) => stored.version,
        None => 0,
    };
    write_in(tx, key, &Stored::live_at(value, previous + 1, tx.now()))
}

pub(crate) fn cas_in(
    tx: &mut Transaction<'_>,
    key: CellKey<'_>,
    expected: u64,
    value: Value,
) -> Result<u64> {
    let cell = read_in(tx, key)?
        .and_then(Stored::live)
        .ok_or_else(|| Error::CellMissing {
            name: key.name().to_owned(),
        })?;
    if cell.version != expected {
        return Err(Error::StaleVersion {
            name: key.name().to_owned(),
            expected,
            actual: cell.version,
        });
    }
    write_in(tx, key, &Stored::live_at(value, cell.version + 1, tx.now()))
}

fn cell_value<T: Serialize>(value: &T) -> Result<Value> {
    let value = to_value(value).map_err(|e| Error::Unrepresentable {
        type_name: std::any::type_name::<T>(),
        detail: e.0,
    })?;
    check_canonical(&value)?;
    Ok(value)
}
