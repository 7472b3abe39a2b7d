"""Rendering app entry pages from the jinja2 templates in ``templates/``.

User code never becomes template source: it is passed as data and written with ``|tojson``
into JSON blocks that the page parses at run time.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable

import jinja2

from browser_worker.resources import templates_dir

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


WORKER_KINDS = ("web-worker", "web-python")
#: The scripts a worker app's Web Worker runs, in order.
_WORKER_SCRIPTS = {
    "web-worker": ("worker-console.js", "imjoy-api.js", "reconnect-now.js", "replica-follow.js",
                   "web-worker.worker.js"),
    "web-python": ("worker-console.js", "web-python.worker.js"),
}


@lru_cache(maxsize=None)
def template_text(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")


def console_capture_script() -> str:
    """The init script that batches a page's console output (see console-capture.js)."""
    return template_text("console-capture.js")


def render_worker_page(
    kind: str,
    app: dict[str, Any] | None,
    config: dict[str, Any] | None = None,
) -> str:
    """A page running the app in a Web Worker (``web-worker``: JS, ``web-python``: Pyodide).

    With ``app=None`` it is a warm page: the worker boots and waits for ``__bwRunApp(app)``.
    ``config`` holds run-time defaults (e.g. the asset server) used when no session config is
    injected — never secrets.
    """
    if kind not in WORKER_KINDS:
        raise ValueError(f"not a worker app type: {kind}")
    boot = {
        "kind": kind,
        "worker_js": "\n".join(template_text(name) for name in _WORKER_SCRIPTS[kind]),
        "python": template_text("web_python_boot.py") if kind == "web-python" else None,
        "config": config or {},
    }
    return environment().get_template("worker-page.html").render(kind=kind, app=app, boot=boot)


def worker_app(
    script: str, *, name: str = "Hypha App", requirements: Iterable[str] = (), source_name: str = "app"
) -> dict[str, Any]:
    """The app data a worker page runs."""
    return {"name": name, "script": script, "requirements": list(requirements), "source_name": source_name}


APP_DATA = re.compile(r'<script id="bw-app" type="application/json">(.*?)</script>', re.S)


def app_data(html: str) -> Any:
    """The app JSON embedded in a page this package rendered (tojson output holds no '<')."""
    match = APP_DATA.search(html)
    return json.loads(match.group(1)) if match else None


def bundle_type(html: str) -> str | None:
    """The app type recorded in a page this package rendered, or None for foreign HTML."""
    match = BUNDLE_MARKER.search(html[:4096])
    return match.group(1) if match else None
