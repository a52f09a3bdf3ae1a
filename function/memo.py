"""A bounded memo of values derived from serialized request parts.

Work that is a pure function of some bytes or text (an observed composed resource, a required
resource, a validated spec) is done once per distinct content and kept here,
least recently used evicted first, bounded by what the caller says each entry costs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """Values derived from serialized request parts, least recently used evicted first.

    For work that is a pure function of some bytes (an observed composed resource, a required
    resource, a validated spec): equal bytes, equal value. ``max_bytes`` bounds the accounted
    cost of the entries (the caller says what one costs); ``0`` keeps nothing. Callers must
    treat a value as read-only: the next request with the same bytes gets the same object.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[bytes | str, tuple[T, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes | str) -> T | None:
        """The value kept under ``key``, or None."""
        kept = self._entries.get(key)
        if kept is None:
            return None
        self._entries.move_to_end(key)
        return kept[0]

    def put(self, key: bytes | str, value: T, cost: int) -> None:
        """Keep ``value`` under ``key`` at ``cost`` bytes (never one larger than the bound)."""
        if cost > self.max_bytes or key in self._entries:
            return
        self._entries[key] = (value, cost)
        self.size += cost
        while self.size > self.max_bytes:
            _, (_, old) = self._entries.popitem(last=False)
            self.size -= old

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self.size = 0
