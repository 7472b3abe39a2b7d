"""What a caller can do to a live session's page: run JS in it, or take a screenshot of it.

Both have a deadline. A script's value is turned into JSON inside the page and comes back as one
bounded string, so what travels back over RPC is always something hypha-rpc can encode, and a
huge or odd value costs the worker nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from browser_worker.errors import WorkerError
from browser_worker._api.calls import ScreenshotRequest

MAX_RESULT_CHARS = 10 * 1024 * 1024

#: Runs the caller's script the way Playwright's own ``evaluate`` does (an expression, or a
#: function that is then called), awaits it, and turns the value into bounded JSON text in the
#: page: BigInt → number when exact, else a decimal string; Date → ISO text (JSON's own rule);
#: undefined/functions → null; cycles are refused, naming what the script returned.
RUN_TO_JSON = """async ([source, limit]) => {
  let value = globalThis.eval(source);
  if (typeof value === "function") value = value();
  value = await value;
  const kind = (v) => v === null ? "null" : Array.isArray(v) ? "Array"
    : typeof v === "object" && v.constructor && typeof v.constructor.name === "string" ? v.constructor.name : typeof v;
  let text;
  try {
    text = JSON.stringify(value, (key, v) => typeof v === "bigint"
      ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v);
  } catch (err) {
    return ["error", `${kind(value)} is not JSON-able (${String(err && err.message || err).slice(0, 200)})`];
  }
  if (typeof text !== "string") return ["ok", "null"];
  if (text.length > limit) return ["error", `${kind(value)} is ${text.length} characters as JSON (limit ${limit})`];
  return ["ok", text];
}"""


def _normalized(script: str) -> str:
    """As Playwright does: a ``function …`` declaration is made an expression."""
    script = script.strip()
    return f"({script})" if re.match(r"^(async)?\s*function(\s|\()", script) else script


async def evaluate(page: Page, script: str, timeout: float) -> Any:
    """Evaluate an expression or a function in the page and return its JSON-able value."""
    try:
        async with asyncio.timeout(timeout):
            outcome = await page.evaluate(RUN_TO_JSON, [_normalized(script), MAX_RESULT_CHARS])
    except TimeoutError:
        raise WorkerError(
            f"execute did not finish within {timeout:g}s (pass a larger 'timeout' or end the script sooner)"
        ) from None
    except PlaywrightError as exc:
        raise WorkerError(f"Failed to execute script: {js_message(exc)}") from None  # Hypha's wording
    if not (isinstance(outcome, list) and len(outcome) == 2 and isinstance(outcome[1], str)):
        raise WorkerError("execute: the page returned an unreadable result")
    status, text = outcome
    if status != "ok":
        raise WorkerError(f"execute: the script returned a {text}; return JSON-able data")
    return json.loads(text)


async def screenshot(page: Page, req: ScreenshotRequest) -> bytes:
    """PNG or JPEG bytes of the page, a region (``clip``) or one element (``selector``)."""
    options: dict[str, Any] = {"type": req.format, "timeout": req.timeout * 1000}
    if req.quality is not None:
        options["quality"] = req.quality
    try:
        async with asyncio.timeout(req.timeout + 2):
            if req.selector:
                locator = page.locator(req.selector).first
                if await locator.count() == 0:
                    raise WorkerError(f"No element matches selector {req.selector!r}")
                return await locator.screenshot(**options)
            if req.clip:
                options["clip"] = req.clip
            return await page.screenshot(full_page=req.full_page, **options)
    except TimeoutError:
        raise WorkerError(f"Screenshot did not finish within {req.timeout:g}s") from None
    except PlaywrightError as exc:
        message = js_message(exc)
        if "Timeout" in message and req.selector:
            raise WorkerError(
                f"Screenshot failed: the element matching {req.selector!r} did not become visible "
                f"within {req.timeout:g}s"
            ) from None
        raise WorkerError(f"Screenshot failed: {message}") from None


def js_message(exc: PlaywrightError) -> str:
    """The first line of a Playwright error, without its API prefix."""
    message = str(getattr(exc, "message", exc) or exc).strip()
    for prefix in ("Page.evaluate: ", "page.evaluate: ", "Page.evaluate_handle: ", "JSHandle.evaluate: "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message.splitlines()[0][:2000] if message else "unknown error"
