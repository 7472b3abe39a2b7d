"""Acceptance 2: the worker used directly (no controller), against real Chromium."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from browser_worker import BrowserWorker, WorkerError
from browser_worker._net.loopback import start_site
from browser_worker.testing import internals

from ._support import web_app_config

pytestmark = pytest.mark.e2e

TALL_PAGE = "data:text/html," + "<body style='margin:0'><div id=box style='width:123px;height:45px;background:red'></div><div style='height:3000px'>tall</div></body>"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest_asyncio.fixture(scope="module")
async def local_site() -> AsyncIterator[str]:
    """A plain aiohttp site on 127.0.0.1 to act as an external web app."""
    async def index(_: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>site</h1></body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner, base = await start_site(app)
    yield f"{base}/"
    await runner.cleanup()


async def test_data_url_web_app_execute_returns_object(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config("data:text/html,<title>T</title><p id=p>hi</p>"))
    try:
        result = await worker.execute(sid, "() => ({title: document.title, text: document.getElementById('p').textContent, n: [1, 2]})")
        assert result == {"title": "T", "text": "hi", "n": [1, 2]}
        assert (await worker.get_session_info(sid))["status"] == "running"
    finally:
        await worker.stop(sid)


async def test_web_app_storage_preset(worker: BrowserWorker, local_site: str) -> None:
    cfg = web_app_config(
        local_site,
        local_storage={"theme": "dark", "obj": {"a": 1}},
        session_storage={"tab": "3"},
        cookies={"flavour": "oat"},
    )
    sid = await worker.start(cfg)
    try:
        got = await worker.execute(
            sid,
            "() => [localStorage.getItem('theme'), localStorage.getItem('obj'), sessionStorage.getItem('tab'), document.cookie]",
        )
        assert got == ["dark", '{"a": 1}', "3", "flavour=oat"]
    finally:
        await worker.stop(sid)


async def test_js_throw_becomes_worker_error(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config("data:text/html,<p>x</p>"))
    try:
        with pytest.raises(WorkerError, match="kaboom-42"):
            await worker.execute(sid, "() => { throw new Error('kaboom-42') }")
        assert await worker.execute(sid, "1 + 1") == 2  # session still usable
    finally:
        await worker.stop(sid)


async def test_screenshots(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(TALL_PAGE))
    try:
        png = await worker.take_screenshot(sid, format="png")
        w, h = png_size(png)
        assert (w, h) == (1280, 720)
        jpeg = await worker.take_screenshot(sid, format="jpeg", quality=60)
        assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) > 1000
        full = await worker.take_screenshot(sid, full_page=True)
        assert png_size(full)[1] > 720
        clip = await worker.take_screenshot(sid, clip={"x": 10, "y": 20, "width": 200, "height": 100})
        assert png_size(clip) == (200, 100)
        element = await worker.take_screenshot(sid, selector="#box")
        assert png_size(element) == (123, 45)
        with pytest.raises(WorkerError, match="No element matches"):
            await worker.take_screenshot(sid, selector="#missing")
        with pytest.raises(WorkerError, match="format: Input should be .png., .jpeg. or .webp."):
            await worker.take_screenshot(sid, format="gif")
    finally:
        await worker.stop(sid)


async def test_three_concurrent_sessions_are_isolated(worker: BrowserWorker, local_site: str) -> None:
    sids = await asyncio.gather(*(worker.start(web_app_config(local_site)) for _ in range(3)))
    try:
        assert len(set(sids)) == 3
        for i, sid in enumerate(sids):
            await worker.execute(sid, f"() => {{ localStorage.setItem('who', 'session-{i}'); document.cookie = 'c={i}'; }}")
        for i, sid in enumerate(sids):
            got = await worker.execute(sid, "() => [localStorage.getItem('who'), document.cookie]")
            assert got == [f"session-{i}", f"c={i}"]
    finally:
        await asyncio.gather(*(worker.stop(s) for s in sids))


async def test_window_app_direct(worker: BrowserWorker, window_config: Any) -> None:
    sid = await worker.start(window_config("document.body.innerHTML = '<b id=b>direct</b>'; await api.export({setup(){}});"))
    try:
        assert await worker.execute(sid, "document.getElementById('b').textContent") == "direct"
        assert await worker.execute(sid, "location.href.includes('token')") is False
    finally:
        await worker.stop(sid)


async def test_progress_callback_reports_steps_and_a_broken_one_is_harmless(worker: BrowserWorker) -> None:
    seen: list[dict[str, str]] = []
    cfg = web_app_config("data:text/html,<p>progress</p>")
    cfg["progress_callback"] = seen.append
    sid = await worker.start(cfg)
    await worker.stop(sid)
    assert seen and {m["type"] for m in seen} <= {"info", "success", "warning", "error"}
    assert seen[-1]["type"] == "success" and "loaded" in seen[-1]["message"]

    def broken(_: dict[str, str]) -> None:
        raise RuntimeError("callback exploded")

    async def broken_async(_: dict[str, str]) -> None:
        raise RuntimeError("async callback exploded")

    for cb in (broken, broken_async):
        cfg = web_app_config("data:text/html,<p>still starts</p>")
        cfg["progress_callback"] = cb
        sid = await worker.start(cfg)
        assert (await worker.get_session_info(sid))["status"] == "running"
        await worker.stop(sid)


async def test_allow_hosts_blocks_other_hosts(settings: Any, local_site: str) -> None:
    fenced = settings.with_(allow_hosts="127.0.0.1", pool_size=0)
    async with BrowserWorker(fenced) as w:
        sid = await w.start(web_app_config(local_site))
        got = await w.execute(sid, """async () => {
            const ok = await fetch(location.href).then(r => r.status, e => 'blocked');
            const other = await fetch('http://localhost:1/x').then(r => r.status, e => 'blocked');
            return [ok, other];
        }""")
        assert got == [200, "blocked"]
        logs = await w.get_logs(sid, type="error")
        assert any("localhost:1/x" in i["content"] and "BLOCKED_BY_CLIENT" in i["content"] for i in logs["items"])
        await w.stop(sid)


async def test_window_app_cold_path_without_warm_pages(settings: Any, window_config: Any) -> None:
    async with BrowserWorker(settings.with_(pool_size=0)) as w:
        sid = await w.start(window_config("document.body.dataset.ran = 'cold'; await api.export({setup(){}});"))
        assert internals(w).sessions.active(sid).lease.warm_kind is None
        assert await w.execute(sid, "document.body.dataset.ran") == "cold"
        assert await w.execute(sid, "location.pathname.endsWith('/index.html')") is True
        await w.stop(sid)
