"""Finding and launching Chromium.

Order: an explicit path (flag or ``BROWSER_WORKER_CHROMIUM``), Playwright's own downloaded
build, then system binaries. Machines that cannot download Playwright's build use Debian's
``chromium`` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from browser_worker.errors import ConfigError

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

#: The headless shell comes first for headless use: measured here it runs one renderer per
#: context (~23 MB PSS per idle session) where full Chromium's new headless mode runs two
#: (~60 MB). Headed (debugging) runs need the full browser.
HEADLESS_BINARIES = ("chromium-headless-shell", "chrome-headless-shell")
SYSTEM_BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

INSTALL_HINT = (
    "No Chromium found. Install one of: `apt-get install -y chromium chromium-headless-shell` (Debian/Ubuntu), "
    "`python -m playwright install chromium` (needs Playwright's CDN), or pass "
    "--chromium-path / set BROWSER_WORKER_CHROMIUM to an existing binary."
)

#: Flags for a quiet, headless, server-side browser. LocalNetworkAccessChecks would block pages
#: served by request routing from opening websockets to a Hypha server on 127.0.0.1.
#: V8's speculative inlining of WebAssembly indirect calls deoptimizes and recompiles CPython's
#: interpreter loop each time a Pyodide page runs new code (a fresh page from the snapshot
#: spent ~0.5 CPU-s of a start re-optimizing); without it a start from a warm Python page
#: takes ~0.3 instead of ~0.8 renderer CPU-s, and steady Python speed is unchanged.
BASE_ARGS = (
    "--js-flags=--no-wasm-inlining-call-indirect",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-features=LocalNetworkAccessChecks,Translate,MediaRouter,OptimizationHints",
    "--mute-audio",
)


class ChromiumNotFound(ConfigError, FileNotFoundError):
    """No Chromium binary where the settings or this machine point (the message says what to install)."""


@dataclass(frozen=True)
class ChromiumInfo:
    path: str
    source: str  # "explicit", "playwright" or "system"

    def version(self) -> str:
        """The binary's own ``--version`` line (best effort)."""
        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip() or "unknown"
        except (OSError, subprocess.SubprocessError) as exc:
            return f"unknown ({exc})"


def find_chromium(
    explicit: str | None = None, playwright_path: str | None = None, headless: bool = True
) -> ChromiumInfo | None:
    """Resolve the executable to launch; ``None`` when nothing usable exists."""
    if explicit:
        resolved = shutil.which(explicit) or explicit
        if not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
            raise ChromiumNotFound(f"Chromium path {explicit!r} does not exist or is not executable")
        return ChromiumInfo(resolved, "explicit")
    if playwright_path and os.path.isfile(playwright_path):
        return ChromiumInfo(playwright_path, "playwright")
    for name in (HEADLESS_BINARIES if headless else ()) + SYSTEM_BINARIES:
        found = shutil.which(name)
        if found:
            return ChromiumInfo(found, "system")
    return None


def launch_args(extra: tuple[str, ...] = ()) -> list[str]:
    args = list(BASE_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root otherwise
    args.extend(extra)
    return args


async def launch_chromium(
    playwright: "Playwright", explicit_path: str | None = None, headless: bool = True,
    extra_args: tuple[str, ...] = (),
) -> tuple["Browser", ChromiumInfo]:
    """Launch a local Chromium; raise with an install hint when none is found."""
    pw_path = None
    try:
        pw_path = playwright.chromium.executable_path
    except Exception:  # Playwright raises when its own build is not registered
        pw_path = None
    info = find_chromium(explicit_path, pw_path, headless)
    if info is None:
        raise ChromiumNotFound(INSTALL_HINT)
    browser = await playwright.chromium.launch(
        executable_path=info.path, headless=headless, args=launch_args(extra_args)
    )
    return browser, info


async def connect_remote(
    playwright: "Playwright", endpoint: str, executable_path: str | None = None, headless: bool = True,
    extra_args: tuple[str, ...] = (),
) -> "Browser":
    """Connect to a Playwright browser server (``playwright run-server``, browserless, Moon…).

    The server launches the browser; our launch options travel in the
    ``x-playwright-launch-options`` header so it gets the same flags as a local one."""
    options: dict[str, object] = {"headless": headless, "args": [*BASE_ARGS, *extra_args]}
    if executable_path:
        options["executablePath"] = executable_path
    return await playwright.chromium.connect(
        endpoint, headers={"x-playwright-launch-options": json.dumps(options)}
    )

