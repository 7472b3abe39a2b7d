"""Issue 10, "one tenant can starve the others": a page's console traffic, log volume and popups
stay within per-session budgets, and another session keeps being served meanwhile.

Real Chromium, no Hypha server needed (web-app pages on data: URLs)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import quote

import psutil
import pytest

from browser_worker import BrowserWorker, SessionNotFoundError, WorkerSettings
from browser_worker.testing import internals

from ._support import wait_for

pytestmark = pytest.mark.e2e

MAX_LOG_BYTES = 256 * 1024
ENTRY_BYTES = 4096
RETAINED = 512 * 1024

#: Everything a hostile page can throw at the worker's console channel, in a loop until
#: ``window.__stop``: direct calls of the old binding (200 000-entry arrays, 50 MB strings)
#: and of Playwright's binding dispatcher if visible, attempts to replace the worker's read
#: hooks, a polluted ``Array.prototype.join`` so the page's own console ring answers the
#: worker with 50 MB strings or garbage, and console.log of 1 MB lines, 200 per tick.
FLOOD = """() => {
  const arr = Array.from({length: 200000}, (_, i) => ["log", "x" + i]);
  const big = "x".repeat(50 * 1024 * 1024);
  const line = "y".repeat(1024 * 1024);
  const state = window.__flood = {calls: 0, refused: 0, hooks_replaced: 0, ticks: 0};
  for (const name of ["__bwTakeConsole", "__bwFlushConsole"]) {
    try { Object.defineProperty(window, name, {value: () => big}); state.hooks_replaced++; } catch (_) {}
  }
  const join = Array.prototype.join;
  let flip = 0;
  Array.prototype.join = function (sep) {
    if (sep !== "," || window.__stop) return join.call(this, sep);
    flip++;
    return flip % 3 === 0 ? big : flip % 3 === 1 ? '["log", 1], "x"' : join.call(this, sep);
  };
  const tick = () => {
    if (window.__stop) return;
    state.ticks++;
    for (let i = 0; i < 20; i++) {
      state.calls++;
      try { window.__bwConsole(i % 2 ? arr : big).catch(() => state.refused++); } catch (_) { state.refused++; }
      const raw = window.__playwright__binding__;
      if (typeof raw === "function") {
        try { raw(JSON.stringify({name: "__bwConsole", seq: 1e9 + state.calls, serializedArgs: [{s: big}]})); }
        catch (_) { state.refused++; }
      }
    }
    for (let i = 0; i < 200; i++) console.log(line);
    setTimeout(tick, 10);
  };
  tick();
}"""


def web_app(html: str) -> dict[str, Any]:
    cid = f"budget-{uuid.uuid4().hex[:8]}"
    url = "data:text/html," + quote(html)
    return {"id": f"ws-user-alice/{cid}", "workspace": "ws-user-alice", "client_id": cid,
            "app_id": "budget-test", "entry_point": url, "manifest": {"type": "web-app", "entry_point": url}}


async def back_to_baseline(w: BrowserWorker, baseline: int) -> None:
    await wait_for(lambda: w.stats().in_use == 0 and w.context_count() == baseline, 30)
    assert w.stats().in_use == 0 and w.context_count() == baseline


@pytest.fixture
def budget_settings() -> WorkerSettings:
    return WorkerSettings.from_env(
        pool_size=1, python_pool_size=0, max_log_bytes=MAX_LOG_BYTES, max_log_entry_bytes=ENTRY_BYTES,
        retained_log_bytes=RETAINED, start_timeout=30.0,
    )


async def test_console_flood_cannot_delay_another_session(budget_settings: WorkerSettings) -> None:
    me = psutil.Process()
    async with BrowserWorker(budget_settings) as w:
        await wait_for(lambda: w.stats().warm == 1)
        baseline = w.context_count()
        attacker = await w.start(web_app("<p>attacker</p>"))
        bystander = await w.start(web_app("<p>bystander</p>"))
        for _ in range(10):
            assert await w.execute(bystander, "1+1") == 2
        rss_before = me.memory_info().rss
        await w.execute(attacker, FLOOD)

        latencies, peak_rss = [], rss_before
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            t = time.perf_counter()
            assert await asyncio.wait_for(w.execute(bystander, "1+1"), 60) == 2
            latencies.append(time.perf_counter() - t)
            peak_rss = max(peak_rss, me.memory_info().rss)
            await asyncio.sleep(0.02)
        logs_read = await asyncio.wait_for(w.get_logs(attacker), 10)  # pulls through the flood
        state = await w.execute(attacker, "() => { window.__stop = true; return window.__flood; }")
        print(f"\nbystander execute under flood: {len(latencies)} calls, max {max(latencies) * 1000:.0f} ms, "
              f"worker RSS +{(peak_rss - rss_before) / 2**20:.0f} MB; attacker {state}")

        assert max(latencies) < 1.0, f"execute took {max(latencies):.2f}s while another page flooded"
        assert peak_rss - rss_before < 300 * 2**20
        assert state["ticks"] > 10 and state["calls"] > 100  # the attack really ran
        assert state["hooks_replaced"] == 0  # the read hook cannot be swapped out
        assert state["refused"] >= state["calls"]  # no binding to call: every call failed in the page

        logs = internals(w).sessions.active(attacker).logs
        assert logs.bytes <= MAX_LOG_BYTES and logs.dropped > 0
        assert all(len(i["content"].encode()) <= ENTRY_BYTES for i in logs_read["items"])
        texts = logs.texts()
        assert any(t.startswith("[log] yyyy") and t.endswith("bytes]") for t in texts)  # 1 MB lines, cut
        pump = internals(w).sessions.active(attacker).lease.console_pump
        assert pump.rejected > 0 and pump.lines > 0  # polluted answers dropped, good ones kept
        assert sum("console output from the page dropped: " in t for t in texts) <= 1  # said once

        await w.stop(attacker)
        closing = internals(w).sessions.any(attacker).logs.texts()
        assert sum(f"console output from the page dropped {pump.rejected} times" in t for t in closing) == 1
        await w.stop(bystander)
        assert w.stats().retained_log_bytes <= RETAINED
        await back_to_baseline(w, baseline)


async def test_retained_logs_stay_within_their_byte_budget(budget_settings: WorkerSettings) -> None:
    async with BrowserWorker(budget_settings) as w:
        await wait_for(lambda: w.stats().warm == 1)
        baseline = w.context_count()
        ended = []
        for _ in range(5):  # 300 lines of 1 MB each, per session (issue 10)
            sid = await w.start(web_app("<p>chatty</p>"))
            await w.execute(sid, "() => { const l = 'q'.repeat(1 << 20); for (let i = 0; i < 300; i++) console.log(l); }")
            await w.get_logs(sid)
            assert internals(w).sessions.active(sid).logs.bytes <= MAX_LOG_BYTES
            await w.stop(sid)
            ended.append(sid)
            assert w.stats().retained_log_bytes <= RETAINED
        with pytest.raises(SessionNotFoundError):
            await w.get_logs(ended[0])  # the oldest ended session made room
        newest = await w.get_logs(ended[-1], type="console")
        assert newest["total"] > 0 and all(i["content"].startswith("[log] qqq") for i in newest["items"])
        await back_to_baseline(w, baseline)


async def test_popups_are_blocked(budget_settings: WorkerSettings) -> None:
    async with BrowserWorker(budget_settings) as w:
        await wait_for(lambda: w.stats().warm == 1)
        baseline = w.context_count()
        sid = await w.start(web_app(
            "<p>popups</p><script>window.opened = [];"
            "for (let i = 0; i < 50; i++) window.opened.push(window.open('about:blank#' + i));</script>"))
        lease = internals(w).sessions.active(sid).lease
        assert await w.execute(sid, "window.opened.filter((x) => x !== null).length") == 0
        # Ways around window.open: links with target=_blank, a fresh frame's own window.open.
        await w.execute(sid, """() => {
            for (let i = 0; i < 20; i++) {
              const a = document.createElement('a');
              a.href = 'about:blank#link' + i; a.target = '_blank';
              document.body.append(a); a.click();
            }
            const f = document.createElement('iframe');
            document.body.append(f);
            try { f.contentWindow.open('about:blank#frame'); } catch (_) {}
        }""")
        await asyncio.sleep(1.0)
        await wait_for(lambda: len(lease.context.pages) == 1, 10)
        assert lease.context.pages == [lease.page]
        texts = (await w.get_logs(sid))["items"]
        blocked = [i for i in texts if "popup blocked: " in i["content"]]
        assert blocked, [i["content"] for i in texts]
        assert len(blocked) <= 25  # capped: ≤ 10 from the page, ≤ 10 (+1 summary) from the worker
        assert lease.popups_blocked >= 1  # the target=_blank ones were closed by the worker
        assert any(i["source"] == "worker" and i["type"] == "warning" for i in blocked)
        await w.stop(sid)
        await back_to_baseline(w, baseline)


async def test_hung_page_keeps_one_pending_read_and_stops(budget_settings: WorkerSettings) -> None:
    async with BrowserWorker(budget_settings) as w:
        await wait_for(lambda: w.stats().warm == 1)
        baseline = w.context_count()
        sid = await w.start(web_app("<p>hang</p>"))
        other = await w.start(web_app("<p>other</p>"))
        await w.execute(sid, "() => { console.log('before the hang'); setTimeout(() => { for (;;) {} }, 300); }")
        await asyncio.sleep(0.2)
        assert "[log] before the hang" in (await w.get_logs(sid, type="console"))["items"][0]["content"]
        await asyncio.sleep(3.5)  # the pump's reads now time out against the spinning page
        t = time.perf_counter()
        await w.get_logs(sid)
        assert time.perf_counter() - t < 2.0
        pump = internals(w).sessions.active(sid).lease.console_pump
        assert pump.timeouts >= 1 and len(pump._inflight) <= 1  # no pile of pending reads
        assert await w.execute(other, "1+1") == 2
        t = time.perf_counter()
        await w.stop(sid)
        assert time.perf_counter() - t < 5.0
        await w.stop(other)
        await back_to_baseline(w, baseline)
