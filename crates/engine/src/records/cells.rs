//! A run's state cells: named values with a version that only goes forward, and
//! compare-and-swap on it; and declared machines (see `machine.rs`), whose current state is a
//! cell of its own.
//!
//! A cell is stored under `TypeTag::State` key `cell:<name>` as a record holding the value, the
//! version, the update time and whether it is deleted. Deleting keeps the record (marked
//! deleted), so a re-created cell continues from the old version and a stale compare-and-swap can
//! never succeed against it. A machine's definition lives under `machine:<name>` and its current
//! state in a cell of its own, `machine-state:<name>`.

use std::sync::Arc;

use in_mem_core_types::{Timestamp, TypeTag, Value};

use super::RunData;
use super::fields::{EncodedRecord, RecordBuilder, check_canonical, check_name, damaged};
use super::machine::{MachineDefinition, Transition};
use crate::error::{Error, Result};

pub(super) const CELL_PREFIX: &[u8] = b"cell:";
pub(super) const MACHINE_STATE_PREFIX: &[u8] = b"machine-state:";
pub(super) const MACHINE_PREFIX: &[u8] = b"machine:";

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

/// A transaction's access to its run's state cells and declared machines (`tx.cells()`).
///
/// ```
/// use in_mem_core_types::Value;
/// use in_mem_engine::{Database, Error};
///
/// # fn main() -> Result<(), Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// let v1 = db.transaction(run, |tx| tx.cells().init("attempts", Value::I64(0)))?;
/// let v2 = db.transaction(run, |tx| tx.cells().cas("attempts", v1, Value::I64(1)))?;
/// let stale = db.transaction(run, |tx| tx.cells().cas("attempts", v1, Value::I64(2)));
/// assert!(matches!(stale, Err(Error::StaleVersion { .. })), "a stale version never wins");
/// assert_eq!(v2, 2);
/// # Ok(())
/// # }
/// ```
pub struct Cells<'t> {
    data: &'t mut dyn RunData,
}

impl<'t> Cells<'t> {
    pub(crate) fn new(data: &'t mut dyn RunData) -> Self {
        Cells { data }
    }

    /// Creates cell `name` with `value`; [`Error::CellExists`] if it exists. Returns its version
    /// (1 for a new cell, or one past the version it had before it was deleted).
    pub fn init(&mut self, name: &str, value: Value) -> Result<u64> {
        self.init_key(CellKey::Cell(name), value)
    }

    /// The cell, if it exists.
    pub fn get(&mut self, name: &str) -> Result<Option<Cell>> {
        Ok(self
            .read(&CellKey::Cell(name).locate()?)?
            .and_then(Stored::live))
    }

    /// Sets the cell's value whatever it was (creating it if needed); returns the new version.
    pub fn set(&mut self, name: &str, value: Value) -> Result<u64> {
        let key = CellKey::Cell(name).locate()?;
        let previous = self.read(&key)?.map_or(0, |s| s.version);
        let now = self.data.now();
        self.write(&key, &Stored::live_at(value, previous + 1, now))
    }

    /// Sets the cell to `value` only if its version is `expected`; returns the new version.
    /// [`Error::CellMissing`] if there is no such cell, [`Error::StaleVersion`] if its version
    /// has moved on.
    pub fn cas(&mut self, name: &str, expected: u64, value: Value) -> Result<u64> {
        self.cas_key(&CellKey::Cell(name).locate()?, expected, value)
    }

    /// Applies `f` to the cell's value and stores the result; returns the new value and version.
    pub fn update(
        &mut self,
        name: &str,
        f: impl FnOnce(&Value) -> Result<Value>,
    ) -> Result<(Value, u64)> {
        let key = CellKey::Cell(name).locate()?;
        let cell = self.live_or_missing(&key)?;
        let next = f(&cell.value)?;
        let now = self.data.now();
        let version = self.write(&key, &Stored::live_at(next.clone(), cell.version + 1, now))?;
        Ok((next, version))
    }

    /// Deletes the cell; returns whether it existed. Its version is kept, so re-creating it
    /// continues from there.
    pub fn delete(&mut self, name: &str) -> Result<bool> {
        let key = CellKey::Cell(name).locate()?;
        match self.read(&key)? {
            Some(stored) if !stored.deleted => {
                let tombstone = Stored {
                    deleted: true,
                    updated_at: self.data.now(),
                    ..stored
                };
                self.write(&key, &tombstone)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Every live cell of the run, by name.
    pub fn list(&mut self) -> Result<Vec<(String, Cell)>> {
        let mut out = Vec::new();
        for (key, stored) in self.data.scan(TypeTag::State, CELL_PREFIX)? {
            let name = key.get(CELL_PREFIX.len()..).unwrap_or_default();
            let name = String::from_utf8_lossy(name).into_owned();
            if let Some(cell) = Stored::decode(&stored)?.live() {
                out.push((name, cell));
            }
        }
        Ok(out)
    }

    /// Declares machine `name` and puts it in its initial state. [`Error::CellExists`] if a
    /// machine of that name exists; [`Error::InvalidMachine`] if the definition contradicts
    /// itself.
    pub fn define(&mut self, name: &str, definition: &MachineDefinition) -> Result<()> {
        definition.check()?;
        let key = definition_key(name)?;
        if self.data.get(TypeTag::State, &key)?.is_some() {
            return Err(Error::CellExists {
                name: name.to_owned(),
            });
        }
        self.data.put(TypeTag::State, &key, definition.encode()?)?;
        self.init_key(
            CellKey::MachineState(name),
            Value::from(definition.initial()),
        )?;
        Ok(())
    }

    /// Machine `name`'s definition.
    pub fn definition(&mut self, name: &str) -> Result<Option<MachineDefinition>> {
        let stored = self.data.get(TypeTag::State, &definition_key(name)?)?;
        stored.map(|v| MachineDefinition::decode(&v)).transpose()
    }

    /// Machine `name`'s current state, with its version and update time.
    pub fn machine_state(&mut self, name: &str) -> Result<Option<Cell>> {
        Ok(self
            .read(&CellKey::MachineState(name).locate()?)?
            .and_then(Stored::live))
    }

    /// Applies `event` to machine `name`: the allowed move from its current state, or
    /// [`Error::ForbiddenTransition`] naming the state and the event.
    pub fn fire(&mut self, name: &str, event: &str) -> Result<Transition> {
        let definition = self
            .definition(name)?
            .ok_or_else(|| Error::UnknownMachine {
                name: name.to_owned(),
            })?;
        let key = CellKey::MachineState(name).locate()?;
        let current =
            self.read(&key)?
                .and_then(Stored::live)
                .ok_or_else(|| Error::UnknownMachine {
                    name: name.to_owned(),
                })?;
        let Value::String(state) = &current.value else {
            return Err(damaged("machine state", "is not a state name"));
        };
        let to = definition
            .next(state, event)
            .ok_or_else(|| Error::ForbiddenTransition {
                machine: name.to_owned(),
                state: state.clone(),
                event: event.to_owned(),
                terminal: definition.is_terminal(state),
            })?;
        let version = self.cas_key(&key, current.version, Value::from(to))?;
        Ok(Transition {
            from: state.clone(),
            event: event.to_owned(),
            to: to.to_owned(),
            version,
        })
    }

    fn init_key(&mut self, key: CellKey<'_>, value: Value) -> Result<u64> {
        let key = key.locate()?;
        let previous = match self.read(&key)? {
            Some(stored) if !stored.deleted => {
                return Err(Error::CellExists {
                    name: key.name().to_owned(),
                });
            }
            Some(stored) => stored.version,
            None => 0,
        };
        let now = self.data.now();
        self.write(&key, &Stored::live_at(value, previous + 1, now))
    }

    fn cas_key(&mut self, key: &Located<'_>, expected: u64, value: Value) -> Result<u64> {
        let cell = self.live_or_missing(key)?;
        if cell.version != expected {
            return Err(Error::StaleVersion {
                what: "state cell",
                name: key.name().to_owned(),
                expected: Some(expected),
                actual: Some(cell.version),
            });
        }
        let now = self.data.now();
        self.write(key, &Stored::live_at(value, cell.version + 1, now))
    }

    fn live_or_missing(&mut self, key: &Located<'_>) -> Result<Cell> {
        self.read(key)?
            .and_then(Stored::live)
            .ok_or_else(|| Error::CellMissing {
                name: key.name().to_owned(),
            })
    }

    fn read(&mut self, key: &Located<'_>) -> Result<Option<Stored>> {
        let stored = self.data.get(TypeTag::State, &key.bytes)?;
        stored.map(|v| Stored::decode(&v)).transpose()
    }

    fn write(&mut self, key: &Located<'_>, stored: &Stored) -> Result<u64> {
        check_canonical(&stored.value)?;
        self.data
            .put(TypeTag::State, &key.bytes, stored.encode()?)?;
        Ok(stored.version)
    }
}

impl std::fmt::Debug for Cells<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cells").finish_non_exhaustive()
    }
}

/// Which record a cell operation addresses: a plain cell or a machine's state.
#[derive(Debug, Clone, Copy)]
enum CellKey<'a> {
    Cell(&'a str),
    MachineState(&'a str),
}

impl<'a> CellKey<'a> {
    fn name(self) -> &'a str {
        match self {
            CellKey::Cell(name) | CellKey::MachineState(name) => name,
        }
    }

    /// The record's key, its name checked: built once per operation, which reads the record
    /// and then writes it.
    fn locate(self) -> Result<Located<'a>> {
        let (prefix, what) = match self {
            CellKey::Cell(_) => (CELL_PREFIX, "cell name"),
            CellKey::MachineState(_) => (MACHINE_STATE_PREFIX, "machine name"),
        };
        check_name(what, self.name())?;
        Ok(Located {
            name: self.name(),
            bytes: [prefix, self.name().as_bytes()].concat(),
        })
    }
}

/// A cell record's name and key (see `CellKey::locate`).
struct Located<'a> {
    name: &'a str,
    bytes: Vec<u8>,
}

impl<'a> Located<'a> {
    fn name(&self) -> &'a str {
        self.name
    }
}

fn definition_key(name: &str) -> Result<Vec<u8>> {
    check_name("machine name", name)?;
    Ok([MACHINE_PREFIX, name.as_bytes()].concat())
}

/// A cell record as stored, deleted or not.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
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

    fn encode(&self) -> Result<Arc<[u8]>> {
        RecordBuilder::new()
            .field("value", &self.value)
            .count("version", self.version)
            .time("updated_at", self.updated_at)
            .flag("deleted", self.deleted)
            .build()
    }

    fn decode(encoded: &[u8]) -> Result<Self> {
        let record = EncodedRecord::new("state cell", encoded)?;
        Ok(Stored {
            value: record.value("value")?,
            version: record.count("version")?,
            updated_at: record.time("updated_at")?,
            deleted: record.flag("deleted")?,
        })
    }
}
