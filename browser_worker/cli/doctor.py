"""``browser-worker doctor``: what this machine has for running the worker, and what is missing."""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys
from typing import TextIO

from browser_worker._browser import INSTALL_HINT, find_chromium
from browser_worker.config import WorkerSettings
from browser_worker._pyodide import PYODIDE_VERSION, default_paths
from browser_worker.resources import templates_dir


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _playwright_build_path() -> str | None:
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            return p.chromium.executable_path
    except Exception:
        return None


def run_doctor(settings: WorkerSettings, out: TextIO = sys.stdout) -> int:
    """Print a report; exit status 1 if the worker could not run here."""
    ok = True
    print(f"python        {platform.python_version()} ({sys.executable})", file=out)
    for dist in ("browser-worker", "playwright", "hypha-rpc", "aiohttp", "jinja2", "hypha", "moto"):
        v = _version(dist)
        note = "" if v or dist in ("hypha", "moto") else "  <- missing: pip install -e ."
        if dist in ("hypha", "moto") and not v:
            note = "  (optional: pip install -e '.[server]' for the embedded server and tests)"
        print(f"{dist:<13} {v or 'not installed'}{note}", file=out)
        ok = ok and bool(v or dist in ("hypha", "moto"))
    try:
        info = find_chromium(settings.chromium_path, _playwright_build_path(), settings.headless)
    except FileNotFoundError as exc:
        info = None
        print(f"chromium      ERROR: {exc}", file=out)
    if info:
        print(f"chromium      {info.path} [{info.source}] {info.version()}", file=out)
    else:
        ok = False
        print(f"chromium      not found. {INSTALL_HINT}", file=out)
    tdir = templates_dir()
    templates = sorted(p.name for p in tdir.glob("*.html"))
    print(f"templates     {tdir} ({', '.join(templates) or 'none'})", file=out)
    ok = ok and bool(templates)
    paths = default_paths()
    if paths.ready():
        wheels = sum(len(v) for v in paths.wheel_index().values())
        print(f"assets        {paths.root} ({paths.size_bytes() / 1e6:.1f} MB): pyodide {PYODIDE_VERSION}, "
              f"{wheels} wheels", file=out)
    else:
        print(f"assets        {paths.root}: web-python assets missing (optional; run "
              "`browser-worker assets fetch`)", file=out)
    print(f"server        {settings.server_url or '(none: serve starts an embedded local server)'}", file=out)
    print("status        " + ("ready" if ok else "NOT READY (see above)"), file=out)
    return 0 if ok else 1
