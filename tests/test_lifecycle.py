"""Issue 11: every call ends, and frees what it took — on bad input, races and hung pages."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from browser_worker import AppStartError, BrowserWorker, WorkerError

from ._support import APP_JS, bad_configs, registered_clients, settle, wait_for, web_app_config

pytestmark = pytest.mark.e2e

@pytest_asyncio.fixture
async def slow_files() -> AsyncIterator[str]:
    """Serves an app's entry file after 3 s, like a slow artifact store."""

    async def entry(_: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text=APP_JS, content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/files/app.js", entry)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/files"
    await runner.cleanup()


def slow_config(hypha_server: Any, token: str, files_url: str) -> dict[str, Any]:
    client_id = f"slow-{uuid.uuid4().hex[:8]}"
    return {
        "id": f"ws-user-alice/{client_id}", "workspace": "ws-user-alice", "client_id": client_id,
        "app_id": "slow", "server_url": hypha_server.url, "token": token,
        "app_files_base_url": files_url, "entry_point": "app.js",
        "manifest": {"type": "window", "name": "slow", "entry_point": "app.js"},
    }


async def test_bad_starts_leak_nothing(settings: Any, hypha_server: Any, window_config: Any) -> None:
    async with BrowserWorker(settings.with_(max_sessions=3, pool_size=1)) as w:
        await settle(w, 1)
        for name, (cfg, field) in bad_configs(window_config).items():
            for _ in range(2):
                with pytest.raises(WorkerError, match=field) as err:
                    await w.start(cfg)
                assert "unhashable" not in str(err.value) and "object has no attribute" not in str(err.value), name
        await settle(w, 1)
        sid = await w.start(window_config(APP_JS))  # capacity intact
        await w.stop(sid)
        await settle(w, 1)


async def test_stop_during_a_slow_start_cancels_it(
    settings: Any, hypha_server: Any, alice: Any, alice_token: str, slow_files: str
) -> None:
    async with BrowserWorker(settings.with_(pool_size=1, allow_private_network=True)) as w:
        await settle(w, 1)
        # Control: left alone, the same app starts and registers its service.
        control = slow_config(hypha_server, alice_token, slow_files)
        sid = await w.start(control)
        assert await (await alice.get_service(sid + ":default")).echo(7) == 7
        await w.stop(sid)

        for how in ("stop", "close_workspace"):
            cfg = slow_config(hypha_server, alice_token, slow_files)
            start = asyncio.create_task(w.start(cfg))
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            if how == "stop":
                await w.stop(cfg["id"])
            else:
                await w.close_workspace("ws-user-alice")
            with pytest.raises(AppStartError, match="did not start: (stopped while starting|workspace closed)"):
                await start
            assert time.monotonic() - t0 < 5
            assert (await w.get_session_info(cfg["id"]))["status"] == "stopped"
            await asyncio.sleep(4)  # past the moment the entry would have arrived
            assert cfg["client_id"] not in await registered_clients(alice), how
            await settle(w, 1)


async def test_stop_of_a_queued_start(settings: Any, window_config: Any) -> None:
    async with BrowserWorker(settings.with_(max_sessions=1, pool_size=1, queue_timeout=20)) as w:
        first = await w.start(window_config(APP_JS))
        queued_cfg = window_config(APP_JS)
        queued = asyncio.create_task(w.start(queued_cfg))
        await wait_for(lambda: w.stats().queue_length == 1)
        await w.stop(queued_cfg["id"])
        with pytest.raises(AppStartError, match="stopped while starting"):
            await asyncio.wait_for(queued, 5)
        assert w.stats().queue_length == 0 and w.stats().in_use == 1
        await w.stop(first)
        await settle(w, 1)


async def test_execute_and_screenshots_end_within_their_deadlines(worker: BrowserWorker) -> None:
    page = ("data:text/html,<div id='hidden' style='display:none'>h</div>"
            "<div id='empty' style='width:0;height:0'></div><p id='p'>x</p>")
    sid = await worker.start(web_app_config(page))
    try:
        for script in ("new Promise(() => {})", "() => new Promise(() => {})"):
            t0 = time.monotonic()
            with pytest.raises(WorkerError, match="did not finish within 1s"):
                await worker.execute(sid, script, timeout=1)
            assert time.monotonic() - t0 < 5
        for selector in ("#hidden", "#empty"):
            t0 = time.monotonic()
            with pytest.raises(WorkerError, match="did not become visible within 1s|Screenshot"):
                await worker.take_screenshot(sid, selector=selector, timeout=1)
            assert time.monotonic() - t0 < 5
        for bad in (math.nan, math.inf, -1, "soon"):
            with pytest.raises(WorkerError, match="timeout"):
                await worker.execute(sid, "1", timeout=bad)
        # Values that do not travel as they are: converted, or refused naming what they are.
        assert await worker.execute(sid, "2n ** 70n") == str(2**70)
        assert await worker.execute(sid, "12n") == 12
        assert await worker.execute(sid, "new Date(0)") == "1970-01-01T00:00:00.000Z"
        assert await worker.execute(sid, "undefined") is None
        with pytest.raises(WorkerError, match="Object is not JSON-able"):
            await worker.execute(sid, "(() => { const a = {}; a.self = a; return a; })()")
        assert await worker.execute(sid, "document.getElementById('p').textContent") == "x"
        with pytest.raises(WorkerError, match="offset"):
            await worker.get_logs(sid, offset="abc")
        with pytest.raises(WorkerError, match="limit"):
            await worker.get_logs(sid, limit=-1)
    finally:
        await worker.stop(sid)


async def test_a_hung_page_still_stops(settings: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        sid = await w.start(web_app_config("data:text/html,<p>spin</p>"))
        t0 = time.monotonic()
        with pytest.raises(WorkerError, match="did not finish within 1s"):
            await w.execute(sid, "while (true) {}", timeout=1)
        assert time.monotonic() - t0 < 5
        await asyncio.wait_for(w.stop(sid), settings.stop_timeout + 5)
        await settle(w, 1)


async def test_boot_error_that_is_not_an_error_object(worker: BrowserWorker, window_config: Any) -> None:
    with pytest.raises(AppStartError, match=r'thrown value \{"code":42\}'):
        await worker.start(window_config("throw {code: 42};"))
