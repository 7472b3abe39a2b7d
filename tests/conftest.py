"""Shared fixtures: one real Hypha server (python -m hypha.server, S3 on moto) and one real
Chromium-backed worker registered on it, for the whole test session.

A test that uses them must carry the ``e2e`` mark: ``pytest -m "not e2e"`` is the tier that
needs neither Chromium nor a Hypha server, and collection fails if a test breaks that."""

from __future__ import annotations

import gc
import logging
import uuid
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.testing.hypha_server import LocalHyphaServer
from browser_worker.hypha.service import registered

from ._support import web_app_config  # noqa: F401  (the one copy is in _support)


class _OrphanedTaskErrors(logging.Handler):
    """Collects asyncio's "Task exception was never retrieved" reports (logged when such a task
    is garbage-collected): a task whose failure nobody awaited is a lost error and a leak."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "exception was never retrieved" in message:
            self.reports.append(message)


@pytest.fixture(autouse=True)
def no_orphaned_task_errors() -> Any:
    """Fail any test that leaves an asyncio task whose exception was never retrieved."""
    catcher = _OrphanedTaskErrors()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(catcher)
    try:
        yield
        gc.collect()  # such tasks report when they are collected
    finally:
        asyncio_log.removeHandler(catcher)
    assert not catcher.reports, "asyncio task exception never retrieved:\n" + "\n".join(catcher.reports)


@pytest_asyncio.fixture(scope="session")
async def hypha_server() -> AsyncIterator[LocalHyphaServer]:
    # MCP on: agent grants (tests/test_control_mcp.py) go through the server's MCP route.
    async with LocalHyphaServer(extra_args=["--enable-mcp"]) as server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def alice_token(hypha_server: LocalHyphaServer) -> str:
    return await hypha_server.user_token("alice")


@pytest.fixture(scope="session")
def settings(hypha_server: LocalHyphaServer) -> WorkerSettings:
    # No warm Python page by default: booting Pyodide costs seconds of CPU per worker, and
    # only tests/test_worker_apps.py needs one.
    return WorkerSettings.from_env(
        server_url=hypha_server.url, start_timeout=30.0, queue_timeout=20.0, python_pool_size=0
    )


@pytest_asyncio.fixture(scope="session")
async def worker(settings: WorkerSettings) -> AsyncIterator[BrowserWorker]:
    async with BrowserWorker(settings) as w:
        yield w


@pytest_asyncio.fixture(scope="session")
async def served(worker: BrowserWorker, hypha_server: LocalHyphaServer, alice_token: str) -> AsyncIterator[Any]:
    """The worker registered on the server in alice's workspace; yields its service id."""
    async with registered(worker, hypha_server.url, alice_token) as (service, conn):
        yield service


@pytest_asyncio.fixture(scope="session")
async def alice(hypha_server: LocalHyphaServer, alice_token: str) -> AsyncIterator[Any]:
    client = await connect_to_server({"server_url": hypha_server.url, "token": alice_token})
    yield client
    await client.disconnect()


@pytest_asyncio.fixture(scope="session")
async def apps(alice: Any, served: Any) -> Any:
    return await alice.get_service("public/server-apps")


@pytest.fixture
def window_config(hypha_server: LocalHyphaServer, alice_token: str):
    """Build a direct start config for a window app run by the worker itself."""

    def make(script: str, **manifest: Any) -> dict[str, Any]:
        client_id = f"t-{uuid.uuid4().hex[:10]}"
        return {
            "id": f"ws-user-alice/{client_id}",
            "workspace": "ws-user-alice",
            "client_id": client_id,
            "app_id": "direct-test",
            "server_url": hypha_server.url,
            "token": alice_token,
            "source": script,
            "manifest": {"type": "window", "name": "direct", **manifest},
        }

    return make


@pytest.fixture(autouse=True)
def _quiet_rpc_logs() -> None:
    for name in ("websocket-client", "RPC"):
        logging.getLogger(name).setLevel(logging.ERROR)


#: Fixtures that start the Hypha server or Chromium (directly or through another fixture).
E2E_FIXTURES = frozenset({"hypha_server", "alice_token", "settings", "worker", "served", "alice", "apps",
                          "window_config"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [f"{item.nodeid} (uses {', '.join(sorted(E2E_FIXTURES & set(item.fixturenames)))})"
                for item in items
                if E2E_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError(
            "tests using the Hypha server or Chromium fixtures need the e2e mark:\n  " + "\n  ".join(unmarked))
