"""Issue 18: watching a session live (``watch``), following its logs (``stream_logs``), and the
viewer page the Hypha server serves for the worker: in a real browser, through a real server,
with the tenant rules of every other method."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server
from hypha_rpc.rpc import RemoteException
from playwright.async_api import async_playwright

from browser_worker import BrowserWorker, WorkerError
from browser_worker._browser.chromium import launch_chromium

from ._support import settle, wait_for, web_app_config, worker_service_id

pytestmark = pytest.mark.e2e

#: A page whose counter repaints every 100 ms.
COUNTER = ("data:text/html,<h1 id=c style='font-size:80px'>0</h1><script>let n = 0;"
           "setInterval(() => { document.getElementById('c').textContent = ++n }, 100)</script>")
DENIED = r"PermissionDeniedError: Permission denied: "


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process ``pid`` (and its children, e.g. Chromium) listen on."""
    pids = {pid} | {int(p) for p in os.popen(f"pgrep -P {pid}").read().split()}
    inodes: set[str] = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                target = os.readlink(f"/proc/{p}/fd/{fd}") if os.path.exists(f"/proc/{p}/fd/{fd}") else ""
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].split(":")[1], 16))
    return ports


@pytest_asyncio.fixture
async def counter(worker: BrowserWorker) -> AsyncIterator[str]:
    await settle(worker)
    baseline = worker.context_count()
    sid = await worker.start(web_app_config(COUNTER))
    yield sid
    if (sid in worker.stats().active):
        await worker.stop(sid)
    await wait_for(lambda: worker.stats().screencasts == 0, 10)
    await settle(worker)
    assert worker.context_count() == baseline  # watching holds no context of its own


async def test_watch_streams_distinct_frames_and_stops_the_screencast_after_the_last_watcher(
        worker: BrowserWorker, counter: str) -> None:
    frames = await worker.watch(counter, fps=5, quality=50, max_width=640)
    got: list[tuple[float, int, bytes]] = []
    t0 = time.monotonic()
    async for frame in frames:
        got.append((time.monotonic() - t0, frame["seq"], frame["data"]))
        if len(got) == 6:
            break
    assert all(data[:2] == b"\xff\xd8" for _, _, data in got)  # JPEG
    assert len({data for _, _, data in got}) == 6 and [s for _, s, _ in got] == sorted({s for _, s, _ in got})
    assert frame["width"] == 1280 and frame["url"].startswith("data:text/html")
    assert worker.stats().screencasts == 1
    # A second watcher joins the same screencast and gets the last frame at once.
    late = await worker.watch(counter)
    first = await asyncio.wait_for(late.__anext__(), 5)
    assert first["seq"] >= got[-1][1] and worker.stats().screencasts == 1
    await late.aclose()
    await frames.aclose()
    await wait_for(lambda: worker.stats().screencasts == 0, 5)
    print(f"\nframes at (s): {[round(t, 2) for t, _, _ in got]}")


async def test_an_abandoned_watch_is_ended_and_caps_and_arguments_are_enforced(
        worker: BrowserWorker, counter: str) -> None:
    frames = await worker.watch(counter, fps=2)
    await frames.__anext__()  # …and never asks again, like a closed tab
    assert worker.stats().watchers == 1
    await wait_for(lambda: worker.stats().screencasts == 0, 10)
    assert worker.stats().watchers == 0
    for kwargs, field in (({"fps": 11}, "fps"), ({"fps": "2"}, "fps"), ({"quality": 100}, "quality"),
                          ({"max_width": 10_000}, "max_width")):
        with pytest.raises(WorkerError, match=f"invalid watch arguments: {field}"):
            await worker.watch(counter, **kwargs)
    held = [await worker.watch(counter) for _ in range(worker.settings.max_watchers_per_session)]
    with pytest.raises(WorkerError, match=r"rule: at most 4 per session"):
        await worker.watch(counter)
    for gen in held:
        await gen.aclose()


async def test_stream_logs_follows_the_log_and_ends_with_the_session(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config("data:text/html,<title>logs</title>"))
    items = await worker.stream_logs(sid)
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        async for item in items:
            seen.append(item)

    reader = asyncio.ensure_future(read())
    await worker.execute(sid, "console.log('streamed-line-1')")
    await wait_for(lambda: any("streamed-line-1" in i["content"] for i in seen), 5)
    assert [i["position"] for i in seen] == list(range(len(seen)))
    held = (await worker.get_logs(sid))["items"]
    assert [i["content"] for i in seen] == [i["content"] for i in held]  # the same items as get_logs
    await worker.stop(sid)
    await asyncio.wait_for(reader, 10)  # the stream ends once the session has
    assert seen[-1]["content"] == "Session stopped"
    assert worker.stats().log_streams == 0
    later = await worker.stream_logs(sid, offset=len(seen) - 1)  # an ended session: what is kept
    assert [i["content"] async for i in later] == ["Session stopped"]
    with pytest.raises(WorkerError, match="invalid stream_logs arguments: offset"):
        await worker.stream_logs(sid, offset=-1)


async def test_other_tenants_and_anonymous_callers_cannot_watch_or_follow(
        hypha_server: Any, alice: Any, served: Any, worker: BrowserWorker, counter: str) -> None:
    worker_id = await worker_service_id(alice)
    bob = await connect_to_server({"server_url": hypha_server.url, "token": await hypha_server.user_token("bob")})
    anonymous = await connect_to_server({"server_url": hypha_server.url})
    try:
        for client, who in ((bob, r"bob \(tenant, workspace ws-user-bob\) cannot "),
                            (anonymous, "")):
            remote = await client.get_service(worker_id)
            for method in ("watch", "stream_logs"):
                with pytest.raises(RemoteException, match=DENIED + who):
                    await getattr(remote, method)(counter)
        assert worker.stats().watchers == worker.stats().log_streams == 0
        assert worker.stats().screencasts == 0
    finally:
        await bob.disconnect()
        await anonymous.disconnect()


async def test_the_viewer_shows_the_session_live_with_its_logs_and_opens_no_port(
        hypha_server: Any, alice_token: str, served: Any, worker: BrowserWorker, counter: str) -> None:
    assert served.viewer_url and served.viewer_url.endswith("/ws-user-alice/apps/browser-worker-viewer/")
    ports_before = listening_ports(os.getpid())
    async with async_playwright() as pw:
        browser, _ = await launch_chromium(pw)
        try:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            await page.goto(served.viewer_url)
            assert alice_token not in page.url
            await page.fill("#token", alice_token)
            t0 = time.monotonic()
            await page.click("#connect")
            try:
                await page.wait_for_function("() => window.__viewer.frames.length >= 1", timeout=15000)
            except Exception:
                raise AssertionError(f"no frame; status {await page.text_content('#status')!r}; {problems}") from None
            first = time.monotonic() - t0
            await asyncio.sleep(1.0)
            frames = await page.evaluate("() => window.__viewer.frames")
            first_at = frames[0]["at"]
            distinct = len({f["seq"] for f in frames if f["at"] - first_at <= 1000})
            assert distinct >= 3, frames
            assert await page.eval_on_selector("#sessions", "s => s.value") == counter
            assert listening_ports(os.getpid()) == ports_before  # no new port for the viewer
            t1 = time.monotonic()
            await worker.execute(counter, "console.log('shown-in-the-viewer')")
            await page.wait_for_function(
                "() => document.getElementById('logs').textContent.includes('shown-in-the-viewer')", timeout=10000)
            log_lag = time.monotonic() - t1
            await page.screenshot(path=os.environ.get("VIEWER_PICTURE", "/tmp/viewer.png"))
            assert worker.stats().screencasts == 1
            await page.close()
            t2 = time.monotonic()
            await wait_for(lambda: worker.stats().screencasts == 0, 15)
            closed = time.monotonic() - t2
        finally:
            await browser.close()
    print(f"\nviewer: first frame {first:.2f}s after connect (sign-in included), {distinct} distinct frames "
          f"in the next second; log line shown {log_lag:.2f}s after it was written; screencast "
          f"stopped {closed:.2f}s after the viewer closed")


BOOM = ("document.body.insertAdjacentHTML('afterbegin', '<h1>boom</h1>');\n"
        "throw new Error('boom for the viewer');")


async def test_the_viewer_shows_a_failed_session_s_logs_and_failure_screenshot_to_its_owner_only(
        hypha_server: Any, alice_token: str, served: Any, worker: BrowserWorker,
        window_config: Any) -> None:
    from browser_worker.errors import AppStartError

    config = window_config(BOOM)
    with pytest.raises(AppStartError):
        await worker.start(config)
    sid = config["id"]
    bob_token = await hypha_server.user_token("bob")
    async with async_playwright() as pw:
        browser, _ = await launch_chromium(pw)
        try:
            for token, owner in ((alice_token, True), (bob_token, False)):
                page = await browser.new_page(accept_downloads=True)
                await page.goto(served.viewer_url + "#session=" + sid)
                await page.fill("#token", token)
                await page.click("#connect")
                if owner:
                    await page.wait_for_function(
                        "() => document.getElementById('logs').textContent.includes('boom for the viewer')", timeout=15000)
                    async with page.expect_download(timeout=15000) as download:
                        await page.click("#failure")
                    png = open(await (await download.value).path(), "rb").read()
                    assert png[:8] == b"\x89PNG\r\n\x1a\n"
                else:
                    await page.wait_for_function(
                        "() => document.getElementById('status').textContent.includes('Permission denied')", timeout=15000)
                    shown = await page.text_content("#status")  # one sentence: no traceback, no paths
                    assert shown.startswith("Permission denied: bob (tenant, workspace ws-user-bob) cannot "), shown
                    assert "Traceback" not in shown and ".py" not in shown and "/work" not in shown, shown
                    assert await page.evaluate("""() => [...document.images].filter(
                        (i) => !i.getAttribute('src') && getComputedStyle(i).visibility !== 'hidden').length""") == 0
                    await page.click("#failure")
                    await page.wait_for_function(
                        "() => document.getElementById('status').textContent.startsWith('No screenshot')", timeout=15000)
                    assert "boom" not in await page.text_content("#logs")
                    assert await page.get_attribute("#frame", "src") is None
                await page.close()
        finally:
            await browser.close()
    # A closed tab leaves its streams parked; the watchdog ends them (log streams after 10 s idle).
    await wait_for(lambda: worker.stats().watchers == worker.stats().log_streams == 0, 30)
