"""Putting an app into a session's page and deciding when it has booted.

Connection parameters (server URL, workspace, client id, token) reach the page as a JS object
on ``window.__BW__`` in the top frame only — never in a URL, a title or a child frame.
A rendered app reports back through ``__BW__.ready()`` / ``__BW__.fail(err)``; foreign HTML is
ready at its ``load`` event. A crash while booting fails the start, and so does an uncaught
page error in an app that must export a service (window, web-worker, web-python); in a page
that exports none (iframe, web-app) it is only logged (``watch.py``), as in any browser.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Route

from browser_worker._browser import COLD_START, WARM_START
from browser_worker.errors import AppStartError, first_line
from browser_worker._browser import Lease
from browser_worker._net import origin_of

#: App types whose page exports no service: an uncaught error while loading is not fatal.
PAGE_ERRORS_LOGGED_ONLY = frozenset({"iframe", "web-app"})

#: Defines ``window.__BW__`` (top frame only) holding the config and a settle-once promise.
BW_INSTALL = """(config) => {
  if (window !== window.top || window.__BW__) return;
  let settle;
  const done = new Promise((resolve) => (settle = resolve));
  const text = (err) => {
    if (err && typeof err.message === "string" && err.message) {
      const name = typeof err.name === "string" && err.name && err.name !== "Error" ? err.name + ": " : "";
      return name + err.message;  // "SyntaxError: Unexpected identifier 'is'"
    }
    if (err !== null && typeof err === "object") {
      try { return "thrown value " + JSON.stringify(err).slice(0, 2000); } catch (_) { /* fall through */ }
    }
    return String(err);
  };
  const describe = (err) => ({
    ok: false,
    message: text(err),
    stack: err && err.stack ? String(err.stack) : "",
  });
  const flushed = (outcome) => { if (window.__bwFlushConsole) window.__bwFlushConsole(); settle(outcome); };
  window.__BW__ = { config, done, ready: () => flushed({ ok: true }), fail: (err) => flushed(describe(err)) };
}"""

#: Hands an app to a warm worker page whose Pyodide already booted.
RUN_IN_WARM_WORKER = """([config, app]) => {
  (%s)(config);
  window.__bwRunApp(app);
  return window.__BW__.done;
}""" % BW_INSTALL

#: Replaces a warm page's document with the app (the window, and so the imported RPC module,
#: survive ``document.open``) and resolves when the app reports back.
WRITE_DOCUMENT = """([config, url, html]) => {
  (%s)(config);
  history.replaceState(null, "", url);
  document.open();
  document.write(html);
  document.close();
  return window.__BW__.done;
}""" % BW_INSTALL


@dataclass
class AppDocument:
    """What a session's page shows: either an HTML document or an external URL."""

    page_url: str
    html: str | None = None  # None: navigate to page_url itself (web-app)
    reports_ready: bool = False  # the document calls __BW__.ready()/fail()
    config: dict[str, Any] = field(default_factory=dict)  # becomes window.__BW__.config
    files_base_url: str | None = None  # relative assets come from here, with the token as header
    token: str | None = None
    cookies: list[dict[str, Any]] = field(default_factory=list)
    local_storage: dict[str, str] = field(default_factory=dict)
    session_storage: dict[str, str] = field(default_factory=dict)
    permissions: list[str] = field(default_factory=list)  # granted for the page's origin only
    kind: str = "window"  # app type; decides which warm page can take it, and if page errors are fatal
    app: Any = None  # web-python: the app data a warm Pyodide page runs without reloading
    init_script: str | None = None  # runs before the page's own scripts (inject_auth_params)
    extra_headers: dict[str, str] = field(default_factory=dict)  # on every request of the page
    viewport: dict[str, int] | None = None  # the app's own size in CSS pixels (None: the worker's)


async def load(lease: Lease, doc: AppDocument, timeout: float) -> None:
    """Load ``doc`` into the lease's page; raise AppStartError with the reason if it fails."""
    page = lease.page
    boot_error: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_page_error(err: Any) -> None:
        if not boot_error.done():
            boot_error.set_result(f"uncaught error while loading: {err}")

    def on_crash(_: Any) -> None:
        if not boot_error.done():
            boot_error.set_result("the page crashed while loading")

    fatal_page_errors = doc.kind not in PAGE_ERRORS_LOGGED_ONLY
    if fatal_page_errors:
        page.on("pageerror", on_page_error)
    page.on("crash", on_crash)
    try:
        await asyncio.wait_for(_gated_boot(lease, doc, boot_error), timeout)
    except asyncio.TimeoutError:
        raise AppStartError(f"app did not finish loading within {timeout:g}s") from None
    except PlaywrightError as exc:
        raise AppStartError(_playwright_reason(exc, doc.page_url)) from None
    finally:
        if fatal_page_errors:
            page.remove_listener("pageerror", on_page_error)
        page.remove_listener("crash", on_crash)
        if not boot_error.done():
            boot_error.cancel()


async def _gated_boot(lease: Lease, doc: AppDocument, boot_error: asyncio.Future[str]) -> None:
    """A web-python app loads when the pool's boot gate admits it, on a warm page before a cold
    one (the wait counts toward the start timeout); everything else loads right away."""
    if doc.kind != "web-python" or lease.boot_gate is None:
        await _boot(lease, doc, boot_error)
        return
    priority = WARM_START if lease.is_warm_for(doc.page_url, doc.kind) else COLD_START
    async with lease.boot_gate.slot(priority):
        await _boot(lease, doc, boot_error)


async def _boot(lease: Lease, doc: AppDocument, boot_error: asyncio.Future[str]) -> None:
    page = lease.page
    await _prepare_context(lease, doc)
    if doc.html is None:
        await _race(page.goto(doc.page_url, wait_until="load"), boot_error)
        return
    warm = doc.reports_ready and lease.is_warm_for(doc.page_url, doc.kind)
    if not warm or doc.files_base_url:
        await _route_app_files(page, doc)
    if warm and lease.warm_kind == "web-python":
        outcome = await _race(page.evaluate(RUN_IN_WARM_WORKER, [doc.config, doc.app]), boot_error)
    elif warm:
        outcome = await _race(page.evaluate(WRITE_DOCUMENT, [doc.config, doc.page_url, doc.html]), boot_error)
    else:
        await page.add_init_script(script=f"({BW_INSTALL})({json.dumps(doc.config)})")
        wait_until = "domcontentloaded" if doc.reports_ready else "load"
        await _race(page.goto(doc.page_url, wait_until=wait_until), boot_error)
        if not doc.reports_ready:
            return
        outcome = await _race(page.evaluate("() => window.__BW__.done"), boot_error)
    if not outcome.get("ok"):
        raise AppStartError(f"app failed while booting: {outcome.get('message')}")


async def _race(action: Any, boot_error: asyncio.Future[str]) -> Any:
    """Run ``action`` unless a boot error arrives first (which then wins)."""
    task = asyncio.ensure_future(action)
    try:
        done, _ = await asyncio.wait({task, boot_error}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the start was stopped: the page goes with its context
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise
    if boot_error in done and not boot_error.cancelled():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AppStartError(boot_error.result())
    result = task.result()
    if boot_error.done() and not boot_error.cancelled():
        raise AppStartError(boot_error.result())
    return result


async def _prepare_context(lease: Lease, doc: AppDocument) -> None:
    """Viewport, cookies, storage and permissions asked for by the manifest, set before any
    script runs (a context made for the app's scale factor already has its viewport)."""
    if doc.viewport and lease.page.viewport_size != doc.viewport:
        await lease.page.set_viewport_size(doc.viewport)
    if doc.permissions and origin_of(doc.page_url).startswith("http"):
        await lease.context.grant_permissions(doc.permissions, origin=origin_of(doc.page_url))
    if doc.extra_headers:
        await lease.context.set_extra_http_headers(doc.extra_headers)
    if doc.cookies:
        await lease.context.add_cookies(doc.cookies)
    if doc.init_script:
        await lease.context.add_init_script(script=doc.init_script)
    if doc.local_storage or doc.session_storage:
        origin = origin_of(doc.page_url)
        payload = json.dumps(
            {"origin": origin, "local": doc.local_storage, "session": doc.session_storage}
        )
        await lease.context.add_init_script(
            script=(
                "(() => { const s = %s; if (location.origin !== s.origin) return;"
                " for (const [k, v] of Object.entries(s.local)) localStorage.setItem(k, v);"
                " for (const [k, v] of Object.entries(s.session)) sessionStorage.setItem(k, v); })()"
            )
            % payload
        )


async def _route_app_files(page: Page, doc: AppDocument) -> None:
    """Serve the document at its URL; other files under the app's folder get the token header."""
    html = doc.html
    prefix = (doc.files_base_url or "").rstrip("/")

    async def handle(route: Route) -> None:
        url = route.request.url.split("#", 1)[0]
        if url == doc.page_url:
            await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
        elif doc.token and prefix and url.startswith(prefix + "/"):
            headers = {**route.request.headers, "authorization": f"Bearer {doc.token}"}
            await route.continue_(headers=headers)
        else:
            await route.continue_()

    pattern = prefix + "/**" if prefix and doc.page_url.startswith(prefix + "/") else doc.page_url
    await page.route(pattern, handle)


def _playwright_reason(exc: PlaywrightError, url: str) -> str:
    first = first_line(exc, limit=2000)
    if first.startswith("net::") or "net::ERR" in first:
        target = url if len(url) < 200 else url[:200] + "…"
        return f"could not load {target}: {first.split(' at ')[0]}"
    return f"page error while loading: {first}"
