"""The live viewer: a page a person opens to watch the sessions of their workspace.

It is registered as a Hypha ``functions`` service beside the worker, so the Hypha server serves
it at ``<server>/<workspace>/apps/<service id>-viewer/``: no port of the worker's own. The page
holds no data: it signs in to Hypha (a pasted token, or Hypha's login), and everything it shows
comes from the worker's methods called over that connection (``list_sessions``, ``watch``,
``stream_logs``, ``take_screenshot``, ``get_artifact``), so a viewer sees what its user may see and
nothing else. No token ever goes into a URL.
"""

from __future__ import annotations

import secrets
from typing import Any

from browser_worker._render import environment

#: Headers of the page. It may be framed (embedding a viewer is a use case); its scripts are
#: its own inline module (by nonce) and the server's hypha-rpc module, which builds functions
#: from strings ('unsafe-eval'); the page shows no content of the apps it watches but pictures
#: and text nodes.
def _headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self' 'unsafe-eval' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' blob: data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'"
        ),
    }


def viewer_service_id(worker_service_id: str) -> str:
    return f"{worker_service_id}-viewer"


def viewer_url(public_base_url: str, workspace: str, worker_service_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/{workspace}/apps/{viewer_service_id(worker_service_id)}/"


def render_viewer(workspace: str, worker_id: str, nonce: str) -> str:
    """The page; ``worker_id`` is the worker service's full id (``ws/client:service``)."""
    data = {"workspace": workspace, "worker_id": worker_id}
    return environment().get_template("viewer.html").render(viewer=data, nonce=nonce)


def viewer_service(workspace: str, client_id: str, worker_service_id: str) -> dict[str, Any]:
    """The ``functions`` service that serves the page (every path serves the same page)."""
    worker_id = f"{workspace}/{client_id}:{worker_service_id}"

    async def page(scope: dict[str, Any]) -> dict[str, Any]:
        nonce = secrets.token_urlsafe(16)
        return {"status": 200, "headers": _headers(nonce), "body": render_viewer(workspace, worker_id, nonce)}

    return {
        "id": viewer_service_id(worker_service_id),
        "name": "Browser worker viewer",
        "description": "Watch this worker's sessions live, with their logs (sign in with Hypha)",
        "type": "functions",
        "config": {"visibility": "public"},
        "index": page,
        "default": page,
    }
