"""What an app's own device scale factor costs at start: a fresh context vs a warm pooled one.

An app whose manifest asks for another ``device_scale_factor`` than the worker's cannot use a warm
context (Chromium fixes the scale factor when a context is made), so the pool makes one for it.
Measured on a local Hypha server (S3 on moto), pages reaching 127.0.0.1 only:
  web-app   worker.start of a data: page (no server connection), scale 1 (warm) vs 2 (fresh)
  window    worker.start → the app's ``default`` service registered, scale 1 (warm: the RPC
            module is already imported) vs 2 (fresh: the page imports it itself)
  capture   take_screenshot of 1280×720 at scale 1 and 2 (png and webp), and print_pdf
and prints p50/p90/min/max in milliseconds. Run: .venv/bin/python benchmarks/screenshot_scale.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from hypha_rpc import connect_to_server

from common import quiet_logs, summarize, timed, wait_registered

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer

GAP = 0.5  # seconds between starts, so each start finds a refilled warm pool
WINDOW = "await api.export({ setup() {}, echo(x) { return x; } });"
PAGE = "data:text/html,<h1>scale</h1><p>" + "text " * 200 + "</p>"


def config(kind: str, server: LocalHyphaServer, token: str, scale: float | None) -> dict[str, Any]:
    cid = f"bench-{uuid.uuid4().hex[:8]}"
    manifest: dict[str, Any] = {"type": kind, "name": "bench"}
    if scale is not None:
        manifest["device_scale_factor"] = scale
    base = {"id": f"ws-user-bench/{cid}", "workspace": "ws-user-bench", "client_id": cid, "app_id": "bench"}
    if kind == "web-app":
        return {**base, "entry_point": PAGE, "manifest": {**manifest, "entry_point": PAGE}}
    return {**base, "server_url": server.url, "token": token, "source": WINDOW, "manifest": manifest}


async def main(runs: int, as_json: bool) -> int:
    quiet_logs()
    rows: list[dict[str, Any]] = []
    async with LocalHyphaServer() as server:
        token = await server.user_token("bench")
        client = await connect_to_server({"server_url": server.url, "token": token})
        settings = WorkerSettings.from_env(server_url=server.url, allow_hosts="127.0.0.1", python_pool_size=0)
        async with BrowserWorker(settings) as worker:
            for kind in ("web-app", "window"):
                for scale, label in ((None, "warm context (scale 1)"), (2.0, "fresh context (scale 2)")):
                    samples = []
                    for _ in range(runs):
                        await asyncio.sleep(GAP)

                        async def start() -> str:
                            sid = await worker.start(config(kind, server, token, scale))
                            if kind == "window":
                                await wait_registered(client, f"{sid}:default")
                            return sid

                        ms, sid = await timed(start)
                        samples.append(ms)
                        await worker.stop(sid)
                    rows.append(summarize(f"{kind}: start, {label}", samples))
            for scale in (None, 2.0):
                sid = await worker.start(config("web-app", server, token, scale))
                for fmt in ("png", "webp"):
                    shots = [(await timed(lambda: worker.take_screenshot(sid, format=fmt)))[0] for _ in range(runs)]
                    rows.append(summarize(f"take_screenshot {fmt}, scale {scale or 1:g}", shots))
                if scale is None:
                    pdfs = [(await timed(lambda: worker.print_pdf(sid)))[0] for _ in range(runs)]
                    rows.append(summarize("print_pdf A4", pdfs))
                await worker.stop(sid)
        await client.disconnect()
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(f"{'measure':<48}{'runs':>5}{'p50 ms':>9}{'p90 ms':>9}{'min':>8}{'max':>8}")
        for r in rows:
            print(f"{r['name']:<48}{r['runs']:>5}{r['p50_ms']:>9.0f}{r['p90_ms']:>9.0f}{r['min_ms']:>8.0f}{r['max_ms']:>8.0f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per measure (default 15)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.json)))
