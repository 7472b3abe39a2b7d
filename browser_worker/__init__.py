"""browser-worker: run Hypha web apps in a warm pool of headless Chromium contexts."""

from browser_worker.config import WorkerSettings
from browser_worker.errors import (
    AppStartError,
    CapacityError,
    PermissionDeniedError,
    SessionNotFoundError,
    UnsupportedAppTypeError,
    WorkerError,
)
from browser_worker.hypha import WorkerService, registered
from browser_worker._session import SessionStatus
from browser_worker.worker import BrowserWorker

__all__ = [
    "AppStartError",
    "BrowserWorker",
    "CapacityError",
    "PermissionDeniedError",
    "SessionNotFoundError",
    "SessionStatus",
    "UnsupportedAppTypeError",
    "WorkerError",
    "WorkerService",
    "WorkerSettings",
    "registered",
]
__version__ = "0.1.0"
