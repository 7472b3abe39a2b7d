"""Issue 6: crashes, overload, leaks, hostile input — the worker keeps serving."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError

from browser_worker import AppStartError, BrowserWorker, CapacityError, WorkerError
from browser_worker.metrics import serve_metrics
from browser_worker.testing.hypha_server import free_port
from browser_worker.testing import internals

from ._support import browser_pids, wait_for, web_app_config

pytestmark = pytest.mark.e2e


async def test_browser_killed_sessions_fail_and_worker_recovers(settings: Any) -> None:
    before = browser_pids()
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        mine = browser_pids() - before
        assert len(mine) == 1
        sids = [await w.start(web_app_config(f"data:text/html,<p>{i}</p>")) for i in range(3)]
        os.kill(mine.pop(), signal.SIGKILL)
        killed_at = time.monotonic()
        for sid in sids:
            await wait_for(lambda sid=sid: not (sid in w.stats().active))
            info = await w.get_session_info(sid)
            assert info["status"] == "failed"
            logs = await w.get_logs(sid)
            assert any("Chromium exited unexpectedly" in i["content"] for i in logs["items"]), [i["content"] for i in logs["items"]]
        new = await w.start(web_app_config("data:text/html,<p id=p>after crash</p>"))
        recovered_in = time.monotonic() - killed_at
        print(f"\nstart after Chromium SIGKILL succeeded {recovered_in:.2f}s after the kill")
        assert await w.execute(new, "document.getElementById('p').textContent") == "after crash"
        assert w.get_load() == pytest.approx(1 / settings.max_sessions)
        assert w.stats().browser_restarts == 1
        await w.stop(new)
        assert w.get_load() == 0


async def test_page_crash_fails_only_that_session(settings: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        a = await w.start(web_app_config("data:text/html,<p>a</p>"))
        b = await w.start(web_app_config("data:text/html,<p>b</p>"))
        page = internals(w).sessions.active(a).lease.page
        cdp = await page.context.new_cdp_session(page)
        with pytest.raises(PlaywrightError, match="Target page, context or browser has been closed"):
            await cdp.send("Page.crash")  # the page dies under the call
        await wait_for(lambda: not (a in w.stats().active))
        assert (await w.get_session_info(a))["status"] == "failed"
        assert any("crashed" in i["content"] for i in (await w.get_logs(a))["items"])
        assert await w.execute(b, "document.body.textContent") == "b"
        c = await w.start(web_app_config("data:text/html,<p>c</p>"))
        assert await w.execute(c, "document.body.textContent") == "c"
        assert w.stats().browser_restarts == 0


async def test_overload_queues_then_fails_and_nothing_leaks(settings: Any) -> None:
    async with BrowserWorker(settings.with_(max_sessions=3, pool_size=1, queue_timeout=1.5)) as w:
        baseline = w.context_count()
        results = await asyncio.gather(
            *(w.start(web_app_config(f"data:text/html,<p>{i}</p>")) for i in range(6)), return_exceptions=True
        )
        ok = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if isinstance(r, CapacityError)]
        assert len(ok) == 3 and len(refused) == 3, results
        assert all("worker at capacity (3/3 sessions)" in str(e) for e in refused)

        # Waiters succeed as others stop.
        waiting = [asyncio.create_task(w.start(web_app_config("data:text/html,<p>late</p>"))) for _ in range(3)]
        await wait_for(lambda: w.stats().queue_length == 3)  # all three queued before a slot frees
        assert w.stats().in_use == 3 and not any(t.done() for t in waiting)
        for sid in ok:
            await w.stop(sid)
        late = await asyncio.gather(*waiting)
        assert len(set(late)) == 3
        for sid in late:
            await w.stop(sid)
        await wait_for(lambda: w.context_count() == baseline)
        assert w.stats().in_use == 0


async def test_fifty_start_stop_cycles_leak_no_context(settings: Any, window_config: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=2)) as w:
        await wait_for(lambda: w.stats().warm == 2)
        baseline = w.context_count()
        for _ in range(50):
            sid = await w.start(window_config("await api.export({setup(){}});"))
            await w.stop(sid)
        await wait_for(lambda: w.stats().warm == 2)
        assert w.context_count() == baseline == 2
        assert w.metrics.failures._value.get() == 0


async def test_recycle_after_n_sessions_drains_old_browser(settings: Any) -> None:
    before = browser_pids()
    async with BrowserWorker(settings.with_(pool_size=1, recycle_after=3)) as w:
        keep = await w.start(web_app_config("data:text/html,<p>old</p>"))
        old_browser = internals(w).sessions.active(keep).lease.browser
        for _ in range(4):
            sid = await w.start(web_app_config("data:text/html,<p>x</p>"))
            await w.stop(sid)
        assert w.stats().browser_recycles >= 1
        assert not internals(w).host.is_current(old_browser)  # new sessions go to a fresh browser
        assert await w.execute(keep, "document.body.textContent") == "old"  # the old one drains
        assert old_browser in internals(w).host.browsers()
        assert len(browser_pids() - before) >= 2  # the old one and a fresh one
        await w.stop(keep)
        await wait_for(lambda: not old_browser.is_connected())  # drained: closed
        assert old_browser not in internals(w).host.browsers()
        # ...and its process is gone: one Chromium per browser the host still has.
        await wait_for(lambda: len(browser_pids() - before) == len(internals(w).host.browsers()))


async def test_infinite_loop_times_out_and_is_cleaned_up(settings: Any, window_config: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=1)) as w:
        cfg = window_config("while (true) {}")
        cfg["timeout"] = 3
        with pytest.raises(AppStartError, match="did not finish loading within 3s"):
            await w.start(cfg)
        assert not (cfg["id"] in w.stats().active)
        assert (await w.get_session_info(cfg["id"]))["status"] == "failed"
        other = await w.start(web_app_config("data:text/html,<p>fine</p>"))
        assert await w.execute(other, "document.body.textContent") == "fine"


async def test_console_flood_stays_bounded(settings: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=1, max_log_entries=1000)) as w:
        flood = await w.start(web_app_config("data:text/html,<p>flood</p>"))
        calm = await w.start(web_app_config("data:text/html,<p>calm</p>"))
        await w.execute(flood, "() => { for (let i = 0; i < 100000; i++) console.log('line ' + i); }")
        assert await w.execute(calm, "document.body.textContent") == "calm"
        await wait_for(lambda: any("line 99999" in t for t in internals(w).sessions.active(flood).logs.texts()), 60)
        logs = await w.get_logs(flood)
        assert logs["total"] <= 1000


async def test_huge_script_runs(worker: BrowserWorker, window_config: Any) -> None:
    payload = "x" * (10 * 1024 * 1024)
    script = f"const big = {payload!r};\nwindow.bigLength = big.length;\nawait api.export({{setup(){{}}}});"
    sid = await worker.start(window_config(script))
    try:
        assert await worker.execute(sid, "window.bigLength") == len(payload)
    finally:
        await worker.stop(sid)


async def test_permissions_denied_unless_asked(worker: BrowserWorker, hypha_server: Any) -> None:
    url = hypha_server.url + "/health/readiness"
    sid = await worker.start(web_app_config(url))
    asked = await worker.start(web_app_config(url, permissions=["geolocation"]))
    try:
        query = "() => navigator.permissions.query({name: 'geolocation'}).then(p => p.state)"
        assert await worker.execute(sid, query) != "granted"
        assert await worker.execute(asked, query) == "granted"
    finally:
        await worker.stop(sid)
        await worker.stop(asked)
    with pytest.raises(WorkerError, match="unknown permission"):
        await worker.start(web_app_config(url, permissions=["root-shell"]))


async def test_file_urls_need_opt_in(settings: Any, tmp_path: Any) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>local</p>")
    async with BrowserWorker(settings.with_(pool_size=0)) as w:
        with pytest.raises(WorkerError, match="--allow-file-urls"):
            await w.start(web_app_config(page.as_uri()))
    async with BrowserWorker(settings.with_(pool_size=0, allow_file_urls=True)) as w:
        sid = await w.start(web_app_config(page.as_uri()))
        assert await w.execute(sid, "document.body.textContent") == "local"


async def test_session_ttl_stops_old_sessions(settings: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=0, session_ttl=0.5)) as w:
        sid = await w.start(web_app_config("data:text/html,<p>short</p>"))
        await wait_for(lambda: not (sid in w.stats().active), 10)
        assert (await w.get_session_info(sid))["status"] == "stopped"
        assert any("session-ttl" in t for t in internals(w).sessions.any(sid).logs.texts())


def samples(text: str) -> dict[str, float]:
    """Prometheus text as ``{'name{label="v"}': value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return out


async def test_health_and_metrics_endpoint(settings: Any, window_config: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=1, max_sessions=4)) as w:
        port = free_port()
        runner = await serve_metrics(w.metrics, "127.0.0.1", port)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                async def scrape() -> tuple[dict[str, Any], dict[str, float]]:
                    async with http.get(base + "/health") as resp:
                        assert resp.status == 200
                        health = await resp.json()
                    async with http.get(base + "/metrics") as resp:
                        assert resp.status == 200
                        return health, samples(await resp.text())

                _, before = await scrape()
                sid = await w.start(web_app_config("data:text/html,<p>m</p>"))
                health, during = await scrape()
                await w.stop(sid)
                with pytest.raises(WorkerError, match="scheme javascript: is not allowed"):
                    await w.start(web_app_config("javascript:alert(1)"))  # refused at the door: no start
                _, after = await scrape()
                with pytest.raises(AppStartError, match="metrics-boot-failure"):  # a start that fails
                    await w.start(window_config("throw new Error('metrics-boot-failure');"))
                _, failed = await scrape()
        finally:
            await runner.cleanup()
    assert health == {"status": "ok", "browser_up": True, "sessions": 1, "capacity": 4, "load": 0.25, "screencasts": 0}
    assert during["browser_worker_starts_total"] == before["browser_worker_starts_total"] + 1
    assert during["browser_worker_start_seconds_count"] == before["browser_worker_start_seconds_count"] + 1
    assert 0 < during["browser_worker_start_seconds_sum"] - before["browser_worker_start_seconds_sum"] < 30
    assert during['browser_worker_sessions{state="running"}'] == 1.0
    assert during['browser_worker_sessions{state="starting"}'] == 0.0
    assert during["browser_worker_capacity"] == 4 and during["browser_worker_browser_up"] == 1
    assert during["browser_worker_load"] == health["load"] == 0.25  # what an autoscaler scales on
    assert during["browser_worker_browser_restarts"] == 0 and during["browser_worker_start_failures_total"] == 0
    assert after['browser_worker_sessions{state="running"}'] == 0.0
    assert after["browser_worker_starts_total"] == during["browser_worker_starts_total"]
    assert after["browser_worker_start_failures_total"] == 0
    # The failed start counts once as a start and once as a failure, and adds no start time.
    assert failed["browser_worker_starts_total"] == after["browser_worker_starts_total"] + 1
    assert failed["browser_worker_start_failures_total"] == 1
    assert failed["browser_worker_start_seconds_count"] == after["browser_worker_start_seconds_count"]
    assert failed['browser_worker_sessions{state="running"}'] == 0.0
