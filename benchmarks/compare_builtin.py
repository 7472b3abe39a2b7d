"""Side by side: Hypha's built-in BrowserWorker vs browser-worker, one run, same machine.

Same local Hypha server (its in-process browser worker switched ON, ours registered next to
it), same Chromium binary (Playwright is pointed at it through PLAYWRIGHT_BROWSERS_PATH, since
its own browser download is not reachable here), same apps. Prints p50/p90 of:
  through the server: server-apps.start (window) → returns with `default` registered, stop
  worker-side:        start → `default` registered (window), start (web-app data: URL),
                      screenshot, execute round trip, starts/s with 10 concurrent starts
plus raw Playwright `page.screenshot()` for the same page, and the ratio built-in / ours.
Run: .venv/bin/python benchmarks/compare_builtin.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from common import pct, quiet_logs, timed, wait_registered
from typing import Any, AsyncIterator

APP = """<config lang="json">{"name": "Compare", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, echo(x) { return x; } });
</script>
"""
PAGE = "data:text/html,<body style='font:20px sans-serif'><h1>compare</h1><p>screenshot me</p></body>"


def point_playwright_at(chromium: str) -> Path:
    """Make Playwright's default launch (what the built-in worker uses) find ``chromium``."""
    root = Path(tempfile.mkdtemp(prefix="bw-pw-browsers-"))
    from playwright.sync_api import sync_playwright

    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(root)
    with sync_playwright() as p:
        full = Path(p.chromium.executable_path)
    rev = full.parts[-3].split("-")[-1]
    shell = root / f"chromium_headless_shell-{rev}" / "chrome-headless-shell-linux64" / "chrome-headless-shell"
    for target in (full, shell):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(chromium)
    return root


@asynccontextmanager
async def server_beside_builtin(builtin: bool = True, **extra_env: str) -> AsyncIterator[tuple[Any, Any]]:
    """A local Hypha server (S3 on moto) with its built-in worker on, Playwright pointed at the
    Chromium we use, so both workers drive the same binary; yields (server, chromium)."""
    from browser_worker._browser.chromium import find_chromium
    from browser_worker.testing.hypha_server import LocalHyphaServer

    chromium = find_chromium(os.environ.get("BROWSER_WORKER_CHROMIUM"))
    assert chromium, "no Chromium found"
    browsers = await asyncio.to_thread(point_playwright_at, chromium.path)
    env = {"HYPHA_DISABLE_INPROCESS_BROWSER_WORKER": "false" if builtin else "true",
           "PLAYWRIGHT_BROWSERS_PATH": str(browsers), **extra_env}
    async with LocalHyphaServer(extra_env=env) as server:
        yield server, chromium


class Side:
    """One worker under test, driven directly (worker-side measures)."""

    def __init__(self, name: str, worker: Any, server_url: str, token: str, client: Any, app: dict[str, Any]):
        self.name, self.worker, self.server_url, self.token, self.client = name, worker, server_url, token, client
        self.app = app

    def config(self, web_app: bool = False) -> dict[str, Any]:
        cid = f"cmp-{uuid.uuid4().hex[:8]}"
        ws = "ws-user-bench"
        if web_app:
            manifest = {"type": "web-app", "entry_point": PAGE, "name": "page"}
        else:
            manifest = {k: v for k, v in self.app["manifest"].items()}
        alias = self.app["alias"]
        return {
            "id": f"{ws}/{cid}", "app_id": alias, "workspace": ws, "client_id": cid,
            "server_url": self.server_url, "token": self.token,
            "app_files_base_url": f"{self.server_url}/{ws}/artifacts/{alias}/files",
            "entry_point": manifest["entry_point"], "artifact_id": f"{ws}/{alias}",
            "timeout": 60, "manifest": manifest, "progress_callback": None,
        }

    async def start_registered(self) -> tuple[float, str]:
        cfg = self.config()
        t = time.perf_counter()
        sid = await self.worker.start(cfg)
        await wait_registered(self.client, f"{sid}:default")
        return (time.perf_counter() - t) * 1000, sid


async def measure_side(side: Side, runs: int, burst: int) -> dict[str, list[float] | float]:
    out: dict[str, Any] = {"start": [], "start_webapp": [], "stop": [], "screenshot": [], "execute": []}
    for _ in range(runs):
        ms, sid = await side.start_registered()
        out["start"].append(ms)
        await asyncio.sleep(0.5)
        out["execute"].append((await timed(lambda: side.worker.execute(sid, "1 + 1")))[0])
        out["stop"].append((await timed(lambda: side.worker.stop(sid)))[0])
    for _ in range(runs):
        cfg = side.config(web_app=True)
        ms, sid = await timed(lambda: side.worker.start(cfg))
        out["start_webapp"].append(ms)
        await asyncio.sleep(0.3)
        out["screenshot"].append((await timed(lambda: side.worker.take_screenshot(sid)))[0])
        await side.worker.stop(sid)
    await asyncio.sleep(1.0)
    t = time.perf_counter()
    sids = await asyncio.gather(*(side.start_registered() for _ in range(burst)))
    out["starts_per_s"] = burst / (time.perf_counter() - t)
    for _, sid in sids:
        await side.worker.stop(sid)
    return out


async def raw_screenshots(chromium: str, runs: int) -> list[float]:
    from playwright.async_api import async_playwright

    from browser_worker._browser.chromium import launch_args

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=launch_args())
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(PAGE)
        samples = [(await timed(lambda: page.screenshot()))[0] for _ in range(runs)]
        await browser.close()
    return samples


async def main(runs: int, burst: int) -> int:
    quiet_logs()
    from hypha.workers.browser import BrowserWorker as BuiltinWorker  # test/benchmark only
    from hypha_rpc import connect_to_server

    from browser_worker import BrowserWorker, WorkerSettings, registered

    async with server_beside_builtin() as (server, chromium):
        token = await server.user_token("bench")
        client = await connect_to_server({"server_url": server.url, "token": token})
        ours = BrowserWorker(WorkerSettings.from_env(server_url=server.url, chromium_path=chromium.path))
        await ours.open()
        async with registered(ours, server.url, token, service_id="ours"):
            apps = await client.get_service("public/server-apps")
            workers = [w["id"] for w in await apps.list_workers()]
            ours_id = next(w for w in workers if w.endswith(":ours"))
            builtin_id = next(w for w in workers if w != ours_id and "browser" in w.lower())
            print(f"chromium: {chromium.path} ({chromium.version()})\nworkers: built-in {builtin_id}, ours {ours_id}\n")

            installed = {}
            artifacts = await client.get_service("public/artifact-manager")
            for name, wid in (("builtin", builtin_id), ("ours", ours_id)):
                ms, app = await timed(lambda wid=wid: apps.install(source=APP, overwrite=True, worker_id=wid, timeout=120))
                info = await artifacts.read(f"ws-user-bench/{app['id'].split('/')[-1]}")
                installed[name] = {"id": app["id"], "alias": info["alias"], "manifest": dict(info["manifest"])}
                print(f"install via {name}: {ms / 1000:.2f} s (incl. the server's verification start)")

            via_server: dict[str, dict[str, list[float]]] = {}
            for name, wid in (("builtin", builtin_id), ("ours", ours_id)):
                starts, stops = [], []
                for _ in range(runs):
                    ms, session = await timed(lambda wid=wid, name=name: apps.start(
                        installed[name]["id"], worker_id=wid, wait_for_service="default", timeout=120))
                    starts.append(ms)
                    stops.append((await timed(lambda s=session: apps.stop(s["id"])))[0])
                    await asyncio.sleep(0.5)
                via_server[name] = {"start": starts, "stop": stops}

            builtin = BuiltinWorker()
            await builtin.initialize()
            sides = {
                "builtin": Side("builtin", builtin, server.url, token, client, installed["builtin"]),
                "ours": Side("ours", ours, server.url, token, client, installed["ours"]),
            }
            direct = {name: await measure_side(side, runs, burst) for name, side in sides.items()}
            await builtin.shutdown()
        await ours.close()
        raw = await raw_screenshots(chromium.path, runs)
        await client.disconnect()

    rows = [
        ("server-apps.start window (through server)", via_server["builtin"]["start"], via_server["ours"]["start"]),
        ("server-apps.stop (through server)", via_server["builtin"]["stop"], via_server["ours"]["stop"]),
        ("worker start -> default registered (window)", direct["builtin"]["start"], direct["ours"]["start"]),
        ("worker start web-app (data: URL)", direct["builtin"]["start_webapp"], direct["ours"]["start_webapp"]),
        ("worker stop", direct["builtin"]["stop"], direct["ours"]["stop"]),
        ("screenshot png 1280x720", direct["builtin"]["screenshot"], direct["ours"]["screenshot"]),
        ("execute round trip", direct["builtin"]["execute"], direct["ours"]["execute"]),
    ]
    print(f"{'measure (ms)':<46}{'built-in p50':>13}{'p90':>8}{'ours p50':>10}{'p90':>8}{'ratio':>8}")
    for name, b, o in rows:
        b50, o50 = statistics.median(b), statistics.median(o)
        print(f"{name:<46}{b50:>13.0f}{pct(b, 0.9):>8.0f}{o50:>10.0f}{pct(o, 0.9):>8.0f}{b50 / o50:>7.1f}x")
    b_rate, o_rate = direct["builtin"]["starts_per_s"], direct["ours"]["starts_per_s"]
    print(f"{f'starts/s, {burst} concurrent (window, registered)':<46}{b_rate:>13.2f}{'':>8}{o_rate:>10.2f}{'':>8}{o_rate / b_rate:>7.1f}x")
    raw50, ours_shot = statistics.median(raw), statistics.median(direct["ours"]["screenshot"])
    print(f"\nraw Playwright page.screenshot p50 {raw50:.0f} ms; ours {ours_shot:.0f} ms ({ours_shot / raw50:.2f}x raw)")
    print(f"runs per measure: {runs}; date: {time.strftime('%Y-%m-%d')}; cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=10, help="concurrent starts for the starts/s figure")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.burst)))
