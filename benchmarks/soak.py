"""Soak: many start/stop cycles of a window app; does memory creep or do contexts leak?

Starts a local Hypha server and a BrowserWorker, then runs N cycles (default 1000) of
start (window app, connects and exports) → stop. Prints, at the start, every 100 cycles and at
the end: Chromium PSS (all browser processes), the worker's Python RSS, live browser contexts,
warm contexts, failed starts. Targets: PSS growth ≤ 10 %, zero leaked contexts, zero failures.
Run: .venv/bin/python benchmarks/soak.py [--cycles 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

from common import chromium_pss_mb, quiet_logs, rss_mb

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.local_server import LocalHyphaServer

SCRIPT = "await api.export({ setup() {}, echo(x) { return x; } });"


async def main(cycles: int, every: int) -> int:
    quiet_logs()
    async with LocalHyphaServer() as server:
        token = await server.user_token("soak")
        settings = WorkerSettings.from_env(server_url=server.url, recycle_after=0)
        async with BrowserWorker(settings) as worker:
            await asyncio.sleep(1.0)
            baseline_contexts = worker.context_count()
            first_pss = chromium_pss_mb()
            failures = 0
            t0 = time.perf_counter()
            print(f"{'cycle':>6} {'chromium PSS MB':>16} {'python RSS MB':>14} {'contexts':>9} {'warm':>5} {'failed':>7} {'s':>7}")

            def report(cycle: int) -> None:
                print(f"{cycle:>6} {chromium_pss_mb():>16.1f} {rss_mb():>14.1f} {worker.context_count():>9}"
                      f" {worker.pool.idle:>5} {failures:>7} {time.perf_counter() - t0:>7.1f}", flush=True)

            report(0)
            for cycle in range(1, cycles + 1):
                cid = f"soak-{uuid.uuid4().hex[:8]}"
                cfg = {"id": f"ws-user-soak/{cid}", "workspace": "ws-user-soak", "client_id": cid,
                       "app_id": "soak", "server_url": server.url, "token": token, "source": SCRIPT,
                       "manifest": {"type": "window", "name": "soak"}}
                try:
                    sid = await worker.start(cfg)
                    await worker.stop(sid)
                except Exception as exc:
                    failures += 1
                    print(f"cycle {cycle}: start failed: {exc}", flush=True)
                if cycle % every == 0:
                    await asyncio.sleep(1.0)  # let the pool settle before measuring
                    report(cycle)
            await asyncio.sleep(1.0)
            last_pss = chromium_pss_mb()
            leaked = worker.context_count() - baseline_contexts
            growth = 100 * (last_pss - first_pss) / first_pss
            print(f"\nsummary: {cycles} cycles, {failures} failed starts, {leaked} leaked contexts, "
                  f"Chromium PSS {first_pss:.1f} → {last_pss:.1f} MB ({growth:+.1f} %)")
            return 0 if failures == 0 and leaked == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.cycles, args.every)))
