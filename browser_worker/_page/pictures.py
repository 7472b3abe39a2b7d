"""Images and PDFs of a live session's page, as people need them.

A capture first waits for what the caller named (``wait_for``: fonts, network idle, a visible
element, a predicate), then takes the picture, all within the call's one deadline: a page that
never settles gets an error naming what did not happen, not a hung call. PNG and JPEG go through
Playwright; WebP through Chromium's own ``Page.captureScreenshot`` (Playwright has no WebP), on a
CDP session that is detached on every exit.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from browser_worker._aio import quietly
from browser_worker._door import PdfRequest, ScreenshotRequest, WaitCondition
from browser_worker._page.scripts import js_message
from browser_worker.errors import WorkerError

#: Beyond the caller's deadline, how long the worker gives Playwright to report its own timeout.
GRACE = 2.0

#: Lays the page out (which starts the loads of the fonts its text needs), then waits until
#: no font is loading any more; a font that failed counts as done (the fallback is drawn).
FONTS_READY = """async () => {
  void document.documentElement.offsetHeight;
  do { await document.fonts.ready; } while (document.fonts.status === "loading");
  return true;
}"""

#: What Playwright's ``animations: "disabled"`` does, for the WebP path: finite animations jump to
#: their end, infinite ones are cancelled (to their start) and played again after the capture;
#: the text caret is hidden meanwhile.
HOLD_ANIMATIONS = """() => {
  const held = [];
  for (const a of document.getAnimations()) {
    const end = a.effect && a.effect.getComputedTiming ? a.effect.getComputedTiming().endTime : Infinity;
    if (Number.isFinite(end)) { try { a.finish(); } catch (_) { a.cancel(); } } else { a.cancel(); held.push(a); }
  }
  const style = document.createElement("style");
  style.textContent = "*, *::before, *::after { caret-color: transparent !important; }";
  document.documentElement.append(style);
  window.__bwHeld = { held, style };
}"""
RELEASE_ANIMATIONS = """() => {
  const h = window.__bwHeld; delete window.__bwHeld;
  if (!h) return;
  for (const a of h.held) { try { a.play(); } catch (_) { /* removed meanwhile */ } }
  h.style.remove();
}"""


class _Deadline:
    """Seconds left of one call, for every step that has its own timeout."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + seconds

    def left(self) -> float:
        return max(0.001, self._end - self._loop.time())

    def ms(self) -> float:
        return self.left() * 1000


async def settle(page: Page, conditions: tuple[WaitCondition, ...], deadline: _Deadline, what: str) -> None:
    """Wait for each condition in turn within ``deadline``; name the first that did not happen."""
    for i, cond in enumerate(conditions):
        label = f"wait_for[{i}]" if len(conditions) > 1 else "wait_for"
        try:
            async with asyncio.timeout(deadline.left()):
                await _wait_one(page, cond, deadline)
        except (TimeoutError, PlaywrightTimeoutError):
            raise WorkerError(f"{what} failed: {cond.describe()} within {deadline.total:g}s ({label})") from None
        except PlaywrightError as exc:
            raise WorkerError(f"{what} failed: {label} {cond.kind}: {js_message(exc)}") from None


async def _wait_one(page: Page, cond: WaitCondition, deadline: _Deadline) -> None:
    if cond.kind == "fonts":
        await page.evaluate(FONTS_READY)
    elif cond.kind == "networkidle":
        await page.wait_for_load_state("networkidle", timeout=deadline.ms())
    elif cond.kind == "selector":
        await page.wait_for_selector(cond.value or "", state="visible", timeout=deadline.ms())
    else:
        await page.wait_for_function(cond.value or "", timeout=deadline.ms())


async def screenshot(page: Page, req: ScreenshotRequest) -> bytes:
    """PNG, JPEG or WebP bytes of the page, a region (``clip``) or one element (``selector``)."""
    deadline = _Deadline(req.timeout)
    try:
        async with asyncio.timeout(req.timeout + GRACE):
            await settle(page, req.wait_for, deadline, "Screenshot")
            if req.format == "webp":
                return await _webp(page, req, deadline)
            return await _playwright_image(page, req, deadline)
    except TimeoutError:
        raise WorkerError(f"Screenshot did not finish within {req.timeout:g}s") from None
    except PlaywrightError as exc:
        message = js_message(exc)
        if "Timeout" in message and _last_step(exc).startswith("waiting for fonts"):
            raise WorkerError(  # Playwright's own wait: PNG and JPEG are taken once web fonts loaded
                f"Screenshot failed: the page's fonts did not finish loading within {req.timeout:g}s "
                "(png and jpeg wait for web fonts; format 'webp' does not)"
            ) from None
        if "Timeout" in message and req.selector:
            raise WorkerError(
                f"Screenshot failed: the element matching {req.selector!r} did not become visible "
                f"within {req.timeout:g}s"
            ) from None
        raise WorkerError(f"Screenshot failed: {message}") from None


def _last_step(exc: PlaywrightError) -> str:
    """The last line of a Playwright error's call log: what it was waiting for when time ran out."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 else ""


async def _element(page: Page, selector: str) -> Locator:
    """The first element ``selector`` matches, if it is rendered with an area (else fail now)."""
    locator = page.locator(selector).first
    if await locator.count() == 0:
        raise WorkerError(f"No element matches selector {selector!r}")
    box = await locator.bounding_box()  # None: not rendered (display: none, detached)
    if box is None or box["width"] < 1 or box["height"] < 1:
        shown = "is not rendered (display: none?)" if box is None else \
            f"has no area ({box['width']:g}×{box['height']:g} px)"
        raise WorkerError(f"Screenshot failed: the element matching {selector!r} {shown}")
    return locator


async def _playwright_image(page: Page, req: ScreenshotRequest, deadline: _Deadline) -> bytes:
    options: dict[str, Any] = {"type": req.format, "timeout": deadline.ms(), "animations": req.animations}
    if req.animations == "disabled":
        options["caret"] = "hide"
    if req.quality is not None:
        options["quality"] = req.quality
    if req.selector:
        locator = await _element(page, req.selector)
        return await locator.screenshot(**options)
    if req.clip:
        options["clip"] = req.clip
    return await page.screenshot(full_page=req.full_page, **options)


async def _webp(page: Page, req: ScreenshotRequest, deadline: _Deadline) -> bytes:
    """WebP through ``Page.captureScreenshot``: the same region rules as Playwright's capture."""
    locator = await _element(page, req.selector) if req.selector else None
    if locator is not None:
        await locator.scroll_into_view_if_needed(timeout=deadline.ms())
    held = req.animations == "disabled"
    if held:
        await page.evaluate(HOLD_ANIMATIONS)
    cdp = await page.context.new_cdp_session(page)
    try:
        params: dict[str, Any] = {"format": "webp"}
        if req.quality is not None:
            params["quality"] = req.quality
        clip, beyond = await _document_clip(cdp, req, locator, deadline)
        if clip is not None:
            params.update(clip={**clip, "scale": 1}, captureBeyondViewport=beyond)
        result = await cdp.send("Page.captureScreenshot", params)
    finally:
        await quietly(cdp.detach(), 2.0)
        if held:
            await quietly(page.evaluate(RELEASE_ANIMATIONS), 2.0)
    return base64.b64decode(result["data"])


async def _document_clip(cdp: Any, req: ScreenshotRequest, locator: Locator | None,
                         deadline: _Deadline) -> tuple[dict[str, float] | None, bool]:
    """The region to capture in document coordinates (CSS pixels), and whether it reaches
    beyond the viewport (Chromium then paints the page at that size for the capture)."""
    metrics = await cdp.send("Page.getLayoutMetrics")
    view = metrics.get("cssLayoutViewport") or metrics["layoutViewport"]
    sx, sy = view.get("pageX", 0), view.get("pageY", 0)
    if locator is not None:
        box = await locator.bounding_box(timeout=deadline.ms())  # relative to the viewport
        if box is None:
            raise WorkerError(f"Screenshot failed: the element matching {req.selector!r} is no longer rendered")
        clip = {"x": box["x"] + sx, "y": box["y"] + sy, "width": box["width"], "height": box["height"]}
    elif req.full_page:
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0.0, "y": 0.0, "width": float(size["width"]), "height": float(size["height"])}
        if req.clip:  # as Playwright: a clip of a full-page capture is in document coordinates
            clip = dict(req.clip)
    elif req.clip:  # as Playwright: otherwise a clip is relative to the viewport
        clip = {**req.clip, "x": req.clip["x"] + sx, "y": req.clip["y"] + sy}
    else:
        return None, False
    fits = (clip["x"] >= sx and clip["y"] >= sy and clip["x"] + clip["width"] <= sx + view["clientWidth"]
            and clip["y"] + clip["height"] <= sy + view["clientHeight"])
    return clip, not fits


async def pdf(page: Page, req: PdfRequest) -> bytes:
    """The page printed to PDF (Chromium's print layout, ``@media print`` applies)."""
    try:
        async with asyncio.timeout(req.timeout):
            data = await page.pdf(format=req.format, landscape=req.landscape,
                                  print_background=req.print_background)
    except TimeoutError:
        raise WorkerError(f"print_pdf did not finish within {req.timeout:g}s (pass a larger 'timeout')") from None
    except PlaywrightError as exc:
        raise WorkerError(f"print_pdf failed: {js_message(exc)}") from None
    if len(data) > req.max_bytes:
        cap = f"{req.max_bytes // 2**20} MiB" if req.max_bytes % 2**20 == 0 else f"{req.max_bytes} bytes"
        raise WorkerError(f"print_pdf: the PDF is {len(data)} bytes (rule: at most {cap}; print a shorter page)")
    return data

