"""Run the worker inside a Hypha server process: ``--startup-functions``.

``python -m hypha.server … --startup-functions browser_worker.startup:hypha_startup`` makes the
server call :func:`hypha_startup` with its ``public`` workspace API once it is up. The worker
launches Chromium in the server's own event loop and registers in ``public``, so every
workspace's apps can use it with no separate process and no token to mint. Settings come from
the environment (``BROWSER_WORKER_*``, see the README); the server URL defaults to the server's
own local base URL.
"""

from __future__ import annotations

import logging
from typing import Any

from browser_worker.config import WorkerSettings
from browser_worker.worker import BrowserWorker

log = logging.getLogger(__name__)

#: Workers started this way live as long as the server process.
_RUNNING: list[BrowserWorker] = []


def _server_url(server: Any) -> str | None:
    store = server.get("store") if isinstance(server, dict) else getattr(server, "store", None)
    for name in ("local_base_url", "public_base_url"):
        url = getattr(store, name, None)
        if isinstance(url, str) and url:
            return url.rstrip("/")
    return None


async def hypha_startup(server: Any) -> None:
    """Start a BrowserWorker and register it on the server that called us."""
    settings = WorkerSettings.from_env()
    if not settings.server_url:
        settings = settings.with_(server_url=_server_url(server))
    worker = BrowserWorker(settings)
    await worker.open()
    worker.use_local_url = True
    try:
        info = await worker.register_worker_service(server)
    except BaseException:
        await worker.close()
        raise
    _RUNNING.append(worker)
    log.info("browser worker registered in-process as %s", info.get("id") if isinstance(info, dict) else info)
