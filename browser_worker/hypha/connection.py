"""Knowing when the connection to the Hypha server is gone for good.

hypha-rpc reconnects by itself after a server restart or a network blip (with the reconnection
token the server hands out and refreshes while connected, so an expired login token does not
matter then). It gives up only when the server refuses the reconnection (its secret changed, the
reconnection token expired while the server was away) or after its retries; from then on the
client is closed and a worker that kept running would sit there, registered nowhere. ``serve``
watches for that and exits non-zero, saying why, so that a supervisor restarts it.

hypha-rpc's own retries back off (1 s doubling up to 60 s), so after an outage of some seconds
it comes back seconds after the server did, and until then the server's registry still holds
the worker's registration from before: its app controller's calls to it time out. While the
connection is down the watch asks the server's readiness endpoint (every ``poll_interval`` s:
50 ms at first, less often as an outage goes on) and, the moment it answers, calls
``on_server_ready`` (the worker has its app pages reconnect too) and reopens the connection;
hypha-rpc's retry loop then finds the connection restored and stops.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

log = logging.getLogger(__name__)

#: How often a lost server's readiness is asked while hypha-rpc waits out its back-off: (seconds
#: into the outage, interval) steps. A restart is over in seconds, and every 50 ms of it costs
#: each app page's users a lost call; a long outage is asked less often.
RECONNECT_POLL = ((0.0, 0.05), (15.0, 0.25), (120.0, 1.0))


def poll_interval(outage: float) -> float:
    """Seconds between readiness checks ``outage`` seconds into an outage."""
    return [interval for since, interval in RECONNECT_POLL if outage >= since][-1]


class ConnectionWatch:
    """Sets ``lost`` (with ``reason``) once the client's connection is closed for good."""

    def __init__(self, server: Any, *, poll: float = 5.0, server_url: str | None = None) -> None:
        self.lost = asyncio.Event()
        self.reason: str | None = None
        self._connection = getattr(getattr(server, "rpc", None), "_connection", None)
        self._poll = poll
        self._server_url = server_url.rstrip("/") if server_url else None
        self._task: asyncio.Task[None] | None = None
        self._nudge: asyncio.Task[None] | None = None
        #: Connections this watch reopened itself (instead of waiting for hypha-rpc's back-off).
        self.reopened = 0
        #: Called (without arguments) each time the connection is back and its services are
        #: registered again, whoever reopened it.
        self.on_reconnected: list[Callable[[], None]] = []
        #: Called (without arguments) when a lost server answers its readiness check again,
        #: before this watch reopens the connection.
        self.on_server_ready: list[Callable[[], None]] = []
        if self._connection is None or not hasattr(self._connection, "_closed"):
            log.debug("this hypha-rpc connection cannot be watched; a lost server goes unnoticed")
            return
        previous = getattr(self._connection, "_handle_disconnected", None)

        def on_disconnected(reason: Any = None) -> None:
            if previous is not None:
                previous(reason)
            self._check(str(reason) if reason else None)
            if not self.lost.is_set() and self._server_url and (self._nudge is None or self._nudge.done()):
                self._nudge = asyncio.ensure_future(self._reopen_when_ready())

        self._connection._handle_disconnected = on_disconnected
        connected = getattr(self._connection, "_handle_connected", None)
        if connected is not None:  # every call from now on is a reconnection

            async def on_connected(info: Any) -> None:
                await connected(info)
                _call_each(self.on_reconnected)

            self._connection._handle_connected = on_connected
        self._guard_open()
        self._task = asyncio.ensure_future(self._watch())

    def _guard_open(self) -> None:
        """Make hypha-rpc's ``open`` a no-op while the connection is open: its retry loop may
        call it just after this watch reopened the connection, and a second open would close
        the fresh socket (the server then drops the services it had just re-registered)."""
        conn = self._connection
        lock, impl = getattr(conn, "_connecting_lock", None), getattr(conn, "_open_impl", None)
        if lock is None or impl is None:
            self._server_url = None  # an unknown hypha-rpc: leave reconnecting to it alone
            return

        async def open_unless_open() -> Any:
            async with lock:
                if self._is_open() and self._registered() is not False and getattr(conn, "connection_info", None):
                    return conn.connection_info
                return await impl()

        conn.open = open_unless_open

    def _is_open(self) -> bool:
        websocket = getattr(self._connection, "_websocket", None)
        return websocket is not None and getattr(getattr(websocket, "state", None), "name", "") == "OPEN"

    def _registered(self) -> bool | None:
        """hypha-rpc's verdict on the last re-registration (None: not known yet)."""
        return getattr(self._connection, "_services_registered_ok", True)

    async def _reopen_when_ready(self) -> None:
        """Reopen the connection as soon as the server answers its readiness check, until the
        services are registered again (hypha-rpc's loop stops once it sees the socket open)."""
        import aiohttp

        conn = self._connection
        timeout = aiohttp.ClientTimeout(total=2)
        lost_at, told = time.monotonic(), False
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self.lost.is_set() and not getattr(conn, "_closed", False):
                await asyncio.sleep(poll_interval(time.monotonic() - lost_at))
                if self._is_open() and self._registered() is True:
                    return  # back, services registered (by hypha-rpc or by an earlier try)
                try:
                    async with http.get(f"{self._server_url}/health/readiness") as resp:
                        if resp.status != 200:
                            continue
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                    continue
                if not told:
                    told = True
                    _call_each(self.on_server_ready)
                lock = conn._connecting_lock
                if lock.locked():
                    continue  # hypha-rpc is connecting right now
                try:
                    async with lock:  # as hypha-rpc's open does, without the guard's shortcut
                        conn._services_registered_ok = None
                        await conn._open_impl()  # re-registers the services (on_connected)
                except ConnectionAbortedError as exc:  # the server refuses this client back…
                    if "already exists" in str(exc):  # …or raced another client creating the workspace
                        log.debug("reopening raced another client (retrying): %s", exc)
                        continue
                    conn._closed = True  # hypha-rpc's own loop would conclude the same
                    self.reason = f"the server refused the reconnection: {exc}"
                    self.lost.set()
                    return
                except Exception as exc:
                    log.debug("reopening the connection failed (retrying): %r", exc)
                    continue
                if self._registered() is False:
                    log.warning("reconnected to %s but the services did not register; retrying", self._server_url)
                    continue
                self.reopened += 1
                event = getattr(conn, "_reconnected_event", None)
                if event is not None:  # let calls waiting for the reconnection go on
                    event.set()
                    conn._reconnected_event = None
                log.warning("reconnected to %s as soon as it was ready", self._server_url)
                return

    def _check(self, reason: str | None = None) -> None:
        if getattr(self._connection, "_closed", False) and not self.lost.is_set():
            self.reason = reason or "the client closed its connection"
            self.lost.set()

    async def _watch(self) -> None:
        while not self.lost.is_set():
            await asyncio.sleep(self._poll)
            self._check()

    def close(self) -> None:
        for task in (self._task, self._nudge):
            if task is not None:
                task.cancel()


def _call_each(callbacks: list[Callable[[], None]]) -> None:
    for callback in list(callbacks):
        try:
            callback()
        except Exception:
            log.exception("a connection callback failed")


def token_expiry(token: str | None) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without verifying it."""
    try:
        payload = token.split(".")[1]  # type: ignore[union-attr]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = data.get("exp")
        return float(exp) if isinstance(exp, (int, float)) else None
    except Exception:
        return None


def lost_message(server_url: str, reason: str | None, token: str | None) -> str:
    """What an operator reads when the worker exits because the server is gone for good."""
    text = f"lost the Hypha server {server_url} for good ({reason or 'connection closed'})"
    exp = token_expiry(token)
    if exp is not None and exp < time.time():
        when = datetime.fromtimestamp(exp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        text += (f"; the token expired at {when}: mint a new one (HYPHA_TOKEN) with a longer "
                 "expires_in and restart the worker")
    else:
        text += "; restart the worker (the server may have a new secret or have forgotten this client)"
    return text + "; exiting with status 3 so that a supervisor restarts it"
