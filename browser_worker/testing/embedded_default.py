"""The embedded default: a local Hypha server with this worker registered on it.

``browser-worker serve`` without ``--server-url`` and ``browser-worker demo`` use it, so a new
user sees the whole path (install → start → call → screenshot → logs) with no set-up.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, TextIO

from browser_worker.config import WorkerSettings
from browser_worker.hypha import WorkerService, registered
from browser_worker.worker import BrowserWorker

DEMO_USER = "demo"

SAMPLE_APP = """<config lang="json">
{"name": "Hello Browser Worker", "type": "window", "version": "0.1.0",
 "description": "A sample window app: draws a card and exports echo()"}
</config>
<script lang="javascript">
const card = document.createElement("div");
card.id = "card";
card.style.cssText = "margin:40px;padding:32px;border-radius:12px;font:24px sans-serif;" +
  "background:linear-gradient(135deg,#2563eb,#7c3aed);color:white;width:520px";
card.textContent = "Hello from a Hypha app running in browser-worker";
document.body.appendChild(card);
console.log("sample app booted at", new Date().toISOString());
await api.export({
  name: "Hello Browser Worker",
  setup() { console.log("setup() called by the Hypha server"); },
  echo(x) { console.log("echo called with", JSON.stringify(x)); return x; },
});
</script>
"""


@dataclass
class Embedded:
    server_url: str
    token: str
    workspace: str
    worker: BrowserWorker
    service: WorkerService
    connection: Any


@asynccontextmanager
async def embedded(settings: WorkerSettings, log_dir: Path | None = None) -> AsyncIterator[Embedded]:
    """Start a local Hypha server, a worker, and register the worker in the demo workspace."""
    from browser_worker.testing.hypha_server import LocalHyphaServer

    async with LocalHyphaServer(log_dir=log_dir) as server:
        token = await server.user_token(DEMO_USER)
        settings = settings.with_(server_url=server.url, token=token)
        async with BrowserWorker(settings) as worker:
            async with registered(worker, server.url, token, service_id=settings.service_id) as (service, conn):
                yield Embedded(server.url, token, f"ws-user-{DEMO_USER}", worker, service, conn)


async def run_demo(settings: WorkerSettings, out_dir: Path, out: TextIO) -> int:
    """Install and start the sample app through the server, call it, screenshot it, show logs."""
    from hypha_rpc import connect_to_server

    out_dir.mkdir(parents=True, exist_ok=True)
    say = lambda msg: print(msg, file=out, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    say("Starting a local Hypha server (server apps on, S3 emulated) and the browser worker…")
    async with embedded(settings, log_dir=out_dir / "server-logs") as env:
        say(f"Hypha server: {env.server_url}   workspace: {env.workspace}")
        say(f"Chromium: {env.worker.chromium.path if env.worker.chromium else '?'}")
        client = await connect_to_server({"server_url": env.server_url, "token": env.token})
        try:
            apps = await client.get_service("public/server-apps")
            t = time.perf_counter()
            app = await apps.install(source=SAMPLE_APP, overwrite=True, timeout=60)
            say(f"Installed app {app['id']} in {time.perf_counter() - t:.2f} s")
            t = time.perf_counter()
            session = await apps.start(app["id"], wait_for_service="default", timeout=60)
            say(f"Started session {session['id']} in {time.perf_counter() - t:.2f} s")
            svc = await client.get_service(session["id"] + ":default")
            reply = await svc.echo("hello from the demo")
            say(f"echo('hello from the demo') returned {reply!r}")
            png = await env.worker.take_screenshot(session["id"])
            shot = out_dir / "demo.png"
            shot.write_bytes(png)
            say(f"Screenshot written: {shot} ({len(png)} bytes)")
            logs = await apps.get_logs(session["id"])
            say(f"Session logs ({logs['total']} entries):")
            for item in logs["items"]:
                say(f"  {item.get('time', '')} [{item['type']}] {item['content']}")
            await apps.stop(session["id"])
            say(f"Stopped the session. Demo finished in {time.perf_counter() - t0:.1f} s.")
        finally:
            await client.disconnect()
    return 0
