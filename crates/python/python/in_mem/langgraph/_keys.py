"""The layout of a LangGraph thread inside its in-mem run: how names become keys, and what the
values hold.

Every key is text: a one-letter kind, then its parts, each escaped and ended by NUL, so that a
part may hold any character (a namespace such as "outer|inner:3") and the keys of one
namespace or one checkpoint are exactly the keys under one prefix:

| key | value (bytes) |
| --- | --- |
| `c` ns id | a checkpoint: msgpack `[type, bytes, metadata type, metadata bytes, parent id, run id, channels, blobs]` |
| `b` ns channel version | a channel's value at one version: type, NUL, bytes |
| `w` ns id task | a task's pending writes: msgpack `[task_id, task_path, [[channel, type, bytes, idx], ...]]` |
| `l` ns | the newest checkpoint id of the namespace (text) |
| `x` key index | one part of a value too large for one in-mem value (see below) |

A value longer than `PART_BYTES_MAX` (in-mem takes values up to 4 MiB) is stored as parts: its
own key holds `\xff` and the number of parts (no other value starts with that byte: blobs start
with their type's name, the others are msgpack arrays), and `x` keys named after it hold the
parts. The `x` keys are no prefix of any other kind, so no scan of checkpoints, blobs or writes
meets them.

Type and bytes are what the saver's serializer (`dumps_typed`) made of the value. `channels`
names the channels that hold a value at the checkpoint (the keys of its `channel_values`):
only their blobs are read back, and a channel whose new version holds nothing (LangGraph clears
a node's trigger channel once the node ran) gets no blob at all. `blobs` is `[[channel, blob
key], ...]` for those channels, so that a checkpoint is read back in one call without its
`channel_versions` decoded first (records written before it existed have seven fields, and
their blob keys are found from the checkpoint's `channel_versions`). Values are
one `bytes` each, not in-mem lists: a `bytes` value crosses the binding in about a third of the
time a list of six does. A task's writes are one value (one read and one write per `put_writes`
instead of one of each per write); an older saver stored each write under `w` ns id task idx as
msgpack `[task_id, channel, type, bytes, task_path, idx]`, and such keys are still read (they sit
under their task's key) and kept as they are unless a write replaces them. The escape
writes NUL as `\\x01\\x01` and `\\x01` as `\\x01\\x02`, so no escaped part contains NUL and two
different parts never share an escaped prefix that ends in NUL.

Keys are built and split, values packed, split into parts and put back together, by the native
module (`crates/python/src/langgraph/`), which writes a checkpoint or a task's writes in one
call, and reads a checkpoint back in one call. This module unpacks what the saver reads in bulk
(`list`, deletions).
"""

from __future__ import annotations

from typing import Any, Optional

import ormsgpack

from .. import _native

CHECKPOINT = "c"
BLOB = "b"
WRITE = "w"
LATEST = "l"
PART = "x"

#: `key(kind, *parts)`: the key of `kind` with these parts (ints written in decimal).
key = _native._lg_key
#: `prefix(kind, *parts)`: the prefix of every key of `kind` whose first parts are these.
prefix = _native._lg_key
#: `split(key)`: the parts of a key made by `key`, unescaped (without the kind).
split = _native._lg_split
#: `whole(db, run, rows)`: rows (key, value) with values stored in parts put back together.
whole = _native._lg_whole
#: The longest value stored whole: in-mem's 4 MiB value limit less room for its own encoding.
PART_BYTES_MAX: int = _native._LG_PART_BYTES_MAX


def unpack_checkpoint(value: bytes) -> dict[str, Any]:
    """`{"c": (type, bytes), "m": (type, bytes), "p": parent id, "r": run id, "v": channels}`."""
    ctype, cdata, mtype, mdata, parent, run_id, channels = ormsgpack.unpackb(value)[:7]
    return {
        "c": (ctype, cdata),
        "m": (mtype, mdata),
        "p": parent,
        "r": run_id,
        "v": frozenset(channels),
    }


def unpack_blob(value: bytes) -> tuple[str, bytes]:
    """(type, bytes) of a blob's value."""
    cut = value.index(0)
    return value[:cut].decode(), value[cut + 1 :]


def unpack_writes(value: bytes) -> list[list[Any]]:
    """`[[task_id, channel, type, bytes, task_path, idx], ...]`: the writes of a task's value (or
    the one write of a value an older saver stored per write)."""
    fields = ormsgpack.unpackb(value)
    if len(fields) == 3 and isinstance(fields[2], list):
        task_id, task_path, writes = fields
        return [[task_id, channel, t, data, task_path, idx] for channel, t, data, idx in writes]
    return [fields]
