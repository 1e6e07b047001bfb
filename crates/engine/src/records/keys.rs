//! What a record key is, told from its bytes alone: for timelines, which list what each commit
//! wrote without reading values.

use in_mem_core_types::TypeTag;

use super::cells::{CELL_PREFIX, MACHINE_PREFIX, MACHINE_STATE_PREFIX};
use super::events::TYPE_INDEX;

/// One of a run's record keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordKey {
    /// An event, by sequence.
    Event(u64),
    /// The event-type index entry of an event: written in the commit that appended it.
    EventType { sequence: u64, event_type: String },
    /// A state cell.
    Cell(String),
    /// A machine's current state.
    MachineState(String),
    /// A machine's definition.
    Machine(String),
    /// A span, by id.
    Span(u64),
    /// The run's own record (its lifecycle).
    Run,
    /// Bookkeeping (heads, counters, other indexes).
    Other,
}

/// What the key `key` under type `tag` of a run's records is.
pub(crate) fn classify(tag: TypeTag, key: &[u8]) -> RecordKey {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let number = |bytes: &[u8]| <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes);
    match tag {
        TypeTag::Event => number(key).map_or(RecordKey::Other, RecordKey::Event),
        TypeTag::Trace => number(key).map_or(RecordKey::Other, RecordKey::Span),
        TypeTag::Run => RecordKey::Run,
        TypeTag::State => {
            if let Some(name) = key.strip_prefix(CELL_PREFIX) {
                RecordKey::Cell(text(name))
            } else if let Some(name) = key.strip_prefix(MACHINE_STATE_PREFIX) {
                RecordKey::MachineState(text(name))
            } else if let Some(name) = key.strip_prefix(MACHINE_PREFIX) {
                RecordKey::Machine(text(name))
            } else {
                RecordKey::Other
            }
        }
        TypeTag::Index => key
            .strip_prefix(TYPE_INDEX)
            .and_then(|rest| {
                // `<type> 0x00 <sequence: 8 bytes>`; event types contain no NUL.
                let split = rest.len().checked_sub(9)?;
                let (event_type, tail) = rest.split_at(split);
                let (&[0], sequence) = tail.split_first_chunk::<1>()? else {
                    return None;
                };
                Some(RecordKey::EventType {
                    sequence: number(sequence)?,
                    event_type: text(event_type),
                })
            })
            .unwrap_or(RecordKey::Other),
        _ => RecordKey::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart_from_their_bytes() {
        assert_eq!(
            classify(TypeTag::Event, &7u64.to_be_bytes()),
            RecordKey::Event(7)
        );
        let index = [TYPE_INDEX, b"tool", &[0], &9u64.to_be_bytes()].concat();
        assert_eq!(
            classify(TypeTag::Index, &index),
            RecordKey::EventType {
                sequence: 9,
                event_type: "tool".into()
            }
        );
        assert_eq!(
            classify(TypeTag::State, b"cell:phase"),
            RecordKey::Cell("phase".into())
        );
        assert_eq!(
            classify(TypeTag::State, b"machine-state:order"),
            RecordKey::MachineState("order".into())
        );
        assert_eq!(classify(TypeTag::Index, b"event-head"), RecordKey::Other);
        assert_eq!(classify(TypeTag::Event, b"short"), RecordKey::Other);
    }
}
