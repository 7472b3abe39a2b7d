"""The face a BrowserWorker shows a Hypha server: the attributes of Hypha's ``BaseWorker``
(name, supported types, visibility, …) and the service definition it registers.

Every registered method authorizes its caller itself (``policy.py``); here they are only
listed, each wrapped so that no error or result carries a token (``redact.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .apptypes import SUPPORTED_TYPES
from .redact import redacting

if TYPE_CHECKING:
    from .config import WorkerSettings


class WorkerSurface:
    """Mixin for BrowserWorker: what Hypha reads from a worker and registers as its service."""

    settings: "WorkerSettings"
    use_local_url: bool | str
    owner_workspace: str | None

    supported_types: list[str] = list(SUPPORTED_TYPES)

    def get_load(self, context: dict[str, Any] | None = None) -> float: ...

    #: Method names registered as the service (everything a Hypha server or user may call).
    SERVICE_METHODS = ("start", "stop", "get_logs", "get_session_info", "list_sessions", "execute",
                       "take_screenshot", "prepare_workspace", "close_workspace", "compile", "shutdown")

    name = "Browser Worker"
    description = ("Runs web apps (window, web-worker, web-python, iframe, web-app) in a warm pool "
                   "of headless Chromium contexts")
    #: Reachable by the app controller of the whole server; each method authorizes its caller.
    visibility = "public"
    run_in_executor = False
    require_context = True

    @property
    def service_id(self) -> str:
        return self.settings.service_id

    def get_worker_service(self, *, service_id: str | None = None,
                           use_local_url: bool | str | None = None) -> dict[str, Any]:
        """The service definition Hypha registers (``server.register_service(...)``)."""
        return {
            "id": service_id or self.service_id,
            "name": self.name,
            "description": self.description,
            "type": "server-app-worker",
            "supported_types": list(self.supported_types),
            "use_local_url": self.use_local_url if use_local_url is None else use_local_url,
            "config": {"visibility": self.visibility, "require_context": self.require_context,
                       "run_in_executor": self.run_in_executor},
            **{name: redacting(getattr(self, name)) for name in self.SERVICE_METHODS},
            "get_load": self.get_load,
        }

    async def register_worker_service(self, server: Any, *, service_id: str | None = None,
                                      use_local_url: bool | str | None = None) -> Any:
        """Register on a connected server (a hypha-rpc client or Hypha's startup ``server``);
        its workspace becomes the worker's owner workspace."""
        config = server.get("config") if isinstance(server, dict) else getattr(server, "config", None)
        workspace = (config or {}).get("workspace") if isinstance(config, dict) else getattr(config, "workspace", None)
        self.owner_workspace = workspace if isinstance(workspace, str) else self.owner_workspace
        return await server.register_service(
            self.get_worker_service(service_id=service_id, use_local_url=use_local_url))
