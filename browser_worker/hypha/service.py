"""The hypha-rpc service a Hypha server's app controller talks to, and its registration.

Every method takes the caller's ``context`` (``require_context``); who may call what is decided
in ``_door/authz.py``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from browser_worker._redact import add_secret
from browser_worker.worker import BrowserWorker
from browser_worker.config import DEFAULTS
from browser_worker.hypha.agents import AgentGrants

log = logging.getLogger(__name__)


class WorkerService:
    """A BrowserWorker as registered on one server. Authorization happens in the worker's
    methods (``_door/authz.py``), from the ``context`` hypha-rpc passes with every call."""

    def __init__(self, worker: BrowserWorker, *, service_id: str = DEFAULTS.service_id,
                 use_local_url: bool | str = True) -> None:
        self.worker = worker
        self.service_id = service_id
        self.use_local_url = use_local_url
        #: Where a person opens the live viewer (set once registered).
        self.viewer_url: str | None = None

    @property
    def shutdown_requested(self) -> asyncio.Event:
        return self.worker.shutdown_requested

    def definition(self) -> dict[str, Any]:
        """The dict passed to ``register_service``."""
        return self.worker.get_worker_service(service_id=self.service_id, use_local_url=self.use_local_url)

    async def register(self, server: Any) -> Any:
        return await self.worker.register_worker_service(
            server, service_id=self.service_id, use_local_url=self.use_local_url)


async def _connect_with_retry(connect: Any, options: dict[str, Any], attempts: int = 4) -> Any:
    """Connect, retrying briefly: a server that is still starting, or creating the workspace
    for another client at the same moment, refuses the first try."""
    for attempt in range(1, attempts + 1):
        try:
            return await connect(dict(options))
        except Exception as exc:
            if attempt == attempts:
                raise
            delay = 0.5 * 2 ** (attempt - 1)
            log.warning("connecting to %s failed (%s); retrying in %.1fs", options["server_url"], exc, delay)
            await asyncio.sleep(delay)


def new_client_id() -> str:
    """A fresh client id for the worker's connection. The "__rlb" ending makes the server track
    this client's request rate, which is what worker_selection_mode="min_load" compares."""
    return f"browser-worker-{secrets.token_hex(4)}__rlb"


async def _register_viewer(service: WorkerService, server: Any, server_url: str) -> None:
    """The live viewer page beside the worker (``viewer.py``); the worker serves without it."""
    from browser_worker.hypha.viewer import viewer_service, viewer_url

    config = server.config
    try:
        await server.register_service(viewer_service(config.workspace, config.client_id, service.service_id))
    except Exception as exc:
        log.warning("the live viewer could not be registered (the worker serves without it): %s", exc)
        return
    service.viewer_url = viewer_url(getattr(config, "public_base_url", None) or server_url,
                                    config.workspace, service.service_id)


@asynccontextmanager
async def registered(
    worker: BrowserWorker,
    server_url: str,
    token: str | None = None,
    workspace: str | None = None,
    service_id: str = DEFAULTS.service_id,
    client_id: str | None = None,
) -> AsyncIterator[tuple[WorkerService, Any]]:
    """Connect to a Hypha server and register the worker service for the block's duration."""
    from hypha_rpc import connect_to_server

    options: dict[str, Any] = {
        "server_url": server_url,
        "name": "browser-worker",
        "client_id": client_id or new_client_id(),
    }
    if token:
        options["token"] = token
        add_secret(token)
    if workspace:
        options["workspace"] = workspace
    server = await _connect_with_retry(connect_to_server, options)
    # use_local_url: the controller then names its own instance as the start config's server_url,
    # which is where the page must connect when Hypha runs several instances (_net/instances.py).
    service = WorkerService(worker, service_id=service_id, use_local_url=True)
    try:
        info = await service.register(server)
        log.info("registered %s on %s", info["id"], server_url)
        await _register_viewer(service, server, server_url)
        agents = AgentGrants(worker, server, getattr(server.config, "public_base_url", None) or server_url)
        worker.attach_agents(agents)
        try:
            yield service, server
        finally:
            worker.attach_agents(None)
            await agents.close()
    finally:
        try:
            await server.disconnect()
        except Exception as exc:
            log.debug("disconnect failed: %s", exc)
