"""Capacity: how many live window sessions fit, and what each one costs in memory.

Starts a local Hypha server and a BrowserWorker (--max-sessions above the target), then starts
window apps (each connected to the server with its `default` service registered) and keeps
them running until --target live sessions (default 100) or the first failure. Every --step
sessions it prints the PSS of all Chromium processes, the worker's RSS and the PSS added per
session. Target: 100 sessions on 2 cores / 24 GiB with zero failures and ≤ 20 MB PSS each.
Run: .venv/bin/python benchmarks/capacity.py [--target 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

from common import chromium_pss_mb, quiet_logs, rss_mb  # same folder

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer

SCRIPT = "await api.export({ setup() {}, echo(x) { return x; } });"


async def main(target: int, step: int) -> int:
    quiet_logs()
    async with LocalHyphaServer() as server:
        token = await server.user_token("cap")
        settings = WorkerSettings.from_env(server_url=server.url, max_sessions=target + 10, python_pool_size=0)
        async with BrowserWorker(settings) as worker:
            await asyncio.sleep(2.0)
            base_pss = chromium_pss_mb()
            print(f"{'sessions':>8} {'chromium PSS MB':>16} {'per session MB':>15} {'worker RSS MB':>14} {'load':>6} {'s':>6}")
            print(f"{0:>8} {base_pss:>16.1f} {'':>15} {rss_mb():>14.1f} {worker.get_load():>6.2f} {0:>6}")
            sessions, failures, t0 = [], 0, time.perf_counter()
            while len(sessions) < target:
                cid = f"cap-{uuid.uuid4().hex[:8]}"
                cfg = {"id": f"ws-user-cap/{cid}", "workspace": "ws-user-cap", "client_id": cid, "app_id": "cap",
                       "server_url": server.url, "token": token, "source": SCRIPT,
                       "manifest": {"type": "window", "name": "cap"}}
                try:
                    sessions.append(await worker.start(cfg))
                except Exception as exc:
                    failures += 1
                    print(f"start {len(sessions) + 1} failed: {exc}")
                    break
                if len(sessions) % step == 0:
                    await asyncio.sleep(1.0)
                    pss = chromium_pss_mb()
                    per = (pss - base_pss) / len(sessions)
                    print(f"{len(sessions):>8} {pss:>16.1f} {per:>15.1f} {rss_mb():>14.1f} "
                          f"{worker.get_load():>6.2f} {time.perf_counter() - t0:>6.0f}", flush=True)
            alive = sum(1 for s in sessions if (s in worker.stats().active))
            answered = 0
            for sid in sessions:
                try:
                    answered += await worker.execute(sid, "1") == 1
                except Exception:
                    pass
            print(f"\nsummary: {len(sessions)} sessions started, {failures} failed, {alive} still live, "
                  f"{answered} answered execute; per-session PSS "
                  f"{(chromium_pss_mb() - base_pss) / max(1, len(sessions)):.1f} MB")
            for sid in sessions:
                await worker.stop(sid)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=100)
    parser.add_argument("--step", type=int, default=10)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.target, args.step)))
