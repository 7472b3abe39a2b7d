"""What the engine reports about itself: a snapshot of counts (metrics, health and tests read
it, never the engine's internals), and the observer it tells about every start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class WorkerStats:
    """The worker at one moment; every field is a plain value, safe to hand to anyone."""

    #: Chromium is launched and the pool is up (``open`` done, ``close`` not yet).
    is_open: bool = False
    #: A browser is connected right now.
    browser_up: bool = False
    #: Session ids that have not ended (starting, running, stopping), oldest first.
    active: tuple[str, ...] = ()
    #: Active sessions by status value (``starting``, ``running``, ``stopping``, ``failed``).
    by_status: dict[str, int] = field(default_factory=dict)
    #: Ended sessions whose logs are still readable.
    ended: int = 0
    #: Bytes held by the logs, and by the artifacts, of ended sessions.
    retained_log_bytes: int = 0
    retained_artifact_bytes: int = 0
    #: Most concurrent sessions (``max_sessions``).
    capacity: int = 0
    #: Sessions holding a slot, and starts waiting for one.
    in_use: int = 0
    queue_length: int = 0
    #: Warm contexts ready, in all and per page type (``window``, ``web-python``).
    warm: int = 0
    warm_by_type: dict[str, int] = field(default_factory=dict)
    #: Warm pages the pool aims to keep per page type.
    warm_target: dict[str, int] = field(default_factory=dict)
    #: Browser contexts Chromium counts right now (sessions plus warm ones).
    contexts: int = 0
    #: Chromium relaunches after a crash, and recycles after ``recycle_after`` sessions.
    browser_restarts: int = 0
    browser_recycles: int = 0
    #: Files sessions downloaded and keep (active and retained sessions), and their bytes.
    downloads: int = 0
    download_bytes: int = 0
    #: Screencasts running, watch streams open, log streams open.
    screencasts: int = 0
    watchers: int = 0
    log_streams: int = 0

    @property
    def load(self) -> float:
        """Share of session capacity in use (0.0 idle … 1.0 full; above 1 with a queue)."""
        return (self.in_use + self.queue_length) / self.capacity if self.capacity else 0.0


class StartObserver(Protocol):
    """Told about every start (the metrics count them); the engine knows nothing of metrics."""

    def start_requested(self) -> None: ...
    def start_failed(self) -> None: ...
    def start_finished(self, seconds: float) -> None: ...


class Unobserved:
    """The observer of an engine nobody watches."""

    def start_requested(self) -> None:
        pass

    def start_failed(self) -> None:
        pass

    def start_finished(self, seconds: float) -> None:
        pass
