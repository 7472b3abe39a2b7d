"""The start pipeline: the app's document (compiled bundle, fetched entry, rendered
template), the files it needs, loading it into a warm page, and its ``startup_script``."""

from browser_worker._start.document import build_document
from browser_worker._start.entry_cache import EntryCache
from browser_worker._start.loader import load
from browser_worker._start.startup_script import run_startup_script

__all__ = [
    "build_document",
    "EntryCache",
    "load",
    "run_startup_script",
]
