"""LogBuffer queries: what get_logs answers (no browser)."""

from __future__ import annotations

import pytest

from browser_worker._logs.buffer import TYPES, LogBuffer
from browser_worker.errors import WorkerError


def test_an_unknown_log_type_is_refused_naming_the_allowed_ones() -> None:
    logs = LogBuffer()
    logs.worker("hello")
    with pytest.raises(WorkerError) as err:
        logs.query(type="nonexistent")
    assert str(err.value) == ("get_logs: unknown log type 'nonexistent' "
                              "(rule: one of console, error, network, info, warning, action, or none for all)")


@pytest.mark.parametrize("kind", TYPES)
def test_every_allowed_type_can_be_asked_for(kind: str) -> None:
    logs = LogBuffer()
    logs.worker("boom", "error")
    logs.worker("note")
    got = logs.query(type=kind)
    assert got["total"] == {"error": 1, "info": 1}.get(kind, 0)
    assert all(item["type"] == kind for item in got["items"])


def test_a_flood_of_300_one_megabyte_lines_keeps_the_default_budgets() -> None:
    """Issue 27: a page writing 300 console lines of 1 MB each. With the default settings the
    session's logs hold at most max_log_bytes, each entry at most max_log_entry_bytes, the newest
    kept; and the Python memory they hold stays within twice the byte budget."""
    import tracemalloc

    from browser_worker.config import DEFAULTS

    line = "l" * (1 << 20)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        logs = LogBuffer()
        for i in range(300):
            logs.console("log", f"{i:03d} {line}")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    texts = logs.texts()
    assert logs.bytes <= DEFAULTS.max_log_bytes == 4 << 20
    assert all(len(t.encode()) <= DEFAULTS.max_log_entry_bytes for t in texts)
    assert logs.dropped == 300 - len(logs) > 0 and texts[-1].startswith("[log] 299 ")
    assert held < 2 * DEFAULTS.max_log_bytes, f"{held} bytes held for {logs.bytes} bytes of logs"
