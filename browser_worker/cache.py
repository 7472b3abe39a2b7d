"""Compiled entry pages kept in memory, so a start need not download what compile just made.

Keys are ``(workspace, content_hash)``: the compile step records a hash of the bundle in the
manifest, and a page is only ever served to sessions of the workspace it was compiled or
fetched for, so a manifest naming someone else's hash cannot read their app.
"""

from __future__ import annotations

from collections import OrderedDict


class EntryCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, workspace: str, content_hash: str | None) -> str | None:
        if not content_hash:
            return None
        key = (workspace, content_hash)
        html = self._items.get(key)
        if html is not None:
            self._items.move_to_end(key)
        return html

    def put(self, workspace: str, content_hash: str | None, html: str) -> None:
        if not content_hash or len(html) > self._max:
            return
        key = (workspace, content_hash)
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._items[key] = html
        self._bytes += len(html)
        while self._bytes > self._max:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)
