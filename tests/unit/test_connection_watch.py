"""ConnectionWatch reopens a lost connection as soon as the server is ready (a fake hypha-rpc
connection, a real loopback HTTP readiness endpoint; no Hypha server, no browser)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from browser_worker.hypha import connection
from browser_worker.hypha.connection import ConnectionWatch


class FakeConnection:
    """The parts of hypha-rpc's websocket connection the watch touches."""

    def __init__(self, outcomes: list[Any]) -> None:
        self._closed = False
        self._websocket = SimpleNamespace(state=SimpleNamespace(name="OPEN"))
        self._connecting_lock = asyncio.Lock()
        self._services_registered_ok: bool | None = True
        self._reconnected_event: asyncio.Event | None = None
        self._handle_disconnected = None
        self.connected_calls = 0

        async def handle_connected(info: Any) -> None:  # hypha-rpc re-registers services here
            self.connected_calls += 1

        self._handle_connected = handle_connected
        self.connection_info = {"workspace": "ws"}
        self.outcomes = outcomes  # per _open_impl call: True/False (services registered) or an exception
        self.opened = 0

    async def _open_impl(self) -> Any:
        self.opened += 1
        outcome = self.outcomes.pop(0) if self.outcomes else True
        if isinstance(outcome, BaseException):
            raise outcome
        self._websocket = SimpleNamespace(state=SimpleNamespace(name="OPEN"))
        self._services_registered_ok = outcome
        await self._handle_connected(self.connection_info)
        return self.connection_info

    async def open(self) -> Any:
        async with self._connecting_lock:
            return await self._open_impl()

    def drop(self) -> None:
        """What hypha-rpc does when the server goes away."""
        self._websocket = SimpleNamespace(state=SimpleNamespace(name="CLOSED"))
        self._reconnected_event = asyncio.Event()
        self._handle_disconnected("server gone")  # type: ignore[misc]


class Readiness:
    def __init__(self) -> None:
        self.ready = False
        self.url = ""

    async def handle(self, _: web.Request) -> web.Response:
        return web.Response(status=200 if self.ready else 503)


@pytest_asyncio.fixture
async def readiness(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Readiness]:
    monkeypatch.setattr(connection, "RECONNECT_POLL", ((0.0, 0.01),))
    state = Readiness()
    app = web.Application()
    app.router.add_get("/health/readiness", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


def watched(conn: FakeConnection, url: str) -> ConnectionWatch:
    return ConnectionWatch(SimpleNamespace(rpc=SimpleNamespace(_connection=conn)), server_url=url, poll=3600)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_the_connection_is_reopened_once_the_server_is_ready(readiness: Readiness) -> None:
    conn = FakeConnection([True])
    watch = watched(conn, readiness.url)
    conn.drop()
    event = conn._reconnected_event
    await asyncio.sleep(0.1)
    assert conn.opened == 0  # not before the server answers ready
    readiness.ready = True
    await until(lambda: watch.reopened == 1)
    assert conn.opened == 1 and event is not None and event.is_set() and conn._reconnected_event is None
    watch.close()


async def test_the_server_ready_callback_comes_once_before_the_reopening(readiness: Readiness) -> None:
    """The worker has its app pages reconnect the moment the server is ready, not after its
    own connection is back (which takes a handshake and a re-registration longer)."""
    conn = FakeConnection([False, True])
    watch = watched(conn, readiness.url)
    seen: list[int] = []
    watch.on_server_ready.append(lambda: seen.append(conn.opened))
    conn.drop()
    await asyncio.sleep(0.1)
    assert seen == []  # the server is not ready yet
    readiness.ready = True
    await until(lambda: watch.reopened == 1)
    assert seen == [0]  # once, before the first reopening (and not again on the retry)
    watch.close()


def test_the_readiness_poll_is_fast_at_first_and_slower_in_a_long_outage() -> None:
    assert connection.poll_interval(0) == 0.05 and connection.poll_interval(14.9) == 0.05
    assert connection.poll_interval(15) == 0.25 and connection.poll_interval(600) == 1.0


async def test_a_failed_re_registration_is_tried_again(readiness: Readiness) -> None:
    readiness.ready = True
    conn = FakeConnection([False, OSError("reset"), True])
    watch = watched(conn, readiness.url)
    conn.drop()
    await until(lambda: watch.reopened == 1)
    assert conn.opened == 3 and conn._services_registered_ok is True
    watch.close()


async def test_a_refusal_ends_the_watch_as_lost(readiness: Readiness) -> None:
    readiness.ready = True
    conn = FakeConnection([ConnectionAbortedError("reconnection token expired")])
    watch = watched(conn, readiness.url)
    conn.drop()
    await until(watch.lost.is_set)
    assert watch.reason == "the server refused the reconnection: reconnection token expired"
    assert conn._closed is True and watch.reopened == 0
    watch.close()


async def test_hypha_rpc_s_own_retry_does_not_reopen_a_healthy_connection(readiness: Readiness) -> None:
    readiness.ready = True
    conn = FakeConnection([True])
    watch = watched(conn, readiness.url)
    conn.drop()
    await until(lambda: watch.reopened == 1)
    assert await conn.open() == conn.connection_info  # hypha-rpc's retry loop, a moment later
    assert conn.opened == 1  # the fresh socket was kept (a second open would close it)
    conn._services_registered_ok = False  # …but a connection whose services failed is reopened
    await conn.open()
    assert conn.opened == 2
    watch.close()


async def test_a_race_with_another_client_creating_the_workspace_is_retried(readiness: Readiness) -> None:
    readiness.ready = True
    conn = FakeConnection([ConnectionAbortedError("Failed to establish connection: Workspace already exists: ws"), True])
    watch = watched(conn, readiness.url)
    conn.drop()
    await until(lambda: watch.reopened == 1)
    assert not watch.lost.is_set() and conn.opened == 2 and conn._closed is False
    watch.close()


async def test_reconnection_callbacks_run_after_the_services_are_registered_again(readiness: Readiness) -> None:
    readiness.ready = True
    conn = FakeConnection([True])
    watch = watched(conn, readiness.url)
    seen: list[int] = []
    watch.on_reconnected.append(lambda: seen.append(conn.connected_calls))
    watch.on_reconnected.append(lambda: 1 / 0)  # a failing callback does not stop the others
    watch.on_reconnected.append(lambda: seen.append(-1))
    conn.drop()
    await until(lambda: watch.reopened == 1)
    assert seen == [1, -1]  # after hypha-rpc's own handler, once per reconnection
    watch.close()
