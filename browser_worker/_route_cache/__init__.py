"""The per-app route cache: responses of the URLs an app's manifest names (``cache_routes``),
kept on disk per (workspace, app id) and served to later starts without the network; filled at
install from the bundle. ``store`` is the disk and its LRU index, ``rules`` what may be cached,
``router`` puts both on a session's context, ``install`` fills it when an app is installed."""

from browser_worker._route_cache.install import prefill
from browser_worker._route_cache.router import RouteCache
from browser_worker._route_cache.rules import CacheRule, check_app_id
from browser_worker._route_cache.store import default_cache_dir, RouteStore

__all__ = [
    "CacheRule",
    "check_app_id",
    "default_cache_dir",
    "prefill",
    "RouteCache",
    "RouteStore",
]
