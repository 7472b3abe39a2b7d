"""Issue 18: screenshots and PDFs as people need them, on real Chromium through the in-process
worker: a per-app scale factor and viewport, repeatable images of animated pages, waiting for
late web fonts (and other conditions), WebP, PDF, and the same authorization as before."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from browser_worker import BrowserWorker, WorkerError
from browser_worker.errors import PermissionDeniedError
from browser_worker.testing import internals

from ._support import png_size, serving, settle, web_app_config, webp_size

pytestmark = pytest.mark.e2e

#: Another tenant, signed in, in a workspace of its own (the sessions here are alice's).
MALLORY = {"ws": "other-ws", "user": {"id": "mallory", "roles": []}}
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def data_url(html: str) -> str:
    return "data:text/html;base64," + base64.b64encode(html.encode()).decode()


def pdf_pages(pdf: bytes) -> int:
    """Page objects of a PDF (``/Type /Page``, not the ``/Pages`` tree nodes)."""
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))


async def test_a_manifest_scale_factor_gives_a_context_of_its_own_released_like_any(worker: BrowserWorker) -> None:
    await settle(worker)
    baseline = worker.context_count()
    warm = list(internals(worker).pool._ready)
    sid = await worker.start(web_app_config("data:text/html,<p>hidpi</p>", viewport={"width": 1280, "height": 720},
                                            device_scale_factor=2))
    try:
        assert png_size(await worker.take_screenshot(sid)) == (2560, 1440)
        assert await worker.execute(sid, "[devicePixelRatio, innerWidth, innerHeight]") == [2, 1280, 720]
        assert all(lease in internals(worker).pool._ready for lease in warm)  # no warm context was spent on it
        assert worker.stats().in_use == 1
    finally:
        await worker.stop(sid)
    await settle(worker)
    assert worker.context_count() == baseline


async def test_a_manifest_viewport_alone_resizes_a_warm_page(worker: BrowserWorker) -> None:
    await settle(worker)
    baseline = worker.context_count()
    sid = await worker.start(web_app_config("data:text/html,<p>small</p>", viewport={"width": 800, "height": 600}))
    try:
        assert png_size(await worker.take_screenshot(sid)) == (800, 600)
        assert await worker.execute(sid, "[devicePixelRatio, innerWidth, innerHeight]") == [1, 800, 600]
    finally:
        await worker.stop(sid)
    await settle(worker)
    assert worker.context_count() == baseline


ANIMATED = data_url("""<!doctype html><style>
body { margin: 0 }
@keyframes slide { from { transform: translateX(0) } to { transform: translateX(1000px) } }
@keyframes spin { to { transform: rotate(360deg) } }
#slide { width: 80px; height: 80px; background: red; animation: slide 20s linear }
#spin { width: 80px; height: 80px; background: blue; animation: spin 1s linear infinite }
</style><div id=slide></div><div id=spin></div><input autofocus value=typing>""")


async def test_animations_disabled_makes_two_screenshots_byte_identical(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(ANIMATED))
    try:
        # Control first (disabling finishes the 20 s slide for good): moving boxes, other images.
        first = await worker.take_screenshot(sid)
        await asyncio.sleep(0.2)
        assert await worker.take_screenshot(sid) != first
        for fmt in ("png", "webp"):
            still = await worker.take_screenshot(sid, format=fmt, animations="disabled")
            await asyncio.sleep(0.2)
            assert await worker.take_screenshot(sid, format=fmt, animations="disabled") == still, fmt
        # The infinite animation runs on after the capture (it was only held for it).
        assert await worker.execute(sid, "document.getAnimations().map((a) => a.playState)") == ["running"]
    finally:
        await worker.stop(sid)


def _font_page(font_path: str) -> str:
    """The text is added at ``load``, so its font is fetched after the start returned."""
    return f"""<!doctype html><style>
@font-face {{ font-family: Probe; src: url({font_path}) format("truetype"); font-display: swap }}
body {{ margin: 0; background: white }} p {{ font: 64px Probe, serif; margin: 8px }}
</style><script>addEventListener("load", () => document.body.insertAdjacentHTML("beforeend", "<p>Wg0 iIl1 {{}}</p>"))
</script>"""


@pytest_asyncio.fixture
async def font_site() -> AsyncIterator[tuple[str, list[str]]]:
    """Pages whose web font comes 500 ms late (``/late``) or not at all (``/held``)."""
    from aiohttp import web

    if not FONT.exists():
        pytest.skip(f"no font to serve at {FONT}")
    served: list[str] = []
    release = asyncio.Event()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=_font_page(f"/{request.match_info['name']}.ttf"), content_type="text/html")

    async def font(request: web.Request) -> web.Response:
        if request.match_info["name"] == "late":
            await asyncio.sleep(0.5)
        else:
            await release.wait()
        served.append(request.match_info["name"])
        return web.Response(body=FONT.read_bytes(), content_type="font/ttf")

    app = web.Application()
    app.router.add_get("/{name}.ttf", font)  # before the page route, which would match it too
    app.router.add_get("/{name}", page)
    async with serving(app) as base:
        yield base, served
        release.set()


async def test_wait_for_fonts_draws_a_late_web_font(worker: BrowserWorker, font_site: tuple[str, list[str]]) -> None:
    """WebP is taken through CDP, which draws whatever is there: the fallback font while the
    web font loads (font-display: swap). PNG and JPEG already wait for fonts in Playwright."""
    base, served = font_site
    held = await worker.start(web_app_config(base + "/held"))
    try:
        for fmt in ("webp", "png"):
            with pytest.raises(WorkerError) as err:
                await worker.take_screenshot(held, format=fmt, wait_for="fonts", timeout=1)
            assert str(err.value) == "Screenshot failed: the page's fonts did not finish loading within 1s (wait_for)"
        with pytest.raises(WorkerError) as err:  # Playwright's own wait for fonts, named as such
            await worker.take_screenshot(held, timeout=1)
        assert str(err.value) == ("Screenshot failed: the page's fonts did not finish loading within 1s "
                                  "(png and jpeg wait for web fonts; format 'webp' does not)")
        fallback = await worker.take_screenshot(held, format="webp")
    finally:
        await worker.stop(held)

    late = await worker.start(web_app_config(base + "/late"))
    try:
        assert served == []  # the font is still on its way
        drawn = await worker.take_screenshot(late, format="webp", wait_for="fonts", timeout=10)
        assert served == ["late"]
        assert await worker.execute(late, "[...document.fonts].map((f) => f.status)") == ["loaded"]
        assert drawn != fallback  # the web font's glyphs, not the fallback's
        assert await worker.take_screenshot(late, format="webp") == drawn  # nothing changed after the wait
    finally:
        await worker.stop(late)


SLOW_PAGE = data_url("""<!doctype html><p>slow</p><script>
setTimeout(() => document.body.insertAdjacentHTML("beforeend", "<p id=later>here</p>"), 300);
setTimeout(() => { window.ready = true; }, 300);
setInterval(() => fetch("data:,x"), 100);
</script>""")


async def test_wait_for_a_selector_a_function_or_a_list_and_errors_naming_what_did_not_happen(
        worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(SLOW_PAGE))
    try:
        png = await worker.take_screenshot(sid, wait_for=[{"selector": "#later"}, {"function": "() => window.ready"}])
        assert png_size(png) == (1280, 720)
        with pytest.raises(WorkerError) as err:
            await worker.take_screenshot(sid, wait_for=["fonts", {"selector": "#never"}], timeout=1)
        assert str(err.value) == "Screenshot failed: no element matching '#never' became visible within 1s (wait_for[1])"
        with pytest.raises(WorkerError) as err:
            await worker.take_screenshot(sid, wait_for={"function": "() => window.never === 1"}, timeout=1)
        assert str(err.value) == ("Screenshot failed: the wait_for function did not return a truthy value "
                                  "within 1s (wait_for)")
        with pytest.raises(WorkerError) as err:
            await worker.take_screenshot(sid, wait_for={"function": "() => { throw new Error('nope') }"})
        assert str(err.value).startswith("Screenshot failed: wait_for function: Error: nope"), err.value
    finally:
        await worker.stop(sid)


async def test_wait_for_networkidle(worker: BrowserWorker) -> None:
    from aiohttp import web

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<p>quiet</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with serving(app) as base:
        quiet = await worker.start(web_app_config(base + "/"))
        try:
            assert png_size(await worker.take_screenshot(quiet, wait_for="networkidle")) == (1280, 720)
        finally:
            await worker.stop(quiet)


TALL = data_url("""<!doctype html><body style="margin:0">
<div id=box style="position:absolute; top:1500px; left:10px; width:123px; height:45px; background:red"></div>
<div style="height:2160px; background:linear-gradient(white, steelblue)"><h1>three screens tall</h1></div>""")


async def test_webp_honours_quality_full_page_clip_and_selector(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(TALL))
    try:
        webp = await worker.take_screenshot(sid, format="webp")
        assert webp[:4] == b"RIFF" and b"WEBP" in webp[:16]
        assert webp_size(webp) == (1280, 720)
        full = png_size(await worker.take_screenshot(sid, full_page=True))
        assert full[1] > 2160  # the whole page (and the h1's margin)
        assert webp_size(await worker.take_screenshot(sid, format="webp", full_page=True)) == full
        assert webp_size(await worker.take_screenshot(
            sid, format="webp", clip={"x": 5, "y": 5, "width": 100, "height": 50})) == (100, 50)
        assert webp_size(await worker.take_screenshot(sid, format="webp", selector="#box")) == (123, 45)
        small = await worker.take_screenshot(sid, format="webp", quality=5, full_page=True)
        fine = await worker.take_screenshot(sid, format="webp", quality=100, full_page=True)
        assert len(small) < len(fine)
        # The CDP session is gone after every capture, failed ones included.
        with pytest.raises(WorkerError, match="No element matches"):
            await worker.take_screenshot(sid, format="webp", selector="#none")
    finally:
        await worker.stop(sid)


async def test_print_pdf_of_a_tall_page_has_several_pages(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(TALL))
    try:
        pdf = await worker.print_pdf(sid)
        assert pdf.startswith(b"%PDF-")
        portrait = pdf_pages(pdf)
        assert portrait >= 2, portrait
        wide = await worker.print_pdf(sid, format="Letter", landscape=True, print_background=False)
        assert wide.startswith(b"%PDF-") and pdf_pages(wide) >= portrait
        assert re.search(rb"/MediaBox \[0 0 792 612\]", wide), wide[:2000]  # Letter, landscape, in points
    finally:
        await worker.stop(sid)


async def test_another_tenant_is_refused_and_its_predicate_never_runs(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config("data:text/html,<title>alice</title><p>secret</p>"))
    try:
        attempts: dict[str, Any] = {
            "print_pdf": lambda: worker.print_pdf(sid, format="A5", context=MALLORY),
            "take_screenshot": lambda: worker.take_screenshot(
                sid, format="webp", animations="disabled", context=MALLORY,
                wait_for=["fonts", {"function": "() => (window.pwned = true)"}]),
        }
        for name, call in attempts.items():
            with pytest.raises(PermissionDeniedError) as err:
                await call()
            assert str(err.value) == (f"Permission denied: mallory (tenant, workspace other-ws) cannot {name} "
                                      "in workspace ws-user-alice")
        assert await worker.execute(sid, "window.pwned === undefined") is True
        alice = {"ws": "ws-user-alice", "user": {"id": "alice", "roles": []}}
        assert (await worker.print_pdf(sid, context=alice)).startswith(b"%PDF-")
    finally:
        await worker.stop(sid)


@pytest.mark.parametrize("call, message", [
    (lambda w, sid: w.print_pdf(sid, format="A7"), "format 'A7' is not a paper size (rule: one of Letter, "
                                                   "Legal, Tabloid, Ledger, A0, A1, A2, A3, A4, A5, A6)"),
    (lambda w, sid: w.print_pdf(sid, landscape="yes"), "invalid print_pdf arguments: landscape: Input should be a valid boolean"),
    (lambda w, sid: w.take_screenshot(sid, wait_for={"selector": "p" * 1025}),
     "wait_for.selector is 1025 bytes (rule: at most 1024 bytes)"),
    (lambda w, sid: w.take_screenshot(sid, animations="off"),
     "invalid take_screenshot arguments: animations: Input should be 'disabled' or 'allow'"),
    (lambda w, sid: w.take_screenshot(sid, format="gif"),
     "invalid take_screenshot arguments: format: Input should be 'png', 'jpeg' or 'webp'"),
])
async def test_bad_values_name_the_field(worker: BrowserWorker, call: Any, message: str) -> None:
    sid = await worker.start(web_app_config("data:text/html,<p>x</p>"))
    try:
        with pytest.raises(WorkerError) as err:
            await call(worker, sid)
        assert str(err.value) == message
    finally:
        await worker.stop(sid)
