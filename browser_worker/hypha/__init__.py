"""Serving on a Hypha server: registering the worker (``registered``), serving every
workspace (``registered_public``), the viewer page, the connection and its reconnects, the
audit of sessions after a server restart, and Hypha's ``--startup-functions`` hook."""

from browser_worker.hypha.agents import AgentGrants
from browser_worker.hypha.connection import ConnectionWatch, lost_message
from browser_worker.hypha.public import PUBLIC, registered_public
from browser_worker.hypha.service import registered, WorkerService
from browser_worker.hypha.session_audit import SessionAudit
from browser_worker.hypha.startup import hypha_startup

__all__ = [
    "AgentGrants",
    "ConnectionWatch",
    "hypha_startup",
    "lost_message",
    "PUBLIC",
    "registered",
    "registered_public",
    "SessionAudit",
    "WorkerService",
]
