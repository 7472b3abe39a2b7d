"""What one start makes the Hypha server do, and what idle sessions cost (issue 13).

The server is what limits a deployment's start rate, so the worker must not spend its messages
or HTTP work needlessly: progress is coalesced into one callback for a fast start (each call is
two messages through the server), warm pages share one download of the RPC module, and quiet
pages are polled for console lines rarely (hundreds of idle sessions must not slow new starts).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from browser_worker import BrowserWorker
from browser_worker.testing import internals

from ._support import settle

pytestmark = pytest.mark.e2e  # the session's Hypha server and Chromium


@pytest_asyncio.fixture(autouse=True)
async def back_to_baseline(worker: BrowserWorker) -> AsyncIterator[None]:
    yield
    await settle(worker)


FAST_APP = "await api.export({ setup() {}, echo(x) { return x; } });"
SLOW_APP = "await new Promise(r => setTimeout(r, 1600)); await api.export({ setup() {}, echo(x) { return x; } });"


async def test_a_fast_start_reports_progress_in_one_call(worker: BrowserWorker, window_config: Any,
                                                         monkeypatch: Any) -> None:
    # A window longer than any start here, so the figure does not depend on the machine's speed.
    monkeypatch.setattr(internals(worker), "settings", worker.settings.with_(progress_coalesce=10.0))
    calls: list[tuple[float, dict[str, str]]] = []
    cfg = window_config(FAST_APP)
    cfg["progress_callback"] = lambda msg: calls.append((time.monotonic(), msg))
    sid = await worker.start(cfg)
    try:
        assert len(calls) == 1, calls  # was 3: starting, context ready, loaded
        message = calls[0][1]
        assert message["type"] == "success"
        lines = message["message"].splitlines()
        assert lines[0].startswith("Starting window app") and lines[-1].startswith("App loaded in"), lines
        logged = [i["content"] for i in (await worker.get_logs(sid))["items"]]
        for line in lines:  # the session log still has every step on its own
            assert line in logged
    finally:
        await worker.stop(sid)


async def test_a_slow_start_still_reports_progress_while_it_runs(worker: BrowserWorker, window_config: Any) -> None:
    calls: list[tuple[float, dict[str, str]]] = []
    cfg = window_config(SLOW_APP)
    cfg["progress_callback"] = lambda msg: calls.append((time.monotonic(), msg))
    t0 = time.monotonic()
    sid = await worker.start(cfg)
    returned = time.monotonic()
    try:
        assert returned - t0 > 1.5
        assert len(calls) >= 2, calls
        assert calls[0][0] < returned - 0.8  # the first report came while the app was loading
        assert calls[0][1]["message"].startswith("Starting window app")
        assert calls[-1][1]["type"] == "success" and "App loaded in" in calls[-1][1]["message"]
    finally:
        await worker.stop(sid)


async def test_warm_pages_share_one_download_of_the_rpc_module(worker: BrowserWorker, window_config: Any) -> None:
    modules = internals(worker).pool.modules
    hits, fetches = modules.hits, modules.fetches
    for _ in range(3):
        sid = await worker.start(window_config(FAST_APP))
        assert await worker.execute(sid, "typeof window.__bwWarm") != "undefined"
        await worker.stop(sid)
    deadline = time.monotonic() + 20
    while modules.hits < hits + 3 and time.monotonic() < deadline:  # the pool refills behind us
        await asyncio.sleep(0.1)
    assert modules.fetches - fetches <= 1  # at most one download (the cache's ttl may run out)
    assert modules.hits >= hits + 3


async def test_quiet_pages_are_polled_rarely(worker: BrowserWorker, window_config: Any) -> None:
    sid = await worker.start(window_config(FAST_APP))
    try:
        pump = internals(worker).sessions.active(sid).lease.console_pump
        await asyncio.sleep(3)  # past the start's fast polling
        before = pump.pulls
        await asyncio.sleep(10)
        assert pump.pulls - before <= 4, pump.pulls - before  # was 10: once a second
        await worker.execute(sid, "console.log('woken up')")
        logs = await worker.get_logs(sid)  # get_logs pulls first: nothing is late
        assert "[log] woken up" in [i["content"] for i in logs["items"]]
    finally:
        await worker.stop(sid)
