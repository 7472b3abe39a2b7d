"""Console flood: can one page's console traffic delay another session's ``execute``?

Session A is a web-app page that attacks the worker's console channel while session B runs
``execute("1+1")`` back to back. Printed per attack: B's execute latency (p50/max), how many
executes ran, and the growth of the worker's RSS (Python) and of the Playwright driver (node).
Attacks (each tried for --seconds, default 15):

- ``array``:  ``window.__bwConsole(<200 000 [level, text] pairs>)`` in a loop (every 50 ms, at most
  two calls in flight), plus calls straight into Playwright's binding dispatcher if the page sees it;
- ``string``: the same with one 50 MB string per call;
- ``console``: ``console.log`` of 1 MB strings, 200 a tick, plus forced flushes;
- ``lines``: the page writes 300 console lines of 1 MB each, once (issue 27's case);
- ``takeover``: the page replaces the worker's console hooks with ones returning huge values;
- ``pollute``: ``Array.prototype.join`` is replaced so the page's own console ring answers the
  worker's reads with a 50 MB string or 200 000 lines.

No Hypha server is needed (web-app pages on data: URLs).
Run: .venv/bin/python benchmarks/console_flood.py [--seconds 15] [--attack array,string,...]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from typing import Any

import psutil
from common import quiet_logs, rss_mb  # same folder

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing import internals

#: Page-side loops; each stops when ``window.__stop`` is set. Errors (e.g. a missing binding)
#: are counted in ``window.__errors`` so the figures say whether the attack reached anything.
#: Sends ``payload`` through the console binding (at most two calls in flight, as a page that
#: awaits its calls would) and, if the page can see it, straight through Playwright's internal
#: binding dispatcher, every 50 ms until ``window.__stop``.
FLOOD = """(payload) => {
  window.__errors = 0; window.__calls = 0;
  let inflight = 0;
  const tick = () => {
    if (window.__stop) return;
    if (inflight < 2) {
      window.__calls++; inflight++;
      try { window.__bwConsole(payload).catch(() => { window.__errors++; }).finally(() => inflight--); }
      catch (_) { window.__errors++; inflight--; }
    }
    const raw = window.__playwright__binding__;
    if (typeof raw === "function") {
      try { raw(JSON.stringify({name: "__bwConsole", seq: 1e9 + window.__calls, serializedArgs: [{s: "x"}]})); }
      catch (_) { window.__errors++; }
    }
    setTimeout(tick, 50);
  };
  tick();
}"""

ATTACKS = {
    "array": "() => (%s)(Array.from({length: 200000}, (_, i) => ['log', 'x' + i]))" % FLOOD,
    "string": "() => (%s)('x'.repeat(50 * 1024 * 1024))" % FLOOD,
    "console": """() => {
      const line = "y".repeat(1024 * 1024);
      window.__errors = 0; window.__calls = 0;
      const tick = () => {
        if (window.__stop) return;
        for (let i = 0; i < 200; i++) console.log(line);
        for (let i = 0; i < 20; i++) { window.__calls++; if (window.__bwFlushConsole) window.__bwFlushConsole(); }
        setTimeout(tick, 10);
      };
      tick();
    }""",
    "lines": """() => {
      const line = "l".repeat(1024 * 1024);
      window.__errors = 0; window.__calls = 0;
      for (let i = 0; i < 300; i++) { window.__calls++; console.log(i + " " + line); }
    }""",
    "takeover": """() => {
      const arr = Array.from({length: 200000}, (_, i) => ["log", "z" + i]);
      const big = "z".repeat(50 * 1024 * 1024);
      window.__errors = 0; window.__calls = 0;
      for (const name of ["__bwTakeConsole", "__bwFlushConsole"]) {
        try {
          Object.defineProperty(window, name, {configurable: true, writable: true,
            value: () => { window.__calls++; return window.__calls % 2 ? big : arr; }});
        } catch (_) { window.__errors++; }
      }
      const tick = () => {
        if (window.__stop) return;
        console.log("bait");
        setTimeout(tick, 20);
      };
      tick();
    }""",
    "pollute": """() => {
      const big = "p".repeat(50 * 1024 * 1024);
      const many = "[" + Array.from({length: 200000}, (_, i) => '["log","p' + i + '"]').join(",") + "]";
      window.__errors = 0; window.__calls = 0;
      const join = Array.prototype.join;
      Array.prototype.join = function (sep) {
        window.__calls++;
        if (sep !== ",") return join.call(this, sep);
        return window.__calls % 2 ? big : many.slice(1, -1);
      };
      const tick = () => {
        if (window.__stop) return;
        console.log("bait");
        setTimeout(tick, 20);
      };
      tick();
    }""",
}


def driver_rss_mb() -> float:
    """RSS of Playwright's node driver(s) under this process."""
    total = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            if os.path.basename(proc.cmdline()[0]).startswith("node"):
                total += proc.memory_info().rss
        except (psutil.Error, IndexError):
            continue
    return total / 2**20


def web_app(html: str) -> dict[str, Any]:
    cid = f"flood-{uuid.uuid4().hex[:8]}"
    url = "data:text/html," + html
    return {"id": f"ws-bench/{cid}", "workspace": "ws-bench", "client_id": cid, "app_id": "flood",
            "entry_point": url, "manifest": {"type": "web-app", "entry_point": url}}


async def run_attack(worker: BrowserWorker, attack: str, seconds: float) -> dict[str, Any]:
    a = await worker.start(web_app("<p>attacker</p>"))
    b = await worker.start(web_app("<p>bystander</p>"))
    for _ in range(20):  # warm up B's execute path
        await worker.execute(b, "1+1")
    rss0, node0 = rss_mb(), driver_rss_mb()
    await worker.execute(a, ATTACKS[attack])
    latencies: list[float] = []
    timeouts = 0
    peak_rss, peak_node = rss0, node0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = time.perf_counter()
        try:
            left = max(1.0, deadline + 60 - time.monotonic())
            assert await asyncio.wait_for(worker.execute(b, "1+1"), left) == 2
        except asyncio.TimeoutError:
            timeouts += 1
        latencies.append((time.perf_counter() - t) * 1000)
        peak_rss, peak_node = max(peak_rss, rss_mb()), max(peak_node, driver_rss_mb())
        await asyncio.sleep(0.02)
    try:
        calls, errors = await asyncio.wait_for(
            worker.execute(a, "() => { window.__stop = true; return [window.__calls, window.__errors]; }"), 60)
    except Exception as exc:
        calls, errors = -1, f"attacker page unresponsive: {type(exc).__name__}"
    logs = internals(worker).sessions.any(a).logs
    result = {
        "attack": attack, "executes": len(latencies), "timeouts": timeouts,
        "p50_ms": statistics.median(latencies), "max_ms": max(latencies),
        "worker_rss_growth_mb": peak_rss - rss0, "driver_rss_growth_mb": peak_node - node0,
        "attacker_calls": calls, "attacker_errors": errors, "attacker_log_entries": len(logs),
        "attacker_log_bytes": getattr(logs, "bytes", None),
    }
    for sid in (a, b):
        try:
            await asyncio.wait_for(worker.stop(sid), 120)
        except Exception as exc:
            print(f"  stopping {sid} failed: {exc!r}")
    gc.collect()
    await asyncio.sleep(1)
    result["worker_rss_after_stop_mb"] = rss_mb() - rss0
    return result


async def main(attacks: list[str], seconds: float) -> None:
    quiet_logs()
    settings = WorkerSettings.from_env(pool_size=1, python_pool_size=0, max_log_entries=10_000)
    async with BrowserWorker(settings) as worker:
        print(f"worker RSS at start {rss_mb():.0f} MB; +MB: peak growth while flooding, and after both sessions stopped")
        print(f"{'attack':>9} {'executes':>8} {'p50 ms':>8} {'max ms':>9} {'worker +MB':>10} {'after':>6} "
              f"{'driver +MB':>10} {'calls':>7} {'errors':>7} {'A logs':>7} {'A log bytes':>12}")
        for attack in attacks:
            r = await run_attack(worker, attack, seconds)
            print(f"{r['attack']:>9} {r['executes']:>8} {r['p50_ms']:>8.1f} {r['max_ms']:>9.1f} "
                  f"{r['worker_rss_growth_mb']:>10.1f} {r['worker_rss_after_stop_mb']:>6.1f} {r['driver_rss_growth_mb']:>10.1f} "
                  f"{r['attacker_calls']!s:>7} {r['attacker_errors']!s:>7} {r['attacker_log_entries']:>7} "
                  f"{r['attacker_log_bytes']!s:>12}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--attack", default=",".join(ATTACKS), help="comma-separated: " + ", ".join(ATTACKS))
    args = parser.parse_args()
    asyncio.run(main([a for a in args.attack.split(",") if a], args.seconds))
