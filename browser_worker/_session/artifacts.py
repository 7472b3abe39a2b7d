"""What a session leaves behind besides its logs: a failure screenshot and a Playwright trace.

A session's :class:`SessionArtifacts` is filled once, in the release path (``_postmortem/failure.py``), and
then kept with the session's logs by the registry (same age and count limits, plus a byte budget
of its own, ``retained_artifact_bytes``). A trace lives on disk in the worker's trace folder; it
is deleted by :meth:`SessionArtifacts.drop`, which the registry calls when it forgets the
session (or needs the bytes). Each kind that is missing says why, so ``get_artifact`` can tell
the caller instead of a bare "not found".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from browser_worker._door import ARTIFACT_KINDS as KINDS
from browser_worker._door import CONTENT_TYPES, SCREENSHOT, TRACE
from browser_worker.errors import WorkerError


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Artifact:
    """One kept artifact: its bytes in memory (``data``) or in a file the session owns (``path``)."""

    kind: str
    size: int
    data: bytes | None = None
    path: Path | None = None
    created_at: str = field(default_factory=now_iso)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass
class SessionArtifacts:
    """A session's artifacts, and for each kind it lacks the reason (what ``get_artifact`` says)."""

    #: The tracing level the session ran at (``off``, ``on-failure``, ``on``).
    trace_mode: str = "off"
    kept: dict[str, Artifact] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    #: Set when the session ended (artifacts are made in its release path, never before).
    settled: bool = False

    @property
    def bytes(self) -> int:
        """Bytes held (memory and disk), counted in the registry's artifact budget."""
        return sum(a.size for a in self.kept.values())

    def kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.kept]

    def keep(self, artifact: Artifact) -> None:
        self.kept[artifact.kind] = artifact
        self.missing.pop(artifact.kind, None)

    def lack(self, kind: str, reason: str) -> None:
        self.missing[kind] = reason

    def drop(self, reason: str) -> None:
        """Forget every artifact (deleting trace files); later reads say ``reason``."""
        for kind, artifact in list(self.kept.items()):
            if artifact.path is not None:
                with contextlib.suppress(OSError):
                    artifact.path.unlink()
            self.missing[kind] = reason
        self.kept.clear()

    def reply(self, kind: str, session_id: str, status: str) -> dict[str, Any]:
        """The ``get_artifact`` answer for ``kind`` (reads a trace file: call it off the loop),
        or a WorkerError that says why there is none and what there is."""
        artifact = self.kept.get(kind)
        if artifact is not None:
            try:
                data = artifact.read()
            except OSError:
                artifact = None
                self.kept.pop(kind, None)
                self.missing[kind] = "it was dropped while being read"
            else:
                return {"kind": kind, "content_type": CONTENT_TYPES[kind], "bytes": data,
                        "size": len(data), "created_at": artifact.created_at}
        raise WorkerError(f"no {kind} for session {session_id}: {self._why(kind, status)} ({self._has()})")

    def _why(self, kind: str, status: str) -> str:
        if kind in self.missing:
            return self.missing[kind]
        if not self.settled:
            return f"the session is {status}; artifacts are kept when it ends"
        if kind == TRACE and self.trace_mode == "off":
            return "tracing was off"
        if status == "failed":
            return "none was taken"
        if kind == TRACE:
            return f"tracing was {self.trace_mode} and the session did not fail"
        return "a screenshot is kept only when a session fails, and this one did not"

    def _has(self) -> str:
        kinds = self.kinds()
        return f"this session has: {', '.join(kinds)}" if kinds else "this session has no artifacts"
