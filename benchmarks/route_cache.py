"""Route cache (issue 19): start time of a web app whose page loads a big script, without the
cache, on the first start (filling it), on later starts (from disk), with the origin down,
after a worker restart, and the first start of an app whose cache was filled at install
(``compile``) with the origin down from then on.

The origin is a local aiohttp server serving ``--size-mb`` of script after ``--delay`` seconds
(a stand-in for a CDN). Run: .venv/bin/python benchmarks/route_cache.py [--size-mb 5 --delay 0.3 --mbps 50 --runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from typing import Any

from aiohttp import web

from common import quiet_logs, summarize, timed

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker._net.loopback import start_site

PAGE = ('<!doctype html><script src="/big.js"></script>'
        '<p id=size></p><script>size.textContent = String(window.__big.length)</script>')


class Origin:
    def __init__(self, size: int, delay: float, mbps: float = 0.0, cache_control: str = "") -> None:
        self.size, self.delay, self.requests, self.port = size, delay, 0, 0
        self.headers = {"Cache-Control": cache_control} if cache_control else {}
        self.mbps = mbps  # 0: as fast as loopback
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        body = b"window.__big = '" + b"x" * (self.size - 32) + b"';\n"

        async def page(_: web.Request) -> web.Response:
            self.requests += 1
            return web.Response(text=PAGE, content_type="text/html", headers=self.headers)

        async def big(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            await asyncio.sleep(self.delay)
            if not self.mbps:
                return web.Response(body=body, content_type="text/javascript", headers=self.headers)
            resp = web.StreamResponse(headers={"Content-Type": "text/javascript", "Content-Length": str(len(body)),
                                               **self.headers})
            await resp.prepare(request)
            chunk = 64 * 1024
            for i in range(0, len(body), chunk):  # a link of --mbps megabits per second
                await resp.write(body[i:i + chunk])
                await asyncio.sleep(chunk * 8 / (self.mbps * 1e6))
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_get("/index.html", page)
        app.router.add_get("/big.js", big)
        self.runner, base = await start_site(app, port=self.port)
        self.port = int(base.rsplit(":", 1)[1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def config(self, cache: bool = True) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/index.html"
        cid = f"bench-{uuid.uuid4().hex[:8]}"
        return {"id": f"ws-user-bench/{cid}", "workspace": "ws-user-bench", "client_id": cid,
                "app_id": "bench-cached", "entry_point": url,
                "manifest": {"type": "web-app", "entry_point": url, "enable_cache": cache,
                             "cache_routes": [f"http://127.0.0.1:{self.port}/*"]}}


async def starts(worker: BrowserWorker, origin: Origin, runs: int, cache: bool = True) -> list[float]:
    samples = []
    for _ in range(runs):
        ms, sid = await timed(lambda: worker.start(origin.config(cache)))
        assert await worker.execute(sid, "() => document.getElementById('size').textContent") == str(origin.size - 32)
        await worker.stop(sid)
        samples.append(ms)
        await asyncio.sleep(0.3)  # let the pool refill
    return samples


async def installed_first_start(worker: BrowserWorker, origin: Origin) -> tuple[list[float], list[float]]:
    """Compile (install) an app whose page loads the big script, stop the origin, start it once."""
    big = f"http://127.0.0.1:{origin.port}/big.js"
    page = PAGE.replace('src="/big.js"', f'src="{big}"')
    manifest = {"type": "iframe", "entry_point": "index.html", "cache_routes": [f"http://127.0.0.1:{origin.port}/*"]}
    context = {"ws": "ws-user-bench", "user": {"id": "bench"}}
    compile_ms, (out_manifest, out_files) = await timed(lambda: worker.compile(
        manifest, [{"path": "index.html", "content": page}], {"workspace": "ws-user-bench"}, context=context))
    await origin.stop()
    cid = f"bench-{uuid.uuid4().hex[:8]}"
    cfg = {"id": f"ws-user-bench/{cid}", "workspace": "ws-user-bench", "client_id": cid, "app_id": "bench-installed",
           "source": next(f["content"] for f in out_files if f["path"] == "index.html"), "manifest": out_manifest}
    ms, sid = await timed(lambda: worker.start(cfg))
    assert await worker.execute(sid, "() => document.getElementById('size').textContent") == str(origin.size - 32)
    await worker.stop(sid)
    return [compile_ms], [ms]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=float, default=5.0)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the origin waits before answering")
    parser.add_argument("--mbps", type=float, default=0.0,
                        help="the origin's bandwidth in megabits per second, like a CDN seen from the worker (0: loopback speed)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-control", default="",
                        help="what the origin answers as Cache-Control, e.g. no-store (the app lists the route itself)")
    args = parser.parse_args()
    quiet_logs()
    origin = Origin(int(args.size_mb * 2**20), args.delay, args.mbps, args.cache_control)
    await origin.start()
    results = []
    with tempfile.TemporaryDirectory() as cache_dir:
        # Private network allowed: the install-time fill is the worker's own fetch of a loopback origin.
        settings = WorkerSettings.from_env(cache_dir=cache_dir, pool_size=1, python_pool_size=0,
                                           allow_private_network=True)
        async with BrowserWorker(settings) as worker:
            results.append(summarize("no cache (enable_cache: false)", await starts(worker, origin, args.runs, cache=False)))
            results.append(summarize("first start (fills the cache)", await starts(worker, origin, 1)))
            before = origin.requests
            results.append(summarize("later starts (from disk)", await starts(worker, origin, args.runs)))
            assert origin.requests == before, "a cached start reached the origin"
            await origin.stop()
            results.append(summarize("origin down", await starts(worker, origin, args.runs)))
            stats = await worker.get_app_cache_stats("ws-user-bench", "bench-cached")
        async with BrowserWorker(settings) as worker:
            results.append(summarize("after a worker restart, origin down", await starts(worker, origin, args.runs)))
            await origin.start()
            compiled, installed = await installed_first_start(worker, origin)
            results.append(summarize("install (compile, fills the cache)", compiled))
            results.append(summarize("first start after install, origin down", installed))
    print(f"{'':38} {'p50 ms':>8} {'min ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r['name']:38} {r['p50_ms']:8.0f} {r['min_ms']:8.0f} {r['max_ms']:8.0f}")
    first, later = results[1]["p50_ms"], results[2]["p50_ms"]
    print(f"first start / later start: {first / later:.1f}x")
    print(json.dumps({"size_bytes": origin.size, "delay_s": args.delay, "mbps": args.mbps, "results": results,
                      "cache": {k: stats[k] for k in ("entry_count", "total_size_bytes", "hits", "misses")}}))


if __name__ == "__main__":
    asyncio.run(main())
