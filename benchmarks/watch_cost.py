"""Live view (issue 18): what one watcher costs the other sessions. Start p50 of a small web app
with ``--idle`` idle sessions running, with nobody watching, then while one viewer watches an
animated session at 5 fps, then after the watcher left (the screencast stopped).

In-process worker, real Chromium. Run: .venv/bin/python benchmarks/watch_cost.py [--idle 100 --runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

from common import quiet_logs, summarize, timed

from browser_worker import BrowserWorker, WorkerSettings

IDLE = "data:text/html,<p>idle</p>"
COUNTER = ("data:text/html,<h1 id=c>0</h1><script>let n = 0;"
           "setInterval(() => { document.getElementById('c').textContent = ++n }, 100)</script>")
SMALL = "data:text/html,<title>small</title><p>hello</p>"


def config(url: str) -> dict[str, Any]:
    client = f"b-{uuid.uuid4().hex[:10]}"
    return {"id": f"bench/{client}", "workspace": "bench", "client_id": client, "app_id": "bench",
            "manifest": {"type": "web-app", "entry_point": url}}


async def starts(worker: BrowserWorker, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        ms, sid = await timed(lambda: worker.start(config(SMALL)))
        samples.append(ms)
        await worker.stop(sid)
        await asyncio.sleep(0.3)  # let the pool refill, as between real starts
    return samples


async def main(idle: int, runs: int) -> None:
    quiet_logs()
    settings = WorkerSettings.from_env(max_sessions=idle + 8, python_pool_size=0)
    async with BrowserWorker(settings) as worker:
        for _ in range(idle):
            await worker.start(config(IDLE))
        watched = await worker.start(config(COUNTER))
        await asyncio.sleep(2)
        results = [summarize(f"start, {idle} idle sessions, no watcher", await starts(worker, runs))]
        frames = await worker.watch(watched, fps=5)
        got = 0

        async def consume() -> None:
            nonlocal got
            async for _ in frames:
                got += 1

        watcher = asyncio.ensure_future(consume())
        await asyncio.sleep(1)
        results.append(summarize(f"start, {idle} idle sessions, one watcher at 5 fps", await starts(worker, runs)))
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await frames.aclose()
        await asyncio.sleep(1)  # the screencast outlives its last watcher by half a second
        results.append({"frames_received_by_the_watcher": got,
                        "screencasts_after_the_watcher_left": worker.stats().screencasts})
        base, watched_p50 = results[0]["p50_ms"], results[1]["p50_ms"]
        results.append({"p50_change_with_watcher_pct": round((watched_p50 - base) / base * 100, 1)})
    for row in results:
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=100, help="idle sessions kept running")
    parser.add_argument("--runs", type=int, default=20, help="starts measured per phase")
    args = parser.parse_args()
    asyncio.run(main(args.idle, args.runs))
