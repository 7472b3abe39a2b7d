"""``manifest.required_artifact_files`` (web-python): files of the app's own artifact that its
Python code imports or reads, written into the page's Python file system before it runs.

Hypha's built-in worker reads the same field. Here the worker fetches them, not the page: from
the app's files on the Hypha server only (paths are relative, checked at the door), with the
session's token in a header, within the start's deadline and a byte and file budget, so one
tenant's app cannot make the worker fetch without bound. A directory (``lib/``) is listed by
the server and fetched file by file. A file that cannot be fetched fails the start naming it:
the app would fail on its import anyway, with a less helpful message.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any, Coroutine, TypeVar
from urllib.parse import quote

from browser_worker._door import StartRequest
from browser_worker._net import NetworkPolicy
from browser_worker.errors import AppStartError, WorkerError

T = TypeVar("T")

#: Bytes and files one start may bring in, and how deep directories are followed.
MAX_TOTAL_BYTES = 32 * 1024 * 1024
MAX_FILES = 256
MAX_DEPTH = 8
#: Fetches in flight at once.
PARALLEL = 4
#: Where the page writes them (``sys.path`` gets this root and each listed directory).
ROOT = "/home/pyodide/app_files"


@dataclass
class _Budget:
    files: int = 0
    bytes: int = 0

    def take(self, path: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            raise AppStartError(f"required_artifact_files: more than {MAX_FILES} files (rule: at most {MAX_FILES})")
        if self.bytes > MAX_TOTAL_BYTES:
            raise AppStartError(f"required_artifact_files: {path!r} takes the total over {MAX_TOTAL_BYTES} bytes "
                                f"(rule: at most {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in all)")


class _Fetcher:
    def __init__(self, req: StartRequest, net: NetworkPolicy, deadline: float) -> None:
        assert req.files_base_url
        self.base = req.files_base_url
        self.net, self.deadline = net, deadline
        self.headers = {"Authorization": f"Bearer {req.token}"} if req.token else {}
        self.budget = _Budget()
        self.gate = asyncio.Semaphore(PARALLEL)

    async def get(self, path: str, max_bytes: int) -> bytes:
        async with self.gate:
            body, _ = await self.net.fetch_bytes(
                f"{self.base}/{quote(path)}?use_proxy=true", "required_artifact_files", max_bytes=max_bytes,
                deadline=self.deadline, headers=self.headers, trust_redirects=True)
        return body

    async def file(self, path: str) -> dict[str, str]:
        body = await self.get(path, MAX_TOTAL_BYTES - self.budget.bytes + 1)
        self.budget.take(path, len(body))
        return {"path": path, "data": base64.b64encode(body).decode("ascii")}

    async def directory(self, path: str, depth: int = 0) -> list[dict[str, str]]:
        """Every file under ``path`` (which ends with ``/``), as the server lists it."""
        if depth > MAX_DEPTH:
            raise AppStartError(f"required_artifact_files: {path!r} nests deeper than {MAX_DEPTH} directories")
        try:
            listing = json.loads(await self.get(path, 4 * 1024 * 1024))
        except ValueError:
            raise AppStartError(f"required_artifact_files: the server's listing of {path!r} is not JSON") from None
        if not isinstance(listing, list):
            raise AppStartError(f"required_artifact_files: the server's listing of {path!r} is not a list")
        names = [(item.get("type"), item.get("name")) for item in listing if isinstance(item, dict)]
        bad = [n for _, n in names if not isinstance(n, str) or not n or "/" in n or n in (".", "..")]
        if bad:
            raise AppStartError(f"required_artifact_files: the listing of {path!r} names {bad[0]!r}, not a file name")
        files = [self.file(path + name) for kind, name in names if kind != "directory"]
        dirs = [self.directory(f"{path}{name}/", depth + 1) for kind, name in names if kind == "directory"]
        found = await _all([*files, *dirs])
        return [f for group in found for f in (group if isinstance(group, list) else [group])]

    async def entry(self, path: str) -> list[dict[str, str]]:
        if path.endswith("/"):
            return await self.directory(path)
        try:
            return [await self.file(path)]
        except WorkerError as exc:
            try:  # the built-in takes a directory without its trailing '/' too
                return await self.directory(path + "/")
            except WorkerError:
                raise exc from None


async def fetch_required_files(req: StartRequest, net: NetworkPolicy, deadline: float) -> list[dict[str, str]]:
    """``[{path, data (base64)}]`` of every required file, or raise naming the one that failed."""
    if not req.required_files:
        return []
    if not req.files_base_url:
        raise AppStartError("required_artifact_files needs the app's files on a Hypha server "
                            "(this start has no app_files_base_url)")
    fetcher = _Fetcher(req, net, deadline)
    try:
        groups = await _all([fetcher.entry(p) for p in req.required_files])
    except AppStartError:
        raise
    except WorkerError as exc:
        raise AppStartError(f"could not fetch an app file: {exc}") from None
    return [f for group in groups for f in group]


async def _all(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as failures:
        first: BaseException = failures
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]
