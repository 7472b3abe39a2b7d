"""browser-worker: run Hypha web apps in a warm pool of headless Chromium contexts."""

from .config import WorkerSettings
from .errors import (
    AppStartError,
    CapacityError,
    PermissionDeniedError,
    SessionNotFoundError,
    UnsupportedAppTypeError,
    WorkerError,
)
from .service import WorkerService, registered
from .session import SessionStatus
from .worker import BrowserWorker

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
