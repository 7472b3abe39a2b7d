"""What a caller can do to a live session's page: run JS in it (images and PDFs: ``pictures.py``).

It has a deadline. A script's value is turned into JSON inside the page and comes back as one
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

from browser_worker.errors import PageStuckError, WorkerError

MAX_RESULT_CHARS = 10 * 1024 * 1024
#: The API call Playwright names before its message ("Page.evaluate: ", "Locator.screenshot: ").
_API_PREFIX = re.compile(r"^(Page|page|Frame|Locator|JSHandle|ElementHandle|BrowserContext|CDPSession)\.[A-Za-z_]+: ")

#: Runs the caller's script the way Playwright's own ``evaluate`` does (an expression, or a
#: function that is then called), awaits it, and turns the value into bounded JSON text in the
#: page: BigInt → number when exact, else a decimal string; Date → ISO text (JSON's own rule);
#: Set → array; Map → object (string/number keys) or array of [key, value] pairs;
#: undefined/functions → null; cycles are refused, naming what the script returned. A thrown
#: value that is not an Error is named with its JSON (``throw {code: 7}``).
RUN_TO_JSON = """async ([source, limit]) => {
  const kind = (v) => v === null ? "null" : Array.isArray(v) ? "Array"
    : typeof v === "object" && v.constructor && typeof v.constructor.name === "string" ? v.constructor.name : typeof v;
  let value;
  try {
    value = globalThis.eval(source);
    if (typeof value === "function") value = value();
    value = await value;
  } catch (err) {
    if (err instanceof Error) throw err;  // Playwright reports it with its message
    let shown;
    try { shown = JSON.stringify(err); } catch (_) { shown = undefined; }
    if (shown === undefined) shown = String(err);
    return ["thrown", `${kind(err)} ${shown.slice(0, 500)}`];
  }
  const plain = (v) => typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString())
    : v instanceof Set ? Array.from(v)
    : v instanceof Map ? (Array.from(v.keys()).every((k) => typeof k === "string" || typeof k === "number")
        ? Object.fromEntries(v) : Array.from(v.entries()))
    : v;
  let text;
  try {
    text = JSON.stringify(plain(value), (key, v) => plain(v));
  } catch (err) {
    return ["error", `${kind(value)} is not JSON-able (${String(err && err.message || err).slice(0, 200)})`];
  }
  if (typeof text !== "string") return ["ok", "null"];
  if (text.length > limit) return ["error", `${kind(value)} is ${text.length} characters as JSON (limit ${limit})`];
  return ["ok", text];
}"""


#: How long a page's main thread may take to run a trivial script before it counts as stuck.
RESPONSIVE_WITHIN = 1.0


async def responsive(page: Page, within: float = RESPONSIVE_WITHIN) -> bool:
    """Whether the page's main thread still runs scripts (a busy loop never lets it)."""
    try:
        async with asyncio.timeout(within):
            await page.evaluate("1")
        return True
    except (TimeoutError, PlaywrightError):
        return False


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
        if not await responsive(page):
            raise PageStuckError(
                f"execute did not finish within {timeout:g}s and the page's main thread no longer "
                "answers (a script that never yields, e.g. while (true) {}); the session is "
                "reported stuck: stop it"
            ) from None
        raise WorkerError(
            f"execute did not finish within {timeout:g}s (pass a larger 'timeout' or end the script sooner)"
        ) from None
    except PlaywrightError as exc:
        raise WorkerError(f"Failed to execute script: {js_message(exc)}") from None  # Hypha's wording
    if not (isinstance(outcome, list) and len(outcome) == 2 and isinstance(outcome[1], str)):
        raise WorkerError("execute: the page returned an unreadable result")
    status, text = outcome
    if status == "thrown":
        raise WorkerError(f"Failed to execute script: the script threw {text}")
    if status != "ok":
        raise WorkerError(f"execute: the script returned a {text}; return JSON-able data")
    return json.loads(text)


def js_message(exc: PlaywrightError) -> str:
    """The first line of a Playwright error, without its API prefix."""
    message = _API_PREFIX.sub("", str(getattr(exc, "message", exc) or exc).strip(), count=1)
    return message.splitlines()[0][:2000] if message else "unknown error"


#: What a page's ``__bwReconnectNow`` may answer (templates/reconnect-now.js); anything else a
#: page sends back is reported as "unknown", never passed on.
RECONNECT_STATES = frozenset({
    "connected", "reconnecting", "attempting", "closed", "unsupported", "not connected", "not booted", "no answer",
})


async def reconnect_now(page: Page, within: float = RESPONSIVE_WITHIN) -> str:
    """Ask the app's page to end its hypha-rpc reconnection back-off now (the server is back);
    one word for its connection's state. A page that does not answer within ``within`` s is
    "no answer"; one without the hook (an iframe, a web-app) is "not connected"."""
    try:
        async with asyncio.timeout(within):
            state = await page.evaluate("globalThis.__bwReconnectNow ? globalThis.__bwReconnectNow() : 'not connected'")
    except (TimeoutError, PlaywrightError):
        return "no answer"
    if isinstance(state, str) and state in RECONNECT_STATES:
        return state
    return "error" if isinstance(state, str) and state.startswith("error") else "unknown"
