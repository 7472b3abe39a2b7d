"""Issue 12, acceptance 1: the scenarios of Hypha 0.21.137's own browser-app tests, on our worker.

Real Hypha server, real Chromium (fixtures in conftest.py; the server's built-in browser worker
is off, so every browser app below runs on ours). Ported, not copied, from Hypha's
``tests/test_server_apps.py`` (markup window apps, lazy discovery, console logs),
``tests/test_worker.py`` (registration, selection by type, concurrency, errors, lifecycle;
workspace isolation lives in ``test_hypha_public.py``, which needs a worker in ``public``).
``tests/test_browser_worker_integration.py``'s scenarios are in ``test_hypha_integration.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypha_rpc.rpc import RemoteException

from browser_worker import BrowserWorker

from ._support import our_workers, wait_for

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
        bundle = worker.engine.entries.get(alice.config.workspace, app["content_hash"])
        assert bundle is not None and "Compat Discovery App" in bundle
        assert worker.engine.entries.get("ws-user-bob", app["content_hash"]) is None

        session = await apps.start(app["id"], wait_for_service=False, timeout=60)
        sid = session["id"]
        assert worker.sessions.is_live(sid)  # ours ran it: the built-in worker is off
        title = await worker.execute(sid, "new Promise(r => { const f = () => { const h = document.getElementById('title');"
                                          " h ? r(h.textContent) : setTimeout(f, 50); }; f(); })")
        assert title == "Compat Discovery App"
        assert sid in [s["id"] for s in await worker.list_sessions("ws-user-alice")]
        await apps.stop(sid, raise_exception=False)
        assert not worker.sessions.is_live(sid)
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
        assert not worker.sessions.is_live(sid)

        # Lazy discovery: nothing is running; asking for the service by app id starts the app
        # (on our worker: the sessions counted are ours), once.
        def ours() -> list[str]:
            return [s.id for s in worker.sessions.live_sessions() if s.app_id == app_id]

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
        assert worker.sessions.live(sid).app_type == "web-python"
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


# ----- test_worker.py -----------------------------------------------------------------------

RANDOM_ID_APP = """
api.export({
    async setup() { console.log("Concurrent test app initialized"); },
    async get_id() { return Math.random().toString(36).slice(2) + Date.now(); },
    async get_workspace() { return api.config.workspace; },
});
"""


async def test_worker_service_definition_registers_like_hypha(alice: Any, worker: BrowserWorker) -> None:
    """test_browser_worker_service_registration and _session_lifecycle: the dict from
    ``get_worker_service()`` registers as is; unknown sessions say "not found"; compile works."""
    definition = worker.get_worker_service()
    definition["id"] = "compat-browser-worker"
    definition["config"] = {**definition["config"], "visibility": "public"}
    info = await alice.register_service(definition)
    try:
        assert definition["type"] == "server-app-worker" and info["type"] == definition["type"]
        remote = await alice.get_service("compat-browser-worker")
        for method in ("start", "stop", "get_logs", "compile", "execute", "take_screenshot", "list_sessions"):
            assert callable(getattr(remote, method, None)), method
        for app_type in ("web-python", "web-worker", "window", "iframe", "hypha", "web-app"):
            assert app_type in worker.supported_types
            assert app_type in remote.supported_types
        assert "Browser Worker" in worker.name and worker.description
        assert worker.service_id == "browser-worker" and worker.require_context is True
        assert worker.visibility == "public" and worker.run_in_executor is False

        not_found = r"browser_worker\.errors\.SessionNotFoundError: Browser session ws-user-alice/non-existent-session not found"
        with pytest.raises(RemoteException, match=not_found):
            await remote.get_logs("ws-user-alice/non-existent-session")
        with pytest.raises(RemoteException, match=not_found):
            await remote.take_screenshot("ws-user-alice/non-existent-session")
        assert await remote.stop("ws-user-alice/non-existent-session") is None  # quiet, as the Worker API says

        progress: list[dict[str, Any]] = []
        manifest, files = await remote.compile(
            {"type": "web-python", "name": "Test Web Python App", "entry_point": "main.py"},
            [{"path": "main.py", "content": "print('Hello from web python')", "format": "text"}],
            {"progress_callback": progress.append},
        )
        assert manifest["type"] == "web-python" and manifest["entry_point"] == "index.html"
        paths = [f["path"] for f in files]
        assert "index.html" in paths and "main.py" in paths
    finally:
        await alice.unregister_service(info["id"])


async def test_window_app_from_plain_script_via_get_app(apps: Any, alice: Any) -> None:
    """test_browser_worker_integration (test_worker.py): a plain JS source with a window manifest."""
    source = """
    api.log('Browser worker test app started');
    api.export({
        async setup() { console.log("Browser worker app initialized"); },
        async test_function() { return "Browser worker test successful"; },
    });
    """
    app = await apps.install(source=source, manifest={"type": "window", "name": "Browser Worker Test"},
                             wait_for_service="default", timeout=60, overwrite=True)
    try:
        session = await apps.start(app["id"])
        remote_app = await alice.get_app(session["id"])
        assert "test_function" in remote_app
        assert await remote_app.test_function() == "Browser worker test successful"
        await apps.stop(session["id"])
    finally:
        await apps.uninstall(app["id"])


async def test_worker_selection_by_type(apps: Any, worker: BrowserWorker) -> None:
    """test_worker_selection_by_type: our worker is listed for each browser type and compiles
    what is installed with that type."""
    ours = await our_workers(apps)
    assert len(ours) == 1
    for app_type in ("window", "web-worker", "web-python"):
        assert app_type in ours[0]["supported_types"]
    compiled = {}
    for app_type in ("window", "web-worker"):
        app = await apps.install(
            source=f"<html><body><script>console.log('{app_type} app test');</script></body></html>",
            manifest={"type": app_type, "name": f"Test {app_type} App", "version": "1.0.0"},
            wait_for_service=False, timeout=60, overwrite=True,
        )
        compiled[app_type] = app.get("compiled") or {}
        await apps.uninstall(app["id"])
    # ``compiled`` is what our compile step adds to the manifest: our worker was chosen (an HTML
    # page is kept as the app's own, with its assets inlined).
    assert {t: c.get("template") for t, c in compiled.items()} == {
        t: "none (the app's own HTML, assets inlined)" for t in ("window", "web-worker")}, compiled


async def test_concurrent_sessions_are_independent(apps: Any, alice: Any, worker: BrowserWorker) -> None:
    """test_worker_concurrent_sessions, with the three starts really at the same time."""
    installed = [
        await apps.install(source=RANDOM_ID_APP, manifest={"type": "window", "name": f"Concurrent Test App {i}"},
                           wait_for_service="default", timeout=60, overwrite=True)
        for i in range(3)
    ]
    try:
        sessions = await asyncio.gather(*(apps.start(a["id"], wait_for_service="default", timeout=60) for a in installed))
        sids = [s["id"] for s in sessions]
        assert len(set(sids)) == 3 and all(worker.sessions.is_live(s) for s in sids)
        ids = [await (await alice.get_app(s)).get_id() for s in sids]
        assert len(set(ids)) == 3, ids
        pages = {id(worker.sessions.live(s).lease.context) for s in sids}
        assert len(pages) == 3  # one browser context each
        await asyncio.gather(*(apps.stop(s) for s in sids))
        assert not any(worker.sessions.is_live(s) for s in sids)
    finally:
        for a in installed:
            await apps.uninstall(a["id"])


async def test_error_handling_names_the_cause(apps: Any, worker: BrowserWorker) -> None:
    """test_worker_error_handling: unknown types, bad JS and slow apps are refused, saying why;
    a start that fails at run time (no install check: ``stage=True``) names the app's error."""
    def our_sessions() -> set[str]:
        return {s.id for s in [*worker.sessions.live_sessions(), *worker.sessions.ended_sessions()]}

    # The server refuses a type no worker of it lists; ours does not list it, and never saw the app.
    before = our_sessions()
    with pytest.raises(RemoteException, match="No server app worker found for app type: nonexistent-type"):
        await apps.install(source="console.log('test');", manifest={"type": "nonexistent-type", "name": "Invalid"},
                           timeout=30, overwrite=True)
    assert "nonexistent-type" not in worker.supported_types and our_sessions() == before

    with pytest.raises(RemoteException, match="app failed while booting: SyntaxError: Unexpected identifier 'is'"):
        await apps.install(source="this is not valid javascript syntax\napi.export({});",
                           manifest={"type": "window", "name": "Compat Bad App"}, timeout=30, overwrite=True)

    # The server gives up after its own 2 s wait for the service; our session for the app had
    # loaded (its log lines are in the server's error), and the server's stop ended it.
    before = our_sessions()
    with pytest.raises(RemoteException, match="startup timed out") as slow:
        await apps.install(source="setTimeout(() => api.export({}), 10000);",
                           manifest={"type": "window", "name": "Compat Slow App"}, timeout=2, overwrite=True)
    (slow_id,) = [s for s in our_sessions() - before if (worker.sessions.any(s).metadata or {}).get("name") == "Compat Slow App"]
    await wait_for(lambda: not worker.sessions.is_live(slow_id))
    texts = worker.sessions.any(slow_id).logs.texts()
    assert texts[0] in str(slow.value) and texts[0].startswith("Starting window app "), texts
    assert texts[-2:] == ["Session stopping", "Session stopped"], texts
    assert (await worker.get_session_info(slow_id))["status"] == "stopped"

    staged = await apps.install(source="throw new Error('database handle missing');",
                                manifest={"type": "window", "name": "Compat Failing Start"}, stage=True, overwrite=True)
    try:
        with pytest.raises(RemoteException, match="app failed while booting: database handle missing"):
            await apps.start(staged["id"], stage=True, wait_for_service="default", timeout=30)
    finally:
        await apps.uninstall(staged["id"])


async def test_lifecycle_install_start_logs_stop_uninstall(apps: Any, alice: Any, served: Any, worker: BrowserWorker) -> None:
    """test_worker_lifecycle_management, plus list_sessions/get_session_info on the worker."""
    source = """
    api.export({
        async setup() { console.log("Lifecycle test app started"); },
        async get_status() { return "running"; },
    });
    """
    app = await apps.install(source=source, manifest={"type": "window", "name": "Lifecycle Test App"}, overwrite=True)
    try:
        # Installed through our compile: the bundle is kept for alice's starts.
        assert worker.engine.entries.get("ws-user-alice", app["content_hash"]) is not None
        session = await apps.start(app["id"], wait_for_service="default", timeout=60)
        sid = session["id"]
        assert worker.sessions.is_live(sid)
        assert await (await alice.get_app(sid)).get_status() == "running"

        remote = await alice.get_service((await our_workers(apps))[0]["id"])
        listed = {s["id"]: s for s in await remote.list_sessions()}
        assert listed[sid]["status"] == "running" and listed[sid]["app_type"] == "window"
        info = await remote.get_session_info(sid)
        assert info["workspace"] == "ws-user-alice" and info["app_id"] == app["id"]

        logs = await apps.get_logs(sid)
        # Exactly what our worker holds for the session: its own three start lines, then
        # (or interleaved with) the page's console lines, the app's own line last.
        assert logs["total"] == len(logs["items"]) == len(worker.sessions.live(sid).logs)
        ours = [i["content"] for i in logs["items"] if i["source"] == "worker"]
        assert ours[:2] == [f"Starting window app {app['id']} ({sid})", "Browser context ready; loading the app"], ours
        assert len(ours) == 3 and ours[2].startswith("App loaded in "), ours
        console = await apps.get_logs(sid, type="console", limit=1)
        wanted = [i for i in logs["items"] if i["type"] == "console"]
        assert wanted[-1]["content"] == "[log] Lifecycle test app started", wanted
        assert len(wanted) + len(ours) == logs["total"]  # no other kind of entry
        assert console["total"] == len(wanted) and console["items"] == wanted[:1]
        await apps.stop(sid)
        assert not worker.sessions.is_live(sid)
        assert sid not in [s["id"] for s in await remote.list_sessions()]
        assert (await remote.get_session_info(sid))["status"] == "stopped"
        assert worker.sessions.any(sid).logs.texts()[-2:] == ["Session stopping", "Session stopped"]
    finally:
        await apps.uninstall(app["id"])


async def test_lifecycle_console_logs(apps: Any) -> None:
    """test_worker_lifecycle_management, step 4: ``type == "console"`` items exist."""
    source = 'api.export({ async setup() { console.log("Lifecycle test app started"); } });'
    app = await apps.install(source=source, manifest={"type": "window", "name": "Lifecycle Logs App"}, overwrite=True)
    try:
        session = await apps.start(app["id"], wait_for_service="default", timeout=60)
        logs = await apps.get_logs(session["id"])
        console = [i for i in logs["items"] if i["type"] == "console"]
        assert "[log] Lifecycle test app started" in [i["content"] for i in console], logs
        await apps.stop(session["id"])
    finally:
        await apps.uninstall(app["id"])
