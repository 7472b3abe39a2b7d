"""Issue 12, acceptance 1: Hypha's ``tests/test_browser_worker_integration.py`` scenarios run on our
class the way Hypha constructs and calls its own (``BrowserWorker(settings)``, ``initialize()``,
``register_worker_service(server)``, ``WorkerConfig`` objects, ``shutdown()``), and web-app
``inject_auth_params`` (an external app connects; the token is in no URL).

Real Hypha server, real Chromium (fixtures in conftest.py). Ported, not copied.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from hypha.workers.base import WorkerConfig
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker, SessionNotFoundError, WorkerSettings
from browser_worker.errors import WorkerError
from browser_worker.testing.hypha_server import LocalHyphaServer
from browser_worker.testing import internals
from browser_worker._net.loopback import start_site
from browser_worker.testing import internals

from ._support import our_workers

pytestmark = pytest.mark.e2e

# ----- test_browser_worker_integration.py: our class, constructed and called like Hypha's -----

def _data_url(html: str) -> str:
    return "data:text/html;base64," + base64.b64encode(html.encode()).decode()


def _config(session: str, url: str, **manifest: Any) -> WorkerConfig:
    return WorkerConfig(
        id=f"test-workspace/{session}", app_id="test-app", workspace="test-workspace", client_id=session,
        server_url="http://localhost:8000", token="test-token-not-used-by-web-apps",
        artifact_id="test-workspace/test-app", manifest={"type": "web-app", "entry_point": url, **manifest},
        entry_point="index.html",
    )


@pytest_asyncio.fixture(scope="module")
async def hypha_style_worker(settings: WorkerSettings, hypha_server: LocalHyphaServer,
                             alice_token: str) -> AsyncIterator[BrowserWorker]:
    """``BrowserWorker(settings)`` registered through ``register_worker_service(server)``, as
    Hypha registers its own; loopback pages allowed (the tests serve pages on 127.0.0.1)."""
    worker = BrowserWorker(settings.with_(pool_size=1, allow_private_network=True, service_id="compat-hypha-style"))
    await worker.initialize()
    try:
        server = await connect_to_server({"server_url": hypha_server.url, "token": alice_token})
        try:
            info = await worker.register_worker_service(server)
            assert info["id"].endswith(":compat-hypha-style")
            assert worker.owner_workspace == "ws-user-alice"
            yield worker
        finally:
            await server.disconnect()
    finally:
        await worker.shutdown()  # as Hypha's fixture ends: sessions stopped, browser closed
    assert not worker.is_open and worker.context_count() == 0


@dataclass
class PageServer:
    """A local web server for web-app tests: ``pages`` maps paths to HTML; ``seen`` records
    each request's path and query."""

    base: str
    pages: dict[str, str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)


@pytest_asyncio.fixture
async def page_server() -> AsyncIterator[PageServer]:
    server = PageServer(base="")

    async def handle(request: web.Request) -> web.Response:
        server.seen.append(request.path_qs)
        body = server.pages.get(request.path)
        if body is None:
            return web.Response(status=404, text="not here")
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner, base = await start_site(app)
    server.base = base
    try:
        yield server
    finally:
        await runner.cleanup()


async def test_storage_presets_with_a_worker_config(hypha_style_worker: BrowserWorker,
                                                    page_server: PageServer) -> None:
    """test_localstorage_and_sessionstorage_configuration, plus cookies."""
    page_server.pages["/test-storage.html"] = "<!DOCTYPE html><html><body><div id=status>Page loaded</div></body></html>"
    config = _config(
        "test-storage-session", f"{page_server.base}/test-storage.html",
        local_storage={"api_key": "test-api-key-123", "user_preferences": '{"theme": "dark", "language": "en"}'},
        session_storage={"temp_session": "session-789", "csrf_token": "csrf-abc-123"},
        cookies={"visited": "yes"},
    )
    sid = await hypha_style_worker.start(config)
    assert sid == "test-workspace/test-storage-session"
    try:
        got = await hypha_style_worker.execute(sid, """(() => ({
            local: Object.fromEntries(Object.keys(localStorage).map(k => [k, localStorage.getItem(k)])),
            session: Object.fromEntries(Object.keys(sessionStorage).map(k => [k, sessionStorage.getItem(k)])),
            cookie: document.cookie,
        }))()""")
        assert got["local"] == {"api_key": "test-api-key-123", "user_preferences": '{"theme": "dark", "language": "en"}'}
        assert got["session"] == {"temp_session": "session-789", "csrf_token": "csrf-abc-123"}
        assert got["cookie"] == "visited=yes"
    finally:
        await hypha_style_worker.stop(sid)


EXECUTE_PAGE = """<!DOCTYPE html><html><head><title>Execute Test</title></head><body>
<h1 id="title">Original Title</h1><div id="content">Original Content</div><div id="container"></div>
<script>window.testData = {value: 42}; window.initialData = {numbers: [1, 2, 3, 4, 5]};</script>
</body></html>"""


async def test_execute_statements_expressions_and_errors(hypha_style_worker: BrowserWorker) -> None:
    """test_execute_script_functionality, test_complex_javascript_operations, test_execute_error_handling."""
    w = hypha_style_worker
    with pytest.raises(SessionNotFoundError, match="not found"):
        await w.execute("test-workspace/non-existent-session", "console.log('test');")
    sid = await w.start(_config("test-execute-session", _data_url(EXECUTE_PAGE)))
    try:
        read = "({title: document.getElementById('title').textContent, content: document.getElementById('content').textContent, testData: window.testData})"
        assert await w.execute(sid, read) == {"title": "Original Title", "content": "Original Content", "testData": {"value": 42}}
        await w.execute(sid, """
            document.getElementById('title').textContent = 'Modified Title';
            document.getElementById('content').textContent = 'Modified Content';
            window.testData.value = 100;
        """)
        assert await w.execute(sid, read) == {"title": "Modified Title", "content": "Modified Content", "testData": {"value": 100}}
        result = await w.execute(sid, """(() => {
            const n = window.initialData.numbers;
            const c = document.getElementById('container');
            for (let i = 0; i < 3; i++) { const d = document.createElement('div'); d.id = 'item-' + i; d.textContent = 'Item ' + i; c.appendChild(d); }
            return {doubled: n.map(x => x * 2), sum: n.reduce((a, b) => a + b, 0), filtered: n.filter(x => x > 2),
                    count: c.children.length, first: document.getElementById('item-0')?.textContent,
                    deep: {nested: {value: 'found'}}.nested.value};
        })()""")
        assert result == {"doubled": [2, 4, 6, 8, 10], "sum": 15, "filtered": [3, 4, 5], "count": 3,
                          "first": "Item 0", "deep": "found"}
        with pytest.raises(WorkerError) as err:
            await w.execute(sid, "// This will throw\nthrow new Error('Intentional test error');")
        assert "Failed to execute script" in str(err.value) and "Intentional test error" in str(err.value)
    finally:
        await w.stop(sid)


async def test_screenshots_png_and_jpeg(hypha_style_worker: BrowserWorker) -> None:
    """test_screenshot_functionality."""
    html = ('<!DOCTYPE html><html><body style="background: linear-gradient(to right, #667eea, #764ba2); height: 100vh; margin: 0">'
            '<h1 style="color: white; text-align: center; padding-top: 40vh">Screenshot Test Page</h1></body></html>')
    sid = await hypha_style_worker.start(_config("test-screenshot-session", _data_url(html)))
    try:
        png = await hypha_style_worker.take_screenshot(sid, format="png")
        jpeg = await hypha_style_worker.take_screenshot(sid, format="jpeg")
        assert isinstance(png, bytes) and len(png) > 1000 and png[:8] == b"\x89PNG\r\n\x1a\n"
        assert isinstance(jpeg, bytes) and len(jpeg) > 1000 and jpeg[:3] == b"\xff\xd8\xff"
    finally:
        await hypha_style_worker.stop(sid)


async def test_multiple_concurrent_sessions_with_worker_configs(hypha_style_worker: BrowserWorker) -> None:
    """test_multiple_concurrent_sessions (started at the same time here)."""
    w = hypha_style_worker
    configs = [
        _config(f"test-multi-session-{i}", _data_url(
            f"<!DOCTYPE html><html><body><h1 id='title'>Session {i}</h1><script>window.sessionNumber = {i};</script></body></html>"))
        for i in range(3)
    ]
    sids = await asyncio.gather(*(w.start(c) for c in configs))
    try:
        assert sids == [f"test-workspace/test-multi-session-{i}" for i in range(3)]
        for i, sid in enumerate(sids):
            got = await w.execute(sid, "({n: window.sessionNumber, title: document.getElementById('title').textContent})")
            assert got == {"n": i, "title": f"Session {i}"}
        listed = {s["id"] for s in await w.list_sessions("test-workspace")}
        assert listed == set(sids)
    finally:
        await asyncio.gather(*(w.stop(s) for s in sids))
    assert await w.list_sessions("test-workspace") == []


async def test_worker_config_object_through_the_service_methods(hypha_style_worker: BrowserWorker) -> None:
    """``get_worker_service()``'s ``start`` takes the WorkerConfig object the way Hypha's
    in-process controller passes it; the manifest's entry_point wins over the config's."""
    service = hypha_style_worker.get_worker_service()
    sid = await service["start"](_config("test-service-start", _data_url("<p id=p>via the service dict</p>")))
    try:
        assert await service["execute"](sid, "document.getElementById('p').textContent") == "via the service dict"
        info = await service["get_session_info"](sid)
        assert info["status"] == "running" and info["app_type"] == "web-app"
    finally:
        await service["stop"](sid)
    assert await service["stop"](sid) is None  # stopping twice is quiet


async def test_session_ids_stay_bound_to_their_workspace(hypha_style_worker: BrowserWorker) -> None:
    """Hypha's own worker takes any ``id`` (its tests use ``"test-storage-session"``); ours takes
    one from the in-process caller (``test_hypha_worker_class.py``), but an RPC caller's id is
    ``<workspace>/<client_id>``, so that one tenant cannot claim another's session id. The Hypha
    server always sends that form."""
    config = _config("x", _data_url("<p>x</p>")).model_copy(update={"id": "test-storage-session"})
    tenant = {"ws": "test-workspace", "user": {"id": "carol", "roles": []}}
    with pytest.raises(WorkerError, match=r"rule: <workspace>/<client_id>"):
        await hypha_style_worker.start(config, tenant)
    assert "test-storage-session" not in hypha_style_worker.stats().active


# ----- inject_auth_params: the connection parameters in the query, the token never in a URL ---

EXTERNAL_APP = """<!DOCTYPE html><html><head><title>external</title></head><body>
<script type="module">
const q = new URLSearchParams(location.search);
const rpc = await import(q.get("server_url") + "/assets/hypha-rpc-websocket.mjs");
// As external apps do: connection parameters from the query, no token passed.
const api = await rpc.connectToServer({
  server_url: q.get("server_url"), workspace: q.get("workspace"), client_id: q.get("client_id"),
});
await api.export({
  setup() {},
  whoami() {
    return {workspace: api.config.workspace, client_id: api.config.client_id, app_id: q.get("app_id"),
            query: [...q.keys()].sort(), env_has_token: typeof globalThis.env.HYPHA_TOKEN === "string"};
  },
});
</script></body></html>"""


async def test_inject_auth_params_external_app_connects_without_a_token_in_urls(
    apps: Any, alice: Any, worker: BrowserWorker, alice_token: str, page_server: PageServer
) -> None:
    """A web-app whose page reads server_url/workspace/client_id from its query and connects
    with hypha-rpc starts through the server, registers ``default`` and is callable; the
    token is in no URL the page requested (Hypha's own worker puts it in the query)."""
    page_server.pages["/external.html"] = EXTERNAL_APP
    url = f"{page_server.base}/external.html?lang=en"
    pinned = (await our_workers(apps))[0]["id"]  # the shared worker, not this module's second one
    app = await apps.install(manifest={"name": "Compat External App", "type": "web-app", "entry_point": url,
                                       "inject_auth_params": True},
                             wait_for_service="default", timeout=60, overwrite=True, worker_id=pinned)
    try:
        session = await apps.start(app["id"], wait_for_service="default", timeout=60, worker_id=pinned)
        sid = session["id"]
        assert internals(worker).sessions.active(sid).app_id == app["id"]  # the pinned (shared) worker runs it
        client_id = sid.split("/", 1)[1]
        svc = await alice.get_service(f"{sid}:default")
        assert await svc.whoami() == {
            "workspace": "ws-user-alice", "client_id": client_id, "app_id": app["id"],
            "query": ["app_id", "client_id", "lang", "server_url", "workspace"], "env_has_token": True,
        }
        urls = await worker.execute(sid, "[location.href, document.referrer,"
                                         " ...performance.getEntriesByType('resource').map(e => e.name)]")
        assert any(u.endswith("/assets/hypha-rpc-websocket.mjs") for u in urls), urls
        assert page_server.seen and any(s.startswith("/external.html?lang=en&server_url=") for s in page_server.seen)
        for seen in [*urls, *page_server.seen]:
            assert alice_token not in seen and "token=" not in seen, seen
        await apps.stop(sid)
    finally:
        await apps.uninstall(app["id"])


async def test_inject_auth_params_gives_nothing_to_other_origins_or_frames(
    hypha_style_worker: BrowserWorker, hypha_server: LocalHyphaServer, alice_token: str, page_server: PageServer
) -> None:
    """The token is set in the app's own origin and top frame only: a child frame of another
    origin, and the page itself without the flag, see no ``env``."""
    page_server.pages["/framed.html"] = "<!DOCTYPE html><p>child</p>"
    other = page_server.base.replace("127.0.0.1", "localhost")
    page_server.pages["/top.html"] = f"<!DOCTYPE html><iframe id=f src='{other}/framed.html'></iframe>"
    config = {
        "id": "ws-user-alice/compat-inject-frames", "workspace": "ws-user-alice", "app_id": "compat-inject",
        "server_url": hypha_server.url, "token": alice_token,
        "manifest": {"type": "web-app", "entry_point": f"{page_server.base}/top.html", "inject_auth_params": True},
    }
    sid = await hypha_style_worker.start(config)
    try:
        assert await hypha_style_worker.execute(sid, "globalThis.env.HYPHA_TOKEN") == alice_token
        page = internals(hypha_style_worker).sessions.active(sid).lease.page
        child = next(f for f in page.frames if f.url.endswith("/framed.html"))
        assert await child.evaluate("typeof globalThis.env") == "undefined"
    finally:
        await hypha_style_worker.stop(sid)
    plain = {**config, "id": "ws-user-alice/compat-inject-off",
             "manifest": {"type": "web-app", "entry_point": f"{page_server.base}/framed.html"}}
    sid = await hypha_style_worker.start(plain)
    try:
        assert await hypha_style_worker.execute(sid, "[typeof globalThis.env, location.search]") == ["undefined", ""]
    finally:
        await hypha_style_worker.stop(sid)
    with pytest.raises(WorkerError, match="inject_auth_params must be true or false"):
        await hypha_style_worker.start({**config, "manifest": {**config["manifest"], "inject_auth_params": "yes"}})
