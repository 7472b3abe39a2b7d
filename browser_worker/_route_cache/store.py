"""The route cache on disk: response bodies in files, one JSON index, a total byte budget with
least-recently-used eviction.

Layout under the cache directory::

    .lock                 held (flock) by the one worker process that uses the directory
    index.json            every entry's workspace, app id, URL, status, headers, size, times
    bodies/ab/abcdef…     one file per entry, named by sha256(workspace, app id, URL)

Files are written to a temporary name and renamed into place, so a crash leaves either the
old or the new version, never half of one. The index is re-read at the next start: entries
whose body is missing or has the wrong size are dropped, body files no entry names are
deleted. Entries of one (workspace, app id) are only ever found by that same pair: the key
hashes all three parts and every hit compares them again.

Everything here is synchronous and thread-safe (one lock); ``router`` calls it from a thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS: no cross-process lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

INDEX = "index.json"
BODIES = "bodies"
LOCK = ".lock"
VERSION = 1
#: Apps whose hit/miss counters are kept (oldest forgotten first).
MAX_COUNTED_APPS = 10_000


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/browser-worker/routes``, else ``~/.cache/browser-worker/routes``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "browser-worker" / "routes"


def entry_key(workspace: str, app_id: str, url: str) -> str:
    return hashlib.sha256("\0".join((workspace, app_id, url)).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Entry:
    workspace: str
    app_id: str
    url: str
    status: int
    headers: dict[str, str]
    size: int
    created: float
    used: float

    @classmethod
    def parse(cls, raw: Any) -> "Entry | None":
        """An index row, if every field has the right type (else None: the row is dropped)."""
        if not isinstance(raw, dict):
            return None
        try:
            entry = cls(**{k: raw[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None
        ok = (all(isinstance(v, str) for v in (entry.workspace, entry.app_id, entry.url))
              and isinstance(entry.status, int) and isinstance(entry.size, int) and entry.size >= 0
              and isinstance(entry.headers, dict)
              and all(isinstance(k, str) and isinstance(v, str) for k, v in entry.headers.items())
              and all(isinstance(t, (int, float)) for t in (entry.created, entry.used)))
        return entry if ok else None


@dataclass(frozen=True)
class Found:
    key: str
    status: int
    headers: dict[str, str]
    size: int


@dataclass(frozen=True)
class Hit:
    status: int
    headers: dict[str, str]
    body: bytes


class RouteStore:
    """Cached responses of every app, within ``max_bytes`` in all (0: no cache)."""

    def __init__(self, root: str | Path, max_bytes: int, max_entry_bytes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.max_bytes = max(0, max_bytes)
        self.max_entry_bytes = max(0, min(max_entry_bytes, self.max_bytes))
        self._clock = clock
        self._lock = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._total = 0
        self._loaded = False
        self._usable = False
        self._dirty = False
        self._lock_fd: int | None = None
        self._counters: dict[tuple[str, str], dict[str, int]] = {}

    # ----- reading and writing --------------------------------------------------------------

    def lookup(self, workspace: str, app_id: str, url: str) -> Found | None:
        """Where the stored response for ``url`` of this app is (marks it recently used and
        counts a hit), or None (a miss)."""
        with self._lock:
            if not self._ready():
                return None
            key = entry_key(workspace, app_id, url)
            entry = self._entries.get(key)
            if entry is not None and (entry.workspace, entry.app_id, entry.url) == (workspace, app_id, url):
                try:
                    ok = self._body_path(key).stat().st_size == entry.size
                except OSError:
                    ok = False
                if not ok:
                    self._drop(key)
                    entry = None
            else:
                entry = None
            if entry is None:
                self._count(workspace, app_id, "misses")
                return None
            entry.used = self._clock()
            self._dirty = True
            self._count(workspace, app_id, "hits")
            return Found(key, entry.status, dict(entry.headers), entry.size)

    def read(self, found: Found) -> bytes | None:
        """The body of an entry ``lookup`` found (None: evicted or damaged meanwhile)."""
        with self._lock:
            path = self.path_of(found.key)
            try:
                body = path.read_bytes() if path is not None else None
            except OSError:
                body = None
            return body if body is not None and len(body) == found.size else None

    def path_of(self, key: str) -> Path | None:
        """The body file of a current entry (what the local body server sends; no lock, so
        the event loop never waits on a write: a dict lookup is atomic)."""
        return self._body_path(key) if key in self._entries else None

    def get(self, workspace: str, app_id: str, url: str) -> Hit | None:
        """The stored response for ``url`` of this app, body and all, or None."""
        found = self.lookup(workspace, app_id, url)
        body = self.read(found) if found is not None else None
        return Hit(found.status, found.headers, body) if found is not None and body is not None else None

    def put(self, workspace: str, app_id: str, url: str, status: int, headers: dict[str, str],
            body: bytes) -> bool:
        """Store a response, evicting the least recently used entries (of any app) to stay
        within the budget; False if it is larger than one entry may be or the disk failed."""
        size = len(body)
        if size > self.max_entry_bytes:
            return False
        with self._lock:
            if not self._ready():
                return False
            key = entry_key(workspace, app_id, url)
            self._drop(key)
            self._evict(self.max_bytes - size)
            path = self._body_path(key)
            try:
                path.parent.mkdir(mode=0o700, exist_ok=True)
                _write_atomic(path, body)
            except OSError as exc:
                log.warning("route cache: could not write %s: %s", path, exc)
                return False
            now = self._clock()
            self._entries[key] = Entry(workspace, app_id, url, status, dict(headers), size, now, now)
            self._total += size
            self._dirty = True
            self._count(workspace, app_id, "stored")
            return True

    def adopt(self, workspace: str, from_app: str, to_app: str) -> int:
        """Move ``from_app``'s entries to ``to_app`` of the same workspace (install-time
        entries, see ``prefill``), except URLs ``to_app`` has already; how many moved."""
        with self._lock:
            if not self._ready():
                return 0
            moved = 0
            for key, entry in [(k, e) for k, e in self._entries.items() if (e.workspace, e.app_id) == (workspace, from_app)]:
                new_key = entry_key(workspace, to_app, entry.url)
                if new_key in self._entries:
                    self._drop(key)
                    continue
                target = self._body_path(new_key)
                try:
                    target.parent.mkdir(mode=0o700, exist_ok=True)
                    os.replace(self._body_path(key), target)
                except OSError as exc:
                    log.warning("route cache: could not move an entry's body: %s", exc)
                    self._drop(key)
                    continue
                del self._entries[key]
                entry.app_id, entry.used = to_app, self._clock()  # just used: not the next evicted
                self._entries[new_key] = entry
                moved += 1
            if moved:
                self._dirty = True
                self._write_index()
            return moved

    def clear(self, workspace: str, app_id: str) -> int:
        """Delete every entry of this app; how many there were."""
        with self._lock:
            if not self._ready():
                return 0
            keys = [k for k, e in self._entries.items() if (e.workspace, e.app_id) == (workspace, app_id)]
            for key in keys:
                self._drop(key)
            self._counters.pop((workspace, app_id), None)
            self._write_index()
            return len(keys)

    def stats(self, workspace: str, app_id: str) -> dict[str, Any]:
        """What Hypha's built-in worker reports, plus this process's hit/miss/store counts."""
        with self._lock:
            usable = self._ready()
            mine = [e for e in self._entries.values() if (e.workspace, e.app_id) == (workspace, app_id)]
            counts = self._counters.get((workspace, app_id), {})
            return {
                "entry_count": len(mine),
                "total_size_bytes": sum(e.size for e in mine),
                "oldest_entry": min((e.created for e in mine), default=None),
                "newest_entry": max((e.created for e in mine), default=None),
                "hits": counts.get("hits", 0),
                "misses": counts.get("misses", 0),
                "stored": counts.get("stored", 0),
                "enabled": usable,
                "max_bytes": self.max_bytes,
            }

    @property
    def total_bytes(self) -> int:
        return self._total

    def flush(self) -> None:
        """Write the index if anything changed since the last write."""
        with self._lock:
            if self._usable and self._dirty:
                self._write_index()

    def close(self) -> None:
        """Flush and let another process use the directory; the next call opens it again."""
        with self._lock:
            if self._usable and self._dirty:
                self._write_index()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
            self._entries, self._total = {}, 0
            self._loaded = self._usable = False

    # ----- inside the lock ------------------------------------------------------------------

    def _ready(self) -> bool:
        """Open the directory on first use: take its lock, read and check the index."""
        if not self._loaded:
            self._loaded = True
            self._usable = self.max_bytes > 0 and self._open()
        return self._usable

    def _open(self) -> bool:
        try:
            (self.root / BODIES).mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    log.warning("route cache %s is in use by another worker process; "
                                "this one runs without a route cache (give it its own cache_dir)", self.root)
                    return False
            self._lock_fd = fd
            self._read_index()
        except OSError as exc:
            log.warning("route cache %s is unusable (%s); running without it", self.root, exc)
            return False
        return True

    def _read_index(self) -> None:
        try:
            raw = json.loads((self.root / INDEX).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as exc:
            log.warning("route cache index %s is unreadable (%s); starting empty", self.root / INDEX, exc)
            raw = {}
        rows = raw.get("entries") if isinstance(raw, dict) and raw.get("version") == VERSION else []
        for row in rows if isinstance(rows, list) else []:
            entry = Entry.parse(row)
            if entry is None:
                continue
            key = entry_key(entry.workspace, entry.app_id, entry.url)
            try:
                ok = self._body_path(key).stat().st_size == entry.size
            except OSError:
                ok = False
            if ok and key not in self._entries:
                self._entries[key] = entry
                self._total += entry.size
        self._dirty = len(self._entries) != (len(rows) if isinstance(rows, list) else 0)
        for folder in (self.root / BODIES).iterdir():
            for path in folder.iterdir() if folder.is_dir() else ():
                if path.name not in self._entries:
                    path.unlink(missing_ok=True)  # an orphan (crash before the index was written)
        if self._total > self.max_bytes:
            self._evict(self.max_bytes)

    def _evict(self, keep_at_most: int) -> None:
        """Drop least recently used entries until at most ``keep_at_most`` bytes remain."""
        if self._total <= keep_at_most:
            return
        for key in sorted(self._entries, key=lambda k: self._entries[k].used):
            self._drop(key)
            if self._total <= keep_at_most:
                break

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._total -= entry.size
        self._dirty = True
        try:
            self._body_path(key).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("route cache: could not delete an entry's body: %s", exc)

    def _write_index(self) -> None:
        rows = [asdict(e) for e in self._entries.values()]
        data = json.dumps({"version": VERSION, "entries": rows}, separators=(",", ":")).encode("utf-8")
        try:
            _write_atomic(self.root / INDEX, data)
            self._dirty = False
        except OSError as exc:
            log.warning("route cache: could not write its index: %s", exc)

    def _body_path(self, key: str) -> Path:
        return self.root / BODIES / key[:2] / key

    def _count(self, workspace: str, app_id: str, what: str) -> None:
        counts = self._counters.get((workspace, app_id))
        if counts is None:
            if len(self._counters) >= MAX_COUNTED_APPS:
                self._counters.pop(next(iter(self._counters)))
            counts = self._counters[(workspace, app_id)] = {}
        counts[what] = counts.get(what, 0) + 1


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
