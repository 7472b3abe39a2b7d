"""Issue 12 (points 1 and 5, compiler side): what the Hypha server actually hands ``compile``
and what real app sources look like. Pure unit tests (no server, no browser)."""

from __future__ import annotations

import base64
from typing import Any

from browser_worker._compile.compiler import compile_app
from browser_worker._logs.progress import Progress
from browser_worker._render.templates import app_data, bundle_type

from .fixtures.compile.make_png import png

LOGO = png(4, 4, (10, 20, 30))


def index_of(files: list[dict]) -> str:
    return next(f["content"] for f in files if f["path"] == "index.html")


def stripped_by_hypha(markup: str, *extra: dict) -> tuple[dict, list[dict]]:
    """What the server sends after it strips ``<config>`` from a source with no ``<script>``."""
    manifest = {"name": "Markup App", "type": "window", "version": "1.0.0", "entry_point": "source"}
    return manifest, [{"path": "source", "content": markup, "format": "text"}, *extra]


def test_markup_without_script_becomes_a_window_page() -> None:
    manifest, files = stripped_by_hypha("<div>\n  <h1>Service Discovery Test App</h1>\n  <p>Some text.</p>\n</div>")
    out_manifest, out = compile_app(manifest, files, {"server_url": "http://hypha.test"})
    html = index_of(out)
    assert bundle_type(html) == "window" and out_manifest["entry_point"] == "index.html"
    assert out_manifest["compiled"] == {"template": "window.html", "source": "source"}
    app = app_data(html)
    assert app["script"] == ""  # nothing is run as JavaScript
    assert "<h1>Service Discovery Test App</h1>" in app["window_html"] and "<p>Some text.</p>" in app["window_html"]
    assert sorted(f["path"] for f in out) == ["index.html", "source"]


def test_markup_with_style_link_and_scripts() -> None:
    markup = ('<link rel="stylesheet" href="look.css"><style>#t { color: rgb(1, 2, 3) }</style>'
              '<div id="t"><img src="logo.png"></div>'
              '<script src="lib.js"></script>'
              '<script>window.libSeen = typeof lib; api.export({setup() {}});</script>')
    manifest, files = stripped_by_hypha(
        markup,
        {"path": "look.css", "content": "#t { background: url(logo.png) }"},
        {"path": "lib.js", "content": "window.lib = {};"},
        {"path": "logo.png", "content": base64.b64encode(LOGO).decode(), "format": "base64"},
    )
    out_manifest, out = compile_app(manifest, files)
    app = app_data(index_of(out))
    assert out_manifest.get("compiled", {}).get("warnings") is None
    assert app["script"] == "window.libSeen = typeof lib; api.export({setup() {}});"  # run with `api`
    assert app["styles"][0].startswith(":root{--bw-asset-1:url(data:image/png;base64,")  # logo shared
    assert "rgb(1, 2, 3)" in app["styles"][1]
    window = app["window_html"]
    assert '<script src="data:text/javascript;base64,' in window  # loaded before the app script runs
    assert '<link rel="stylesheet" href="data:text/css;base64,' in window
    assert '<img src="data:image/png;base64,' in window and "api.export" not in window


def test_imjoy_source_with_config_window_and_script_is_unchanged() -> None:
    source = ('<config lang="json">{"name": "Classic", "type": "window"}</config>\n'
              '<window><div id="w">win</div></window>\n<script lang="javascript">api.export({});</script>\n')
    manifest, out = compile_app({"type": "window", "entry_point": "app.imjoy.html"},
                                [{"path": "app.imjoy.html", "content": source}])
    app = app_data(index_of(out))
    assert manifest["name"] == "Classic" and app["script"] == "api.export({});"
    assert app["window_html"] == '<div id="w">win</div>'  # no stray whitespace or config text


def test_markup_for_an_iframe_app_becomes_a_whole_page() -> None:
    manifest, out = compile_app({"type": "iframe", "entry_point": "source"},
                                [{"path": "source", "content": "<main id=m>hello</main><script>document.title='x'</script>"}])
    html = index_of(out)
    assert html.startswith("<!DOCTYPE html>") and '<main id="m">hello</main>' in html
    assert manifest["compiled"]["template"] == "none (the app's own HTML, assets inlined)"


def test_an_iframe_app_with_a_script_entry_is_an_imjoy_plugin_run_as_a_window_app() -> None:
    # The Hypha server turns an ImJoy iframe plugin's <script> into the entry main.js.
    manifest, out = compile_app({"type": "iframe", "entry_point": "main.js", "name": "Plugin"},
                                [{"path": "main.js", "content": "api.export({run() {}});"}])
    html = index_of(out)
    assert bundle_type(html) == "window" and app_data(html)["script"] == "api.export({run() {}});"
    assert manifest["type"] == "iframe" and manifest["compiled"]["template"] == "window.html"
    # the same plugin as a whole ImJoy source (compiled by our CLI): its <window> is kept
    source = ('<config lang="json">{"name": "P", "type": "iframe"}</config><window><p id=w>hi</p></window>'
              '<script lang="javascript">api.export({});</script>')
    _, out = compile_app({"type": "iframe", "entry_point": "p.imjoy.html"}, [{"path": "p.imjoy.html", "content": source}])
    app = app_data(index_of(out))
    assert bundle_type(index_of(out)) == "window" and app["window_html"] == '<p id="w">hi</p>'


def test_byte_order_mark_is_ignored() -> None:
    js = {"type": "window", "entry_point": "main.js"}
    _, out = compile_app(js, [{"path": "main.js", "content": "\ufeffapi.export({setup() {}});"}])
    assert app_data(index_of(out))["script"] == "api.export({setup() {}});"
    bom_b64 = base64.b64encode("\ufeffapi.export({});".encode()).decode()
    _, out = compile_app(js, [{"path": "main.js", "content": bom_b64, "format": "base64"}])
    assert app_data(index_of(out))["script"] == "api.export({});"
    source = '\ufeff<config lang="json">{"name": "Bom", "type": "window"}</config><script>api.export({});</script>'
    manifest, out = compile_app({"type": "window", "entry_point": "a.html"}, [{"path": "a.html", "content": source}])
    assert manifest["name"] == "Bom" and app_data(index_of(out))["script"] == "api.export({});"
    _, out = compile_app({"type": "iframe", "entry_point": "index.html"},
                         [{"path": "index.html", "content": "\ufeff<!doctype html><html><body><p id=b>x</p></body></html>"}])
    assert '<p id="b">x</p>' in index_of(out) and "\ufeff" not in index_of(out)


def test_raw_html_with_missing_and_server_root_references_installs_with_warnings() -> None:
    page = ('<!doctype html><html><head><link rel="icon" href="/static/icons/x.png">'
            '<link rel="stylesheet" href="css/missing.css"></head>'
            '<body><img src="logo.png"><img src="../outside.png"><script src="js/gone.js"></script></body></html>')
    seen: list[dict[str, Any]] = []
    manifest, out = compile_app({"type": "window", "entry_point": "index.html"},
                                [{"path": "index.html", "content": page},
                                 {"path": "logo.png", "content": base64.b64encode(LOGO).decode(), "format": "base64"}],
                                progress=Progress(seen.append))
    expected = [
        "index.html refers to '/static/icons/x.png', a server-root path that is not among the app's files; left as is",
        "index.html refers to 'css/missing.css', a file that is not among the app's files; left as is",
        "index.html refers to '../outside.png', outside the app's files; left as is",
        "index.html refers to 'js/gone.js', a file that is not among the app's files; left as is",
    ]
    assert sorted(manifest["compiled"]["warnings"]) == sorted(expected)
    assert sorted(m["message"] for m in seen if m["type"] == "warning") == sorted(expected)
    html = index_of(out)
    for ref in ("/static/icons/x.png", "css/missing.css", "../outside.png", "js/gone.js"):
        assert f'"{ref}"' in html
    assert '<img src="data:image/png;base64,' in html


def test_source_files_are_kept_next_to_the_bundle() -> None:
    for kind, name, code in (("web-python", "main.py", "print('hi')"), ("web-worker", "worker.js", "api.export({})"),
                             ("window", "app.js", "api.export({})")):
        manifest, out = compile_app({"type": kind, "entry_point": name},
                                    [{"path": name, "content": code}, {"path": "data.csv", "content": "a,b"}])
        assert sorted(f["path"] for f in out) == sorted(["index.html", name, "data.csv"])
        assert next(f for f in out if f["path"] == name)["content"] == code
        assert manifest["entry_point"] == "index.html" and manifest["compiled"]["source"] == name
