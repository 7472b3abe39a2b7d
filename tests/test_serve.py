"""`browser-worker serve` registers on a real server, serves, and shuts down cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import pytest

from browser_worker import WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer

from ._support import read_until

pytestmark = pytest.mark.e2e


async def test_serve_registers_runs_apps_and_stops_on_sigint(
    hypha_server: LocalHyphaServer, alice_token: str, alice: Any
) -> None:
    env = {**os.environ, "HYPHA_SERVER_URL": hypha_server.url, "HYPHA_TOKEN": alice_token,
           "BROWSER_WORKER_SERVICE_ID": "cli-worker", "BROWSER_WORKER_POOL_SIZE": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "browser_worker", "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )
    try:
        out = await read_until(proc.stdout, "Ctrl-C to stop", 60)  # type: ignore[arg-type]
        assert "registered on " + hypha_server.url in out, out
        assert alice_token not in out
        services = await alice.list_services({"type": "server-app-worker"})
        cli = [s for s in services if s["id"].endswith(":cli-worker")]
        assert cli, services
        remote = await alice.get_service(cli[0]["id"])
        sid = await remote.start({
            "id": "ws-user-alice/cli-session", "workspace": "ws-user-alice", "client_id": "cli-session",
            "entry_point": "data:text/html,<p id=p>from serve</p>",
            "manifest": {"type": "web-app", "entry_point": "data:text/html,<p id=p>from serve</p>"},
        })
        assert await remote.execute(sid, "document.getElementById('p').textContent") == "from serve"
        capacity = WorkerSettings.from_env(env).max_sessions  # (a plain int: a failure shows no settings)
        assert await remote.get_load() == 1 / capacity  # this one session
    finally:
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stdout.read(), 30)).decode(errors="replace")  # type: ignore[union-attr]
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0, rest
    assert "Stopped: all sessions closed, browser closed." in rest
