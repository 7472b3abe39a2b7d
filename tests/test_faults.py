"""Issue 20: the operator's bad days, injected for real (Chromium SIGKILLed under a real Hypha
server); each test ends with the worker back to its baseline."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import pytest
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker, WorkerError
from browser_worker.hypha.service import registered

from ._support import browser_pids, read_until, settle, wait_for, web_app_config

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
                assert (dead in w.stats().active)

                (chromium,) = browser_pids() - before
                os.kill(chromium, signal.SIGKILL)
                killed = time.monotonic()
                await wait_for(lambda: not (dead in w.stats().active), timeout=10)
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
                await wait_for(lambda: not w.stats().active, timeout=10)
            finally:
                await alice.disconnect()
        assert w.stats().browser_restarts == 1
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
        await wait_for(lambda: not w.stats().browser_up, timeout=10)
        await asyncio.sleep(0.05)  # a quarter of the grace period the sessions used to get
        assert [(await w.get_session_info(sid))["status"] for sid in sids] == ["failed"] * 3
        assert w.stats().in_use == 0
        await settle(w)


SLOW_APP = """<config lang="json">{"name": "Slow Boot", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await new Promise(r => setTimeout(r, 3000));
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""


async def test_drain_refuses_new_starts_and_stops_sessions(settings: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        sid = await w.start(web_app_config("data:text/html,<p>before</p>"))
        await w.drain(5)
        assert not (sid in w.stats().active)
        assert (await w.get_session_info(sid))["status"] == "stopped"
        with pytest.raises(WorkerError, match=r"worker is shutting down \(draining\): no new sessions"):
            await w.start(web_app_config("data:text/html,<p>after</p>"))
        await settle(w)


async def test_sigterm_drains_then_unregisters_and_exits_0(hypha_server: Any) -> None:
    """A live session and a start in flight when SIGTERM arrives: the start is answered, the
    sessions are stopped (the server hears of it), the service is gone, exit status 0."""
    token = await hypha_server.user_token("drain")
    env = {**os.environ, "HYPHA_SERVER_URL": hypha_server.url, "HYPHA_TOKEN": token,
           "BROWSER_WORKER_SERVICE_ID": "drain-worker", "BROWSER_WORKER_POOL_SIZE": "1",
           "BROWSER_WORKER_PYTHON_POOL_SIZE": "0", "BROWSER_WORKER_DRAIN_TIMEOUT": "10"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "browser_worker", "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )
    client = await connect_to_server({"server_url": hypha_server.url, "token": token})
    try:
        out = await read_until(proc.stdout, "Ctrl-C to stop", 60)  # type: ignore[arg-type]
        assert "registered on" in out, out
        apps = await client.get_service("public/server-apps")
        fast = await apps.install(source=APP, overwrite=True, timeout=60)
        slow = await apps.install(source=SLOW_APP, overwrite=True, timeout=60)
        live = await apps.start(fast["id"], wait_for_service="default", timeout=60)
        (worker_id,) = [w["id"] for w in await apps.list_workers() if w["id"].endswith(":drain-worker")]
        remote = await client.get_service(worker_id)
        in_flight = asyncio.ensure_future(apps.start(slow["id"], wait_for_service="default", timeout=60))
        deadline = time.monotonic() + 30
        while "starting" not in [s["status"] for s in await remote.list_sessions("ws-user-drain")]:
            assert time.monotonic() < deadline and not in_flight.done(), "the slow start never began"
            await asyncio.sleep(0.05)

        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answer = await asyncio.wait_for(asyncio.gather(in_flight, return_exceptions=True), 30)
        rest = (await asyncio.wait_for(proc.stdout.read(), 30)).decode(errors="replace")  # type: ignore[union-attr]
        code = await asyncio.wait_for(proc.wait(), 30)
        took = time.monotonic() - signalled
        print(f"\nSIGTERM → exit {code} in {took:.2f}s; the start in flight answered: {answer[0]!r:.120}")
        assert code == 0, rest
        assert took < 10 + 10, rest  # the drain timeout plus closing: it did not hang
        assert "Draining: new starts refused" in rest and "Service unregistered." in rest, rest
        # It needed 3 s of the 10 s drain: it finished rather than being cut off.
        assert isinstance(answer[0], dict) and answer[0]["app_id"] == slow["id"], answer
        assert [w for w in await apps.list_workers() if w["id"].endswith(":drain-worker")] == []
        running = [s["id"] for s in await apps.list_running()]
        assert live["id"] not in running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await client.disconnect()
