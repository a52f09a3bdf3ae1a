"""Answers by request tag: Crossplane asks again about an unchanged claim on every poll.

Crossplane sets ``meta.tag`` of every RunFunctionRequest to the SHA-256 (64 hex digits) of the
request's deterministic serialization, and the protocol promises that "requests with identical
tags will be otherwise identical". The function is pure (no clock, no I/O, settings only from
the request), so the answer to a tag never changes: an unchanged claim, reconciled again, is
answered from here without decoding, validating, rendering or encoding anything.

Only tags of Crossplane's form are trusted. A client that sends a fixed tag such as ``hello``
(many test harnesses do) is always rendered. Answers are kept serialized (about 5 KB each; a
decoded message takes about six times as much) in least-recently-used order, at most
``max_entries`` of them; ``max_entries=0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

# Enough for every claim of a large control plane to be answered from memory on its next
# poll; at about 5 KB per answer, 10 MB at most.
DEFAULT_MAX_ENTRIES = 2048

_CROSSPLANE_TAG = re.compile(r"[0-9a-f]{64}")

# req -> (response, whether it may be kept)
Render = Callable[[fnv1.RunFunctionRequest], tuple[fnv1.RunFunctionResponse, bool]]


class ResponseCache:
    """Serialized responses by request tag, least recently used evicted first."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be 0 or more, got {max_entries}")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def answer(self, req: fnv1.RunFunctionRequest, render: Render) -> fnv1.RunFunctionResponse:
        """The kept answer to ``req``'s tag, or ``render(req)`` (kept if it may be)."""
        tag = req.meta.tag
        if not self.max_entries or not _CROSSPLANE_TAG.fullmatch(tag):
            return render(req)[0]
        kept = self._entries.get(tag)
        if kept is not None:
            self.hits += 1
            self._entries.move_to_end(tag)
            return fnv1.RunFunctionResponse.FromString(kept)
        self.misses += 1
        rsp, keep = render(req)
        if keep:
            self._entries[tag] = rsp.SerializeToString()
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return rsp


def crossplane_tag(req: fnv1.RunFunctionRequest) -> str:
    """The tag Crossplane would give ``req``: SHA-256 of its deterministic serialization
    without ``meta``. For the offline tools and tests that stand in for Crossplane."""
    body = fnv1.RunFunctionRequest()
    body.CopyFrom(req)
    body.ClearField("meta")
    return hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()
