"""The session engine: runs sessions on the warm pool once the door parsed and authorized a
request; the only thing the facade calls. ``assembly`` builds what it runs on from settings."""

from browser_worker._engine.engine import SessionEngine

__all__ = [
    "SessionEngine",
]
