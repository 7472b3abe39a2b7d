"""Issue 12 end to end (compiler side): apps as the Hypha server hands them over install and run.

Real Hypha server, real Chromium: a ``<config>`` + markup window app (the server strips
``<config>`` and sends the markup as ``source``) installs, starts and shows its markup; a raw
HTML app with missing and server-root references installs with warnings naming them.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from browser_worker import BrowserWorker
from browser_worker._compile.compiler import compile_app

pytestmark = pytest.mark.e2e

MARKUP_APP = """
<config lang="json">
{
    "name": "Markup Compat App",
    "type": "window",
    "version": "1.0.0",
    "description": "config plus markup, no script"
}
</config>

<div id="hello">
    <h1>Markup Compat App</h1>
    <p class="lead">Rendered from markup alone.</p>
</div>
"""

RAW_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="/static/icons/x.png">
<link rel="stylesheet" href="css/not-there.css"></head>
<body><h2 id="raw">raw page</h2><img src="img/missing.png"></body></html>"""


async def test_config_plus_markup_window_app_installs_starts_and_shows_markup(
    apps: Any, worker: BrowserWorker
) -> None:
    app = await apps.install(source=MARKUP_APP, wait_for_service=False, overwrite=True, timeout=60)
    assert app["entry_point"] == "index.html" and app["compiled"]["template"] == "window.html"
    session = await apps.start(app["id"], wait_for_service=False, timeout=60)
    try:
        sid = session["id"]
        text = await worker.execute(
            sid, "new Promise(r => { const f = () => { const h = document.querySelector('#app #hello h1');"
                 " h ? r([h.textContent, document.querySelector('#app .lead').textContent]) : setTimeout(f, 50); }; f(); })")
        assert text == ["Markup Compat App", "Rendered from markup alone."]
        errors = (await worker.get_logs(sid, type="error"))["items"]
        assert not [e for e in errors if "SyntaxError" in e["content"] or "Unexpected token" in e["content"]], errors
    finally:
        await apps.stop(session["id"])
        await apps.uninstall(app["id"])


async def test_raw_html_with_missing_references_installs_with_warnings(apps: Any, worker: BrowserWorker) -> None:
    messages: list[dict[str, Any]] = []
    app = await apps.install(source=RAW_HTML, wait_for_service=False, overwrite=True, timeout=60,
                             progress_callback=messages.append)
    try:
        warnings = app["compiled"]["warnings"]
        assert sorted(warnings) == sorted([
            "index.html refers to '/static/icons/x.png', a server-root path that is not among the app's files; left as is",
            "index.html refers to 'css/not-there.css', a file that is not among the app's files; left as is",
            "index.html refers to 'img/missing.png', a file that is not among the app's files; left as is",
        ])
        shown = [m.get("message", "") for m in messages if m.get("type") == "warning"]
        assert all(any(w in m for m in shown) for w in warnings), shown
        session = await apps.start(app["id"], wait_for_service=False, timeout=60)
        try:
            assert await worker.execute(session["id"], "document.getElementById('raw').textContent") == "raw page"
        finally:
            await apps.stop(session["id"])
    finally:
        await apps.uninstall(app["id"])


async def test_markup_scripts_load_before_the_app_script(worker: BrowserWorker, window_config: Any) -> None:
    """A fragment's ``<script src>`` loads (in order) before the inline script that gets ``api``."""
    markup = ('<div id="box">box</div><script src="lib.js"></script>'
              '<script>window.order = (window.order || []).concat(["app:" + typeof lib]);'
              ' await api.export({setup() {}});</script>')
    lib = "window.lib = {}; window.order = (window.order || []).concat(['lib']);"
    _, out = compile_app({"type": "window", "entry_point": "source", "name": "order"},
                         [{"path": "source", "content": markup},
                          {"path": "lib.js", "content": base64.b64encode(lib.encode()).decode(), "format": "base64"}])
    html = next(f["content"] for f in out if f["path"] == "index.html")
    sid = await worker.start(window_config(html))
    try:
        assert await worker.execute(sid, "window.order") == ["lib", "app:object"]
        assert await worker.execute(sid, "document.querySelector('#app #box').textContent") == "box"
    finally:
        await worker.stop(sid)
