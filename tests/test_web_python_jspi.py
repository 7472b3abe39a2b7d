"""Issue 19: a web-python app that uses JSPI (JavaScript Promise Integration): its script blocks
on a coroutine with ``pyodide.ffi.run_sync``, which only works when Chromium stack-switches
WebAssembly (on by default in current Chromium; ``--gpu`` also turns the feature on)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker

pytestmark = pytest.mark.e2e

JSPI_APP = '''
import asyncio
from hypha_rpc import api
from pyodide.ffi import can_run_sync, run_sync

async def fetch_later():
    await asyncio.sleep(0.05)
    return "woken by the event loop"

# Top level of the script: run_sync suspends WebAssembly until the coroutine is done (JSPI).
BLOCKED = run_sync(fetch_later()) if can_run_sync() else "no JSPI"
api.export({"setup": lambda: None, "blocked": lambda: BLOCKED})
'''


async def test_a_web_python_app_blocks_on_a_coroutine_with_jspi(
        worker: BrowserWorker, hypha_server: Any, alice_token: str) -> None:
    cid = f"jspi-{uuid.uuid4().hex[:8]}"
    sid = await worker.start({
        "id": f"ws-user-alice/{cid}", "workspace": "ws-user-alice", "client_id": cid, "app_id": "jspi",
        "server_url": hypha_server.url, "token": alice_token, "source": JSPI_APP, "timeout": 120.0,
        "manifest": {"type": "web-python", "name": "jspi"},
    })
    client = await connect_to_server({"server_url": hypha_server.url, "token": alice_token})
    try:
        svc = await client.get_service(sid + ":default")
        assert await svc.blocked() == "woken by the event loop"
    finally:
        await client.disconnect()
        await worker.stop(sid)
