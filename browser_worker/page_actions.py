"""What a caller can do to a live session's page: run JS in it, or take a screenshot of it.

Playwright's errors are turned into WorkerErrors that carry the JS message and nothing else.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from .errors import WorkerError


async def evaluate(page: Page, script: str) -> Any:
    """Evaluate an expression or a function in the page and return its JSON-able value."""
    if not isinstance(script, str) or not script.strip():
        raise WorkerError("script must be a non-empty string of JavaScript")
    try:
        return await page.evaluate(script)
    except PlaywrightError as exc:
        raise WorkerError(f"Script error: {js_message(exc)}") from None


async def screenshot(
    page: Page,
    format: str = "png",
    quality: int | None = None,
    full_page: bool = False,
    clip: dict[str, float] | None = None,
    selector: str | None = None,
) -> bytes:
    """PNG or JPEG bytes of the page, a region (``clip``) or one element (``selector``)."""
    if format not in ("png", "jpeg"):
        raise WorkerError(f"Invalid format {format!r}: use 'png' or 'jpeg'")
    if quality is not None and (format != "jpeg" or not 0 <= int(quality) <= 100):
        raise WorkerError("quality applies to jpeg only and must be 0-100")
    options: dict[str, Any] = {"type": format}
    if quality is not None:
        options["quality"] = int(quality)
    try:
        if selector:
            element = await page.query_selector(selector)
            if element is None:
                raise WorkerError(f"No element matches selector {selector!r}")
            return await element.screenshot(**options)
        if clip:
            options["clip"] = {k: float(clip[k]) for k in ("x", "y", "width", "height")}
        return await page.screenshot(full_page=bool(full_page), **options)
    except (KeyError, TypeError, ValueError):
        raise WorkerError("clip must be an object with numeric x, y, width and height") from None
    except PlaywrightError as exc:
        raise WorkerError(f"Screenshot failed: {js_message(exc)}") from None


def js_message(exc: PlaywrightError) -> str:
    """The first line of a Playwright error, without its API prefix."""
    message = str(getattr(exc, "message", exc) or exc).strip()
    for prefix in ("Page.evaluate: ", "page.evaluate: "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message.splitlines()[0] if message else "unknown error"
