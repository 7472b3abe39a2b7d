"""Acceptance 3: bad input gets a clear error and the worker keeps serving."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from browser_worker import (
    AppStartError,
    BrowserWorker,
    CapacityError,
    SessionStatus,
    UnsupportedAppTypeError,
    WorkerError,
)

from ._support import wait_for, web_app_config

pytestmark = pytest.mark.e2e


async def test_unknown_type_lists_supported(worker: BrowserWorker) -> None:
    cfg = web_app_config("data:text/html,x")
    cfg["manifest"]["type"] = "flash-movie"
    with pytest.raises(UnsupportedAppTypeError) as err:
        await worker.start(cfg)
    message = str(err.value)
    assert "flash-movie" in message
    for name in ("window", "iframe", "web-app", "javascript"):
        assert name in message


async def test_script_throwing_at_boot_fails_start_and_keeps_logs(worker: BrowserWorker, window_config: Any) -> None:
    cfg = window_config("console.log('before the throw'); throw new Error('boot-failure-xyz');")
    with pytest.raises(AppStartError, match="boot-failure-xyz"):
        await worker.start(cfg)
    info = await worker.get_session_info(cfg["id"])
    assert info["status"] == SessionStatus.FAILED.value
    assert "boot-failure-xyz" in info["error"]
    logs = await worker.get_logs(cfg["id"])
    contents = "\n".join(i["content"] for i in logs["items"])
    assert "before the throw" in contents and "boot-failure-xyz" in contents
    await worker.stop(cfg["id"])  # the server calls stop after a failed start: must not raise
    assert not (cfg["id"] in worker.stats().active)


@pytest.mark.parametrize("app_type", ["web-worker", "window"])
async def test_service_apps_throwing_at_boot_fail_naming_the_error(
    worker: BrowserWorker, window_config: Any, app_type: str
) -> None:
    cfg = window_config("throw new Error('boot-failure-' + 'abc');", type=app_type)
    with pytest.raises(AppStartError, match="boot-failure-abc"):
        await worker.start(cfg)
    await worker.stop(cfg["id"])


#: An ImJoy-style iframe app whose library comes from a CDN the page cannot reach: the call
#: after it throws while the page loads (Hypha's built-in logs it and keeps the app).
IFRAME_WITH_UNREACHABLE_LIBRARY = """<!doctype html>
<html><head><script src="http://cdn.imjoy-unreachable.invalid/imjoy-basic-app.js"></script></head>
<body><div id="app">iframe app</div>
<script>loadImJoyBasicApp({name: "Basic"});</script>
</body></html>"""


async def test_iframe_page_error_while_loading_is_logged_not_fatal(worker: BrowserWorker, window_config: Any) -> None:
    cfg = window_config(IFRAME_WITH_UNREACHABLE_LIBRARY, type="iframe")
    sid = await worker.start(cfg)
    try:
        assert (await worker.get_session_info(sid))["status"] == SessionStatus.RUNNING.value
        assert await worker.execute(sid, "document.getElementById('app').textContent") == "iframe app"
        errors = (await worker.get_logs(sid, type="error"))["items"]
        assert any("loadImJoyBasicApp is not defined" in e["content"] and e["level"] == "error" for e in errors), errors
    finally:
        await worker.stop(sid)


async def test_web_app_page_error_while_loading_is_logged_not_fatal(worker: BrowserWorker) -> None:
    cfg = web_app_config("data:text/html,<p id=p>web app</p><script>throw new Error('web-app-boot-xyz')</script>")
    sid = await worker.start(cfg)
    try:
        assert await worker.execute(sid, "document.getElementById('p').textContent") == "web app"
        errors = (await worker.get_logs(sid, type="error"))["items"]
        assert any("web-app-boot-xyz" in e["content"] for e in errors), errors
    finally:
        await worker.stop(sid)


async def test_unresolvable_entry_url(worker: BrowserWorker) -> None:
    cfg = web_app_config("http://no-such-host.invalid/app")
    with pytest.raises(AppStartError) as err:
        await worker.start(cfg)
    assert "could not load http://no-such-host.invalid/app" in str(err.value)
    assert "ERR_NAME_NOT_RESOLVED" in str(err.value)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://example.org/x"])
async def test_disallowed_schemes(worker: BrowserWorker, url: str) -> None:
    with pytest.raises(WorkerError, match="scheme"):
        await worker.start(web_app_config(url))


async def test_wrong_field_types(worker: BrowserWorker) -> None:
    with pytest.raises(WorkerError, match="start config must be an object"):
        await worker.start("not a dict")  # type: ignore[arg-type]
    cfg = web_app_config("data:text/html,x")
    cfg["timeout"] = "soon"
    with pytest.raises(WorkerError, match="timeout"):
        await worker.start(cfg)
    cfg = web_app_config("data:text/html,x")
    cfg["manifest"]["local_storage"] = ["a"]
    with pytest.raises(WorkerError, match="local_storage"):
        await worker.start(cfg)


async def test_capacity_error_while_others_keep_working(settings: Any, window_config: Any) -> None:
    small = settings.with_(max_sessions=1, queue_timeout=0.5, pool_size=1)
    async with BrowserWorker(small) as w:
        first = await w.start(window_config("await api.export({setup(){}, ping(){return 'pong'}});"))
        with pytest.raises(CapacityError, match=r"worker at capacity \(1/1 sessions\)"):
            await w.start(web_app_config("data:text/html,second"))
        assert await w.execute(first, "document.readyState") == "complete"
        assert w.get_load() == 1.0
        await w.stop(first)
        second = await w.start(web_app_config("data:text/html,second"))
        assert await w.execute(second, "document.body.textContent") == "second"
        await w.stop(second)


async def test_waiting_start_succeeds_when_a_slot_frees(settings: Any) -> None:
    small = settings.with_(max_sessions=1, queue_timeout=10, pool_size=0)
    async with BrowserWorker(small) as w:
        first = await w.start(web_app_config("data:text/html,one"))
        waiting = asyncio.create_task(w.start(web_app_config("data:text/html,two")))
        await wait_for(lambda: w.stats().queue_length == 1)  # queued for the one slot
        assert not waiting.done() and w.stats().in_use == 1
        await w.stop(first)
        second = await asyncio.wait_for(waiting, 10)
        assert await w.execute(second, "document.body.textContent") == "two"


async def test_user_code_with_script_close_backtick_and_template(worker: BrowserWorker, window_config: Any) -> None:
    script = (
        "const s = '</script><script>window.injected = 1</script>';\n"
        "const x = 5; const t = `tick ${x} \\u2028 ${'${x}'}`;\n"
        "window.result = [s.length, t, typeof window.injected, '<!-- not a comment -->'];\n"
        "await api.export({setup(){}});"
    )
    sid = await worker.start(window_config(script))
    try:
        result = await worker.execute(sid, "window.result")
        assert result == [len("</script><script>window.injected = 1</script>"), "tick 5 \u2028 ${x}", "undefined", "<!-- not a comment -->"]
    finally:
        await worker.stop(sid)
