"""Soak: many start/stop cycles of a window app; does memory creep or do contexts leak?

Starts a local Hypha server and a BrowserWorker, then runs N cycles (default 1000) of
start (window app, connects and exports) → stop. Prints, at the start, every 100 cycles and at
the end: Chromium PSS (all browser processes), the worker's Python RSS, live browser contexts,
warm contexts, slots in use, failed starts. Targets: PSS growth ≤ 10 %, zero leaked contexts,
zero failures.

``--mode mixed`` makes every cycle one of: a good start → stop; a bad start (refused config);
a start stopped after a random delay (a race); a start stopped while queued behind a full worker;
a start ended by close_workspace. Failures are expected there; the targets are zero leaked
slots and contexts and flat memory.
Run: .venv/bin/python benchmarks/soak.py [--cycles 1000] [--mode good|mixed]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
import uuid
from typing import Any

from common import chromium_pss_mb, quiet_logs, rss_mb

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer

SCRIPT = "await api.export({ setup() {}, echo(x) { return x; } });"


BAD = [
    {"manifest": {"type": "web-app", "entry_point": "javascript:alert(1)"}},
    {"manifest": {"type": "window", "permissions": ["root"]}},
    {"manifest": {"type": "window", "content_hash": ["x"]}},
    {"timeout": math.nan},
    {"server_url": "file:///etc/passwd#"},
]


def config(server: Any, token: str, **extra: Any) -> dict[str, Any]:
    cid = f"soak-{uuid.uuid4().hex[:8]}"
    cfg = {"id": f"ws-user-soak/{cid}", "workspace": "ws-user-soak", "client_id": cid,
           "app_id": "soak", "server_url": server.url, "token": token, "source": SCRIPT,
           "manifest": {"type": "window", "name": "soak"}}
    cfg.update(extra)
    return cfg


async def mixed_cycle(worker: BrowserWorker, server: Any, token: str, rng: random.Random) -> str:
    """One cycle of the mixed mode; returns its kind."""
    kind = rng.choice(["good", "bad", "race", "queued", "close"])
    if kind == "good":
        await worker.stop(await worker.start(config(server, token)))
    elif kind == "bad":
        try:
            await worker.start(config(server, token, **rng.choice(BAD)))
        except Exception:
            pass
    else:
        holders = []
        if kind == "queued":  # fill the worker so the next start waits in the queue
            while worker.stats().in_use < worker.stats().capacity:
                holders.append(await worker.start(config(server, token)))
        cfg = config(server, token)
        task = asyncio.ensure_future(worker.start(cfg))
        await asyncio.sleep(rng.uniform(0, 0.3))
        if kind == "close":
            await worker.close_workspace("ws-user-soak")
        else:
            await worker.stop(cfg["id"])
        await asyncio.gather(task, return_exceptions=True)
        for sid in holders:
            await worker.stop(sid)
        if kind != "close":
            await worker.stop(cfg["id"])
    return kind


async def main(cycles: int, every: int, mode: str, seed: int) -> int:
    quiet_logs()
    rng = random.Random(seed)
    async with LocalHyphaServer() as server:
        token = await server.user_token("soak")
        settings = WorkerSettings.from_env(server_url=server.url, recycle_after=0,
                                           max_sessions=4 if mode == "mixed" else 32)
        async with BrowserWorker(settings) as worker:
            await asyncio.sleep(1.0)
            baseline_contexts = worker.context_count()
            first_pss, first_rss = chromium_pss_mb(), rss_mb()
            failures = 0
            kinds: dict[str, int] = {}
            t0 = time.perf_counter()
            print(f"mode {mode}, seed {seed}")
            print(f"{'cycle':>6} {'chromium PSS MB':>16} {'python RSS MB':>14} {'contexts':>9} {'warm':>5}"
                  f" {'slots':>6} {'failed':>7} {'s':>7}")

            def report(cycle: int) -> None:
                print(f"{cycle:>6} {chromium_pss_mb():>16.1f} {rss_mb():>14.1f} {worker.context_count():>9}"
                      f" {worker.stats().warm:>5} {worker.stats().in_use:>6} {failures:>7} {time.perf_counter() - t0:>7.1f}",
                      flush=True)

            report(0)
            for cycle in range(1, cycles + 1):
                try:
                    if mode == "mixed":
                        kind = await mixed_cycle(worker, server, token, rng)
                        kinds[kind] = kinds.get(kind, 0) + 1
                    else:
                        await worker.stop(await worker.start(config(server, token)))
                except Exception as exc:
                    failures += 1
                    print(f"cycle {cycle}: unexpected failure: {exc}", flush=True)
                if cycle % every == 0:
                    await asyncio.sleep(1.0)  # let the pool settle before measuring
                    report(cycle)
            await asyncio.sleep(1.0)
            last_pss, last_rss = chromium_pss_mb(), rss_mb()
            leaked = worker.context_count() - baseline_contexts
            slots = worker.stats().in_use + worker.stats().queue_length
            growth = 100 * (last_pss - first_pss) / first_pss
            print(f"\nsummary: {cycles} cycles {kinds or ''}, {failures} unexpected failures, {leaked} leaked contexts, "
                  f"{slots} slots held, {len(worker.stats().active)} live sessions, "
                  f"Chromium PSS {first_pss:.1f} → {last_pss:.1f} MB ({growth:+.1f} %), "
                  f"worker RSS {first_rss:.1f} → {last_rss:.1f} MB")
            return 0 if failures == 0 and leaked == 0 and slots == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--mode", choices=["good", "mixed"], default="good",
                        help="good: start/stop only; mixed: failing and racing starts as well")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.cycles, args.every, args.mode, args.seed)))
