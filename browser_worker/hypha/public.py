"""Serving every workspace of a server: registering in ``public`` (``serve --public``).

Hypha's app controller looks for ``server-app-worker`` services in the caller's workspace and
then in ``public``; a worker in ``public`` is what replaces the server's built-in browser worker
for all users. Only root can act in ``public``, and root's own token is bound to
``ws-user-root``, so a root token is used once, to mint a token for ``public`` that is tied to
the worker's client id; the long-lived connection then uses that minted token.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from browser_worker.errors import ConfigError
from browser_worker._redact import add_secret
from browser_worker.hypha.service import WorkerService, new_client_id, registered
from browser_worker.worker import BrowserWorker
from browser_worker.config import DEFAULTS

PUBLIC = "public"
#: Lifetime of the minted token; the connection renews its own credentials while it lasts,
#: and a restarted worker mints a new one.
TOKEN_SECONDS = 30 * 24 * 3600


async def mint_public_token(server_url: str, root_token: str, client_id: str,
                            expires_in: int = TOKEN_SECONDS) -> str:
    """Connect as root and mint a read-write token for workspace ``public`` and ``client_id``."""
    from hypha_rpc import connect_to_server

    add_secret(root_token)
    try:
        root = await connect_to_server({"server_url": server_url, "token": root_token, "name": "browser-worker-setup"})
    except Exception as exc:
        raise ConfigError(f"could not connect to {server_url} with the root token (HYPHA_ROOT_TOKEN): {exc}") from None
    try:
        token = await root.generate_token({"workspace": PUBLIC, "permission": "read_write",
                                           "client_id": client_id, "expires_in": expires_in})
    except Exception as exc:
        raise ConfigError(
            f"the root token could not mint a token for workspace {PUBLIC!r} (is it the server's --root-token?): {exc}"
        ) from None
    finally:
        await root.disconnect()
    add_secret(token)
    return token


@asynccontextmanager
async def registered_public(worker: BrowserWorker, server_url: str, root_token: str,
                            service_id: str = DEFAULTS.service_id) -> AsyncIterator[tuple[WorkerService, Any]]:
    """Register ``worker`` in workspace ``public`` for the block's duration."""
    client_id = new_client_id()
    token = await mint_public_token(server_url, root_token, client_id)
    async with registered(worker, server_url, token, PUBLIC, service_id, client_id=client_id) as pair:
        yield pair
