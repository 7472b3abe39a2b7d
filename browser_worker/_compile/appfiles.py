"""The ``files`` a compile receives, checked once at the door.

Each file object must have a string ``path`` (or ``name``) and content matching its format:
``text`` → a string, ``base64`` → strictly valid base64 (whitespace between groups allowed),
``json`` → any JSON value. Errors name the index and the field (``files[3].content must be a
string``), never an ``AttributeError``. A leading UTF-8 byte-order mark is dropped from text.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from browser_worker._compile.budget import CompileBudget
from browser_worker.errors import WorkerError

FORMATS = ("text", "base64", "json")
BOM = "\ufeff"


@dataclass(frozen=True)
class AppFile:
    """One checked file: ``raw`` is the caller's object (returned as is), ``data`` its bytes."""

    index: int
    path: str
    raw: dict[str, Any]
    data: bytes | None

    @property
    def label(self) -> str:
        return f"files[{self.index}] ({self.path!r})"

    def text(self) -> str:
        """The content as text (UTF-8, BOM dropped)."""
        if self.data is None:
            raise WorkerError(f"{self.label} has no content")
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WorkerError(f"{self.label} is not UTF-8 text") from None


def parse_files(files: object, budget: CompileBudget) -> list[AppFile]:
    if files is None:
        return []
    if not isinstance(files, (list, tuple)):
        raise WorkerError(f"files must be a list of file objects, got {type(files).__name__}")
    if len(files) > budget.max_files:
        raise budget.error("max_files", f"by {len(files)} files")
    return [_parse_one(i, f) for i, f in enumerate(files)]


def _parse_one(index: int, f: object) -> AppFile:
    where = f"files[{index}]"
    if not isinstance(f, dict):
        raise WorkerError(f"{where} must be an object with 'path' and 'content', got {type(f).__name__}")
    path = f.get("path") if f.get("path") is not None else f.get("name")
    if path is None or path == "":
        raise WorkerError(f"{where} needs a 'path' (or 'name') string")
    if not isinstance(path, str):
        key = "path" if f.get("path") is not None else "name"
        raise WorkerError(f"{where}.{key} must be a string, got {type(path).__name__}")
    fmt = _format(f, where)
    content = f.get("content")
    if content is None:
        return AppFile(index, path, f, None)
    label = f"{where} ({path!r})"
    if fmt == "json":
        try:
            data = json.dumps(content).encode()
        except (TypeError, ValueError, RecursionError):
            raise WorkerError(f"{where}.content is not JSON-encodable") from None
    elif isinstance(content, (bytes, bytearray)):
        data = bytes(content)
    elif not isinstance(content, str):
        raise WorkerError(f"{where}.content must be a string, got {type(content).__name__}")
    elif fmt == "base64":
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WorkerError(f"{label} is not valid base64 ({exc})") from None
    else:
        try:
            data = content.removeprefix(BOM).encode("utf-8")
        except UnicodeEncodeError:
            raise WorkerError(f"{where}.content holds characters that are not valid Unicode") from None
    return AppFile(index, path, f, data)


def _format(f: dict[str, Any], where: str) -> str:
    if "format" in f and f["format"] is not None:
        fmt = f["format"]
        if fmt not in FORMATS:
            shown = repr(fmt) if isinstance(fmt, str) and len(fmt) <= 20 else type(fmt).__name__
            raise WorkerError(f"{where}.format must be one of {', '.join(FORMATS)}, got {shown}")
        return str(fmt)
    kind = f.get("type")
    return kind if kind in FORMATS else "text"  # Hypha also uses ``type`` for the format
