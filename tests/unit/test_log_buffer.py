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
