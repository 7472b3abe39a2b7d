"""Compiled entry pages kept in memory, so a start need not download what compile just made.

A bundle is never trusted by the hash a caller names: ``put`` computes the digest of the bytes
itself and files them under ``(workspace, digest)``, so ``get(workspace, "sha256:…")`` can only
return bytes that hash to that value and were produced (or fetched) for that same workspace.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

_HASH = re.compile(r"^sha256:([0-9a-f]{64})$")


def content_hash(html: str) -> str:
    return "sha256:" + hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()


class EntryCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, workspace: str, wanted_hash: str | None) -> str | None:
        if not isinstance(wanted_hash, str) or not _HASH.match(wanted_hash):
            return None
        key = (workspace, wanted_hash)
        html = self._items.get(key)
        if html is not None:
            self._items.move_to_end(key)
        return html

    def put(self, workspace: str, html: str) -> str:
        """Keep ``html`` for ``workspace``; returns the digest it is filed under."""
        digest = content_hash(html)
        if len(html) > self._max:
            return digest
        key = (workspace, digest)
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._items[key] = html
        self._bytes += len(html)
        while self._bytes > self._max:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)
        return digest

    def __len__(self) -> int:
        return len(self._items)
