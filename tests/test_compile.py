"""Issue 4 (pure parts): inlining, ImJoy sources, determinism, errors, injection safety."""

from __future__ import annotations

import base64
import re

import pytest

from browser_worker import UnsupportedAppTypeError, WorkerError
from browser_worker._compile.budget import CompileBudget
from browser_worker._compile.compiler import compile_app
from browser_worker._net.policy import NetworkPolicy
from browser_worker._render.templates import app_data
from browser_worker._net.loopback import start_site

from .fixtures.compile.make_png import png

LOGO = png(7, 5, (200, 30, 30))
LOCAL = NetworkPolicy(allow_private=True)  # the test servers listen on 127.0.0.1


def app_files() -> list[dict]:
    return [
        {"path": "index.html", "content": '<!doctype html><html><head><link rel="stylesheet" href="css/style.css">'
         '<link rel="icon" href="img/logo.png"><script src="js/app.js"></script></head>'
         '<body><div id="card">styled</div><img id="logo" src="img/logo.png">'
         '<a href="https://example.org/x.js">remote stays</a></body></html>', "format": "text"},
        {"path": "js/app.js", "content": "window.appRan = '</script><!-- `${x}`';", "format": "text"},
        {"path": "css/style.css", "content": "@import 'base.css';\n#card { color: rgb(1, 2, 3); background: url(../img/logo.png); font-family: Brand; }\n"
         "@font-face { font-family: Brand; src: url('../fonts/brand.ttf'); }", "format": "text"},
        {"path": "css/base.css", "content": "body { margin: 0 }", "format": "text"},
        {"path": "img/logo.png", "content": base64.b64encode(LOGO).decode(), "format": "base64"},
        {"path": "fonts/brand.ttf", "content": base64.b64encode(b"\x00\x01\x00\x00font").decode(), "format": "base64"},
    ]


def index_of(files: list[dict]) -> str:
    return next(f["content"] for f in files if f["path"] == "index.html")


def decoded_css(html: str) -> str:
    return base64.b64decode(re.search(r'data:text/css;base64,([^"]+)', html).group(1)).decode()


def test_raw_html_assets_are_inlined() -> None:
    manifest, files = compile_app({"type": "window", "entry_point": "index.html", "name": "a"}, app_files())
    html = index_of(files)
    assert "js/app.js" not in html and "css/style.css" not in html and 'src="img/logo.png"' not in html
    assert html.count("data:image/png;base64,") == 3  # <img>, the icon, the shared CSS copy
    assert '<style data-bw="assets">:root{--bw-asset-1:url(data:image/png;base64,' in html
    assert "https://example.org/x.js" in html
    css = decoded_css(html)
    # var() is not allowed in @font-face: the font stays a copy; the background is shared
    assert "data:font/ttf;base64," in css and "background: var(--bw-asset-1)" in css
    assert '@import "data:text/css;base64,' in css
    script = base64.b64decode(re.search(r'data:text/javascript;base64,([^"]+)', html).group(1)).decode()
    assert script == "window.appRan = '</script><!-- `${x}`';"
    assert manifest["entry_point"] == "index.html" and manifest["content_hash"].startswith("sha256:")
    assert manifest["compiled"]["source"] == "index.html"


def test_deterministic_and_idempotent() -> None:
    m1, f1 = compile_app({"type": "window", "entry_point": "index.html"}, app_files())
    m2, f2 = compile_app({"type": "window", "entry_point": "index.html"}, app_files())
    assert index_of(f1) == index_of(f2) and m1["content_hash"] == m2["content_hash"]
    m3, f3 = compile_app(m1, f1)
    assert index_of(f3) == index_of(f1) and m3["content_hash"] == m1["content_hash"]


def test_missing_asset_is_a_warning_naming_file_and_referrer() -> None:
    """As Hypha's built-in: installed, the reference left as is, a warning naming it."""
    files = [f for f in app_files() if f["path"] != "fonts/brand.ttf"]
    manifest, out = compile_app({"type": "window", "entry_point": "index.html"}, files)
    assert manifest["compiled"]["warnings"] == [
        "css/style.css refers to '../fonts/brand.ttf', a file that is not among the app's files; left as is"]
    assert 'src: url("../fonts/brand.ttf")' in decoded_css(index_of(out))
    manifest, out = compile_app({"type": "window", "entry_point": "index.html"},
                                [{"path": "index.html", "content": '<!doctype html><img src="../../etc/passwd">'}])
    assert manifest["compiled"]["warnings"] == ["index.html refers to '../../etc/passwd', outside the app's files; left as is"]
    assert 'src="../../etc/passwd"' in index_of(out)


SOURCE = """<config lang="yaml">
name: Yaml App
type: window
requirements: []
</config>
<window><div id="w">from window <img src="logo.png"></div></window>
<style>#w { color: rgb(9, 8, 7) } /* </style> stays inside */</style>
<script lang="javascript">api.export({setup() {}});</script>
"""


def test_imjoy_source_config_window_style_script() -> None:
    files = [{"path": "app.imjoy.html", "content": SOURCE},
             {"path": "logo.png", "content": base64.b64encode(LOGO).decode(), "format": "base64"}]
    manifest, out = compile_app({"type": "window", "entry_point": "app.imjoy.html"}, files)
    assert manifest["name"] == "Yaml App" and manifest["type"] == "window"
    assert manifest["compiled"]["template"] == "window.html"
    app = app_data(index_of(out))
    assert app["script"] == "api.export({setup() {}});"
    assert "data:image/png;base64," in app["window_html"] and 'id="w"' in app["window_html"]
    assert "rgb(9, 8, 7)" in app["styles"][0]


def test_yaml_error_names_the_line_and_unknown_type_lists_supported() -> None:
    bad = "<config lang=\"yaml\">\nname: x\ntype: window\n  broken: [\n</config><script>1</script>"
    with pytest.raises(WorkerError, match=r"invalid YAML in <config> at line \d+"):
        compile_app({"type": "window", "entry_point": "a.html"}, [{"path": "a.html", "content": bad}])
    with pytest.raises(UnsupportedAppTypeError, match="supported types: .*web-python"):
        compile_app({"type": "window", "entry_point": "a.html"},
                    [{"path": "a.html", "content": '<config lang="json">{"type": "flash"}</config><script>1</script>'}])


async def test_inline_remote_fetches_with_aiohttp_and_caps_size(tmp_path) -> None:
    import asyncio

    from aiohttp import web

    async def css(_: web.Request) -> web.Response:
        return web.Response(text="p { background: url(dot.png) }", content_type="text/css")

    async def dot(_: web.Request) -> web.Response:
        return web.Response(body=LOGO, content_type="image/png")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * (6 * 1024 * 1024), content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/s/style.css", css)
    app.router.add_get("/s/dot.png", dot)
    app.router.add_get("/big.bin", big)
    runner, base = await start_site(app)
    base = base
    try:
        page = f'<!doctype html><html><head><link rel="stylesheet" href="{base}/s/style.css"></head><body></body></html>'
        files = [{"path": "index.html", "content": page}]
        _, kept = await asyncio.to_thread(compile_app, {"type": "iframe", "entry_point": "index.html"}, files)
        assert f"{base}/s/style.css" in index_of(kept)  # remote stays unless asked
        with pytest.raises(WorkerError, match=r"inline_remote: .*127\.0\.0\.1 \(loopback\).*--allow-private-network"):
            await asyncio.to_thread(compile_app, {"type": "iframe", "entry_point": "index.html"}, files,
                                    {"inline_remote": True})
        _, out = await asyncio.to_thread(compile_app, {"type": "iframe", "entry_point": "index.html"}, files,
                                         {"inline_remote": True}, policy=LOCAL)
        html = index_of(out)
        assert "var(--bw-asset-1)" in decoded_css(html)  # dot.png, relative to the remote stylesheet
        assert f"{base}/s/" not in html and ":root{--bw-asset-1:url(data:image/png;base64," in html
        big_page = f'<!doctype html><html><body><img src="{base}/big.bin"></body></html>'
        with pytest.raises(WorkerError, match=r"compile budget max_asset_bytes=5242880 exceeded while fetching .*/big\.bin"):
            await asyncio.to_thread(compile_app, {"type": "iframe", "entry_point": "index.html"},
                                    [{"path": "index.html", "content": big_page}], {"inline_remote": True},
                                    policy=LOCAL, budget=CompileBudget(max_asset_bytes=5 * 1024 * 1024))
    finally:
        await runner.cleanup()
