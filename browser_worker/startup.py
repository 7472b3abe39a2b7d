"""The documented entry point ``browser_worker.startup:hypha_startup`` (``--startup-functions``)."""

from browser_worker.hypha import hypha_startup

__all__ = ["hypha_startup"]
