"""``browser-worker run``: render one page or URL headlessly with no Hypha server.

Prints the page's console output, writes a screenshot if asked, and reports failure (exit
status 1) when the page cannot load or throws an uncaught error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from browser_worker._browser import launch_chromium
from browser_worker.config import WorkerSettings
from browser_worker._logs import CONSOLE_LEVELS
from browser_worker.errors import first_line


@dataclass
class RunResult:
    url: str
    ok: bool = True
    title: str = ""
    logs: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshot: str | None = None


def to_url(target: str) -> str:
    """A URL as given, or a local file path turned into a file:// URL."""
    if "://" in target or target.startswith(("data:", "about:")):
        return target
    path = Path(target).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {target}")
    return path.resolve().as_uri()


async def run_page(
    target: str,
    *,
    settings: WorkerSettings | None = None,
    screenshot: str | None = None,
    full_page: bool = False,
    wait_for: str | None = None,
    timeout: float = 30.0,
    echo: TextIO | None = None,
    block_network: bool = False,
) -> RunResult:
    settings = settings or WorkerSettings.from_env()
    result = RunResult(url=to_url(target))

    def record(type: str, text: str) -> None:
        entry = {"type": type, "content": text, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
        result.logs.append(entry)
        if echo is not None:
            print(f"[{type}] {text}", file=echo, flush=True)

    def on_error(err: Any) -> None:
        result.ok = False
        result.errors.append(str(err))
        record("error", f"Uncaught {err}")

    async with async_playwright() as playwright:
        browser, _ = await launch_chromium(playwright, settings.chromium_path, settings.headless)
        try:
            context = await browser.new_context(
                viewport={"width": settings.viewport_width, "height": settings.viewport_height}
            )
            if block_network:
                async def only_the_page(route: Any) -> None:
                    url = route.request.url
                    if url == result.url or url.startswith(("data:", "blob:")):
                        await route.fallback()
                    else:
                        record("error", f"blocked (network is off): {url}")
                        await route.abort("blockedbyclient")

                await context.route("**/*", only_the_page)
            page = await context.new_page()
            page.on("console", lambda m: record(CONSOLE_LEVELS.get(m.type, "log"), m.text))
            page.on("pageerror", on_error)
            try:
                await page.goto(result.url, wait_until="load", timeout=timeout * 1000)
                if wait_for:
                    await page.wait_for_selector(wait_for, timeout=timeout * 1000)
                result.title = await page.title()
                if screenshot:
                    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=screenshot, full_page=full_page)
                    result.screenshot = str(Path(screenshot).resolve())
            except PlaywrightError as exc:
                result.ok = False
                message = first_line(exc)
                result.errors.append(message)
                record("error", message)
        finally:
            await browser.close()
    return result


def print_result(result: RunResult, as_json: bool, out: TextIO = sys.stdout) -> None:
    if as_json:
        json.dump(asdict(result), out, indent=2)
        out.write("\n")
        return
    if result.screenshot:
        print(f"screenshot written: {result.screenshot}", file=out)
    status = "ok" if result.ok else f"FAILED ({len(result.errors)} error(s))"
    print(f"{result.url}: {status}", file=out)
