"""What a page that tries to open windows costs Chromium (issue 20, hostile input).

Popups are blocked: ``window.open`` is replaced in every frame before page scripts run, and any
page that still appears in a session's context (``<a target=_blank>``, a form with a target)
is closed at once. This prints Chromium's memory before and after each attempt pattern, as PSS
(proportional set size: shared pages split between the processes that map them, so the sum is
what Chromium really holds) and as RSS summed over processes (what a naive check reads; it
counts shared pages once per process), plus the number of Chromium processes.

Run: .venv/bin/python benchmarks/popup_memory.py [--count 150]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import psutil

from common import quiet_logs

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing import internals

PATTERNS = {
    "window.open": "for (let i = 0; i < N; i++) window.open('about:blank#' + i);",
    "window.open in an iframe": """
        const f = document.createElement('iframe'); document.body.appendChild(f);
        await new Promise((r) => setTimeout(r, 100));
        for (let i = 0; i < N; i++) f.contentWindow.open('about:blank#' + i);""",
    "a target=_blank click": """
        for (let i = 0; i < N; i++) { const a = document.createElement('a'); a.href = 'about:blank#' + i;
          a.target = '_blank'; document.body.appendChild(a); a.click(); a.remove(); }""",
}


def chromium_memory() -> dict[str, float]:
    """PSS and RSS (MB) summed over this process's Chromium descendants, and their count."""
    pss = rss = 0.0
    count = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in proc.name():
                continue
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        pss += getattr(info, "pss", info.rss) / 2**20
        rss += info.rss / 2**20
        count += 1
    return {"pss": pss, "rss": rss, "procs": count}


async def settle_memory(seconds: float = 2.0) -> dict[str, float]:
    await asyncio.sleep(seconds)  # closed popups' renderers exit, the GC runs
    return chromium_memory()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150, help="popups each pattern tries to open")
    args = parser.parse_args()
    quiet_logs()
    async with BrowserWorker(WorkerSettings(pool_size=1, python_pool_size=0)) as worker:
        cfg: dict[str, Any] = {"id": "bench/popups", "workspace": "bench", "client_id": "popups",
                               "manifest": {"type": "web-app", "url": "data:text/html,<p>popups</p>"}}
        sid = await worker.start(cfg)
        base = await settle_memory()
        print(f"one session, before: PSS {base['pss']:.0f} MB, RSS sum {base['rss']:.0f} MB, "
              f"{base['procs']} Chromium processes")
        for name, body in PATTERNS.items():
            before = chromium_memory()
            await worker.execute(sid, f"async () => {{ const N = {args.count}; {body} }}", timeout=120)
            after = await settle_memory()
            lease = internals(worker).sessions.active(sid).lease
            blocked = lease.popups_blocked if lease else 0
            print(f"{args.count} × {name:28s} PSS {before['pss']:.0f} → {after['pss']:.0f} MB "
                  f"({after['pss'] - before['pss']:+.0f}), RSS sum {before['rss']:.0f} → {after['rss']:.0f} MB "
                  f"({after['rss'] - before['rss']:+.0f}), processes {before['procs']} → {after['procs']}, "
                  f"popup pages closed so far {blocked}")
        await worker.stop(sid)


if __name__ == "__main__":
    asyncio.run(main())
