"""Knowing when the connection to the Hypha server is gone for good.

hypha-rpc reconnects by itself after a server restart or a network blip (with the reconnection
token the server hands out and refreshes while connected, so an expired login token does not
matter then). It gives up only when the server refuses the reconnection (its secret changed, the
reconnection token expired while the server was away) or after its retries; from then on the
client is closed and a worker that kept running would sit there, registered nowhere. ``serve``
watches for that and exits non-zero, saying why, so that a supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)


class ConnectionWatch:
    """Sets ``lost`` (with ``reason``) once the client's connection is closed for good."""

    def __init__(self, server: Any, *, poll: float = 5.0) -> None:
        self.lost = asyncio.Event()
        self.reason: str | None = None
        self._connection = getattr(getattr(server, "rpc", None), "_connection", None)
        self._poll = poll
        self._task: asyncio.Task[None] | None = None
        if self._connection is None or not hasattr(self._connection, "_closed"):
            log.debug("this hypha-rpc connection cannot be watched; a lost server goes unnoticed")
            return
        previous = getattr(self._connection, "_handle_disconnected", None)

        def on_disconnected(reason: Any = None) -> None:
            if previous is not None:
                previous(reason)
            self._check(str(reason) if reason else None)

        self._connection._handle_disconnected = on_disconnected
        self._task = asyncio.ensure_future(self._watch())

    def _check(self, reason: str | None = None) -> None:
        if getattr(self._connection, "_closed", False) and not self.lost.is_set():
            self.reason = reason or "the client closed its connection"
            self.lost.set()

    async def _watch(self) -> None:
        while not self.lost.is_set():
            await asyncio.sleep(self._poll)
            self._check()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


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
