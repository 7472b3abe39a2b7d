"""Issue 19, acceptance 1: Hypha's own tests construct its built-in ``BrowserWorker`` in-process
and call it with ``WorkerConfig`` objects and no ``context``. The same calls, on our class:
free-form session ids (``test-execute-session`` in ``test-workspace``), storage presets,
execute, screenshots, concurrent sessions, Hypha's error classes and messages, the docker flag.

Ported from Hypha's ``tests/test_browser_worker_integration.py`` and ``tests/test_worker.py``
(``test_worker_docker_configuration``), not copied. The tenant checks at the end hold the line
these ids must not cross: an RPC caller keeps ``<its workspace>/<client_id>`` ids and never
reaches a session of another workspace, whatever its id looks like.
"""

from __future__ import annotations

import base64
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from hypha.workers import base as hypha_base
from hypha.workers.base import WorkerConfig

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.errors import PermissionDeniedError, WorkerError
from browser_worker._net.loopback import start_site

pytestmark = pytest.mark.e2e

ALICE = {"ws": "ws-user-alice", "user": {"id": "alice", "roles": []}}


def _data_url(html: str) -> str:
    return "data:text/html;base64," + base64.b64encode(html.encode()).decode()


def _config(session_id: str, url: str, client_id: str = "test-client", **manifest: Any) -> WorkerConfig:
    """A start config the way Hypha's tests build one: any id, a workspace of their own, a
    server that is not there (a web app never connects to it)."""
    return WorkerConfig(
        id=session_id, app_id="test-app", workspace="test-workspace", client_id=client_id,
        server_url="http://localhost:8000", token="test-token", artifact_id="test-workspace/test-app",
        manifest={"type": "web-app", "entry_point": url, **manifest}, entry_point="index.html",
    )


@pytest_asyncio.fixture(scope="module")
async def storage_page() -> AsyncIterator[str]:
    """A plain page on 127.0.0.1 (storage needs a real origin; data: URLs have none)."""
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Storage</title><p id=s>loaded</p>",
                            content_type="text/html")

    app.router.add_get("/test-storage.html", page)
    runner, base = await start_site(app)
    try:
        yield f"{base}/test-storage.html"
    finally:
        await runner.cleanup()


async def test_storage_presets_under_a_free_form_id(worker: BrowserWorker, storage_page: str) -> None:
    cfg = _config("test-storage-session", storage_page,
                  local_storage={"api_key": "k-123", "prefs": '{"theme": "dark"}'},
                  session_storage={"csrf_token": "csrf-abc"})
    sid = await worker.start(cfg)
    assert sid == "test-storage-session"
    try:
        stored = await worker.execute(sid, """(() => ({
            local: Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])),
            session: Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)])),
        }))()""")
        assert stored == {"local": {"api_key": "k-123", "prefs": '{"theme": "dark"}'},
                          "session": {"csrf_token": "csrf-abc"}}
        info = await worker.get_session_info(sid)
        assert info["workspace"] == "test-workspace" and info["client_id"] == "test-client"
    finally:
        await worker.stop(sid)


async def test_execute_reads_and_changes_the_page(worker: BrowserWorker) -> None:
    html = ("<h1 id=title>Original Title</h1><div id=content>Original Content</div>"
            "<script>window.testData = {value: 42};</script>")
    sid = await worker.start(_config("test-execute-session", _data_url(html)))
    assert sid == "test-execute-session"
    read = "({title: document.getElementById('title').textContent, value: window.testData.value})"
    try:
        assert await worker.execute(sid, read) == {"title": "Original Title", "value": 42}
        await worker.execute(sid, "document.getElementById('title').textContent = 'Modified'; window.testData.value = 100;")
        assert await worker.execute(sid, read) == {"title": "Modified", "value": 100}
    finally:
        await worker.stop(sid)
    assert not (sid in worker.stats().active)


async def test_errors_are_hyphas_classes_with_its_messages(worker: BrowserWorker) -> None:
    for call in (lambda: worker.execute("non-existent-session", "1"),
                 lambda: worker.take_screenshot("non-existent-session"),
                 lambda: worker.get_logs("non-existent-session"),
                 lambda: worker.get_session_info("non-existent-session")):
        with pytest.raises(hypha_base.SessionNotFoundError, match="^Browser session non-existent-session not found$"):
            await call()

    sid = await worker.start(_config("test-error-session", _data_url("<h1>Error Test</h1>")))
    assert sid == "test-error-session"
    try:
        with pytest.raises(hypha_base.WorkerError, match="Failed to execute script") as err:
            await worker.execute(sid, "// a comment, then\nthrow new Error('Intentional test error');")
        assert "Intentional test error" in str(err.value)
        assert isinstance(err.value, WorkerError)  # and still ours
    finally:
        await worker.stop(sid)


async def test_screenshots_png_and_jpeg(worker: BrowserWorker) -> None:
    html = ("<body style='margin:0;height:100vh;background:linear-gradient(to right,#667eea,#764ba2)'>"
            "<h1 style='color:white;text-align:center;padding-top:40vh'>Screenshot Test Page</h1></body>")
    sid = await worker.start(_config("test-screenshot-session", _data_url(html)))
    assert sid == "test-screenshot-session"
    try:
        png = await worker.take_screenshot(sid, format="png")
        jpeg = await worker.take_screenshot(sid, format="jpeg")
        assert png.startswith(b"\x89PNG") and len(png) > 1000
        assert jpeg.startswith(b"\xff\xd8") and len(jpeg) > 1000
    finally:
        await worker.stop(sid)


async def test_concurrent_sessions_are_isolated(worker: BrowserWorker) -> None:
    sessions = []
    try:
        for i in range(3):
            html = f"<h1 id=title>Session {i}</h1><script>window.sessionNumber = {i};</script>"
            sid = await worker.start(_config(f"test-multi-session-{i}", _data_url(html), client_id=f"test-client-{i}"))
            assert sid == f"test-multi-session-{i}"
            sessions.append(sid)
        for i, sid in enumerate(sessions):
            assert await worker.execute(sid, "({n: window.sessionNumber, t: document.getElementById('title').textContent})") \
                == {"n": i, "t": f"Session {i}"}
    finally:
        for sid in sessions:
            await worker.stop(sid)


async def test_complex_javascript(worker: BrowserWorker) -> None:
    html = "<div id=container></div><script>window.initialData = {numbers: [1, 2, 3, 4, 5]};</script>"
    sid = await worker.start(_config("test-complex-ops", _data_url(html)))
    assert sid == "test-complex-ops"
    try:
        result = await worker.execute(sid, """(() => {
            const n = window.initialData.numbers;
            const box = document.getElementById('container');
            for (let i = 0; i < 3; i++) {
                const div = document.createElement('div');
                div.id = 'item-' + i; div.textContent = 'Item ' + i; box.appendChild(div);
            }
            const nested = {deep: {value: 'found'}, list: [{id: 1}, {id: 2}]};
            return {doubled: n.map((x) => x * 2), sum: n.reduce((a, b) => a + b, 0),
                    filtered: n.filter((x) => x > 2), count: box.children.length,
                    first: document.getElementById('item-0')?.textContent,
                    deep: nested.deep.value, length: nested.list.length};
        })()""")
        assert result == {"doubled": [2, 4, 6, 8, 10], "sum": 15, "filtered": [3, 4, 5], "count": 3,
                          "first": "Item 0", "deep": "found", "length": 2}
    finally:
        await worker.stop(sid)


async def test_docker_configuration(settings: WorkerSettings) -> None:
    """``BrowserWorker(in_docker=True)`` as Hypha's CLI builds its own: nothing launches yet,
    the flag reads back, and Chromium will start without its sandbox (as in a container)."""
    docker = BrowserWorker(in_docker=True)
    assert docker.in_docker is True and not docker.is_open
    assert "--no-sandbox" in docker.settings.chromium_args.split()
    plain = BrowserWorker(settings, in_docker=False, use_local_url=False)
    assert plain.in_docker is False and plain.use_local_url is False
    assert plain.settings.chromium_args == settings.chromium_args
    for app_type in ("web-python", "web-worker", "window", "iframe", "hypha", "web-app"):
        assert app_type in docker.supported_types
    assert "Browser Worker" in docker.name and docker.description


# ----- what free-form ids must not open up for tenants ----------------------------------------

async def test_a_tenant_keeps_workspace_bound_ids(worker: BrowserWorker) -> None:
    cfg = _config("test-tenant-session", _data_url("<p>x</p>"))
    for session_id, workspace in (("test-tenant-session", "ws-user-alice"),  # no workspace part
                                  ("ws-user-bob/x", "ws-user-alice"),  # another workspace's id
                                  ("test-workspace/x", "test-workspace")):  # another workspace
        with pytest.raises(WorkerError, match="workspace|id"):
            await worker.start(cfg.model_copy(update={"id": session_id, "workspace": workspace}), ALICE)
    assert not ("test-tenant-session" in worker.stats().active)


async def test_a_tenant_cannot_reach_a_free_form_session(worker: BrowserWorker) -> None:
    sid = await worker.start(_config("shared-looking-name", _data_url("<title>secret</title>")))
    try:
        for call in (lambda: worker.execute(sid, "document.title", context=ALICE),
                     lambda: worker.get_logs(sid, context=ALICE),
                     lambda: worker.get_session_info(sid, context=ALICE),
                     lambda: worker.take_screenshot(sid, context=ALICE),
                     lambda: worker.stop(sid, context=ALICE)):
            with pytest.raises(PermissionDeniedError, match="in workspace test-workspace$"):
                await call()
        assert sid not in [s["id"] for s in await worker.list_sessions(context=ALICE)]
        assert (sid in worker.stats().active)
    finally:
        await worker.stop(sid)


async def test_a_local_id_with_a_workspace_part_must_name_its_own(worker: BrowserWorker) -> None:
    """Ids with a ``/`` are the tenants' id space: even the in-process caller cannot make one
    that names another workspace, so a tenant's next start can never collide with it."""
    with pytest.raises(WorkerError, match="names workspace 'ws-user-alice'"):
        await worker.start(_config("ws-user-alice/squatted", _data_url("<p>x</p>")))
    assert not ("ws-user-alice/squatted" in worker.stats().active)
