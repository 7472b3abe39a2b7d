"""How many warm pages of a kind to keep: the configured floor, raised by recent bursts.

A class or workshop starts many Python apps within seconds, and does so again a little later.
The largest number of starts seen within ``span`` seconds becomes the warm target for
``memory`` seconds after it was last reached (never above ``cap``), then the target falls back
to the floor and the pool closes the extra pages.
"""

from __future__ import annotations

import time
from collections import deque


class BurstDemand:
    """Warm-page target from recent bursts of starts."""

    def __init__(self, floor: int, cap: int, span: float = 10.0, memory: float = 600.0) -> None:
        self.floor = floor
        self.cap = max(cap, floor)
        self.span = span
        self.memory = memory
        self._recent: deque[float] = deque()
        self._peak = 0
        self._peak_at = 0.0

    def note(self, now: float | None = None) -> None:
        """One start of this kind happened now."""
        now = time.monotonic() if now is None else now
        self._recent.append(now)
        while self._recent and self._recent[0] < now - self.span:
            self._recent.popleft()
        if len(self._recent) >= self._peak or now - self._peak_at > self.memory:
            self._peak = len(self._recent)
            self._peak_at = now

    def target(self, now: float | None = None) -> int:
        """Warm pages to keep now."""
        now = time.monotonic() if now is None else now
        if now - self._peak_at > self.memory:
            self._peak = 0
        return max(self.floor, min(self.cap, self._peak))
