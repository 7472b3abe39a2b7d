"""What a start costs the Hypha server at the least: ours and the built-in beside a *floor*.

The floor is a worker that does only what any worker must: in `start` it connects the app's
client (hypha-rpc, Python) with the session's token and registers its `default` service; in
`stop` it disconnects. No browser at all. Whatever the server spends per start with the floor
(controller, manifest write, the app's connection and events) is spent with every worker, so
it bounds how much faster any worker can make a loaded server start apps. Prints, per worker:
starts/s, start p50, Hypha server CPU-seconds per start and that CPU beyond the floor's.
Run: .venv/bin/python benchmarks/server_floor.py [--clients 5] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from typing import Any

import psutil
from common import quiet_logs
from compare_builtin import server_beside_builtin
from throughput import install_apps, run_clients


class FloorWorker:
    """A server-app worker whose apps are bare hypha-rpc clients in this process."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}

    async def start(self, config: dict[str, Any], context: Any = None) -> str:
        from hypha_rpc import connect_to_server

        client = await connect_to_server({
            "server_url": config["server_url"], "token": config.get("token"),
            "workspace": config["workspace"], "client_id": config["client_id"],
        })
        await client.register_service({"id": "default", "setup": lambda: None, "echo": lambda x: x})
        session_id = f"{config['workspace']}/{config['client_id']}"
        self.clients[session_id] = client
        return session_id

    async def stop(self, session_id: str, context: Any = None) -> None:
        client = self.clients.pop(session_id, None)
        if client is not None:
            await client.disconnect()

    async def get_logs(self, session_id: str, type: str | None = None, offset: int = 0,
                       limit: int | None = None, context: Any = None) -> dict[str, Any]:
        return {"items": [], "total": 0, "offset": offset, "limit": limit}

    async def compile(self, manifest: dict[str, Any], files: list[dict[str, Any]], config: Any = None,
                      context: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return manifest, files  # Hypha installs browser apps only through a worker that compiles

    def service(self) -> dict[str, Any]:
        return {"id": "floor", "name": "floor", "type": "server-app-worker", "supported_types": ["window"],
                "config": {"visibility": "public", "require_context": True},
                "start": self.start, "stop": self.stop, "get_logs": self.get_logs, "compile": self.compile}


async def main(clients: int, seconds: float) -> int:
    quiet_logs()
    from hypha_rpc import connect_to_server

    from browser_worker import BrowserWorker, WorkerSettings, registered

    async with server_beside_builtin() as (server, chromium):
        server_proc = psutil.Process(server._procs[-1].pid)
        token = await server.user_token("bench")
        client = await connect_to_server({"server_url": server.url, "token": token})
        await client.register_service(FloorWorker().service())
        settings = WorkerSettings.from_env(server_url=server.url, chromium_path=chromium.path, max_sessions=80)
        async with BrowserWorker(settings) as ours, registered(ours, server.url, token, service_id="ours"):
            apps = await client.get_service("public/server-apps")
            workers = [w["id"] for w in await apps.list_workers()]
            ids = {"floor": next(w for w in workers if w.endswith(":floor")),
                   "ours": next(w for w in workers if w.endswith(":ours"))}
            ids["built-in"] = next(w for w in workers if w not in ids.values() and "browser" in w.lower())
            installed = {name: await install_apps(apps, wid, name, clients) for name, wid in ids.items()}
            print(f"C={clients}, {seconds:g} s per worker, {os.cpu_count()} cores\n")
            print(f"{'worker':<9}{'starts/s':>9}{'p50 ms':>8}{'server CPU s/start':>20}{'beyond the floor':>18}  failures")
            floor = None
            for name in ("floor", "ours", "built-in"):
                await run_clients(apps, client, installed[name], ids[name], 1, 3)  # warm-up
                cpu0 = server_proc.cpu_times()
                r = await run_clients(apps, client, installed[name], ids[name], clients, seconds)
                cpu1 = server_proc.cpu_times()
                per_start = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / max(1, len(r["starts"]))
                floor = per_start if floor is None else floor
                print(f"{name:<9}{len(r['starts']) / r['elapsed']:>9.2f}{statistics.median(r['starts'] or [0]):>8.0f}"
                      f"{per_start:>20.3f}{per_start - floor:>18.3f}  {r['failures'] or 0}", flush=True)
                await asyncio.sleep(2)
        await client.disconnect()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5, help="concurrent client loops (default 5)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per worker (default 20)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.clients, args.seconds)))
