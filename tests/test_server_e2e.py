"""Acceptance 1 and 4: a real Hypha server drives our worker through public/server-apps."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from browser_worker import BrowserWorker, SessionNotFoundError
from browser_worker.testing import internals

from ._support import ECHO_APP, our_workers

pytestmark = pytest.mark.e2e


async def test_install_start_call_screenshot_stop(
    apps: Any, alice: Any, served: Any, worker: BrowserWorker, alice_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="browser_worker")
    # The server lists the service our worker registered, with the types our worker declares.
    ours = await our_workers(apps)
    assert len(ours) == 1 and ours[0]["id"].endswith(":" + served.service_id), ours
    assert set(ours[0]["supported_types"]) == set(worker.supported_types), ours

    app = await apps.install(source=ECHO_APP, overwrite=True, timeout=60)
    session = await apps.start(app["id"], wait_for_service="default", timeout=60)
    sid = session["id"]
    assert (sid in worker.stats().active)
    page = internals(worker).sessions.active(sid).lease.page
    seen_urls: list[str] = []
    page.on("request", lambda r: seen_urls.append(r.url))

    svc = await alice.get_service(sid + ":default")
    assert await svc.echo(42) == 42

    logs = await apps.get_logs(sid)
    lines = [i for i in logs["items"] if "echo app says hello" in i["content"]]
    assert lines, logs
    assert lines[0]["type"] == "console" and lines[0]["time"].startswith("20")
    assert lines[0]["content"].startswith("[log] ") and lines[0]["level"] == "log"
    assert lines[0]["source"] == "console"
    console = await apps.get_logs(sid, type="console")  # Hypha's callers filter this way
    assert any("echo app says hello" in i["content"] for i in console["items"])
    assert all(i["type"] == "console" for i in console["items"])
    # What our worker logged for this start, in order, and nothing else from the worker.
    lines = [i["content"] for i in logs["items"] if i["source"] == "worker"]
    assert lines[:2] == [f"Starting window app {app['id']} ({sid})", "Browser context ready; loading the app"], lines
    assert len(lines) == 3 and re.fullmatch(r"App loaded in \d+ ms", lines[2]), lines
    # ``total`` counts every entry (of the type asked for), not the page of them returned: the
    # three lines above plus the page's console lines, exactly what the session's buffer holds.
    assert logs["total"] == len(logs["items"]) == 3 + console["total"] == len(internals(worker).sessions.active(sid).logs)
    assert console["total"] == len(console["items"]) == len([i for i in logs["items"] if i["type"] == "console"])
    assert console["items"][-1]["content"] == "[log] echo app says hello"
    paged = await apps.get_logs(sid, offset=1, limit=1)
    assert paged["total"] == logs["total"] and paged["items"] == logs["items"][1:2]
    assert (paged["offset"], paged["limit"]) == (1, 1)

    remote = await alice.get_service(ours[0]["id"])
    png = await remote.take_screenshot(sid, "png")
    assert isinstance(png, (bytes, bytearray)) and len(png) > 1000
    assert bytes(png[:8]) == b"\x89PNG\r\n\x1a\n"

    listed = await remote.list_sessions("ws-user-alice")
    assert sid in [s["id"] for s in listed]

    # Token hygiene (acceptance 4): never in the page URL, any request URL, or our own logs.
    assert alice_token not in page.url
    await page.evaluate("() => fetch(location.href).catch(() => null)")
    assert seen_urls and not any(alice_token in u for u in seen_urls)

    await apps.stop(sid)
    listed = await remote.list_sessions("ws-user-alice")
    assert sid not in [s["id"] for s in listed]
    kept = await remote.get_logs(sid)
    assert any("echo app says hello" in i["content"] for i in kept["items"])
    assert (await remote.get_session_info(sid))["status"] == "stopped"

    worker_output = "\n".join(r.getMessage() for r in caplog.records)
    assert alice_token not in worker_output
    for item in kept["items"]:
        assert alice_token not in item["content"]


async def test_unknown_session_is_a_clear_error(worker: BrowserWorker) -> None:
    assert await worker.stop("no-such/session") is None  # quiet, as the Worker API says
    with pytest.raises(SessionNotFoundError, match="no-such/session"):
        await worker.get_logs("no-such/session")
