"""Issue 11 "compile amplification": hostile inputs are refused by a named budget, fast, or
stay small thanks to dedupe. Pure unit tests (no server, no browser)."""

from __future__ import annotations

import base64
import re
import time

import pytest

from browser_worker import WorkerError
from browser_worker._compile.compiler import compile_app

from .fixtures.compile.make_png import png

PAGE = {"type": "iframe", "entry_point": "index.html", "name": "amp"}


def index_of(files: list[dict]) -> str:
    return next(f["content"] for f in files if f["path"] == "index.html")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def big_image(size: int = 1024 * 1024) -> bytes:
    """A real PNG header padded to ``size`` bytes (content does not matter to the compiler)."""
    head = png(2, 2, (1, 2, 3))
    return head + bytes(size - len(head))


def test_css_import_doubling_is_refused_fast_naming_the_budget() -> None:
    """13 sheets of < 300 B, each importing the next twice: once a 17.5 MB bundle."""
    files = [{"path": "index.html", "content": '<!doctype html><html><head><link rel="stylesheet" href="l0.css">'
              "</head><body></body></html>"}]
    for i in range(12):
        files.append({"path": f"l{i}.css", "content": f'@import "l{i + 1}.css";\n@import "l{i + 1}.css";\n'
                      f".c{i} {{ color: rgb({i}, 0, 0); }}"})
    files.append({"path": "l12.css", "content": "body { margin: 0; padding: 0; } " * 8})
    started = time.perf_counter()
    with pytest.raises(WorkerError, match=r"compile budget max_(depth|bundle_bytes)=\d+ exceeded while inlining l\d+\.css"):
        compile_app(PAGE, files)
    assert time.perf_counter() - started < 2.0


def test_one_image_referenced_100_times_from_css_is_inlined_once() -> None:
    """A 1 MB image used by 100 rules: once 140 MB, now one copy in a custom property."""
    rules = "\n".join(f".r{i} {{ background: url(img/big.png) no-repeat; }}" for i in range(100))
    files = [{"path": "index.html", "content": '<!doctype html><html><head><link rel="stylesheet" href="s.css">'
              '</head><body><div class="r1" style="background-image: url(img/big.png)">x</div></body></html>'},
             {"path": "s.css", "content": rules},
             {"path": "img/big.png", "content": b64(big_image()), "format": "base64"}]
    _, out = compile_app(PAGE, files)
    html = index_of(out)
    assert len(html.encode()) < 1.5 * 1024 * 1024  # one base64 copy (1.33 MB) plus a little
    css = base64.b64decode(re.search(r'data:text/css;base64,([^"]+)', html).group(1)).decode()
    assert css.count("var(--bw-asset-1)") == 100 and "data:image/png" not in css
    assert html.count("data:image/png;base64,") == 1
    assert "var(--bw-asset-1)" in html  # the style attribute shares the same copy


def test_one_image_in_100_img_tags_is_refused_by_the_bundle_budget() -> None:
    """<img src> cannot share a copy; the bundle budget stops it early, naming the budget."""
    body = "".join(f'<img src="img/big.png" id="i{i}">' for i in range(100))
    files = [{"path": "index.html", "content": f"<!doctype html><html><body>{body}</body></html>"},
             {"path": "img/big.png", "content": b64(big_image()), "format": "base64"}]
    started = time.perf_counter()
    with pytest.raises(WorkerError, match=r"compile budget max_bundle_bytes=52428800 exceeded while inlining img/big\.png"):
        compile_app(PAGE, files)
    assert time.perf_counter() - started < 3.0


YAML_BOMB = """<config lang="yaml">
name: bomb
type: window
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
</config>
<script>api.export({setup() {}});</script>
"""


def test_yaml_alias_bomb_is_refused_naming_the_rule() -> None:
    assert len(YAML_BOMB) < 700
    with pytest.raises(WorkerError, match=r"<config>.*YAML (anchors|aliases)"):
        compile_app({"type": "window", "entry_point": "app.html"}, [{"path": "app.html", "content": YAML_BOMB}])


def test_huge_config_is_refused_by_the_manifest_budget() -> None:
    config = '{"name": "big", "type": "window", "blob": "' + "x" * (1024 * 1024 + 10) + '"}'
    with pytest.raises(WorkerError, match=r"compile budget max_manifest_bytes=1048576 exceeded"):
        compile_app({"type": "window", "entry_point": "app.html"},
                    [{"path": "app.html", "content": f'<config lang="json">{config}</config><script>1</script>'}])


def test_invalid_base64_is_an_error_naming_the_file() -> None:
    files = [{"path": "index.html", "content": '<!doctype html><html><body><img src="a.png"></body></html>'},
             {"path": "a.png", "content": "not base64 at all!!", "format": "base64"}]
    with pytest.raises(WorkerError, match=r"files\[1\] \('a.png'\).*not valid base64"):
        compile_app(PAGE, files)


@pytest.mark.parametrize("files, message", [
    ({"index.html": "<!doctype html>"}, r"files must be a list of file objects, got dict"),
    (["index.html"], r"files\[0\] must be an object .* got str"),
    ([{"content": "x"}], r"files\[0\] needs a 'path'"),
    ([{"path": 5, "content": "x"}], r"files\[0\]\.path must be a string"),
    ([{"path": "a.js", "content": "1"}, {"path": "b", "content": "2"}, {"path": "c", "content": "3"},
      {"path": "index.html", "content": ["x"]}], r"files\[3\]\.content must be a string"),
    ([{"path": "index.html", "content": "x", "format": "zip"}], r"files\[0\]\.format must be one of"),
])
def test_malformed_files_name_the_field(files: object, message: str) -> None:
    with pytest.raises(WorkerError, match=message):
        compile_app(PAGE, files)  # type: ignore[arg-type]


def test_too_many_files_is_refused_naming_the_budget() -> None:
    files = [{"path": "index.html", "content": "<!doctype html><html><body></body></html>"}]
    files += [{"path": f"f{i}.txt", "content": "x"} for i in range(1000)]
    with pytest.raises(WorkerError, match=r"compile budget max_files=1000 exceeded"):
        compile_app(PAGE, files)


def test_oversized_asset_is_refused_naming_the_budget() -> None:
    files = [{"path": "index.html", "content": '<!doctype html><html><body><img src="huge.png"></body></html>'},
             {"path": "huge.png", "content": b64(big_image(21 * 1024 * 1024)), "format": "base64"}]
    with pytest.raises(WorkerError, match=r"compile budget max_asset_bytes=20971520 exceeded while inlining huge\.png"):
        compile_app(PAGE, files)


def test_var_is_used_only_where_css_allows_it_and_copies_count() -> None:
    """``var()`` is not allowed in @font-face descriptors or @import preludes: those stay copies."""
    from browser_worker._compile.budget import CompileBudget

    sheet = ("@import 'b.css' screen;\n"
             "@media (min-width: 1px) { .a { background: url(i.png) } @font-face { font-family: F; src: url(f.ttf) } }\n"
             "@font-face { font-family: G; src: url(f.ttf) }\n.b { background: url(i.png) }")
    files = [{"path": "index.html", "content": '<!doctype html><html><head><link rel="stylesheet" href="a.css">'
              "</head><body></body></html>"},
             {"path": "a.css", "content": sheet}, {"path": "b.css", "content": ".c { color: red }"},
             {"path": "i.png", "content": b64(png(2, 2, (9, 9, 9))), "format": "base64"},
             {"path": "f.ttf", "content": b64(b"\x00\x01\x00\x00font"), "format": "base64"}]
    _, out = compile_app(PAGE, files)
    css = base64.b64decode(re.search(r'data:text/css;base64,([^"]+)', index_of(out)).group(1)).decode()
    assert css.startswith('@import "data:text/css;base64,')
    assert ".a { background: var(--bw-asset-1) }" in css and ".b { background: var(--bw-asset-1) }" in css
    assert css.count("src: url(data:font/ttf;base64,") == 2
    fonts = "".join(f"@font-face {{ font-family: F{i}; src: url(f.ttf) }}\n" for i in range(10))
    files[1] = {"path": "a.css", "content": fonts}
    files[4] = {"path": "f.ttf", "content": b64(bytes(1024 * 1024)), "format": "base64"}
    with pytest.raises(WorkerError, match=r"compile budget max_bundle_bytes=5242880 exceeded while inlining f\.ttf"):
        compile_app(PAGE, files, budget=CompileBudget(max_bundle_bytes=5 * 1024 * 1024))


def test_import_cycle_is_an_error_and_budgets_must_be_finite() -> None:
    from browser_worker._compile.budget import CompileBudget

    files = [{"path": "index.html", "content": '<!doctype html><html><head><link rel="stylesheet" href="a.css"></head></html>'},
             {"path": "a.css", "content": "@import 'b.css';"}, {"path": "b.css", "content": "@import 'a.css';"}]
    with pytest.raises(WorkerError, match="stylesheet import cycle: a.css → b.css → a.css"):
        compile_app(PAGE, files)
    for bad in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(ValueError, match="compile budget timeout must be a finite number above 0"):
            CompileBudget(timeout=bad)
