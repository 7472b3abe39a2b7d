"""Rendering app entry pages from the jinja2 templates in ``templates/``.

User code never becomes template source: it is passed as data and written with ``|tojson``
into JSON blocks that the page parses at run time.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

import jinja2

from .resources import templates_dir

BUNDLE_MARKER = re.compile(r'<meta\s+name="browser-worker-bundle"\s+content="([a-z-]+)"')


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def hypha_rpc_url(server_url: str) -> str:
    """The ES module the Hypha server itself serves for its JS client."""
    return server_url.rstrip("/") + "/assets/hypha-rpc-websocket.mjs"


def render_shell(server_url: str) -> str:
    """The pre-warmed page: imports the server's RPC module and waits for an app."""
    return environment().get_template("shell.html").render(shell={"hypha_rpc_url": hypha_rpc_url(server_url)})


def render_window(
    script: str,
    *,
    name: str = "Hypha App",
    requirements: Iterable[str] = (),
    server_url: str | None = None,
    source_name: str = "app.js",
    styles: Iterable[str] = (),
    window_html: str = "",
    bundle_type: str = "window",
) -> str:
    """A window app: connect to Hypha, load requirements, run ``script`` with ``api`` in scope."""
    app: dict[str, Any] = {
        "name": name,
        "script": script,
        "requirements": list(requirements),
        "server_url": server_url,
        "source_name": source_name,
        "styles": list(styles),
        "window_html": window_html,
    }
    return environment().get_template("window.html").render(app=app, bundle_type=bundle_type)


def bundle_type(html: str) -> str | None:
    """The app type recorded in a page this package rendered, or None for foreign HTML."""
    match = BUNDLE_MARKER.search(html[:4096])
    return match.group(1) if match else None
