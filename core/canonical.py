"""Canonical JSON (sorted keys, no spaces) of an object whose last few values come late.

The audit trail and the exchange's message log hash the canonical JSON of each entry, and
its chain values (sequence number, previous hash, time) are known only under the chain's
write lock. Sorted keys make the JSON of an object its `"key":value` pairs in key order, so
everything else is serialised before the lock, as runs of pairs between the late keys
(`pieces`), and under the lock only the late values are put between them (`join`): the
same text as serialising the whole object at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model

# Stands in for a late value while the rest is serialised once (`SplitJson.pieces`); a value
# that happens to contain the same text is caught (the cut is then ambiguous) and served
# the long way.
_MARK = "\x00split-json\x00"


class SplitJson:
    def __init__(
        self, keys: Iterable[str], *, late: Iterable[str], dumps: Callable[[Any], str]
    ) -> None:
        """`keys`: every key of the object; `late`: those set last; `dumps`: the canonical
        serialiser (sorted keys, no spaces) whose output `join` reproduces."""
        self.late = tuple(sorted(set(late)))
        self.dumps = dumps
        self.groups: list[list[str]] = [[]]
        for name in sorted({*keys, *self.late}):
            if name in self.late:
                self.groups.append([])
            else:
                self.groups[-1].append(name)
        self._early = [name for group in self.groups for name in group]
        self._late_keys = [f"{dumps(name)}:" for name in self.late]
        self._cuts = [f"{key}{dumps(_MARK)}" for key in self._late_keys]

    def pieces(self, values: Mapping[str, Any]) -> list[str]:
        """The runs of `"key":value` pairs before, between and after the late keys."""
        marked = {name: values[name] for name in self._early}
        for name in self.late:
            marked[name] = _MARK
        text = self.dumps(marked)[1:-1]
        out = []
        start = 0
        for cut in self._cuts:
            at = text.find(cut, start)
            if at < 0 or text.find(cut, at + 1) >= 0:
                return self._pieces_one_by_one(values)
            out.append(_trim(text[start:at]))
            start = at + len(cut)
        out.append(_trim(text[start:]))
        return out

    def _pieces_one_by_one(self, values: Mapping[str, Any]) -> list[str]:
        return [self.dumps({name: values[name] for name in group})[1:-1] for group in self.groups]

    def join(self, pieces: Sequence[str], late: Mapping[str, Any]) -> str:
        """The whole object's canonical JSON, from its pieces and the late values."""
        parts = [pieces[0]]
        for name, key, piece in zip(self.late, self._late_keys, pieces[1:], strict=True):
            parts.append(key + self._value(late[name]))
            parts.append(piece)
        return "{" + ",".join(part for part in parts if part) + "}"

    def _value(self, value: Any) -> str:
        """`dumps(value)`; at once for the chain's values (a number, a hash, a time stamp)."""
        if type(value) is int:
            return str(value)
        if (
            type(value) is str
            and value.isascii()
            and value.isprintable()
            and '"' not in value
            and "\\" not in value
        ):
            return f'"{value}"'
        return self.dumps(value)


def _trim(run: str) -> str:
    """A run of pairs without the commas that joined it to the late pairs around it (a
    pair never starts or ends with a comma)."""
    if run.startswith(","):
        run = run[1:]
    if run.endswith(","):
        run = run[:-1]
    return run


@dataclass
class PreparedRows[M: Model]:
    """Rows of a hash-chained table built ahead of the write (the audit trail, the message
    log): everything but the chain's values, so the chain's lock is held only to read the
    head, chain and insert them."""

    model: type[M]
    values: list[dict[str, Any]]  # attname -> Python value (no chain fields yet)
    params: list[dict[str, Any]]  # attname -> database value (no chain fields yet)
    pieces: list[list[str]]  # each row's hashed JSON around its late keys (`SplitJson`)
    using: str
    chained: list[dict[str, Any]] = field(default_factory=list)  # filled by the write

    def instances(self) -> list[M]:
        """The written rows as model instances (for callers that want them)."""
        out = []
        for values, chain in zip(self.values, self.chained, strict=True):
            row = self.model(**values, **chain)
            row._state.adding = False
            row._state.db = self.using
            out.append(row)
        return out
