"""web-python starts under a burst: one cold start alone, then N simultaneous starts, offline.

Starts a local Hypha server (S3 on moto) and BrowserWorkers whose pages may reach 127.0.0.1
only (--allow-hosts), then measures worker.start → the app's ``default`` service registered:
  cold:  a worker with no warm Python page (--python-pool-size 0): the first start after the
         worker opened (it pays any one-time preparation), then --cold-runs single starts
  burst: a worker with default settings (one warm Python page, more after a burst where the
         pool sizes itself by demand): --rounds bursts of N simultaneous starts (N=10
         default), each once the pool reached its warm target again
Each figure is printed with the 1-minute load average (os.getloadavg) when it was taken and
the CPU-seconds Chromium spent, since the machine may be shared.
Run: .venv/bin/python benchmarks/python_burst.py [--burst 10] [--rounds 2] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

from hypha_rpc import connect_to_server

from common import chromium_cpu_seconds, pct, quiet_logs, wait_registered  # same folder

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer
from browser_worker.testing import internals

CODE = "from hypha_rpc import api\napi.export({'setup': lambda: None, 'add': lambda a, b: a + b})"


def load1() -> float:
    return os.getloadavg()[0]


class Bench:
    def __init__(self, server: LocalHyphaServer, token: str, client: Any) -> None:
        self.server, self.token, self.client = server, token, client

    def config(self) -> dict[str, Any]:
        cid = f"burst-{uuid.uuid4().hex[:8]}"
        return {"id": f"ws-user-burst/{cid}", "workspace": "ws-user-burst", "client_id": cid,
                "app_id": "burst", "server_url": self.server.url, "token": self.token,
                "source": CODE, "manifest": {"type": "web-python", "name": "burst"}}

    async def start(self, worker: BrowserWorker, t0: float | None = None) -> tuple[float, str]:
        """Milliseconds from ``t0`` (default: now) until the app's service is registered."""
        t0 = time.perf_counter() if t0 is None else t0
        sid = await worker.start(self.config())
        await wait_registered(self.client, f"{sid}:default")
        return (time.perf_counter() - t0) * 1000, sid


def warm_target(worker: BrowserWorker) -> int:
    """Warm Python pages the pool aims at (grown by recent bursts where the pool does that)."""
    target = getattr(internals(worker).pool, "target", None)
    return target("web-python") if target else worker.settings.python_pool_size


async def wait_full(worker: BrowserWorker, settle: float, timeout: float = 180) -> float:
    """Wait until the warm Python pages are all there, then ``settle`` s more; return the wait."""
    t = time.monotonic()
    while worker.stats().warm_by_type["web-python"] < warm_target(worker) and time.monotonic() - t < timeout:
        await asyncio.sleep(0.1)
    waited = time.monotonic() - t
    await asyncio.sleep(settle)
    return waited


def row(name: str, samples: list[float], load: float, cpu: float | None = None) -> dict[str, Any]:
    return {"name": name, "runs": len(samples), "p50_ms": statistics.median(samples),
            "p90_ms": pct(samples, 0.9), "min_ms": min(samples), "max_ms": max(samples),
            "load1": round(load, 2), "chromium_cpu_s": None if cpu is None else round(cpu, 2)}


async def cold(bench: Bench, settings: WorkerSettings, runs: int, settle: float) -> list[dict[str, Any]]:
    rows = []
    async with BrowserWorker(settings.with_(python_pool_size=0)) as worker:
        load, cpu0 = load1(), chromium_cpu_seconds()
        ms, sid = await bench.start(worker)
        rows.append(row("cold: first start after the worker opened", [ms], load, chromium_cpu_seconds() - cpu0))
        await worker.stop(sid)
        samples, loads, cpus = [], [], []
        for _ in range(runs):
            await asyncio.sleep(settle)
            loads.append(load1())
            cpu0 = chromium_cpu_seconds()
            ms, sid = await bench.start(worker)
            cpus.append(chromium_cpu_seconds() - cpu0)
            samples.append(ms)
            await worker.stop(sid)
        if samples:
            rows.append(row("cold: single start (no warm page)", samples, statistics.mean(loads), statistics.mean(cpus)))
    return rows


async def burst(bench: Bench, settings: WorkerSettings, n: int, rounds: int, settle: float) -> list[dict[str, Any]]:
    rows = []
    async with BrowserWorker(settings) as worker:
        for r in range(rounds):
            waited = await wait_full(worker, settle)
            warm = worker.stats().warm_by_type["web-python"]
            load, cpu0 = load1(), chromium_cpu_seconds()
            t0 = time.perf_counter()
            results = await asyncio.gather(*(bench.start(worker, t0) for _ in range(n)), return_exceptions=True)
            cpu = chromium_cpu_seconds() - cpu0
            samples = [ms for ms, _ in (x for x in results if not isinstance(x, BaseException))]
            failures = [x for x in results if isinstance(x, BaseException)]
            name = f"burst of {n}, round {r + 1}: {warm} warm (refilled in {waited:.0f}s)"
            rows.append({**row(name, samples or [float("nan")], load, cpu), "failures": len(failures)})
            for failure in failures[:3]:
                print(f"  failed start: {str(failure).splitlines()[0][:200]}", file=sys.stderr)
            await asyncio.gather(*(worker.stop(sid) for _, sid in (x for x in results if not isinstance(x, BaseException))))
        refill_t = time.monotonic()
        await wait_full(worker, 0)
        rows.append({"name": "pool full again after the last burst's sessions stopped",
                     "seconds": round(time.monotonic() - refill_t, 2), "load1": round(load1(), 2)})
    return rows


async def main(n: int, rounds: int, cold_runs: int, settle: float, only: str, as_json: bool) -> int:
    quiet_logs()
    rows: list[dict[str, Any]] = []
    async with LocalHyphaServer() as server:
        token = await server.user_token("burst")
        client = await connect_to_server({"server_url": server.url, "token": token})
        bench = Bench(server, token, client)
        settings = WorkerSettings.from_env(server_url=server.url, allow_hosts="127.0.0.1")
        if only in ("all", "cold"):
            rows += await cold(bench, settings, cold_runs, settle)
        if only in ("all", "burst"):
            rows += await burst(bench, settings, n, rounds, settle)
        await client.disconnect()
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'measure (offline: pages reach 127.0.0.1 only)':<62}{'runs':>5}{'p50 ms':>9}{'p90 ms':>9}"
          f"{'min':>8}{'max':>8}{'load1':>7}{'cpu s':>7}")
    for r in rows:
        if "seconds" in r:
            print(f"{r['name']:<62}{'':>5}{r['seconds'] * 1000:>9.0f}{'':>9}{'':>8}{'':>8}{r['load1']:>7.2f}")
            continue
        cpu = "" if r["chromium_cpu_s"] is None else f"{r['chromium_cpu_s']:.1f}"
        print(f"{r['name']:<62}{r['runs']:>5}{r['p50_ms']:>9.0f}{r['p90_ms']:>9.0f}{r['min_ms']:>8.0f}"
              f"{r['max_ms']:>8.0f}{r['load1']:>7.2f}{cpu:>7}" + (f"  failures: {r['failures']}" if r.get("failures") else ""))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=10, help="simultaneous starts per burst (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="bursts, each after the pool refilled (default 2)")
    parser.add_argument("--cold-runs", type=int, default=3, help="single cold starts (default 3)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of quiet before each measure (default 3)")
    parser.add_argument("--only", choices=("all", "cold", "burst"), default="all")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.burst, args.rounds, args.cold_runs, args.settle, args.only, args.json)))
