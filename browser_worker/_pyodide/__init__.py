"""web-python offline: Pyodide and the wheelhouse on disk, served on loopback, what pages
are told about them, the package base, and the memory snapshot of a booted Pyodide."""

from browser_worker._pyodide.asset_server import AssetServer
from browser_worker._pyodide.assets import default_paths, PYODIDE_VERSION
from browser_worker._pyodide.assets import add as add_wheels, fetch as fetch_assets
from browser_worker._pyodide.packages import PackageBase
from browser_worker._pyodide.page_assets import PageAssets
from browser_worker._pyodide.snapshot import make_snapshot, snapshot_key, SnapshotStore

__all__ = [
    "add_wheels",
    "fetch_assets",
    "AssetServer",
    "default_paths",
    "make_snapshot",
    "PackageBase",
    "PageAssets",
    "PYODIDE_VERSION",
    "snapshot_key",
    "SnapshotStore",
]
