"""The layout of a LangGraph thread inside its in-mem run: how names become keys, and what the
values hold.

Every key is text: a one-letter kind, then its parts, each escaped and ended by NUL, so that a
part may hold any character (a namespace such as "outer|inner:3") and the keys of one
namespace or one checkpoint are exactly the keys under one prefix:

| key | value (bytes) |
| --- | --- |
| `c` ns id | a checkpoint: msgpack `[type, bytes, metadata type, metadata bytes, parent id, run id, channels]` |
| `b` ns channel version | a channel's value at one version: type, NUL, bytes |
| `w` ns id task idx | a pending write: msgpack `[task_id, channel, type, bytes, task_path, idx]` |
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
a node's trigger channel once the node ran) gets no blob at all. Values are
one `bytes` each, not in-mem lists: a `bytes` value crosses the binding in about a third of the
time a list of six does. The escape
writes NUL as `\\x01\\x01` and `\\x01` as `\\x01\\x02`, so no escaped part contains NUL and two
different parts never share an escaped prefix that ends in NUL.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Union

import ormsgpack

_SEP = "\x00"

#: The longest value stored whole: in-mem's 4 MiB value limit less room for its own encoding.
PART_BYTES_MAX = 4 * 1024 * 1024 - 4096
_PARTS_MARK = b"\xff"

CHECKPOINT = "c"
BLOB = "b"
WRITE = "w"
LATEST = "l"
PART = "x"


def esc(part: str) -> str:
    """`part` escaped (most parts hold neither NUL nor SOH and come back as they are)."""
    if "\x00" in part or "\x01" in part:
        return part.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")
    return part


_UNESC = {"\x01": "\x00", "\x02": "\x01"}
_ESCAPED = re.compile("\x01(.)", re.DOTALL)


def _unesc(part: str) -> str:
    if "\x01" not in part:
        return part
    # One pass from the left, so that each escape is read as the pair it was written as.
    return _ESCAPED.sub(lambda m: _UNESC[m.group(1)], part)


def key(kind: str, *parts: Union[str, int]) -> str:
    """The key of `kind` with these parts (ints written in decimal)."""
    if not parts:
        return kind + _SEP
    return kind + _SEP + _SEP.join([esc(str(p)) for p in parts]) + _SEP


def prefix(kind: str, *parts: Union[str, int]) -> str:
    """The prefix of every key of `kind` whose first parts are these (the same as `key`)."""
    return key(kind, *parts)


def split(k: str) -> list[str]:
    """The parts of a key made by `key`, unescaped (without the kind)."""
    body = k[len(_SEP) + 1 :]
    return [_unesc(p) for p in body.split(_SEP)[:-1]]


def pack_checkpoint(
    checkpoint: tuple[str, bytes],
    metadata: tuple[str, bytes],
    parent: Optional[str],
    run_id: Optional[str],
    channels: list[str],
) -> bytes:
    """A checkpoint's value."""
    return ormsgpack.packb(
        [checkpoint[0], checkpoint[1], metadata[0], metadata[1], parent, run_id, channels]
    )


def unpack_checkpoint(value: bytes) -> dict[str, Any]:
    """`{"c": (type, bytes), "m": (type, bytes), "p": parent id, "r": run id, "v": channels}`."""
    ctype, cdata, mtype, mdata, parent, run_id, channels = ormsgpack.unpackb(value)
    return {
        "c": (ctype, cdata),
        "m": (mtype, mdata),
        "p": parent,
        "r": run_id,
        "v": frozenset(channels),
    }


def pack_blob(typed: tuple[str, bytes]) -> bytes:
    """A blob's value: the type, NUL, the bytes."""
    return typed[0].encode() + b"\x00" + typed[1]


def unpack_blob(value: bytes) -> tuple[str, bytes]:
    """(type, bytes) of a blob's value."""
    cut = value.index(0)
    return value[:cut].decode(), value[cut + 1 :]


def pack_write(
    task_id: str, channel: str, typed: tuple[str, bytes], task_path: str, idx: int
) -> bytes:
    """A pending write's value."""
    return ormsgpack.packb([task_id, channel, typed[0], typed[1], task_path, idx])


def unpack_write(value: bytes) -> list[Any]:
    """`[task_id, channel, type, bytes, task_path, idx]` of a value."""
    return ormsgpack.unpackb(value)


def spill(k: str, value: bytes) -> list[tuple[str, bytes]]:
    """The (key, value) pairs that store `value` under `k`: itself, or a head and its parts."""
    if len(value) <= PART_BYTES_MAX:
        return [(k, value)]
    parts = [value[i : i + PART_BYTES_MAX] for i in range(0, len(value), PART_BYTES_MAX)]
    return [(k, _PARTS_MARK + str(len(parts)).encode())] + [
        (key(PART, k, i), part) for i, part in enumerate(parts)
    ]


def parts_of(k: str, value: Any) -> list[str]:
    """The keys of the parts of `value` stored under `k` (none if it is stored whole)."""
    if isinstance(value, bytes) and value[:1] == _PARTS_MARK:
        return [key(PART, k, i) for i in range(int(value[1:]))]
    return []
