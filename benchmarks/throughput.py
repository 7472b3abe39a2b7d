"""Throughput through one Hypha server, as operators run it: ours vs Hypha's built-in worker.

One local Hypha server (its in-process browser worker ON, ours registered next to it), one
Chromium binary for both. For each concurrency C, C client loops run
`server-apps.start(wait_for_service="default") → echo() → server-apps.stop` for a fixed time,
alternating built-in and ours. Prints per worker and C: starts/s, start p50/p90, failures (split
into "server" — errors raised by the Hypha server itself, e.g. its SQL store — and "worker"),
and the Hypha server process's CPU-seconds per start (for the built-in that includes its worker,
which runs inside the server; ours runs in this process and is printed apart).

`--idle 0,100,500` instead measures ours: start p50 through the server with that many idle
sessions live (window apps connected to the server). The idle sessions belong to another
tenant (user and workspace) than the starts, as on a shared server; `--idle-same-workspace`
puts them in the starting user's workspace, where every start and stop is an event the Hypha
server checks against each of that workspace's connections and forwards to each of its
clients (hypha-rpc subscribes every client to `client_disconnected`): the server's worst case.
Run: .venv/bin/python benchmarks/throughput.py [--clients 1,5,10,20,50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

import psutil
from common import chromium_pss_mb, pct, quiet_logs
from compare_builtin import APP, server_beside_builtin

SERVER_ERRORS = ("sqlalchemy", "sqlite", "database is locked", "redis", "artifact", "S3")


def classify(exc: BaseException) -> str:
    text = str(exc)
    if "browser_worker" in text or "browser-worker" in text:
        return "worker"
    return "server" if any(s.lower() in text.lower() for s in SERVER_ERRORS) else "worker?"


async def install_apps(apps: Any, worker_id: str, label: str, count: int) -> list[str]:
    """``count`` copies of the echo app for one worker, each under its own name."""
    ids = []
    for i in range(count):  # one at a time: the server's SQLite store refuses concurrent writes
        source = APP.replace('"name": "Compare"', f'"name": "Throughput {label} {i}"')
        ids.append((await apps.install(source=source, overwrite=True, worker_id=worker_id, timeout=120))["id"])
    return ids


async def run_clients(apps: Any, client: Any, app_ids: list[str], worker_id: str, clients: int,
                      seconds: float) -> dict[str, Any]:
    """``clients`` loops, each starting its own app: Hypha hands a second start of an app that
    is already running the running instance, so loops sharing one app would mostly not start."""
    starts: list[float] = []
    failures: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def loop(app_id: str) -> None:
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                session = await apps.start(app_id, worker_id=worker_id, wait_for_service="default", timeout=120)
            except Exception as exc:
                kind = classify(exc)
                failures[kind] = failures.get(kind, 0) + 1
                if failures[kind] <= 2:
                    last = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ""
                    print(f"    {kind} failure: {type(exc).__name__}: {last}", flush=True)
                continue
            starts.append((time.perf_counter() - t) * 1000)
            try:
                svc = await client.get_service(session["id"] + ":default")
                await svc.echo(1)
            except Exception as exc:
                failures["echo"] = failures.get("echo", 0) + 1
                if failures["echo"] <= 2:
                    print(f"    echo failure: {str(exc).splitlines()[-1][:200]}", flush=True)
            finally:
                try:
                    await apps.stop(session["id"])
                except Exception:
                    pass

    t0 = time.monotonic()
    await asyncio.gather(*(loop(app_ids[i]) for i in range(clients)))
    return {"starts": starts, "failures": failures, "elapsed": time.monotonic() - t0}


def split_cores(server: Any) -> str:
    """Pin the Hypha server (and its S3 stand-in, and the built-in worker's Chromium it will
    launch) to the first half of the cores and this process (our worker, its Chromium, the
    clients) to the rest: a worker host beside a server host, as deployments run them."""
    cores = sorted(os.sched_getaffinity(0))
    half = max(1, len(cores) // 2)
    server_cores, worker_cores = cores[:half], cores[half:] or cores
    for proc in server._procs:
        psutil.Process(proc.pid).cpu_affinity(server_cores)
    psutil.Process().cpu_affinity(worker_cores)
    return f"server on cores {server_cores}, our worker and the clients on {worker_cores}"


async def main(clients_list: list[int], seconds: float, idle_list: list[int], same_workspace: bool,
               split: bool = False) -> int:
    quiet_logs()
    from hypha_rpc import connect_to_server

    from browser_worker import BrowserWorker, WorkerSettings, registered

    builtin_on = not idle_list
    # Hypha allows one user 200 connections by default; the idle sessions are many per user.
    async with server_beside_builtin(builtin_on, HYPHA_MAX_CONNECTIONS_PER_USER="5000") as (server, chromium):
        server_proc = psutil.Process(server._procs[-1].pid)
        placement = split_cores(server) if split else "everything shares every core"
        me = psutil.Process()
        token = await server.user_token("bench")
        client = await connect_to_server({"server_url": server.url, "token": token})
        settings = WorkerSettings.from_env(server_url=server.url, chromium_path=chromium.path,
                                           max_sessions=max([64, *idle_list]) + 16)
        async with BrowserWorker(settings) as ours, registered(ours, server.url, token, service_id="ours"):
            apps = await client.get_service("public/server-apps")
            workers = [w["id"] for w in await apps.list_workers()]
            ids = {"ours": next(w for w in workers if w.endswith(":ours"))}
            if builtin_on:
                ids["built-in"] = next(w for w in workers if w != ids["ours"] and "browser" in w.lower())
            most = max([1, *clients_list])
            installed = {name: await install_apps(apps, wid, name, most) for name, wid in ids.items()}
            print(f"date {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({placement}), "
                  f"load {os.getloadavg()[0]:.1f}, Chromium {chromium.version()}, {seconds:g} s per run\n")
            if idle_list:
                return await under_load(apps, client, ours, server, token, installed["ours"][0], ids["ours"], idle_list, same_workspace)
            print(f"{'C':>3} {'worker':<9}{'starts/s':>9}{'p50 ms':>8}{'p90 ms':>8}{'server CPU s/start':>20}"
                  f"{'ours CPU s/start':>18}  failures")
            for c in clients_list:
                for name in ("built-in", "ours"):
                    cpu0, me0 = server_proc.cpu_times(), me.cpu_times()
                    r = await run_clients(apps, client, installed[name], ids[name], c, seconds)
                    cpu1, me1 = server_proc.cpu_times(), me.cpu_times()
                    n = max(1, len(r["starts"]))
                    server_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / n
                    ours_cpu = (me1.user + me1.system - me0.user - me0.system) / n
                    s = r["starts"] or [0.0]
                    print(f"{c:>3} {name:<9}{len(r['starts']) / r['elapsed']:>9.2f}{statistics.median(s):>8.0f}"
                          f"{pct(s, 0.9):>8.0f}{server_cpu:>20.3f}{ours_cpu if name == 'ours' else float('nan'):>18.3f}"
                          f"  {r['failures'] or 0}", flush=True)
                    await asyncio.sleep(2)
        await client.disconnect()
    return 0


async def under_load(apps: Any, client: Any, ours: Any, server: Any, token: str, app_id: str,
                     worker_id: str, idle_list: list[int], same_workspace: bool) -> int:
    """Start p50 with N idle sessions live on our worker: through the server, and the worker's
    own part (``worker.start`` called directly, page connected and registered)."""
    from hypha_rpc import connect_to_server

    idle_user = "bench" if same_workspace else "tenant"
    idle_token = token if same_workspace else await server.user_token(idle_user)
    # The first connection creates a user's workspace: make it before hundreds of pages race to.
    tenant = await connect_to_server({"server_url": server.url, "token": idle_token})
    script = "await api.export({ setup() {}, echo(x) { return x; } });"

    def config(user: str, user_token: str, prefix: str) -> dict[str, Any]:
        cid = f"{prefix}-{uuid.uuid4().hex[:8]}"
        return {"id": f"ws-user-{user}/{cid}", "workspace": f"ws-user-{user}", "client_id": cid, "app_id": prefix,
                "server_url": server.url, "token": user_token, "source": script,
                "manifest": {"type": "window", "name": prefix}}

    idle: list[str] = []
    print(f"idle sessions in {'the starting user' if same_workspace else 'another tenant'}'s workspace")
    print(f"{'idle sessions':>14}{'server p50 ms':>15}{'p90 ms':>8}{'worker p50 ms':>15}{'p90 ms':>8}"
          f"{'worker RSS MB':>15}{'Chromium PSS MB':>17}")
    for target in idle_list:
        while len(idle) < target:
            batch = [config(idle_user, idle_token, "idle") for _ in range(min(16, target - len(idle)))]
            idle += await asyncio.gather(*(ours.start(cfg) for cfg in batch))
        await asyncio.sleep(5)
        through, direct = [], []
        for _ in range(10):
            t = time.perf_counter()
            session = await apps.start(app_id, worker_id=worker_id, wait_for_service="default", timeout=120)
            through.append((time.perf_counter() - t) * 1000)
            await apps.stop(session["id"])
            await asyncio.sleep(0.3)
            t = time.perf_counter()
            sid = await ours.start(config("bench", token, "probe"))
            direct.append((time.perf_counter() - t) * 1000)
            await ours.stop(sid)
            await asyncio.sleep(0.3)
        print(f"{target:>14}{statistics.median(through):>15.0f}{pct(through, 0.9):>8.0f}"
              f"{statistics.median(direct):>15.0f}{pct(direct, 0.9):>8.0f}"
              f"{psutil.Process().memory_info().rss / 2**20:>15.0f}{chromium_pss_mb():>17.0f}", flush=True)
    for sid in idle:
        await ours.stop(sid)
    await tenant.disconnect()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,5,10,20,50", help="concurrency levels (comma-separated)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per worker and level")
    parser.add_argument("--idle", default="", help="start-under-load mode: idle session counts, e.g. 0,100,500")
    parser.add_argument("--split-cores", action="store_true",
                        help="server (with the built-in worker) on half the cores, our worker on the rest")
    parser.add_argument("--idle-same-workspace", action="store_true",
                        help="idle sessions in the starting user's workspace (the server's worst case)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main([int(c) for c in args.clients.split(",")], args.seconds,
                              [int(c) for c in args.idle.split(",") if c], args.idle_same_workspace,
                              args.split_cores)))
