"""What the engine tells whoever counts its starts (the metrics), without knowing who that is."""

from __future__ import annotations

from typing import Protocol


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
