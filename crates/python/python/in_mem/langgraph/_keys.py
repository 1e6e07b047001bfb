"""The key layout of a LangGraph thread inside its in-mem run: how names become keys, and back.

Every key is text: a one-letter kind, then its parts, each escaped and ended by NUL, so that a
part may hold any character (a namespace such as "outer|inner:3") and the keys of one
namespace or one checkpoint are exactly the keys under one prefix:

| key | value |
| --- | --- |
| `c` ns id | a checkpoint: `{"c": [type, bytes], "m": [type, bytes], "p": parent id, "r": run id}` |
| `b` ns channel version | a channel's value at one version: `[type, bytes]` ("empty": none) |
| `w` ns id task idx | a pending write: `[task_id, channel, type, bytes, task_path, idx]` |
| `l` ns | the newest checkpoint id of the namespace |

`[type, bytes]` is what the saver's serializer (`dumps_typed`) made of the value. The escape
writes NUL as `\\x01\\x01` and `\\x01` as `\\x01\\x02`, so no escaped part contains NUL and two
different parts never share an escaped prefix that ends in NUL.
"""

from __future__ import annotations

import re
from typing import Union

_SEP = "\x00"

CHECKPOINT = "c"
BLOB = "b"
WRITE = "w"
LATEST = "l"


def _esc(part: str) -> str:
    return part.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")


_UNESC = {"\x01": "\x00", "\x02": "\x01"}
_ESCAPED = re.compile("\x01(.)", re.DOTALL)


def _unesc(part: str) -> str:
    # One pass from the left, so that each escape is read as the pair it was written as.
    return _ESCAPED.sub(lambda m: _UNESC[m.group(1)], part)


def key(kind: str, *parts: Union[str, int]) -> str:
    """The key of `kind` with these parts (ints written in decimal)."""
    return kind + _SEP + "".join(_esc(str(p)) + _SEP for p in parts)


def prefix(kind: str, *parts: Union[str, int]) -> str:
    """The prefix of every key of `kind` whose first parts are these (the same as `key`)."""
    return key(kind, *parts)


def split(k: str) -> list[str]:
    """The parts of a key made by `key`, unescaped (without the kind)."""
    body = k[len(_SEP) + 1 :]
    return [_unesc(p) for p in body.split(_SEP)[:-1]]
