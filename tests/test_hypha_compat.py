"""Issue 12, acceptance 1: the scenarios of Hypha 0.21.137's own browser-app tests, on our worker.

Real Hypha server, real Chromium (fixtures in conftest.py; the server's built-in browser worker
is off, so every browser app below runs on ours). Ported, not copied, from Hypha's
``tests/test_server_apps.py`` (markup window apps, lazy discovery, console logs),
and (in ``test_hypha_compat_worker.py``) ``tests/test_worker.py`` (registration, selection by
type, concurrency, errors, lifecycle; workspace isolation lives in ``test_hypha_public.py``,
which needs a worker in ``public``).
``tests/test_browser_worker_integration.py``'s scenarios are in ``test_hypha_integration.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker import BrowserWorker
from browser_worker.testing import internals

from ._support import our_workers

pytestmark = pytest.mark.e2e

# ----- test_server_apps.py: <config> + markup window apps ------------------------------------

MARKUP_ONLY = """
<config lang="json">
{
    "name": "Compat Discovery App",
    "type": "window",
    "version": "1.0.0",
    "description": "markup only, as in Hypha's service discovery test"
}
</config>

<div>
    <h1 id="title">Compat Discovery App</h1>
    <p>Listed with include_app_services.</p>
</div>
"""

MARKUP_WITH_SCRIPT = """
<config lang="json">
{
    "name": "Compat Markup Script App",
    "type": "window",
    "version": "1.0.0"
}
</config>

<div><p>Markup next to a script: Hypha's server keeps only the script.</p></div>

<script lang="javascript">
console.log("markup app says hello");
await api.registerService({
    id: "compat-tools",
    config: {visibility: "protected"},
    double(x) { return x * 2; },
});
api.export({
    setup() {},
    greet(name) { return "Hello, " + name; },
});
</script>
"""


async def test_markup_only_window_app_installs_starts_and_is_listed(apps: Any, alice: Any, worker: BrowserWorker) -> None:
    """test_apps_and_lazy_worker_discovery / test_lazy_loading_with_get_service."""
    app = await apps.install(source=MARKUP_ONLY, wait_for_service=False, timeout=60, overwrite=True)
    try:
        ours = await our_workers(apps)
        assert len(ours) == 1 and set(ours[0]["supported_types"]) == set(worker.supported_types), ours
        # Installed through our compile: the manifest says so, and the bundle it made is kept
        # for starts in alice's workspace (and no other).
        assert app["compiled"]["template"] == "window.html" and app["entry_point"] == "index.html", app
        bundle = internals(worker).entries.get(alice.config.workspace, app["content_hash"])
        assert bundle is not None and "Compat Discovery App" in bundle
        assert internals(worker).entries.get("ws-user-bob", app["content_hash"]) is None

        session = await apps.start(app["id"], wait_for_service=False, timeout=60)
        sid = session["id"]
        assert (sid in worker.stats().active)  # ours ran it: the built-in worker is off
        title = await worker.execute(sid, "new Promise(r => { const f = () => { const h = document.getElementById('title');"
                                          " h ? r(h.textContent) : setTimeout(f, 50); }; f(); })")
        assert title == "Compat Discovery App"
        assert sid in [s["id"] for s in await worker.list_sessions("ws-user-alice")]
        await apps.stop(sid, raise_exception=False)
        assert not (sid in worker.stats().active)
        assert sid not in [s["id"] for s in await worker.list_sessions("ws-user-alice")]
        assert (await worker.get_session_info(sid))["status"] == "stopped"
    finally:
        await apps.uninstall(app["id"])


async def test_markup_with_script_wait_for_service_and_lazy_get_service(
    apps: Any, alice: Any, worker: BrowserWorker
) -> None:
    """Install and start with ``wait_for_service="default"``; a service the app registers while
    starting is callable, and ``get_service("<svc>@<app_id>")`` starts the app on demand."""
    app = await apps.install(source=MARKUP_WITH_SCRIPT, wait_for_service="default", timeout=60, overwrite=True)
    app_id = app["id"]
    try:
        session = await apps.start(app_id, wait_for_service="default", timeout=60)
        sid = session["id"]
        default = await alice.get_service(f"{sid}:default")
        assert await default.greet("Alice") == "Hello, Alice"
        assert await (await alice.get_app(sid)).greet("Bob") == "Hello, Bob"
        tools = await alice.get_service(f"{sid}:compat-tools")
        assert await tools.double(21) == 42
        await apps.stop(sid)
        assert not (sid in worker.stats().active)

        # Lazy discovery: nothing is running; asking for the service by app id starts the app
        # (on our worker: the sessions counted are ours), once.
        def ours() -> list[str]:
            return [s.id for s in internals(worker).sessions.active_sessions() if s.app_id == app_id]

        assert ours() == []
        lazy = await alice.get_service(f"compat-tools@{app_id}")
        assert await lazy.double(4) == 8
        running = ours()
        assert len(running) == 1 and running[0] != sid, running
        again = await alice.get_service(f"compat-tools@{app_id}")
        assert await again.double(5) == 10
        assert ours() == running
        await apps.stop(running[0])
        assert ours() == []
    finally:
        for s in await apps.list_running():
            if s.get("app_id") == app_id:
                await apps.stop(s["id"], raise_exception=False)
        await apps.uninstall(app_id)


async def test_console_logs_read_with_type_console(apps: Any) -> None:
    """Hypha's callers filter ``type == "console"``; the text is ``[level] message``."""
    app = await apps.install(source=MARKUP_WITH_SCRIPT, wait_for_service="default", timeout=60, overwrite=True)
    try:
        session = await apps.start(app["id"], wait_for_service="default", timeout=60)
        logs = await apps.get_logs(session["id"], type="console")
        hello = [i for i in logs["items"] if "markup app says hello" in i["content"]]
        assert hello and hello[0]["content"] == "[log] markup app says hello", logs
        assert hello[0]["type"] == "console" and hello[0]["level"] == "log" and hello[0]["source"] == "console"
        assert hello[0]["time"].startswith("20")
        assert all(i["type"] == "console" for i in logs["items"])
        everything = await apps.get_logs(session["id"])
        assert [i for i in everything["items"] if i["type"] == "console"] == logs["items"]
        await apps.stop(session["id"])
    finally:
        await apps.uninstall(app["id"])


async def test_iframe_app_logs_its_console(apps: Any, worker: BrowserWorker) -> None:
    """test_iframe_app: a whole HTML page with manifest type iframe."""
    html = ("<!DOCTYPE html><html><head><title>Compat Iframe</title></head><body>"
            "<h1 id='h'>Hello from Iframe App</h1><script>console.log('Iframe app loaded');</script></body></html>")
    app = await apps.install(source=html, manifest={"name": "Compat Iframe App", "type": "iframe", "version": "0.1.0"},
                             wait_for_service=False, timeout=60, overwrite=True)
    try:
        session = await apps.start(app["id"], wait_for_service=False, timeout=60)
        sid = session["id"]
        assert await worker.execute(sid, "document.getElementById('h').textContent") == "Hello from Iframe App"
        logs = await apps.get_logs(sid, type="console")
        assert "[log] Iframe app loaded" in [i["content"] for i in logs["items"]], logs
        await apps.stop(sid)
    finally:
        await apps.uninstall(app["id"])


WEB_PYTHON_APP = """
<config lang="json">
{"name": "Compat Web Python App", "type": "web-python", "version": "0.1.0"}
</config>

<script lang="python">
from hypha_rpc import api

print("Web Python app is setting up...")

def calculate(x, y):
    return x + y

def get_info():
    return {"platform": "pyodide", "message": "Running Python in the browser!"}

api.export({"calculate": calculate, "get_info": get_info})
</script>
"""

HYPHA_PYTHON_APP = """
<config lang="json">
{"name": "Compat Hypha App", "type": "web-python", "version": "0.1.0"}
</config>

<script lang="python">
from hypha_rpc import api
import os

state = {"setup_called": False}

async def setup():
    print("Setting up Hypha app...")
    state["setup_called"] = True
    print(f"TEST_ENV: {os.environ.get('TEST_ENV', 'not_set')}")

async def test(a):
    return a * 2

api.export({"setup": setup, "test": test})
</script>
"""


async def test_web_python_app_service(apps: Any, alice: Any, worker: BrowserWorker) -> None:
    """test_web_python_app: a Pyodide app's exported functions are callable."""
    app = await apps.install(source=WEB_PYTHON_APP, wait_for_service=True, timeout=120, overwrite=True)
    try:
        session = await apps.start(app["id"], wait_for_service=True, timeout=120)
        sid = session["id"]
        assert internals(worker).sessions.active(sid).app_type == "web-python"
        service = await alice.get_service(f"{alice.config.workspace}/{sid.split('/')[-1]}:default")
        assert await service.calculate(3, 4) == 7
        assert (await service.get_info())["platform"] == "pyodide"
        await apps.stop(sid)
    finally:
        await apps.uninstall(app["id"])


async def test_web_python_setup_prints_are_console_logs(apps: Any, alice: Any) -> None:
    """test_hypha_app: started twice; each run's ``setup`` prints show up as ``console`` items."""
    app = await apps.install(source=HYPHA_PYTHON_APP, wait_for_service="default", timeout=120, overwrite=True)
    try:
        for _ in range(2):
            started = await apps.start(app["id"], wait_for_service=True, timeout=120)
            service = await alice.get_service(f"{alice.config.workspace}/{started['id'].split('/')[-1]}:default")
            assert await service.test(5) == 10
            logs = await apps.get_logs(started["id"])
            text = "\n".join(i["content"] for i in logs["items"] if i["type"] == "console")
            await apps.stop(started["id"])
            assert "Setting up Hypha app" in text, logs["items"]
    finally:
        await apps.uninstall(app["id"])
