"""Answers by request content: Crossplane asks again about an unchanged claim on every poll.

The function is pure (no clock, no I/O, settings only from the request), so the answer to a
request never changes: an unchanged claim, reconciled again, is answered from here without
decoding, validating, rendering or encoding anything.

The key is the SHA-256 of the request's deterministic serialization, computed here, of the
whole request (``meta`` included). The client's ``meta.tag`` is never trusted on its own:

- Crossplane computes the tag once per pipeline step, before its required-resources loop,
  and sends the same tag with every call of that loop while it fills in required resources
  (crossplane v2.3.4 ``internal/controller/apiextensions/composite/composition_functions.go``
  sets ``Meta.Tag``; ``internal/xfn/required_resources.go`` ``FetchingFunctionRunner`` then
  calls up to ``MaxRequirementsIterations + 1`` times with that request). Keyed by tag, the
  second call would get the first call's "waiting for ..." answer.
- Any client could send another claim's tag with an empty request.

Deterministic serialization is a function of the message, and parsing it back gives the
message again, so equal keys mean equal requests (up to a SHA-256 collision): an answer is
only served for a request equal, field for field, to the one it was rendered for. Including
``meta`` costs no hits (Crossplane's tag and capabilities are a function of the content) and
makes the kept answer byte-identical to a fresh one (``meta.tag`` is echoed).

Answers are kept serialized, least recently used evicted first, bounded in bytes
(``max_bytes``: each entry counts its answer, its key and ``ENTRY_OVERHEAD``) and, for
compatibility with the ``--cache-entries`` flag, optionally in entries. ``0`` turns it off.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

# 8 MiB: the answers of about a thousand claims (1 to 12 KB per answer, the examples at rest).
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# Python's own cost of one entry beyond the answer's and the key's bytes: two bytes objects'
# headers (33 bytes each) and an OrderedDict slot and link (about 100 bytes); measured in
# tests/test_cache.py with tracemalloc.
ENTRY_OVERHEAD = 200

# req -> (response, whether it may be kept)
Render = Callable[[fnv1.RunFunctionRequest], tuple[fnv1.RunFunctionResponse, bool]]


def request_key(req: fnv1.RunFunctionRequest) -> bytes:
    """SHA-256 of the whole request's deterministic serialization."""
    return hashlib.sha256(req.SerializeToString(deterministic=True)).digest()


class ResponseCache:
    """Serialized responses by request content, least recently used evicted first."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, got {max_bytes}")
        if max_entries is not None and max_entries < 0:
            raise ValueError(f"max_entries must be 0 or more, got {max_entries}")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.size = 0  # accounted bytes of every entry
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        """False when either bound is 0: nothing is kept."""
        return self.max_bytes > 0 and self.max_entries != 0

    def answer(self, req: fnv1.RunFunctionRequest, render: Render) -> fnv1.RunFunctionResponse:
        """The kept answer to a request equal to ``req``, or ``render(req)`` (kept if it may be).
        The message API (v1beta1 and in-process callers); the server's v1 path is
        ``answer_bytes``."""
        if not self.enabled:
            return render(req)[0]
        key = request_key(req)
        kept = self._hit(key)
        if kept is not None:
            return fnv1.RunFunctionResponse.FromString(kept)
        rsp, keep = render(req)
        if keep:
            self._keep(key, rsp.SerializeToString())
        return rsp

    def answer_bytes(self, req: fnv1.RunFunctionRequest, render: Render) -> bytes:
        """The serialized answer: the kept bytes as they are (never parsed and serialized
        again), or ``render(req)`` serialized once, for the wire and the cache alike."""
        if not self.enabled:
            return render(req)[0].SerializeToString()
        key = request_key(req)
        kept = self._hit(key)
        if kept is not None:
            return kept
        rsp, keep = render(req)
        answer = rsp.SerializeToString()
        if keep:
            self._keep(key, answer)
        return answer

    def _hit(self, key: bytes) -> bytes | None:
        """The kept answer for ``key`` (now the most recently used), counted as a hit or miss."""
        kept = self._entries.get(key)
        if kept is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return kept

    def _keep(self, key: bytes, answer: bytes) -> None:
        cost = entry_cost(answer)
        if cost > self.max_bytes:
            return  # larger than the whole cache: never kept
        self._entries[key] = answer
        self.size += cost
        while self.size > self.max_bytes or (
            self.max_entries is not None and len(self._entries) > self.max_entries
        ):
            _, old = self._entries.popitem(last=False)
            self.size -= entry_cost(old)


def entry_cost(answer: bytes) -> int:
    """Bytes one kept answer is accounted for: the answer, its 32-byte key, the overhead."""
    return len(answer) + 32 + ENTRY_OVERHEAD
