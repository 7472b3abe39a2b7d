"""Start latency per app type: worker-side and through a real Hypha server, offline.

Starts a local Hypha server (S3 on moto) and a BrowserWorker registered on it whose pages may
reach 127.0.0.1 only (--allow-hosts), then measures:
  window:      worker.start → default registered (N runs), server-apps.start (N runs),
               stop, screenshot, execute round trip
  web-worker:  worker.start → default registered (N runs)
  web-python:  from a warm page (N runs, each waiting for the pool to refill first) and cold
               (no warm page; --cold-runs runs)
and prints p50/p90/min/max in milliseconds. Run: .venv/bin/python benchmarks/start_latency.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from hypha_rpc import connect_to_server

from common import quiet_logs, summarize, timed, wait_registered

from browser_worker import BrowserWorker, WorkerSettings, registered
from browser_worker.testing.hypha_server import LocalHyphaServer

APP = """<config lang="json">{"name": "Bench", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, echo(x) { return x; } });
</script>
"""
GAP = 0.5  # seconds between starts, so each start finds a refilled warm pool
CODE = {
    "window": "await api.export({ setup() {}, echo(x) { return x; } });",
    "web-worker": "await api.export({ setup() {}, echo(x) { return x; } });",
    "web-python": "from hypha_rpc import api\napi.export({'setup': lambda: None, 'add': lambda a, b: a + b})",
}


async def wait_idle(worker: BrowserWorker, kind: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while worker.stats().warm_by_type[kind] < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


class Bench:
    def __init__(self, server: LocalHyphaServer, token: str, client: Any) -> None:
        self.server, self.token, self.client = server, token, client

    def config(self, app_type: str) -> dict[str, Any]:
        cid = f"bench-{uuid.uuid4().hex[:8]}"
        return {"id": f"ws-user-bench/{cid}", "workspace": "ws-user-bench", "client_id": cid,
                "app_id": "bench", "server_url": self.server.url, "token": self.token,
                "source": CODE[app_type], "manifest": {"type": app_type, "name": "bench"}}

    async def start(self, worker: BrowserWorker, app_type: str) -> tuple[float, str]:
        t = time.perf_counter()
        sid = await worker.start(self.config(app_type))
        await wait_registered(self.client, f"{sid}:default")
        return (time.perf_counter() - t) * 1000, sid


async def main(runs: int, python_runs: int, cold_runs: int, as_json: bool) -> int:
    quiet_logs()
    rows: list[dict[str, Any]] = []
    async with LocalHyphaServer() as server:
        token = await server.user_token("bench")
        client = await connect_to_server({"server_url": server.url, "token": token})
        bench = Bench(server, token, client)
        settings = WorkerSettings.from_env(server_url=server.url, allow_hosts="127.0.0.1")
        async with BrowserWorker(settings) as worker, registered(worker, server.url, token):
            apps = await client.get_service("public/server-apps")
            await wait_idle(worker, "web-python")

            direct, stops, shots, execs = [], [], [], []
            for _ in range(runs):
                ms, sid = await bench.start(worker, "window")
                direct.append(ms)
                await asyncio.sleep(GAP)  # the pool refills after a start; measure the rest after
                shots.append((await timed(lambda: worker.take_screenshot(sid)))[0])
                execs.append((await timed(lambda: worker.execute(sid, "1 + 1")))[0])
                stops.append((await timed(lambda: worker.stop(sid)))[0])

            app = await apps.install(source=APP, overwrite=True, timeout=60)
            via_server = []
            for _ in range(runs):
                ms, session = await timed(lambda: apps.start(app["id"], wait_for_service="default", timeout=60))
                via_server.append(ms)
                await apps.stop(session["id"])
                await asyncio.sleep(GAP)

            web_worker = []
            for _ in range(runs):
                ms, sid = await bench.start(worker, "web-worker")
                web_worker.append(ms)
                await worker.stop(sid)
                await asyncio.sleep(GAP)

            warm_python = []
            for _ in range(python_runs):
                await wait_idle(worker, "web-python")
                ms, sid = await bench.start(worker, "web-python")
                warm_python.append(ms)
                await worker.stop(sid)

        cold_settings = settings.with_(python_pool_size=0, pool_size=0)
        async with BrowserWorker(cold_settings) as worker:
            cold_python = []
            for _ in range(cold_runs):
                ms, sid = await bench.start(worker, "web-python")
                cold_python.append(ms)
                await worker.stop(sid)
        await client.disconnect()

    rows = [
        summarize("window: worker.start -> default registered", direct),
        summarize("window: server-apps.start (through server)", via_server),
        summarize("window: stop", stops),
        summarize("window: screenshot (png, 1280x720)", shots),
        summarize("window: execute round trip", execs),
        summarize("web-worker: worker.start -> registered", web_worker),
        summarize("web-python warm: worker.start -> registered", warm_python),
        summarize("web-python cold: worker.start -> registered", cold_python),
    ]
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(f"{'measure (offline: pages reach 127.0.0.1 only)':<48}{'runs':>5}{'p50 ms':>9}{'p90 ms':>9}{'min':>8}{'max':>8}")
        for r in rows:
            print(f"{r['name']:<48}{r['runs']:>5}{r['p50_ms']:>9.0f}{r['p90_ms']:>9.0f}{r['min_ms']:>8.0f}{r['max_ms']:>8.0f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs for window and web-worker (default 20)")
    parser.add_argument("--python-runs", type=int, default=10, help="warm web-python runs (default 10)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold web-python runs (default 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.python_runs, args.cold_runs, args.json)))
