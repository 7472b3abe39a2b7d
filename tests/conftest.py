"""Shared fixtures: one real Hypha server (python -m hypha.server, S3 on moto) and one real
Chromium-backed worker registered on it, for the whole test session."""

from __future__ import annotations

import logging
import uuid
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker, WorkerSettings
from browser_worker.hypha.local_server import LocalHyphaServer
from browser_worker.hypha.service import registered


@pytest_asyncio.fixture(scope="session")
async def hypha_server() -> AsyncIterator[LocalHyphaServer]:
    async with LocalHyphaServer() as server:
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


def web_app_config(url: str, **manifest: Any) -> dict[str, Any]:
    client_id = f"w-{uuid.uuid4().hex[:10]}"
    return {
        "id": f"ws-user-alice/{client_id}",
        "workspace": "ws-user-alice",
        "client_id": client_id,
        "app_id": "web-app-test",
        "entry_point": url,
        "manifest": {"type": "web-app", "entry_point": url, **manifest},
    }


@pytest.fixture(autouse=True)
def _quiet_rpc_logs() -> None:
    for name in ("websocket-client", "RPC"):
        logging.getLogger(name).setLevel(logging.ERROR)
