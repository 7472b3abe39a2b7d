"""``inline_remote`` compiles against a real local aiohttp server: the network policy applies
(loopback refused unless allowed), fetches run concurrently, and one deadline bounds the compile."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from browser_worker import WorkerError
from browser_worker._compile.budget import CompileBudget
from browser_worker._compile.compiler import compile_app
from browser_worker._net.policy import NetworkPolicy
from browser_worker._net.loopback import start_site

from .fixtures.compile.make_png import png

LOCAL = NetworkPolicy(allow_private=True)
PAGE = {"type": "iframe", "entry_point": "index.html", "name": "remote"}
DOT = png(3, 3, (0, 200, 0))


@pytest_asyncio.fixture(scope="module")
async def cdn() -> AsyncIterator[dict[str, Any]]:
    hits: list[str] = []

    async def sheet(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text='@import "deeper/b.css";\n.a { background: url(dot.png) }', content_type="text/css")

    async def deeper(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text=".b { background: url(../dot.png) } .c { background: url(../dot.png) }",
                            content_type="text/css")

    async def dot(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=DOT, content_type="image/png")

    async def slow(request: web.Request) -> web.Response:
        hits.append(request.path)
        await asyncio.sleep(3)
        return web.Response(body=DOT, content_type="image/png")

    app = web.Application()
    app.router.add_get("/s/a.css", sheet)
    app.router.add_get("/s/deeper/b.css", deeper)
    app.router.add_get("/s/dot.png", dot)
    app.router.add_get("/slow/{n}", slow)
    runner, base = await start_site(app)
    yield {"base": base, "hits": hits}
    await runner.cleanup()


def page(body: str, head: str = "") -> list[dict]:
    return [{"path": "index.html", "content": f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"}]


async def compile_remote(files: list[dict], **kwargs: Any) -> tuple[dict, str]:
    manifest, out = await asyncio.to_thread(compile_app, PAGE, files, {"inline_remote": True}, **kwargs)
    return manifest, next(f["content"] for f in out if f["path"] == "index.html")


async def test_loopback_is_refused_by_default_naming_the_rule(cdn: dict[str, Any]) -> None:
    files = page("", f'<link rel="stylesheet" href="{cdn["base"]}/s/a.css?token=SECRET">')
    before = len(cdn["hits"])
    with pytest.raises(WorkerError) as err:
        await compile_remote(files)
    message = str(err.value)
    assert re.match(r"inline_remote: http://127\.0\.0\.1:\d+/s/a\.css resolves to 127\.0\.0\.1 \(loopback\); "
                    r"server-side fetches may not reach loopback, private, link-local", message), message
    assert "--allow-private-network" in message and "SECRET" not in message
    assert len(cdn["hits"]) == before  # nothing was requested


async def test_nested_remote_stylesheets_are_inlined_with_allow_private(cdn: dict[str, Any]) -> None:
    files = page("", f'<link rel="stylesheet" href="{cdn["base"]}/s/a.css">')
    manifest, html = await compile_remote(files, policy=LOCAL)
    assert cdn["base"] not in html
    outer = base64.b64decode(re.search(r'href="data:text/css;base64,([^"]+)"', html).group(1)).decode()
    inner = base64.b64decode(re.search(r'@import "data:text/css;base64,([^"]+)"', outer).group(1)).decode()
    assert "var(--bw-asset-1)" in outer and inner.count("var(--bw-asset-1)") == 2
    assert html.count(base64.b64encode(DOT).decode()) == 1  # dot.png once for three uses
    assert manifest["content_hash"].startswith("sha256:")


async def test_slow_urls_are_fetched_concurrently(cdn: dict[str, Any]) -> None:
    """Four URLs that take 3 s each: once 12 s one after another."""
    files = page("".join(f'<img src="{cdn["base"]}/slow/{i}">' for i in range(4)))
    started = time.perf_counter()
    _, html = await compile_remote(files, policy=LOCAL)
    elapsed = time.perf_counter() - started
    assert html.count("data:image/png;base64,") == 4
    assert elapsed < 6.0, f"took {elapsed:.1f}s"


async def test_one_deadline_ends_the_compile_naming_it(cdn: dict[str, Any]) -> None:
    files = page("".join(f'<img src="{cdn["base"]}/slow/d{i}">' for i in range(4)))
    started = time.perf_counter()
    with pytest.raises(WorkerError, match=r"compile budget timeout=2s exceeded while fetching http://127\.0\.0\.1:\d+/slow/d\d"):
        await compile_remote(files, policy=LOCAL, budget=CompileBudget(timeout=2))
    assert time.perf_counter() - started < 3.0


async def test_remote_count_is_within_max_files(cdn: dict[str, Any]) -> None:
    files = page("".join(f'<img src="{cdn["base"]}/s/dot.png?v={i}">' for i in range(6)))
    with pytest.raises(WorkerError, match=r"compile budget max_files=5 exceeded by 6 remote assets \(inline_remote\)"):
        await compile_remote(files, policy=LOCAL, budget=CompileBudget(max_files=5))
