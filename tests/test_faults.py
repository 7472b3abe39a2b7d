"""Issue 20: the operator's bad days, injected for real (Chromium SIGKILLed under a real Hypha
server); each test ends with the worker back to its baseline."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker
from browser_worker.hypha.service import registered

from .conftest import web_app_config

from .test_lifecycle import settle
from .test_resilience import browser_pids, wait_for

pytestmark = pytest.mark.e2e

APP = """<config lang="json">{"name": "Crash Probe", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""


async def test_browser_sigkill_next_start_through_server_gets_a_live_instance(
    settings: Any, hypha_server: Any
) -> None:
    """Three starts of one app (one instance, as Hypha hands back a running one), Chromium
    SIGKILLed: the server forgets the dead instance (its controller stops it when the app's
    client disconnects) and the next start gets a new one that answers."""
    # A workspace of its own: the server picks among the workers registered there.
    token = await hypha_server.user_token("faults")
    before = browser_pids()
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        async with registered(w, hypha_server.url, token):
            alice = await connect_to_server({"server_url": hypha_server.url, "token": token})
            try:
                apps = await alice.get_service("public/server-apps")
                app = await apps.install(source=APP, overwrite=True, timeout=60)
                ids = {(await apps.start(app["id"], wait_for_service="default", timeout=60))["id"] for _ in range(3)}
                assert len(ids) == 1
                dead = ids.pop()
                assert w.sessions.is_live(dead)

                (chromium,) = browser_pids() - before
                os.kill(chromium, signal.SIGKILL)
                killed = time.monotonic()
                await wait_for(lambda: not w.sessions.is_live(dead), timeout=10)
                # Ended by whichever came first: the controller's stop or the lost browser.
                assert (await w.get_session_info(dead))["status"] in ("stopped", "failed")

                async def forgotten() -> bool:
                    return dead not in [s["id"] for s in await apps.list_running()]

                deadline = time.monotonic() + 10
                while not await forgotten():
                    assert time.monotonic() < deadline, "the server still lists the dead instance"
                    await asyncio.sleep(0.02)
                forgot_at = time.monotonic() - killed

                fresh = await apps.start(app["id"], wait_for_service="default", timeout=30)
                svc = await alice.get_service(fresh["id"] + ":default", {"timeout": 10})
                assert await svc.echo(7) == 7
                answered_at = time.monotonic() - killed
                assert fresh["id"] != dead
                print(f"\nChromium SIGKILL: server forgot the instance at +{forgot_at:.2f}s, "
                      f"next start answered at +{answered_at:.2f}s")
                await apps.stop(fresh["id"])
                await wait_for(lambda: not w.sessions.live_sessions(), timeout=10)
            finally:
                await alice.disconnect()
        assert w.host.restarts == 1
        await settle(w)


async def test_lost_browser_ends_its_sessions_at_once(settings: Any) -> None:
    """No grace period in which a session of a dead Chromium is still reported running: that is
    the moment Hypha's controller asks (it stops the app when its client disconnects, and hands
    the dead instance to new starts until the stop returns)."""
    before = browser_pids()
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        sids = [await w.start(web_app_config(f"data:text/html,<p>{i}</p>")) for i in range(3)]
        (chromium,) = browser_pids() - before
        os.kill(chromium, signal.SIGKILL)
        await wait_for(lambda: not w.host.alive, timeout=10)
        await asyncio.sleep(0.05)  # a quarter of the grace period the sessions used to get
        assert [(await w.get_session_info(sid))["status"] for sid in sids] == ["failed"] * 3
        assert w.pool.in_use == 0
        await settle(w)
