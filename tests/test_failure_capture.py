"""Issue 18, failure capture: a failed session keeps a screenshot of its page, and (with tracing)
a Playwright trace with no secret in it; both are read with ``get_artifact`` after the session
ended, by its own workspace only. Real Chromium, the in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import zipfile
from typing import Any, AsyncIterator, Callable
from urllib.parse import quote

import pytest
import pytest_asyncio

from browser_worker import BrowserWorker, WorkerError, WorkerSettings
from browser_worker.errors import AppStartError, PermissionDeniedError, SessionNotFoundError
from browser_worker.testing import internals

from ._support import APP_JS, dark_pixels, settle, wait_for, web_app_config

pytestmark = pytest.mark.e2e

#: The worker's own token in the tracing worker (not JWT-shaped: only its registration with
#: ``_redact`` can scrub it). Apps never get it; the failing app below writes it into its page.
WORKER_TOKEN = "worker-secret-7f3a9c2e51d84b06"

#: Renders a big black "boom", then throws while booting.
BOOM_THROWS = ("document.body.insertAdjacentHTML('afterbegin', "
               "'<h1 style=\"font-size:120px;margin:0\">boom</h1>');\n"
               "throw new Error('boom at boot');")
#: Renders "boom", then never exports (the start times out).
BOOM_HANGS = ("document.body.insertAdjacentHTML('afterbegin', "
              "'<h1 style=\"font-size:120px;margin:0\">boom</h1>');\n"
              "await new Promise(() => {});")
#: Puts the session's token (and the worker's) everywhere a trace looks: console, DOM, a request
#: URL, a thrown error; then fails.
LEAKY = f"""
const token = window.env.get("HYPHA_TOKEN");
console.log("leaking " + token + " and {WORKER_TOKEN}");
document.body.insertAdjacentHTML('afterbegin', '<h1>boom</h1><p id="t">' + token + ' {WORKER_TOKEN}</p>');
await fetch(window.env.get("HYPHA_SERVER_URL") + "/assets/bw-capture-probe?t=" + encodeURIComponent(token)).catch(() => {{}});
throw new Error("boom at boot " + token);
"""

BLANK = "data:text/html,<p></p>"
OWN = {"ws": "ws-user-alice", "user": {"id": "alice"}}
OTHER = {"ws": "other", "user": {"id": "bob"}}
ANONYMOUS = {"ws": "ws-user-alice", "user": {"id": "anonymouz-x", "is_anonymous": True}}


@pytest_asyncio.fixture(scope="module")
async def tracing_worker(settings: WorkerSettings) -> AsyncIterator[BrowserWorker]:
    """A worker with ``trace=on-failure`` and a token of its own."""
    w = BrowserWorker(settings.with_(trace="on-failure", token=WORKER_TOKEN, pool_size=1))
    async with w:
        folder = internals(w).capture.folder
        assert folder is not None and folder.is_dir()
        yield w
    assert not folder.exists(), "the trace folder outlived the worker"


async def _failed_start(w: BrowserWorker, config: dict[str, Any]) -> str:
    with pytest.raises(AppStartError):
        await w.start(config)
    assert internals(w).sessions.any(config["id"]).status.value == "failed"
    return config["id"]


async def _blank_screenshot(w: BrowserWorker) -> bytes:
    sid = await w.start(web_app_config(BLANK))
    try:
        return await w.take_screenshot(sid)
    finally:
        await w.stop(sid)


@pytest.mark.parametrize("script, timeout", [(BOOM_THROWS, None), (BOOM_HANGS, 3)], ids=["throws", "never-exports"])
async def test_a_failed_start_keeps_a_screenshot_of_what_the_page_showed(
        worker: BrowserWorker, window_config: Callable[..., dict[str, Any]], script: str, timeout: float | None) -> None:
    await settle(worker)
    baseline = worker.context_count()
    config = window_config(script)
    if timeout:
        config["timeout"] = timeout
    sid = await _failed_start(worker, config)

    shot = await worker.get_artifact(sid, "screenshot")
    assert set(shot) == {"kind", "content_type", "bytes", "size", "created_at"}
    assert (shot["kind"], shot["content_type"]) == ("screenshot", "image/png")
    assert shot["bytes"][:8] == b"\x89PNG\r\n\x1a\n" and shot["size"] == len(shot["bytes"])
    assert dark_pixels(await _blank_screenshot(worker)) == 0  # the decoder sees a blank page as blank
    assert dark_pixels(shot["bytes"]) > 1000  # "boom" at 120 px
    assert (await worker.get_session_info(sid))["artifacts"] == ["screenshot"]
    with pytest.raises(WorkerError, match=rf"^no trace for session {sid}: tracing was off \(this session has: screenshot\)$"):
        await worker.get_artifact(sid, "trace")
    logs = [i["content"] for i in (await worker.get_logs(sid))["items"]]
    assert any(line.startswith("Failure screenshot kept (") for line in logs), logs
    await settle(worker)
    assert worker.context_count() == baseline


async def test_a_failed_start_keeps_a_trace_with_the_error_and_requests_and_no_secret(
        tracing_worker: BrowserWorker, window_config: Callable[..., dict[str, Any]], alice_token: str) -> None:
    w = tracing_worker
    await settle(w)
    baseline = w.context_count()
    sid = await _failed_start(w, window_config(LEAKY))

    trace = await w.get_artifact(sid, "trace")
    assert (trace["kind"], trace["content_type"], trace["size"]) == ("trace", "application/zip", len(trace["bytes"]))
    data = trace["bytes"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        names = z.namelist()
        members = {name: z.read(name) for name in names}
    # What `playwright show-trace` reads: the event log, the network log and the resources.
    assert {"trace.trace", "trace.network"} <= set(names), names
    assert any(n.startswith("resources/") for n in names), names
    events = members["trace.trace"].decode()
    assert "boom at boot ***" in events  # the error the start failed with (its token scrubbed)
    assert "/assets/bw-capture-probe?t=" in members["trace.network"].decode()
    # No secret anywhere: not in the zip's bytes, not in any decompressed member, in no encoding.
    for secret in (alice_token, WORKER_TOKEN):
        for form in {secret, quote(secret, safe="")}:
            assert form.encode() not in data
            for name, body in members.items():
                assert form.encode() not in body, (name, form[:12])
    assert b"***" in members["trace.trace"]
    assert (await w.get_session_info(sid))["artifacts"] == ["screenshot", "trace"]
    assert (await w.get_artifact(sid, "screenshot"))["size"] > 0
    await settle(w)
    assert w.context_count() == baseline


async def test_a_session_that_succeeds_keeps_no_trace_with_on_failure(
        tracing_worker: BrowserWorker, window_config: Callable[..., dict[str, Any]]) -> None:
    w = tracing_worker
    await settle(w)
    baseline = w.context_count()
    sid = await w.start(window_config(APP_JS))
    assert internals(w).sessions.active(sid).tracing  # traced while it ran
    await w.stop(sid)
    with pytest.raises(WorkerError, match=rf"^no trace for session {sid}: tracing was on-failure and the session did not fail \(this session has no artifacts\)$"):
        await w.get_artifact(sid, "trace")
    with pytest.raises(WorkerError, match=rf"^no screenshot for session {sid}: a screenshot is kept only when a session fails"):
        await w.get_artifact(sid, "screenshot")
    assert (await w.get_session_info(sid))["artifacts"] == []
    assert w.stats().retained_artifact_bytes == sum(s.artifacts.bytes for s in internals(w).sessions.ended_sessions())
    await settle(w)
    assert w.context_count() == baseline


async def test_an_app_that_opts_out_of_tracing_keeps_none_even_when_it_fails(
        tracing_worker: BrowserWorker, window_config: Callable[..., dict[str, Any]]) -> None:
    w = tracing_worker
    sid = await _failed_start(w, window_config(BOOM_THROWS, trace="off"))
    with pytest.raises(WorkerError, match="tracing was off"):
        await w.get_artifact(sid, "trace")
    assert (await w.get_artifact(sid, "screenshot"))["size"] > 0
    await settle(w)


async def test_a_running_session_that_crashes_keeps_its_trace(tracing_worker: BrowserWorker) -> None:
    w = tracing_worker
    await settle(w)
    baseline = w.context_count()
    sid = await w.start(web_app_config("data:text/html,<h1>running</h1>"))
    page = internals(w).sessions.active(sid).lease.page
    cdp = await page.context.new_cdp_session(page)
    try:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(cdp.send("Page.crash"), 5)
    finally:
        with contextlib.suppress(Exception):
            await cdp.detach()
    await wait_for(lambda: not (sid in w.stats().active), 20)
    info = await w.get_session_info(sid)
    assert info["status"] == "failed" and "crashed" in info["error"]
    assert info["artifacts"] == ["trace"]  # a crashed page cannot be photographed
    with pytest.raises(WorkerError, match=rf"^no screenshot for session {sid}: taking it failed: "):
        await w.get_artifact(sid, "screenshot")
    assert (await w.get_artifact(sid, "trace"))["bytes"][:2] == b"PK"
    await settle(w)
    assert w.context_count() == baseline


async def test_other_tenants_and_anonymous_callers_cannot_read_artifacts(
        worker: BrowserWorker, window_config: Callable[..., dict[str, Any]]) -> None:
    sid = await _failed_start(worker, window_config(BOOM_THROWS))
    assert (await worker.get_artifact(sid, "screenshot", context=OWN))["size"] > 0
    with pytest.raises(PermissionDeniedError, match=r"bob \(tenant, workspace other\) cannot get_artifact in workspace ws-user-alice$"):
        await worker.get_artifact(sid, "screenshot", context=OTHER)
    with pytest.raises(PermissionDeniedError, match="get_artifact needs a signed-in caller"):
        await worker.get_artifact(sid, "screenshot", context=ANONYMOUS)
    for context in (OWN, OTHER):  # an unknown id tells nobody anything more
        with pytest.raises(SessionNotFoundError):
            await worker.get_artifact("ws-user-alice/nobody", "screenshot", context=context)
    with pytest.raises(WorkerError, match=r"^kind must be one of screenshot, trace, got 'video'$"):
        await worker.get_artifact(sid, "video", context=OWN)
    assert "get_artifact" in worker.SERVICE_METHODS
    await settle(worker)


async def test_the_kept_trace_opens_in_playwright_s_trace_viewer(
        tracing_worker: BrowserWorker, window_config: Callable[..., dict[str, Any]], tmp_path: Any) -> None:
    """`playwright show-trace` serves the kept zip; a real browser shows the boot error (scrubbed)
    in the call of the app's boot and the request in the Network tab."""
    import socket
    import sys

    from playwright.async_api import async_playwright

    from browser_worker._browser.chromium import launch_chromium

    sid = await _failed_start(tracing_worker, window_config(LEAKY))
    path = tmp_path / "trace.zip"
    path.write_bytes((await tracing_worker.get_artifact(sid, "trace"))["bytes"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    viewer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "playwright", "show-trace", "--host", "127.0.0.1", "--port", str(port), str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        seen = b""
        while b"Listening on" not in seen:
            line = await asyncio.wait_for(viewer.stdout.readline(), 30)  # type: ignore[union-attr]
            assert line, seen
            seen += line
        async with async_playwright() as pw:
            browser, _ = await launch_chromium(pw)
            try:
                page = await browser.new_page()
                await page.goto(f"http://127.0.0.1:{port}/")
                # The boot error is what the app's first evaluate (its boot) returned
                await page.get_by_text("Evaluate", exact=True).first.click(timeout=20000)
                await page.get_by_text("Call", exact=True).first.click()
                try:
                    await page.get_by_text("boom at boot ***").first.wait_for(timeout=10000)
                except Exception:
                    raise AssertionError(await page.inner_text("body")) from None
                await page.get_by_text("Network", exact=True).first.click()
                await page.get_by_text("bw-capture-probe").first.wait_for(timeout=10000)
            finally:
                await browser.close()
    finally:
        os.killpg(viewer.pid, signal.SIGKILL)  # the CLI and the node server it runs
        await viewer.wait()
