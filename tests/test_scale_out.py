"""Issue 7: several workers behind one Hypha server, and browsers on a remote Playwright server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from typing import Any, AsyncIterator

import pytest
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker
from browser_worker._browser.chromium import find_chromium
from browser_worker.testing.hypha_server import free_port
from browser_worker.testing import internals

from ._support import serve_process, web_app_config

pytestmark = pytest.mark.e2e

APP = """<config lang="json">{"name": "Spread", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, where() { return location.href; } });
</script>
"""


async def test_min_load_spreads_starts_over_two_worker_processes(hypha_server: Any) -> None:
    token = await hypha_server.user_token("dave")
    procs = await asyncio.gather(*(serve_process(hypha_server.url, token, f"bw-{i}") for i in range(2)))
    client = await connect_to_server({"server_url": hypha_server.url, "token": token})
    try:
        apps = await client.get_service("public/server-apps")
        workers = [w["id"] for w in await apps.list_workers() if w["id"].startswith("ws-user-dave/")]
        assert len(workers) == 2, workers
        app = await apps.install(source=APP, overwrite=True, timeout=60)
        landed: Counter[str] = Counter()
        for _ in range(10):
            session = await apps.start(app["id"], wait_for_service="default", timeout=60,
                                       worker_selection_mode="min_load")
            landed[session["worker_id"]] += 1
            await apps.stop(session["id"])
        print(f"\nsessions per worker: {dict(landed)}")
        assert set(landed) == set(workers), landed
    finally:
        await client.disconnect()
        for proc in procs:
            proc.terminate()
        await asyncio.gather(*(asyncio.wait_for(p.wait(), 30) for p in procs))


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def start_run_server(port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1", "--port", str(port), "--unsafe",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the node driver and browsers die with it
    )
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert time.monotonic() < deadline, "playwright run-server did not start"
        await asyncio.sleep(0.1)
    return proc


@pytest.fixture
async def run_server() -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {"port": free_port()}
    state["proc"] = await start_run_server(state["port"])
    yield state
    kill_group(state["proc"])
    await state["proc"].wait()


def kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def test_remote_browser_endpoint_and_reconnect(settings: Any, run_server: dict[str, Any]) -> None:
    chromium = find_chromium(settings.chromium_path)
    assert chromium is not None
    endpoint = f"ws://127.0.0.1:{run_server['port']}/"
    remote = settings.with_(browser_endpoint=endpoint, chromium_path=chromium.path, pool_size=1, queue_timeout=30)
    async with BrowserWorker(remote) as w:
        assert w.chromium is not None and w.chromium.source.startswith("remote")
        sid = await w.start(web_app_config("data:text/html,<p id=p>remote</p>"))
        assert await w.execute(sid, "document.getElementById('p').textContent") == "remote"
        png = await w.take_screenshot(sid)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
        await w.stop(sid)

        live = await w.start(web_app_config("data:text/html,<p>doomed</p>"))
        kill_group(run_server["proc"])
        await run_server["proc"].wait()
        deadline = time.monotonic() + 15
        while (live in w.stats().active):
            assert time.monotonic() < deadline, "session on the lost remote browser did not fail"
            await asyncio.sleep(0.05)
        assert (await w.get_session_info(live))["status"] == "failed"
        assert any("Chromium exited unexpectedly" in t for t in internals(w).sessions.any(live).logs.texts())

        run_server["proc"] = await start_run_server(run_server["port"])
        back = await w.start(web_app_config("data:text/html,<p id=p>back</p>"))
        assert await w.execute(back, "document.getElementById('p').textContent") == "back"
        assert w.stats().browser_restarts >= 1
        await w.stop(back)
