"""Issue 12 point 3: web-python apps get Pyodide-built packages from a configurable package base.

The e2e tests give the worker a package base the test builds itself (a pyodide-lock.json and a
tiny wheel), as a local directory (served by the worker's asset server) and as a URL (an aiohttp
server on 127.0.0.1); pages may reach 127.0.0.1 only, so nothing comes from the internet.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from hypha_rpc import connect_to_server

from browser_worker import AppStartError, BrowserWorker, WorkerSettings
from browser_worker._pyodide.asset_server import AssetServer
from browser_worker._pyodide.assets import AssetPaths, default_paths
from browser_worker.errors import ConfigError
from browser_worker._pyodide.packages import OFFICIAL_BASE, PackageBase
from browser_worker._net.loopback import start_site

from ._support import make_wheel, wait_warm

E2E = pytest.mark.e2e


def lock_entry(name: str, wheel_name: str, sha256: str) -> dict[str, Any]:
    return {
        "name": name, "version": "1.0", "file_name": wheel_name, "install_dir": "site",
        "sha256": sha256, "imports": [name], "depends": [], "package_type": "package",
        "unvendored_tests": False,
    }


def make_package_base(folder: Path, info: dict[str, Any] | None = None) -> Path:
    """A package base: ``tinypkg`` and ``otherpkg`` with their wheels, ``ghostpkg`` and
    ``typing-extensions`` listed in the lock file without a file. The ``info`` block (ABI) is
    the fetched Pyodide core's own unless given (tests without a browser give their own, so
    they need no fetched assets)."""
    folder.mkdir(parents=True, exist_ok=True)
    if info is None:
        info = json.loads((default_paths().pyodide / "pyodide-lock.json").read_text())["info"]
    packages = {}
    for name, value in (("tinypkg", 4242), ("otherpkg", 7)):
        wheel = make_wheel(folder, name, value)
        packages[name] = lock_entry(name, wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())
    packages["ghostpkg"] = lock_entry("ghostpkg", "ghostpkg-1.0-py3-none-any.whl", "0" * 64)
    # Also in the wheelhouse every page installs: an import of it must not reach for this file.
    packages["typing-extensions"] = {**lock_entry("typing-extensions", "typing_extensions-9.9-py3-none-any.whl", "0" * 64),
                                     "imports": ["typing_extensions"]}
    (folder / "pyodide-lock.json").write_text(json.dumps({"info": info, "packages": packages}))
    return folder


def app_config(server_url: str, token: str, code: str, **manifest: Any) -> dict[str, Any]:
    cid = f"pkg-{uuid.uuid4().hex[:8]}"
    return {
        "id": f"ws-user-dave/{cid}", "workspace": "ws-user-dave", "client_id": cid, "app_id": "pkg-test",
        "server_url": server_url, "token": token, "source": code,
        "manifest": {"type": "web-python", "name": "pkg-test", **manifest},
    }


EXPORT_VALUE = "from hypha_rpc import api\napi.export({'setup': lambda: None, 'value': lambda: VALUE})\n"


@pytest_asyncio.fixture(scope="module")
async def dave(hypha_server: Any, settings: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """A worker fenced to 127.0.0.1 whose package base is a local directory; one warm page."""
    base_dir = make_package_base(tmp_path_factory.mktemp("pyodide-base"))
    token = await hypha_server.user_token("dave")
    fenced = settings.with_(allow_hosts="127.0.0.1", python_pool_size=1, pool_size=0,
                            pyodide_packages_url=str(base_dir), start_timeout=90.0)
    async with BrowserWorker(fenced) as worker:
        client = await connect_to_server({"server_url": hypha_server.url, "token": token})
        base_url = worker.assets_config["packages"]["url"]
        yield {"worker": worker, "client": client, "token": token, "base": base_url, "server": hypha_server.url}
        await client.disconnect()


async def start_fails(dave: dict[str, Any], code: str, **manifest: Any) -> str:
    await wait_warm(dave["worker"])
    cfg = app_config(dave["server"], dave["token"], code, **manifest)
    with pytest.raises(AppStartError) as caught:
        await dave["worker"].start(cfg)
    assert (await dave["worker"].get_session_info(cfg["id"]))["status"] == "failed"
    return str(caught.value)


@E2E
async def test_import_loads_package_from_local_base(dave: dict[str, Any]) -> None:
    worker = dave["worker"]
    assert dave["base"] == worker.assets_config["url"] + "/pyodide-packages/"
    await wait_warm(worker)
    code = "import typing_extensions\nfrom tinypkg import VALUE\n" + EXPORT_VALUE
    sid = await worker.start(app_config(dave["server"], dave["token"], code))
    svc = await dave["client"].get_service(sid + ":default")
    assert await svc.value() == 4242
    texts = [i["content"] for i in (await worker.get_logs(sid))["items"]]
    assert any("Loaded tinypkg" in t for t in texts)
    assert not any("typing-extensions" in t or "typing_extensions-9.9" in t for t in texts)  # the wheelhouse's copy
    await worker.stop(sid)


@E2E
async def test_requirement_found_in_base(dave: dict[str, Any]) -> None:
    """A listed requirement comes from the Pyodide lock (the app imports it dynamically)."""
    worker = dave["worker"]
    await wait_warm(worker)
    code = "import importlib\nVALUE = importlib.import_module('other' + 'pkg').VALUE\n" + EXPORT_VALUE
    sid = await worker.start(app_config(dave["server"], dave["token"], code, requirements=["otherpkg"]))
    svc = await dave["client"].get_service(sid + ":default")
    assert await svc.value() == 7
    await worker.stop(sid)


@E2E
async def test_missing_import_names_module_and_base(dave: dict[str, Any]) -> None:
    message = await start_fails(dave, "import no_such_module_bw\n" + EXPORT_VALUE)
    assert "ModuleNotFoundError: No module named 'no_such_module_bw'" in message
    assert f"not in the Pyodide package base {dave['base']}" in message


@E2E
async def test_unloaded_base_module_names_it_not_pyodide_hint(dave: dict[str, Any]) -> None:
    """Imported where the import scan cannot see it: the exception line, not Pyodide's hint."""
    message = await start_fails(dave, "import importlib\nimportlib.import_module('other' + 'pkg')\n")
    assert "ModuleNotFoundError: No module named 'otherpkg'" in message
    assert f"the Pyodide package base {dave['base']} has it in package 'otherpkg'" in message
    assert "pyodide.org" not in message


@E2E
async def test_listed_requirement_nowhere_fails_start(dave: dict[str, Any]) -> None:
    message = await start_fails(dave, EXPORT_VALUE, requirements=["no-such-package-bw-xyz"])
    assert "requirement 'no-such-package-bw-xyz' could not be installed" in message
    assert f"not in the Pyodide package base {dave['base']}" in message
    assert f"the local wheelhouse {dave['worker'].assets_config['url']}/simple/" in message
    assert "or PyPI" in message


@E2E
async def test_base_package_without_file_fails_start(dave: dict[str, Any]) -> None:
    message = await start_fails(dave, "import ghostpkg\n" + EXPORT_VALUE)
    assert "ModuleNotFoundError: No module named 'ghostpkg'" in message
    assert (f"package 'ghostpkg' of the Pyodide package base {dave['base']} could not be loaded: "
            "ghostpkg-1.0-py3-none-any.whl: ") in message


@E2E
async def test_optional_import_of_unloadable_package_still_runs(dave: dict[str, Any]) -> None:
    worker = dave["worker"]
    await wait_warm(worker)
    code = "try:\n    import ghostpkg\n    VALUE = 1\nexcept ImportError:\n    VALUE = -1\n" + EXPORT_VALUE
    sid = await worker.start(app_config(dave["server"], dave["token"], code))
    svc = await dave["client"].get_service(sid + ":default")
    assert await svc.value() == -1
    warnings = [i["content"] for i in (await worker.get_logs(sid))["items"] if "warning: package 'ghostpkg'" in i["content"]]
    assert warnings and dave["base"] in warnings[0]
    await worker.stop(sid)


@E2E
async def test_listed_requirement_in_base_without_file_fails_start(dave: dict[str, Any]) -> None:
    """Pyodide's loadPackage only logs a failed download: the start must fail anyway."""
    message = await start_fails(dave, EXPORT_VALUE, requirements=["ghostpkg"])
    assert (f"requirement 'ghostpkg' could not be loaded from the Pyodide package base {dave['base']}: "
            "ghostpkg-1.0-py3-none-any.whl: ") in message


@E2E
async def test_unreachable_url_base_fails_start_naming_lock(hypha_server: Any, settings: Any) -> None:
    token = await hypha_server.user_token("dave")
    nowhere = "http://127.0.0.1:9/mirror"  # the discard port: nothing listens
    cold = settings.with_(allow_hosts="127.0.0.1", python_pool_size=0, pool_size=0, pyodide_packages_url=nowhere)
    async with BrowserWorker(cold) as worker:
        with pytest.raises(AppStartError, match=f"could not read the Pyodide package lock {nowhere}/pyodide-lock.json: Failed to fetch"):
            await worker.start(app_config(hypha_server.url, token, EXPORT_VALUE))


@pytest_asyncio.fixture
async def served_base(tmp_path: Path) -> AsyncIterator[str]:
    """The same package base behind a plain HTTP server on 127.0.0.1 (with CORS)."""
    folder = make_package_base(tmp_path / "base")

    @web.middleware
    async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    app = web.Application(middlewares=[cors])
    app.router.add_static("/mirror/", folder)
    runner, base = await start_site(app)
    yield f"{base}/mirror"
    await runner.cleanup()


@E2E
async def test_url_base_on_a_cold_page(hypha_server: Any, settings: Any, served_base: str) -> None:
    token = await hypha_server.user_token("dave")
    cold = settings.with_(allow_hosts="127.0.0.1", python_pool_size=0, pool_size=0,
                          pyodide_packages_url=served_base, start_timeout=90.0)
    async with BrowserWorker(cold) as worker:
        assert worker.assets_config["packages"] == {"url": served_base + "/", "lock_url": served_base + "/pyodide-lock.json"}
        sid = await worker.start(app_config(hypha_server.url, token, "import tinypkg\nVALUE = tinypkg.VALUE\n" + EXPORT_VALUE))
        client = await connect_to_server({"server_url": hypha_server.url, "token": token})
        svc = await client.get_service(sid + ":default")
        assert await svc.value() == 4242
        await client.disconnect()
        texts = [i["content"] for i in (await worker.get_logs(sid))["items"]]
        assert any("Pyodide ready" in t for t in texts)  # booted inside this session
        await worker.stop(sid)


# ----- without a browser (nor the fetched Pyodide assets) --------------------------------------

#: An ``info`` block for package bases of tests that do not boot Pyodide.
FAKE_INFO = {"arch": "wasm32", "platform": "emscripten_4_0_9", "version": "0.28.3", "python": "3.13.2"}


def test_package_base_forms(tmp_path: Path) -> None:
    assert WorkerSettings.from_env({"BROWSER_WORKER_PYODIDE_PACKAGES": "/srv/pyodide"}).pyodide_packages_url == "/srv/pyodide"
    assert WorkerSettings.from_env({}).pyodide_packages_url == ""
    assert PackageBase.parse("").page_config("http://127.0.0.1:5/") == {
        "url": OFFICIAL_BASE, "lock_url": "http://127.0.0.1:5/pyodide/pyodide-lock.json"}
    assert OFFICIAL_BASE == "https://cdn.jsdelivr.net/pyodide/v0.28.3/full/"
    assert PackageBase.parse("https://mirror.example/pyodide").page_config("http://x") == {
        "url": "https://mirror.example/pyodide/", "lock_url": "https://mirror.example/pyodide/pyodide-lock.json"}
    folder = make_package_base(tmp_path / "base", FAKE_INFO)
    for setting in (str(folder), f"file://{folder}"):
        parsed = PackageBase.parse(setting)
        assert parsed.directory == folder.resolve()
        assert parsed.page_config("http://127.0.0.1:5") == {
            "url": "http://127.0.0.1:5/pyodide-packages/",
            "lock_url": "http://127.0.0.1:5/pyodide-packages/pyodide-lock.json"}
    with pytest.raises(ConfigError, match="pyodide_packages_url: .* must be an http\\(s\\) URL or a directory holding pyodide-lock.json"):
        PackageBase.parse(str(tmp_path / "nowhere"))


async def test_asset_server_serves_local_base(tmp_path: Path) -> None:
    folder = make_package_base(tmp_path / "base", FAKE_INFO)
    server = AssetServer(AssetPaths(tmp_path / "static"), packages_dir=folder)  # no fetched assets needed
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/pyodide-packages/pyodide-lock.json") as resp:
                assert resp.status == 200
                assert set((await resp.json(content_type=None))["packages"]) == {"tinypkg", "otherpkg", "ghostpkg", "typing-extensions"}
                assert "immutable" not in resp.headers.get("Cache-Control", "")
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
            async with http.get(f"{url}/pyodide-packages/tinypkg-1.0-py3-none-any.whl") as resp:
                assert resp.status == 200
                assert (await resp.read()) == (folder / "tinypkg-1.0-py3-none-any.whl").read_bytes()
                assert "immutable" in resp.headers["Cache-Control"]
            async with http.get(f"{url}/pyodide-packages/ghostpkg-1.0-py3-none-any.whl") as resp:
                assert resp.status == 404
                assert resp.headers["Access-Control-Allow-Origin"] == "*"  # so pages see the 404
    finally:
        await server.close()


@E2E
async def test_bad_package_base_setting_fails_open(settings: Any, tmp_path: Path) -> None:
    worker = BrowserWorker(settings.with_(pyodide_packages_url=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="pyodide_packages_url"):
        await worker.open()
    assert not worker.is_open
