"""Start latency of window apps: worker-side and through a real Hypha server.

Starts a local Hypha server (S3 on moto) and a BrowserWorker registered on it, then measures
over N runs (default 20):
  worker.start → default service registered   (direct call of the worker, window app)
  server-apps.start → returns                 (through public/server-apps, wait_for_service=default)
  stop, screenshot, execute round trip
and prints p50/p90/min/max in milliseconds. Run: .venv/bin/python benchmarks/start_latency.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from typing import Any, Awaitable, Callable

from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker, WorkerSettings, registered
from browser_worker.local_server import LocalHyphaServer

APP = """<config lang="json">{"name": "Bench", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, echo(x) { return x; } });
</script>
"""
GAP = 0.5  # seconds between starts, so each start finds a refilled warm pool
SCRIPT = "await api.export({ setup() {}, echo(x) { return x; } });"


def summarize(name: str, samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"name": name, "runs": len(samples), "p50_ms": statistics.median(ordered), "p90_ms": p90,
            "min_ms": ordered[0], "max_ms": ordered[-1]}


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = await fn()
    return (time.perf_counter() - t) * 1000, result


async def wait_registered(client: Any, service_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.get_service(service_id)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.005)


async def main(runs: int, as_json: bool) -> int:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("websocket-client", "RPC"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    rows: list[dict[str, Any]] = []
    async with LocalHyphaServer() as server:
        token = await server.user_token("bench")
        ws = "ws-user-bench"
        settings = WorkerSettings.from_env(server_url=server.url)
        async with BrowserWorker(settings) as worker, registered(worker, server.url, token) as _:
            client = await connect_to_server({"server_url": server.url, "token": token})
            apps = await client.get_service("public/server-apps")
            await asyncio.sleep(1.0)  # let the pool finish warming

            direct, stops, shots, execs = [], [], [], []
            for _ in range(runs):
                cid = f"bench-{uuid.uuid4().hex[:8]}"
                cfg = {"id": f"{ws}/{cid}", "workspace": ws, "client_id": cid, "app_id": "bench",
                       "server_url": server.url, "token": token, "source": SCRIPT,
                       "manifest": {"type": "window", "name": "bench"}}
                t = time.perf_counter()
                sid = await worker.start(cfg)
                await wait_registered(client, f"{sid}:default")
                direct.append((time.perf_counter() - t) * 1000)
                await asyncio.sleep(GAP)  # the pool refills after a start; measure the rest after
                ms, _ = await timed(lambda: worker.take_screenshot(sid))
                shots.append(ms)
                ms, _ = await timed(lambda: worker.execute(sid, "1 + 1"))
                execs.append(ms)
                ms, _ = await timed(lambda: worker.stop(sid))
                stops.append(ms)

            app = await apps.install(source=APP, overwrite=True, timeout=60)
            via_server = []
            for _ in range(runs):
                ms, session = await timed(lambda: apps.start(app["id"], wait_for_service="default", timeout=60))
                via_server.append(ms)
                await apps.stop(session["id"])
                await asyncio.sleep(GAP)
            await client.disconnect()

    rows = [
        summarize("worker.start -> default registered (window)", direct),
        summarize("server-apps.start (window, through server)", via_server),
        summarize("stop", stops),
        summarize("screenshot (png, 1280x720)", shots),
        summarize("execute round trip", execs),
    ]
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(f"{'measure':<46}{'runs':>5}{'p50 ms':>10}{'p90 ms':>10}{'min':>9}{'max':>9}")
        for r in rows:
            print(f"{r['name']:<46}{r['runs']:>5}{r['p50_ms']:>10.0f}{r['p90_ms']:>10.0f}{r['min_ms']:>9.0f}{r['max_ms']:>9.0f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.json)))
