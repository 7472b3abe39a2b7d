"""Chromium and the warm pool: finding and launching the browser (or a remote one), the
pool of fresh contexts kept warm per page type, and the lease a session holds on one."""

from browser_worker._browser.boot_gate import COLD_START, WARM_START
from browser_worker._browser.chromium import ChromiumInfo, find_chromium, INSTALL_HINT, launch_chromium
from browser_worker._browser.host import BrowserHost
from browser_worker._browser.lease import Lease
from browser_worker._browser.pool import ContextPool

__all__ = [
    "BrowserHost",
    "ChromiumInfo",
    "COLD_START",
    "ContextPool",
    "find_chromium",
    "INSTALL_HINT",
    "launch_chromium",
    "Lease",
    "WARM_START",
]
