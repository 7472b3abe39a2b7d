"""What tracing costs a start: window-app start p50 with trace off, on-failure and on.

Starts a local Hypha server (S3 on moto) and, for each trace setting in turn, a BrowserWorker
whose pages reach 127.0.0.1 only; times N starts of a small window app through the in-process
worker (``worker.start`` returns once the app ran and exported its service), and the stops
(with ``on``, a stop also writes, scrubs and keeps the trace). Modes alternate in rounds so
that drift on a shared machine falls on all of them alike.
Run: .venv/bin/python benchmarks/trace_cost.py [--runs 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
import uuid
from typing import Any

from common import quiet_logs, summarize

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer

CODE = "await api.export({ setup() {}, echo(x) { return x; } });"
GAP = 0.5  # seconds between starts, so each start finds a refilled warm pool
#: Without the setting (code from before tracing existed) only "off" can be measured.
HAS_TRACE = any(f.name == "trace" for f in dataclasses.fields(WorkerSettings))


def config(server_url: str, token: str) -> dict[str, Any]:
    cid = f"bench-{uuid.uuid4().hex[:8]}"
    return {"id": f"ws-user-bench/{cid}", "workspace": "ws-user-bench", "client_id": cid,
            "app_id": "bench", "server_url": server_url, "token": token, "source": CODE,
            "manifest": {"type": "window", "name": "bench"}}


async def measure(settings: WorkerSettings, server: LocalHyphaServer, token: str, runs: int) -> tuple[list[float], list[float]]:
    starts, stops = [], []
    async with BrowserWorker(settings) as worker:
        for _ in range(2):  # warm-up: first starts pay one-off costs (module cache, JIT)
            await worker.stop(await worker.start(config(server.url, token)))
            await asyncio.sleep(GAP)
        for _ in range(runs):
            t = time.perf_counter()
            sid = await worker.start(config(server.url, token))
            starts.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await worker.stop(sid)
            stops.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(GAP)
    return starts, stops


async def main(runs: int, rounds: int, as_json: bool) -> int:
    quiet_logs()
    modes = ("off", "on-failure", "on") if HAS_TRACE else ("off",)
    starts: dict[str, list[float]] = {m: [] for m in modes}
    stops: dict[str, list[float]] = {m: [] for m in modes}
    async with LocalHyphaServer() as server:
        token = await server.user_token("bench")
        base = WorkerSettings.from_env(server_url=server.url, allow_hosts="127.0.0.1", python_pool_size=0)
        for _ in range(rounds):
            for mode in modes:
                s = base.with_(trace=mode) if HAS_TRACE else base
                a, b = await measure(s, server, token, runs)
                starts[mode] += a
                stops[mode] += b
    rows = [summarize(f"window start, trace {m}", starts[m]) for m in modes]
    rows += [summarize(f"window stop, trace {m}", stops[m]) for m in modes]
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(f"{'measure (in-process worker, offline)':<36}{'runs':>5}{'p50 ms':>9}{'p90 ms':>9}{'min':>8}{'max':>8}")
        for r in rows:
            print(f"{r['name']:<36}{r['runs']:>5}{r['p50_ms']:>9.1f}{r['p90_ms']:>9.1f}{r['min_ms']:>8.1f}{r['max_ms']:>8.1f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="starts per mode and round (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the modes (default 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.rounds, args.json)))
