"""Issue 5: web-worker and web-python apps, offline (only 127.0.0.1 reachable from pages)."""

from __future__ import annotations

import uuid
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

from browser_worker import AppStartError, BrowserWorker, registered
from browser_worker._pyodide.assets import default_paths, write_index

from ._support import make_wheel, wait_warm

pytestmark = pytest.mark.e2e

PY_APP = """<config lang="json">{"name": "Adder", "type": "web-python", "version": "0.1.0"}</config>
<script lang="python">
print("adder is booting")
from hypha_rpc import api

class Adder:
    def setup(self):
        print("setup called")
    def add(self, a, b):
        return a + b

api.export(Adder())
</script>
"""

WORKER_APP = """<config lang="json">{"name": "Echo worker", "type": "web-worker", "version": "0.1.0"}</config>
<script lang="javascript">
console.log("hello from inside a web worker", typeof document);
await api.export({ setup() {}, echo(x) { return x; } });
</script>
"""


@pytest_asyncio.fixture(scope="module")
async def carol(hypha_server: Any, settings: Any) -> AsyncIterator[dict[str, Any]]:
    """A worker fenced to 127.0.0.1 with one warm Python page, serving carol's workspace."""
    token = await hypha_server.user_token("carol")
    fenced = settings.with_(allow_hosts="127.0.0.1", python_pool_size=1, pool_size=1)
    async with BrowserWorker(fenced) as worker:
        async with registered(worker, hypha_server.url, token, service_id="offline-worker"):
            client = await connect_to_server({"server_url": hypha_server.url, "token": token})
            apps = await client.get_service("public/server-apps")
            yield {"worker": worker, "client": client, "apps": apps, "token": token}
            await client.disconnect()


def direct_config(hypha_server: Any, token: str, code: str, app_type: str = "web-python", **manifest: Any) -> dict[str, Any]:
    cid = f"py-{uuid.uuid4().hex[:8]}"
    return {
        "id": f"ws-user-carol/{cid}", "workspace": "ws-user-carol", "client_id": cid, "app_id": "py-test",
        "server_url": hypha_server.url, "token": token, "source": code,
        "manifest": {"type": app_type, "name": "py-test", **manifest},
    }


async def test_web_python_through_server_offline(carol: dict[str, Any]) -> None:
    worker, apps, client = carol["worker"], carol["apps"], carol["client"]
    app = await apps.install(source=PY_APP, overwrite=True, timeout=60)
    await wait_warm(worker)
    session = await apps.start(app["id"], wait_for_service="default", timeout=90)
    svc = await client.get_service(session["id"] + ":default")
    assert await svc.add(2, 3) == 5
    logs = await apps.get_logs(session["id"])
    printed = [i for i in logs["items"] if i["content"] == "[info] adder is booting"]  # Python print
    assert printed and printed[0]["type"] == "console" and printed[0]["level"] == "info"
    texts = [i["content"] for i in logs["items"]]
    assert any("app code ran" in t for t in texts)
    assert not any("Pyodide ready" in t for t in texts)  # booted before the session: a warm page
    await apps.stop(session["id"])


async def test_web_worker_through_server_offline(carol: dict[str, Any]) -> None:
    apps, client = carol["apps"], carol["client"]
    app = await apps.install(source=WORKER_APP, overwrite=True, timeout=60)
    session = await apps.start(app["id"], wait_for_service="default", timeout=60)
    svc = await client.get_service(session["id"] + ":default")
    assert await svc.echo({"a": [1, 2]}) == {"a": [1, 2]}
    logs = await apps.get_logs(session["id"])
    assert any(i["content"] == "[log] hello from inside a web worker undefined" for i in logs["items"])
    await apps.stop(session["id"])


async def test_web_python_raising_at_import_fails_start(carol: dict[str, Any], hypha_server: Any) -> None:
    worker = carol["worker"]
    await wait_warm(worker)
    cfg = direct_config(hypha_server, carol["token"], "import json\n\ndef boom():\n    raise ValueError('python-boot-failure-77')\n\nboom()\n")
    with pytest.raises(AppStartError, match="ValueError: python-boot-failure-77"):
        await worker.start(cfg)
    logs = "\n".join(i["content"] for i in (await worker.get_logs(cfg["id"]))["items"])
    assert "Traceback (most recent call last)" in logs and "in boom" in logs
    assert (await worker.get_session_info(cfg["id"]))["status"] == "failed"


async def test_requirements_from_local_wheelhouse_and_missing_one(carol: dict[str, Any], hypha_server: Any) -> None:
    worker, paths = carol["worker"], default_paths()
    wheel = make_wheel(paths.wheels, "bwtestpkg", 4242)
    write_index(paths)
    try:
        await wait_warm(worker)
        code = "import bwtestpkg\nfrom hypha_rpc import api\napi.export({'setup': lambda: None, 'value': lambda: bwtestpkg.VALUE})"
        sid = await worker.start(direct_config(hypha_server, carol["token"], code, requirements=["bwtestpkg"]))
        svc = await carol["client"].get_service(sid + ":default")
        assert await svc.value() == 4242
        await worker.stop(sid)
    finally:
        wheel.unlink()
        write_index(paths)
    await wait_warm(worker)
    cfg = direct_config(hypha_server, carol["token"], "print('never')", requirements=["no-such-package-bw-xyz"])
    with pytest.raises(AppStartError, match="no-such-package-bw-xyz"):
        await worker.start(cfg)


async def test_web_python_cold_start_without_warm_page(settings: Any, hypha_server: Any) -> None:
    token = await hypha_server.user_token("carol")
    async with BrowserWorker(settings.with_(python_pool_size=0, pool_size=0, allow_hosts="127.0.0.1")) as worker:
        code = "from hypha_rpc import api\nprint('cold python')\napi.export({'setup': lambda: None})"
        sid = await worker.start(direct_config(hypha_server, token, code))
        texts = [i["content"] for i in (await worker.get_logs(sid))["items"]]
        assert "[info] cold python" in texts
        assert any("Pyodide ready" in t for t in texts)  # booted inside this session
        await worker.stop(sid)
