"""What a worker runs on, built from its settings: Chromium (through Playwright), the local
asset server with the Pyodide snapshot, and the warm pool. ``SessionEngine.open`` builds them
in this order and ``close`` takes them down in reverse; sessions come and go on top.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Playwright

from browser_worker._pyodide import AssetServer
from browser_worker._pyodide import default_paths
from browser_worker._browser import BrowserHost
from browser_worker.config import GPU_FLAGS, WorkerSettings
from browser_worker._net import NetworkPolicy
from browser_worker._browser import ContextPool
from browser_worker._pyodide import PackageBase
from browser_worker._pyodide import PageAssets
from browser_worker._pyodide import SnapshotStore, make_snapshot, snapshot_key

log = logging.getLogger(__name__)


@dataclass
class LocalAssets:
    """Pyodide and the wheelhouse served on 127.0.0.1, and what pages are told about them."""

    server: AssetServer
    config: PageAssets  # what web-python pages are told: url, base wheels, package base, snapshot
    snapshot: SnapshotStore | None


def browser_host(playwright: Playwright, s: WorkerSettings) -> BrowserHost:
    """Chromium launched here, or a remote browser (never recycled: it is not ours)."""
    return BrowserHost(
        playwright, chromium_path=s.chromium_path, headless=s.headless,
        recycle_after=0 if (s.browser_endpoint or s.cdp_endpoint) else s.recycle_after,
        browser_endpoint=s.browser_endpoint, cdp_endpoint=s.cdp_endpoint,
        extra_args=(GPU_FLAGS if s.gpu else ()) + tuple(shlex.split(s.chromium_args)),
    )


async def start_local_assets(s: WorkerSettings, host: BrowserHost) -> LocalAssets | None:
    """Serve Pyodide and the wheelhouse locally, if the set-up step fetched them (else web-python
    apps cannot start, which is logged); a bad package base setting fails here."""
    paths = default_paths()
    packages = PackageBase.parse(s.pyodide_packages_url)
    if not paths.ready():
        log.warning("no web-python assets in %s: web-python apps cannot start "
                    "(run `browser-worker assets fetch`)", paths.root)
        return None
    wheels = paths.base_wheels()
    snapshot = SnapshotStore(snapshot_key(wheels)) if s.pyodide_snapshot else None
    server = AssetServer(paths, packages_dir=packages.directory, snapshot=snapshot)
    url = await server.start()
    config = PageAssets(url=url, wheels=tuple(wheels), packages=packages.page_config(url),
                        snapshot=snapshot.path if snapshot is not None else None)
    if snapshot is not None:
        snapshot.set_maker(lambda: make_snapshot(host, snapshot, config))
    return LocalAssets(server, config, snapshot)


def warm_pool(s: WorkerSettings, host: BrowserHost, assets: LocalAssets | None, net: NetworkPolicy) -> ContextPool:
    """The pool of fresh contexts, warm at the server's origin (Python pages only with assets)."""
    return ContextPool(
        host,
        size=s.pool_size,
        python_size=s.python_pool_size if assets else 0,
        python_config={"assets": assets.config.page_config() if assets else None},
        python_boot_limit=s.python_boot_concurrency,
        python_max=s.python_pool_max,
        max_sessions=s.max_sessions,
        warm_server_url=s.server_url,
        context_options=context_options(s),
        allow_request=net.host_allowed if net.allow_hosts else None,
    )


def context_options(s: WorkerSettings) -> dict[str, Any]:
    """Playwright ``new_context`` options every session's context gets (warm ones included)."""
    options: dict[str, Any] = {"viewport": {"width": s.viewport_width, "height": s.viewport_height},
                               "device_scale_factor": s.device_scale_factor}
    for name in ("user_agent", "locale", "timezone_id", "color_scheme"):
        if getattr(s, name) is not None:
            options[name] = getattr(s, name)
    if s.geolocation_latitude is not None and s.geolocation_longitude is not None:
        options["geolocation"] = {"latitude": s.geolocation_latitude, "longitude": s.geolocation_longitude,
                                  **({"accuracy": s.geolocation_accuracy} if s.geolocation_accuracy is not None else {})}
    if s.bypass_csp:
        options["bypass_csp"] = True
    if s.ignore_https_errors:
        options["ignore_https_errors"] = True
    return options


def fresh_context_options(s: WorkerSettings, viewport: dict[str, int] | None, scale: float | None,
                          settings: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The ``new_context`` options of a session whose app asks for context settings other than
    the worker's (a device scale factor, a user agent, locale, time zone, colour scheme,
    geolocation, bypass_csp, ignore_https_errors), or None: a warm pooled context serves it.
    Chromium fixes these when a context is made, so such an app gets a context of its own; a
    viewport alone is set on a warm page instead (``page.set_viewport_size``, loader.py)."""
    base = context_options(s)
    wanted = {**base, **(settings or {})}
    if scale is not None:
        wanted["device_scale_factor"] = scale
    if wanted == base:
        return None
    if viewport:
        wanted["viewport"] = viewport
    return wanted
