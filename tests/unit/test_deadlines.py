"""The default deadline of every method a client calls directly ends at least 2 s before
hypha-rpc's default call timeout (issue 27), so the caller gets the worker's error naming the
deadline, not the transport's generic timeout."""

from __future__ import annotations

from browser_worker._control.snapshot import SECONDS as SNAPSHOT_SECONDS
from browser_worker._door import CALL_SECONDS
from browser_worker._page.scripts import RESPONSIVE_WITHIN
from browser_worker.config import DEFAULTS, RPC_CALL_TIMEOUT

MARGIN = 2.0


def test_default_deadlines_end_before_the_transport_gives_up() -> None:
    ends = {
        "execute": DEFAULTS.execute_timeout + RESPONSIVE_WITHIN,  # then it asks whether the page answers
        "take_screenshot / print_pdf": DEFAULTS.screenshot_timeout,
        "act": CALL_SECONDS,
        "snapshot": SNAPSHOT_SECONDS * 2,  # the tree, then the secret fields' check
        "get_logs": 1.0,  # the console read it waits for (_page.read_console)
    }
    late = {name: end for name, end in ends.items() if end > RPC_CALL_TIMEOUT - MARGIN}
    assert late == {}
