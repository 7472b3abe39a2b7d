"""White-box access for tests and benchmarks that check what no public surface shows (a
session's lease and console pump, the pool's internals). Everything else reads
``BrowserWorker.stats()`` and the service methods."""

from __future__ import annotations

from typing import Any


def internals(worker: Any) -> Any:
    """The worker's session engine."""
    return worker._engine
