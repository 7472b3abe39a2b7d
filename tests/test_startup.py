"""Issue 12, acceptance 3: the worker runs inside the Hypha server process
(``--startup-functions browser_worker.startup:hypha_startup``) and serves browser apps."""

from __future__ import annotations

import pytest
from hypha_rpc import connect_to_server

from browser_worker.testing.hypha_server import LocalHyphaServer

from ._support import ECHO_APP

pytestmark = pytest.mark.e2e


async def test_in_process_worker_serves_apps() -> None:
    server = LocalHyphaServer(extra_args=["--startup-functions=browser_worker.startup:hypha_startup"],
                              extra_env={"BROWSER_WORKER_POOL_SIZE": "1", "BROWSER_WORKER_PYTHON_POOL_SIZE": "0"})
    async with server:
        client = await connect_to_server({"server_url": server.url, "token": await server.user_token("carol")})
        try:
            apps = await client.get_service("public/server-apps")
            workers = [w["id"] for w in await apps.list_workers()]
            assert any(w.startswith("public/") and w.endswith(":browser-worker") for w in workers), workers
            app = await apps.install(source=ECHO_APP, overwrite=True, timeout=60)
            session = await apps.start(app["id"], wait_for_service="default", timeout=60)
            svc = await client.get_service(session["id"] + ":default")
            assert await svc.echo("in-process") == "in-process"
            logs = await apps.get_logs(session["id"])
            assert any("echo app says hello" in i["content"] for i in logs["items"])
            await apps.stop(session["id"])
        finally:
            await client.disconnect()
