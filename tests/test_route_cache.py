"""Issue 19, acceptance 4: a real per-app route cache.

An app's ``cache_routes`` responses are recorded on its first start and served from disk by
every later start (no request reaches the origin, which may even be down), across a worker
restart, per (workspace, app id) only, within a byte budget; ``get_app_cache_stats`` and
``clear_app_cache`` act on the caller's own workspace only. The app is a web app on a local
aiohttp server that serves ~5 MB of script after a small delay.

Run with ``BROWSER_WORKER_CACHE_MAX_BYTES=0`` (no cache) the core tests here fail.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.errors import PermissionDeniedError, WorkerError
from browser_worker.testing import internals

BIG = 5 * 1024 * 1024
DELAY = 0.3
ALICE, BOB = "ws-user-alice", "ws-user-bob"
ALICE_CTX = {"ws": ALICE, "user": {"id": "alice"}}
BOB_CTX = {"ws": BOB, "user": {"id": "bob"}}
INDEX = """<!doctype html><html><head><script src="/big.js"></script></head><body>
<p id=size></p>
<script>
document.getElementById("size").textContent = String(window.__big.length);
Promise.all([
  fetch("/private.json", {headers: {Authorization: "Bearer secret-never-stored"}}),
  fetch("/cookie.json"),
]).then(() => { window.__fetched = true; });
</script></body></html>"""


class Origin:
    """The app's own web server, which the test counts requests on and can stop."""

    def __init__(self, cache_control: str | None = None) -> None:
        #: What index.html and big.js answer as Cache-Control (None: nothing).
        self.cache_control = cache_control
        self.seen: Counter[str] = Counter()
        self.agents: list[str] = []  # who fetched big.js: Chromium, or the worker itself (aiohttp)
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> "Origin":
        async def index(request: web.Request) -> web.Response:
            self.seen[request.path] += 1
            return web.Response(text=INDEX, content_type="text/html", headers=self._cache_headers())

        async def big(request: web.Request) -> web.Response:
            self.seen[request.path] += 1
            self.agents.append(request.headers.get("User-Agent", ""))
            await asyncio.sleep(DELAY)
            body = b"window.__big = '" + b"x" * (BIG - 32) + b"';\n"
            return web.Response(body=body, content_type="text/javascript", headers=self._cache_headers())

        async def private(request: web.Request) -> web.Response:
            self.seen[request.path] += 1
            return web.json_response({"auth": bool(request.headers.get("Authorization"))})

        async def cookie(request: web.Request) -> web.Response:
            self.seen[request.path] += 1
            response = web.json_response({"ok": True})
            response.set_cookie("sid", "personal")
            return response

        app = web.Application()
        for path, handler in (("/index.html", index), ("/big.js", big), ("/private.json", private),
                              ("/cookie.json", cookie)):
            app.router.add_get(path, handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def _cache_headers(self) -> dict[str, str]:
        return {"Cache-Control": self.cache_control} if self.cache_control else {}

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/index.html"

    def config(self, workspace: str = ALICE, app_id: str = "cached-app", **manifest: Any) -> dict[str, Any]:
        client_id = f"c-{uuid.uuid4().hex[:10]}"
        return {
            "id": f"{workspace}/{client_id}", "workspace": workspace, "client_id": client_id,
            "app_id": app_id, "entry_point": self.url,
            "manifest": {"type": "web-app", "entry_point": self.url,
                         "cache_routes": [f"http://127.0.0.1:{self.port}/*"], **manifest},
        }


def worker_settings(cache_dir: Path, **overrides: Any) -> WorkerSettings:
    # The budget comes from the environment unless a test sets it: with
    # BROWSER_WORKER_CACHE_MAX_BYTES=0 the cache is off, and the core tests must fail.
    return WorkerSettings.from_env(cache_dir=str(cache_dir), pool_size=1, python_pool_size=0,
                                   start_timeout=30.0, **overrides)


@pytest_asyncio.fixture
async def origin() -> AsyncIterator[Origin]:
    server = await Origin().start()
    yield server
    await server.stop()


async def timed_start(worker: BrowserWorker, config: dict[str, Any]) -> tuple[float, str]:
    t = time.perf_counter()
    sid = await worker.start(config)
    elapsed = time.perf_counter() - t
    assert await worker.execute(sid, "() => document.getElementById('size').textContent") == str(BIG - 32)
    return elapsed, sid


async def until_fetched(worker: BrowserWorker, sid: str) -> None:
    for _ in range(100):
        if await worker.execute(sid, "() => window.__fetched === true"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the page's fetches did not finish")


async def logs_text(worker: BrowserWorker, sid: str) -> str:
    return "\n".join(item["content"] for item in (await worker.get_logs(sid))["items"])


@pytest.mark.e2e
async def test_second_start_from_disk_then_offline_then_after_a_restart(origin: Origin, tmp_path: Path) -> None:
    cfg = origin.config
    async with BrowserWorker(worker_settings(tmp_path)) as worker:
        first, sid = await timed_start(worker, cfg())
        await until_fetched(worker, sid)
        await worker.stop(sid)
        assert origin.seen["/big.js"] == 1 and origin.seen["/index.html"] == 1
        seen = origin.seen.copy()

        second, sid = await timed_start(worker, cfg())
        assert "from disk" in await logs_text(worker, sid)
        await until_fetched(worker, sid)
        await worker.stop(sid)
        stats = await worker.get_app_cache_stats(ALICE, "cached-app")
        assert stats["hits"] > 0 and stats["entry_count"] == 2, stats  # index.html and big.js
        assert stats["total_size_bytes"] > BIG - 100
        # Nothing cacheable reached the origin; the Authorization and Set-Cookie answers did.
        assert origin.seen["/big.js"] == seen["/big.js"] and origin.seen["/index.html"] == seen["/index.html"]
        assert origin.seen["/private.json"] == 2 and origin.seen["/cookie.json"] == 2

        await origin.stop()
        offline, sid = await timed_start(worker, cfg())
        await worker.stop(sid)
    print(f"\nroute cache: first start {first * 1000:.0f} ms, second {second * 1000:.0f} ms, "
          f"origin down {offline * 1000:.0f} ms")
    index = (tmp_path / "index.json").read_text()
    assert "secret-never-stored" not in index and "personal" not in index and "private.json" not in index

    async with BrowserWorker(worker_settings(tmp_path)) as restarted:
        after, sid = await timed_start(restarted, cfg())
        assert (await restarted.get_app_cache_stats(ALICE, "cached-app"))["hits"] >= 2
    print(f"route cache: after a worker restart (origin still down) {after * 1000:.0f} ms")


@pytest.mark.e2e
async def test_workspaces_do_not_share_and_clear_and_budget(origin: Origin, tmp_path: Path) -> None:
    async with BrowserWorker(worker_settings(tmp_path)) as worker:
        for _ in range(2):
            _, sid = await timed_start(worker, origin.config())
            await worker.stop(sid)
        assert origin.seen["/big.js"] == 1

        # Bob's app has the same id and URLs: it finds nothing of alice's and fills its own.
        _, sid = await timed_start(worker, origin.config(BOB))
        await worker.stop(sid)
        assert origin.seen["/big.js"] == 2
        bob = await worker.get_app_cache_stats(BOB, "cached-app", context=BOB_CTX)
        assert bob["hits"] == 0 and bob["entry_count"] == 2

        cleared = await worker.clear_app_cache(ALICE, "cached-app", context=ALICE_CTX)
        assert cleared == {"deleted_entries": 2}
        assert (await worker.get_app_cache_stats(ALICE, "cached-app"))["entry_count"] == 0
        assert (await worker.get_app_cache_stats(BOB, "cached-app"))["entry_count"] == 2
        _, sid = await timed_start(worker, origin.config())
        await worker.stop(sid)
        assert origin.seen["/big.js"] == 3  # cleared: fetched again

    # A budget of one app's responses: filling a second app evicts the first.
    async with BrowserWorker(worker_settings(tmp_path / "small", cache_max_bytes=BIG + BIG // 2)) as worker:
        for app_id in ("app-one", "app-two"):
            _, sid = await timed_start(worker, origin.config(app_id=app_id))
            await worker.stop(sid)
        one = await worker.get_app_cache_stats(ALICE, "app-one")
        two = await worker.get_app_cache_stats(ALICE, "app-two")
        assert two["total_size_bytes"] > BIG - 100 and one["total_size_bytes"] < BIG, (one, two)
        assert one["total_size_bytes"] + two["total_size_bytes"] <= BIG + BIG // 2


@pytest.mark.e2e
async def test_enable_cache_false_and_bad_rules(origin: Origin, tmp_path: Path) -> None:
    async with BrowserWorker(worker_settings(tmp_path)) as worker:
        for _ in range(2):
            _, sid = await timed_start(worker, origin.config(enable_cache=False))
            await worker.stop(sid)
        assert origin.seen["/big.js"] == 2
        assert (await worker.get_app_cache_stats(ALICE, "cached-app"))["entry_count"] == 0
        before = len(worker.stats().active)
        for bad in ({"cache_routes": "http://x/*"}, {"enable_cache": "yes"}, {"cache_routes": [{"url": 1}]}):
            with pytest.raises(WorkerError, match="manifest"):
                await worker.start(origin.config(**bad))
        assert len(worker.stats().active) == before


async def test_a_tenant_reads_and_clears_only_its_own_workspace(tmp_path: Path) -> None:
    worker = BrowserWorker(worker_settings(tmp_path))  # the cache methods need no browser
    assert "clear_app_cache" in worker.SERVICE_METHODS and "get_app_cache_stats" in worker.SERVICE_METHODS
    service = worker.get_worker_service()
    assert callable(service["clear_app_cache"]) and callable(service["get_app_cache_stats"])
    store = internals(worker).route_cache.store
    store.put(ALICE, "app", "http://x/a.js", 200, {}, b"alice's")
    for call in (worker.get_app_cache_stats, worker.clear_app_cache):
        with pytest.raises(PermissionDeniedError, match=f"cannot {call.__name__} in workspace {ALICE}"):
            await call(ALICE, "app", context=BOB_CTX)
        with pytest.raises(PermissionDeniedError, match="signed-in"):
            await call(ALICE, "app", context={"ws": ALICE, "user": {"id": "anonymouz-x", "is_anonymous": True}})
        with pytest.raises(WorkerError, match="workspace"):
            await call("../etc", "app", context=BOB_CTX)
        with pytest.raises(WorkerError, match="app_id"):
            await call(BOB, {"not": "a string"}, context=BOB_CTX)
    assert (await worker.get_app_cache_stats(ALICE, "app", context=ALICE_CTX))["entry_count"] == 1
    assert (await worker.get_app_cache_stats(BOB, "app", context=BOB_CTX))["entry_count"] == 0
    assert await worker.clear_app_cache(BOB, "app", context=BOB_CTX) == {"deleted_entries": 0}
    admin = {"ws": "public", "user": {"id": "root"}}
    assert await worker.clear_app_cache(ALICE, "app", context=admin) == {"deleted_entries": 1}
    await internals(worker).route_cache.close()
    assert json.loads((tmp_path / "index.json").read_text())["entries"] == []


@pytest.mark.e2e
async def test_window_app_on_warm_pages(origin: Origin, tmp_path: Path, hypha_server: Any, window_config: Any) -> None:
    """A window app's ``requirements`` come from the cache on a warm page (the RPC module
    imported ahead), the route added to the pool's context after it was made."""
    settings = worker_settings(tmp_path, server_url=hypha_server.url)
    script = "await api.export({ setup() {}, size() { return window.__big.length; } });"
    big = f"http://127.0.0.1:{origin.port}/big.js"
    async with BrowserWorker(settings) as worker:
        for _ in range(2):
            for _ in range(200):
                if worker.stats().warm_by_type["window"]:
                    break
                await asyncio.sleep(0.05)
            sid = await worker.start(window_config(script, requirements=[big], cache_routes=[big]))
            session = internals(worker).find(sid)
            assert session is not None and session.lease is not None and session.lease.warm_kind == "window"
            assert session.lease.warm_origin is not None
            assert await worker.execute(sid, "() => window.__big.length") == BIG - 32
            await worker.stop(sid)
        assert origin.seen["/big.js"] == 1
        assert (await worker.get_app_cache_stats("ws-user-alice", "direct-test"))["hits"] == 1


def installed_page(origin: Origin) -> str:
    big = f"http://127.0.0.1:{origin.port}/big.js"
    return (f'<!doctype html><html><head><script src="{big}"></script></head><body><p id=size></p>'
            '<script>document.getElementById("size").textContent = String(window.__big.length);</script>'
            '</body></html>')


@pytest.mark.e2e
async def test_filled_at_install_so_the_first_start_works_with_the_origin_down(origin: Origin, tmp_path: Path) -> None:
    manifest = {"type": "iframe", "name": "installed", "entry_point": "index.html",
                "cache_routes": [f"http://127.0.0.1:{origin.port}/*"]}
    files = [{"path": "index.html", "content": installed_page(origin)}]
    # The install-time fetch is the worker's own: loopback only because the operator allows it.
    settings = worker_settings(tmp_path, allow_private_network=True)
    async with BrowserWorker(settings) as worker:
        seen: list[str] = []

        def progress(event: dict[str, Any]) -> None:
            seen.append(event.get("message", ""))

        out_manifest, out_files = await worker.compile(manifest, files, {"workspace": ALICE, "progress_callback": progress},
                                                       context=ALICE_CTX)
        assert origin.seen["/big.js"] == 1
        assert any("1 of 1 URL(s) the app loads were cached at install (5.2 MB)" in m for m in seen), seen
        await origin.stop()  # from here on the origin is down

        bundle = next(f["content"] for f in out_files if f["path"] == "index.html")

        def start_config(workspace: str) -> dict[str, Any]:
            cfg = origin.config(workspace, app_id="installed-app")
            cfg.update(source=bundle, manifest={**out_manifest, "type": "iframe"})
            cfg.pop("entry_point")
            return cfg

        elapsed, sid = await timed_start(worker, start_config(ALICE))  # the first start: from disk
        assert "1 response(s) cached when the app was installed" in await logs_text(worker, sid)
        await worker.stop(sid)
        stats = await worker.get_app_cache_stats(ALICE, "installed-app")
        assert stats["entry_count"] == 1 and stats["hits"] == 1, stats
        print(f"\nroute cache: first start after an install-time fill, origin down: {elapsed * 1000:.0f} ms")

        # Bob installs nothing; his start of the same bundle (same content hash) gets nothing of alice's.
        sid = await worker.start(start_config(BOB))
        assert await worker.execute(sid, "() => window.__big === undefined") is True
        await worker.stop(sid)
        assert (await worker.get_app_cache_stats(BOB, "installed-app", context=BOB_CTX))["entry_count"] == 0


async def test_a_bad_cache_rule_fails_the_install_naming_the_field(tmp_path: Path) -> None:
    worker = BrowserWorker(worker_settings(tmp_path))  # compile needs no browser
    files = [{"path": "index.html", "content": "<!doctype html><html><body>x</body></html>"}]
    with pytest.raises(WorkerError, match="manifest.cache_routes must be a list of URL patterns"):
        await worker.compile({"type": "iframe", "entry_point": "index.html", "cache_routes": "http://x/*"}, files,
                             {"workspace": ALICE}, context=ALICE_CTX)
    await internals(worker).route_cache.close()


@pytest.mark.e2e
async def test_installed_through_the_server_the_install_fills_the_cache(
        origin: Origin, tmp_path: Path, hypha_server: Any, settings: Any) -> None:
    """As an operator meets it: the server's install compiles on our worker, which fetches the
    page's script itself; the install's own test start and every later one read it from disk."""
    from hypha_rpc import connect_to_server

    from browser_worker.hypha.service import registered

    token = await hypha_server.user_token("grace")
    mine = settings.with_(cache_dir=str(tmp_path), pool_size=1, allow_private_network=True)
    page = installed_page(origin)
    async with BrowserWorker(mine) as worker, registered(worker, hypha_server.url, token, service_id="cache-worker"):
        client = await connect_to_server({"server_url": hypha_server.url, "token": token})
        try:
            apps = await client.get_service("public/server-apps")
            manifest = {"name": "Installed Cache", "type": "iframe", "version": "0.1.0",
                        "cache_routes": [f"http://127.0.0.1:{origin.port}/*"]}
            app = await apps.install(source=page, manifest=manifest, wait_for_service=False, timeout=60, overwrite=True)
            assert origin.seen["/big.js"] == 1 and "aiohttp" in origin.agents[0], origin.agents  # fetched at install
            await origin.stop()
            session = await apps.start(app["id"], wait_for_service=False, timeout=60)
            assert await worker.execute(session["id"], "document.getElementById('size').textContent") == str(BIG - 32)
            await apps.stop(session["id"])
            await apps.uninstall(app["id"])
        finally:
            await client.disconnect()


@pytest.mark.e2e
@pytest.mark.parametrize("cache_control", ["no-store", "private, max-age=0"])
async def test_a_route_the_app_lists_is_cached_whatever_the_origin_s_cache_control(
        tmp_path: Path, cache_control: str) -> None:
    """As a service worker's Cache API would (Hypha's built-in): the author listed the route."""
    origin = await Origin(cache_control).start()
    try:
        async with BrowserWorker(worker_settings(tmp_path)) as worker:
            _, sid = await timed_start(worker, origin.config())
            await until_fetched(worker, sid)
            await worker.stop(sid)
            _, sid = await timed_start(worker, origin.config())
            assert "from disk" in await logs_text(worker, sid)
            await until_fetched(worker, sid)
            await worker.stop(sid)
            assert origin.seen["/big.js"] == 1 and origin.seen["/index.html"] == 1
            # Still never: the answers to a request with credentials or one that sets a cookie.
            assert origin.seen["/private.json"] == 2 and origin.seen["/cookie.json"] == 2
            await origin.stop()
            _, sid = await timed_start(worker, origin.config())  # the origin is down
            await worker.stop(sid)
    finally:
        await origin.stop()
