//! Declared state machines: named states, events, the allowed (state, event) -> state moves, and
//! terminal states; `fire` applies one move atomically or refuses it with an error naming the
//! state and the event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use in_mem_core_types::Value;

use super::fields::{EncodedRecord, RecordBuilder, check_name, damaged};
use crate::error::{Error, Result};

/// A machine's definition. Build it with [`MachineDefinition::new`] and the builder methods;
/// `Cells::define` checks it.
///
/// ```
/// use in_mem_engine::MachineDefinition;
/// let plan = MachineDefinition::new("planning")
///     .transition("planning", "plan_ready", "executing")
///     .transition("executing", "step_failed", "planning")
///     .transition("executing", "all_done", "done")
///     .terminal("done");
/// assert_eq!(plan.next("executing", "all_done"), Some("done"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineDefinition {
    initial: String,
    states: BTreeSet<String>,
    moves: BTreeMap<(String, String), String>,
    terminal: BTreeSet<String>,
}

impl MachineDefinition {
    /// A machine that starts in `initial`.
    pub fn new(initial: impl Into<String>) -> Self {
        let initial = initial.into();
        MachineDefinition {
            states: BTreeSet::from([initial.clone()]),
            initial,
            moves: BTreeMap::new(),
            terminal: BTreeSet::new(),
        }
    }

    /// Adds a state (states named in transitions are added by [`MachineDefinition::transition`]).
    #[must_use]
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.states.insert(state.into());
        self
    }

    /// Allows event `event` to move the machine from `from` to `to`.
    #[must_use]
    pub fn transition(
        mut self,
        from: impl Into<String>,
        event: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        let (from, to) = (from.into(), to.into());
        self.states.insert(from.clone());
        self.states.insert(to.clone());
        self.moves.insert((from, event.into()), to);
        self
    }

    /// Marks `state` terminal: no event moves the machine out of it.
    #[must_use]
    pub fn terminal(mut self, state: impl Into<String>) -> Self {
        let state = state.into();
        self.states.insert(state.clone());
        self.terminal.insert(state);
        self
    }

    /// The state event `event` moves `from` to, if that move is allowed.
    pub fn next(&self, from: &str, event: &str) -> Option<&str> {
        self.moves
            .get(&(from.to_owned(), event.to_owned()))
            .map(String::as_str)
    }

    /// The initial state.
    pub fn initial(&self) -> &str {
        &self.initial
    }

    /// Whether `state` is terminal.
    pub fn is_terminal(&self, state: &str) -> bool {
        self.terminal.contains(state)
    }

    pub(crate) fn check(&self) -> Result<()> {
        for name in self
            .states
            .iter()
            .chain(self.moves.keys().map(|(_, event)| event))
        {
            check_name("machine state or event", name)?;
        }
        if let Some(((from, event), _)) = self
            .moves
            .iter()
            .find(|((from, _), _)| self.terminal.contains(from))
        {
            return Err(Error::InvalidMachine {
                reason: format!("terminal state {from:?} has a transition on {event:?}"),
            });
        }
        Ok(())
    }

    pub(crate) fn encode(&self) -> Result<Arc<[u8]>> {
        let moves = self
            .moves
            .iter()
            .map(|((from, event), to)| {
                Value::Array(vec![
                    Value::from(from.as_str()),
                    Value::from(event.as_str()),
                    Value::from(to.as_str()),
                ])
            })
            .collect();
        let states: Vec<String> = self.states.iter().cloned().collect();
        let terminal: Vec<String> = self.terminal.iter().cloned().collect();
        let moves = Value::Array(moves);
        RecordBuilder::new()
            .text("initial", &self.initial)
            .texts("states", &states)
            .texts("terminal", &terminal)
            .field("transitions", &moves)
            .build()
    }

    pub(crate) fn decode(encoded: &[u8]) -> Result<Self> {
        let record = EncodedRecord::new("machine definition", encoded)?;
        let bad = |reason: &str| damaged("machine definition", reason);
        let mut moves = BTreeMap::new();
        let items = record
            .encoded("transitions")?
            .array_items()
            .ok_or_else(|| bad("transitions are not a list"))?;
        for item in items {
            let parts = item
                .array_items()
                .ok_or_else(|| bad("a transition is not a list"))?;
            let texts: Option<Vec<&str>> = parts.iter().map(|part| part.as_str()).collect();
            let [from, event, to] = texts.as_deref().unwrap_or_default() else {
                return Err(bad("a transition is not [from, event, to]"));
            };
            moves.insert(((*from).to_owned(), (*event).to_owned()), (*to).to_owned());
        }
        Ok(MachineDefinition {
            initial: record.text("initial")?.to_owned(),
            states: record.texts("states")?.into_iter().collect(),
            moves,
            terminal: record.texts("terminal")?.into_iter().collect(),
        })
    }
}

/// One applied move of a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: String,
    /// The event that moved it.
    pub event: String,
    /// The state after.
    pub to: String,
    /// The machine state's version after the move.
    pub version: u64,
}
