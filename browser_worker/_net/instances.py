"""Which Hypha server instance an app page connects to.

Hypha scales out as several server processes sharing one Redis. A server's app controller
waits for the app's service on its *own* instance: service events reach only the instance the
app's client connected to. So a page must connect to the instance that started it, whichever
instance the worker itself is connected to. The controller names itself in the start config's
``server_url`` (its local base URL, because the worker registers ``use_local_url: true``).

That URL may not be reachable from here (a worker on another host reads the server's
``127.0.0.1`` as its own), or may not be a Hypha server of this deployment at all. So before a
page uses it, the worker asks it once for ``/assets/config.json`` (cached): if it answers with
the deployment's ``public_base_url``, the page connects there; otherwise the page connects to
the server the worker is registered with, and the session's log says why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from browser_worker._net.urls import display_url, origin_of

log = logging.getLogger(__name__)

#: ``url`` → the JSON ``/assets/config.json`` holds (raises on any failure).
Fetch = Callable[[str], Awaitable[dict]]

PROBE_TIMEOUT = 2.0
MAX_CONFIG_BYTES = 64 * 1024
#: How long an answer is believed: instances come and go, an unreachable one may come back.
GOOD_FOR = 300.0
BAD_FOR = 20.0


@dataclass(frozen=True)
class Route:
    """Where a page connects, and (when it is not where the start config said) why."""

    server_url: str
    reason: str | None = None


@dataclass
class _Answer:
    public_base_url: str | None
    error: str | None
    at: float


class ServerInstances:
    """Knows the worker's own server and the deployment it belongs to; checks other instances."""

    def __init__(self, home: str | None, *, fetch: Fetch | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.home = home.rstrip("/") if home else None
        #: The deployment's one public URL, as the worker's own connection reported it.
        self.public_base_url: str | None = None
        self._fetch = fetch or fetch_server_config
        self._clock = clock
        self._answers: dict[str, _Answer] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def connected(self, public_base_url: object) -> None:
        """Record the deployment identity the worker's connection (``connection_info``) gave."""
        if isinstance(public_base_url, str) and public_base_url:
            self.public_base_url = public_base_url.rstrip("/")

    async def is_instance(self, url: str) -> tuple[bool, str]:
        """Whether ``url`` answers as a server of this deployment; and if not, why."""
        identity = self.public_base_url
        if identity is None and self.home:
            home = await self._ask(self.home)
            identity = home.public_base_url
        answer = await self._ask(url)
        if answer.error:
            return False, answer.error
        if identity is None or answer.public_base_url != identity:
            return False, (f"it belongs to another Hypha deployment ({answer.public_base_url!r}, "
                           f"this worker's is {identity!r})")
        return True, ""

    async def route(self, server_url: str) -> Route:
        """Where a page whose start config names ``server_url`` should connect."""
        if not self.home or origin_of(server_url) == origin_of(self.home):
            return Route(server_url)
        ok, why = await self.is_instance(server_url)
        if ok:
            return Route(server_url)
        reason = (f"the start config's server {display_url(server_url)} is not usable from this "
                  f"worker ({why}); the app connects to {display_url(self.home)} instead")
        return Route(self.home, reason)

    async def _ask(self, url: str) -> _Answer:
        key = url.rstrip("/")
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one probe per URL at a time; the others read its answer
            known = self._answers.get(key)
            now = self._clock()
            if known and now - known.at < (BAD_FOR if known.error else GOOD_FOR):
                return known
            try:
                config = await asyncio.wait_for(self._fetch(key), PROBE_TIMEOUT)
                base = config.get("public_base_url") if isinstance(config, dict) else None
                answer = (_Answer(base.rstrip("/"), None, now) if isinstance(base, str) and base
                          else _Answer(None, "it does not answer as a Hypha server", now))
            except (asyncio.TimeoutError, TimeoutError):
                answer = _Answer(None, f"no answer within {PROBE_TIMEOUT:g} s", now)
            except Exception as exc:  # unreachable, refused, not JSON: all mean "do not use it"
                answer = _Answer(None, f"unreachable: {type(exc).__name__}", now)
            if answer.error:
                log.info("server %s: %s", display_url(key), answer.error)
            self._answers[key] = answer
            return answer


async def fetch_server_config(server_url: str) -> dict:
    """GET ``<server_url>/assets/config.json`` (Hypha's public server info), size-capped."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.get(f"{server_url}/assets/config.json", allow_redirects=False) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            body = await resp.content.read(MAX_CONFIG_BYTES + 1)
            if len(body) > MAX_CONFIG_BYTES:
                raise ValueError("answer too large")
            return json.loads(body)
