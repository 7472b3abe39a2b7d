"""The start config, parsed once at the door into a :class:`StartRequest` (see ``calls.py`` for
the rules every call's parsing follows). The server's controller sends it; so may any caller of
``start``, so every field is checked, the session id is bound to the caller's workspace, and
URLs obey the network policy.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StrictBool

from browser_worker._door.apptypes import canonical_type
from browser_worker._door.calls import MAX_MANIFEST_BYTES, Limits, Seconds, _timeout, _validate, check_free_id, parse_session_id
from browser_worker._door.manifest import (app_file_path, context_settings, cookies, device_scale_factor, http_headers,
                                          permissions, required_artifact_files, requirements, string_map, trace_level,
                                          viewport, web_app_url)
from browser_worker._door.authz import NAME_PATTERN, check_name
from browser_worker._net import NetworkPolicy
from browser_worker._render import query_params, with_query
from browser_worker.errors import PermissionDeniedError, WorkerError


# ----- start ----------------------------------------------------------------------------------

class _RawStart(BaseModel):
    """The wire shape of a ``start`` config (Hypha's WorkerConfig plus our extras)."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    id: StrictStr | None = None
    app_id: StrictStr | None = None
    workspace: StrictStr | None = None
    client_id: StrictStr | None = None
    server_url: StrictStr | None = None
    app_files_base_url: StrictStr | None = None
    token: StrictStr | None = Field(default=None, repr=False)
    entry_point: StrictStr | None = None
    timeout: Seconds | None = None
    manifest: dict[str, Any] | None = None
    source: StrictStr | None = None
    app_type: StrictStr | None = None
    progress_callback: Any = None
    #: Let the session's page download files (also ``manifest.downloads``); off by default.
    downloads: StrictBool | None = None


@dataclass(frozen=True)
class WebAppTarget:
    url: str
    cookies: list[dict[str, Any]] = field(default_factory=list)
    local_storage: dict[str, str] = field(default_factory=dict)
    session_storage: dict[str, str] = field(default_factory=dict)
    #: ``inject_auth_params``: the connection parameters also appended to ``url`` (no token).
    auth_params: dict[str, str] | None = None


@dataclass(frozen=True)
class StartRequest:
    """A start the caller is allowed to make, with every field checked."""

    session_id: str
    workspace: str
    client_id: str
    app_id: str
    app_type: str
    manifest: dict[str, Any]
    timeout: float
    server_url: str | None = None
    files_base_url: str | None = None
    entry_point: str | None = None
    token: str | None = field(default=None, repr=False)
    source: str | None = None
    content_hash: str | None = None
    requirements: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    web_app: WebAppTarget | None = None
    progress_callback: Any = field(default=None, repr=False, compare=False)
    #: What the app calls itself (``manifest.name``), for page titles and RPC client names.
    app_name: str = "app"
    #: ``manifest.extra_http_headers``: sent with every request of the session's page.
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: ``manifest.viewport`` (CSS pixels) and ``manifest.device_scale_factor``; None: the worker's.
    viewport: dict[str, int] | None = None
    device_scale_factor: float | None = None
    #: Browser context settings of the app's own (``manifest.user_agent``, ``locale``, …).
    context_settings: dict[str, Any] = field(default_factory=dict)
    #: ``manifest.startup_script``: a file of the app run in the page once it has loaded.
    startup_script: str | None = None
    #: ``manifest.required_artifact_files`` (web-python): app files put in the Python file system.
    required_files: tuple[str, ...] = ()
    #: Warnings the worker adds before the start (e.g. the server instance it chose instead).
    notes: tuple[str, ...] = ()
    #: Tracing level of the session: the app's ``trace``, capped by the worker's (``manifest.trace_level``).
    trace: str = "off"
    #: The Hypha replica whose app controller asked for this start (its server id, from the
    #: server-stamped caller: ``Caller.server_id``); None for any other caller. Its controller
    #: waits for the app's services on its own process, so a page that reached another replica
    #: also registers them through this one's manager (templates/replica-follow.js).
    asking_server: str | None = None

    @property
    def page_type(self) -> str:
        """The type whose page the app runs in: an iframe app that compile rendered into the
        window template (an ImJoy iframe plugin, its entry a script) runs in a window page."""
        compiled = self.manifest.get("compiled")
        if self.app_type == "iframe" and isinstance(compiled, dict) and compiled.get("template") == "window.html":
            return "window"
        return self.app_type

    @property
    def page_config(self) -> dict[str, Any]:
        """What the page gets as ``window.__BW__.config``."""
        return {
            "server_url": self.server_url,
            "workspace": self.workspace,
            "client_id": self.client_id,
            "token": self.token,
            "app_id": self.app_id,
            "asking_manager": f"manager-{self.asking_server}" if self.asking_server else None,
        }


def parse_start(raw: Any, *, workspace: str | None, limits: Limits, net: NetworkPolicy,
                free_id: bool = False, asking_server: str | None = None) -> StartRequest:
    """Validate a start config. ``workspace`` is the one the caller is authorized for (None:
    a privileged caller, who must name it in the config). ``free_id``: the in-process caller,
    whose ``id`` may be any bounded text (Hypha's tests use ``test-execute-session``), as long
    as an id with a ``/`` names the session's own workspace before it; every other caller's id
    is ``<workspace>/<client_id>``. ``asking_server``: the replica whose controller asked
    (``Caller.server_id``); no field of the config can set it."""
    cfg: _RawStart = _validate(_RawStart, raw, "start config")
    manifest = {k: v for k, v in (cfg.manifest or {}).items() if k != "_rtype"}
    _check_size(manifest, "manifest", MAX_MANIFEST_BYTES)

    ws = cfg.workspace
    if ws is None and cfg.id and "/" in cfg.id:
        ws = cfg.id.split("/", 1)[0]
    if workspace is not None:
        if ws is not None and ws != workspace:
            raise PermissionDeniedError(
                f"Permission denied: workspace {ws[:80]!r} is not the caller's workspace {workspace!r} "
                "(rule: a session belongs to the caller's workspace)"
            )
        ws = workspace
    if ws is None:
        raise WorkerError("start config needs 'workspace' (or an 'id' of the form <workspace>/<client_id>)")
    check_name(ws, "workspace")

    client_id = cfg.client_id
    session_id = None
    if cfg.id is not None:
        id_ws, sep, id_client = cfg.id.partition("/")
        if free_id:
            session_id = check_free_id(cfg.id)
        elif not sep:
            raise WorkerError(f"id {cfg.id[:80]!r} is malformed (rule: <workspace>/<client_id>)")
        if sep and id_ws != ws:
            raise WorkerError(
                f"id {cfg.id[:80]!r} names workspace {id_ws[:80]!r}, not the session's workspace {ws!r} "
                "(rule: the id's workspace part equals the session's workspace)"
            )
        if not free_id:
            if client_id is not None and client_id != id_client:
                raise WorkerError(f"client_id {client_id[:80]!r} does not match the id's client part {id_client[:80]!r}")
            client_id = id_client
        elif client_id is None:
            client_id = id_client if sep and NAME_PATTERN.match(id_client) else None
    client_id = client_id if client_id is not None else f"bw-{secrets.token_hex(6)}"
    check_name(client_id, "client_id")
    session_id = session_id or f"{ws}/{client_id}"

    app_type = canonical_type(manifest.get("type") or cfg.app_type)
    server_url = _url(net, cfg.server_url, "server_url")
    # Hypha names apps from a word list that has spaces ("… mess up …"), and puts the app id in
    # this URL unencoded: a space is encoded here; any other whitespace is still refused.
    files_base = cfg.app_files_base_url.replace(" ", "%20") if cfg.app_files_base_url else None
    files_base_url = _url(net, files_base, "app_files_base_url")
    entry_point = cfg.entry_point or manifest.get("entry_point")
    if entry_point is not None and not isinstance(entry_point, str):
        raise WorkerError(f"manifest.entry_point must be a string, got {type(entry_point).__name__}")
    content_hash = manifest.get("content_hash")
    if content_hash is not None and not (isinstance(content_hash, str) and len(content_hash) <= 200):
        raise WorkerError("manifest.content_hash must be a string like 'sha256:<hex>'")
    app_id = cfg.app_id or manifest.get("id") or "app"
    if not isinstance(app_id, str):
        raise WorkerError(f"app_id must be a string, got {type(app_id).__name__}")

    web_app = None
    if app_type == "web-app":
        url = web_app_url(manifest, cfg.entry_point, allow_file=net.allow_file_urls)
        inject = manifest.get("inject_auth_params", False)
        if not isinstance(inject, bool):
            raise WorkerError("manifest.inject_auth_params must be true or false")
        auth = query_params(server_url, ws, client_id, app_id) if inject else None
        if auth:
            url = with_query(url, auth)
        web_app = WebAppTarget(
            url=url,
            auth_params=auth,
            cookies=cookies(manifest.get("cookies"), url),
            local_storage=string_map(manifest.get("local_storage"), "local_storage"),
            session_storage=string_map(manifest.get("session_storage"), "session_storage"),
        )
    elif cfg.source is None and not (files_base_url and entry_point):
        raise WorkerError(
            "no app source: give 'source', or 'app_files_base_url' and 'entry_point' in the start config"
        )
    trace, trace_note = trace_level(manifest, limits.trace)
    return StartRequest(
        trace=trace, notes=(trace_note,) if trace_note else (),
        session_id=session_id,
        workspace=ws,
        client_id=client_id,
        app_id=app_id,
        app_type=app_type,
        manifest=manifest,
        timeout=_timeout(cfg.timeout, limits.default_start_timeout, limits.max_start_timeout, "timeout"),
        server_url=server_url,
        files_base_url=files_base_url,
        entry_point=entry_point,
        token=cfg.token or None,
        source=cfg.source,
        content_hash=content_hash,
        requirements=tuple(requirements(manifest)),
        permissions=tuple(permissions(manifest)),
        web_app=web_app,
        progress_callback=cfg.progress_callback if callable(cfg.progress_callback) else None,
        app_name=_app_name(manifest.get("name"), app_id),
        extra_headers=http_headers(manifest.get("extra_http_headers")),
        startup_script=app_file_path(manifest.get("startup_script"), "startup_script"),
        required_files=required_artifact_files(manifest.get("required_artifact_files"), app_type),
        viewport=viewport(manifest.get("viewport"), manifest.get("device_scale_factor")),
        device_scale_factor=device_scale_factor(manifest.get("device_scale_factor")),
        context_settings=context_settings(manifest, downloads=cfg.downloads),
        asking_server=check_name(asking_server, "asking server id") if asking_server is not None else None,
    )


def _app_name(value: Any, app_id: str) -> str:
    """``manifest.name`` when it is a usable string (bounded), else the app id."""
    return value.strip()[:200] if isinstance(value, str) and value.strip() else app_id


def reroute_start(raw: Any, req: StartRequest, server_url: str, note: str, *, limits: Limits,
                  net: NetworkPolicy, free_id: bool = False) -> StartRequest:
    """The start ``req`` (parsed from ``raw``) with its page connecting to ``server_url``
    instead: the config's server and the app-files URL under it swapped, parsed again."""
    data = raw.model_dump() if hasattr(raw, "model_dump") and callable(raw.model_dump) else dict(raw)
    if req.progress_callback is not None:
        data["progress_callback"] = req.progress_callback
    old = req.server_url or ""
    files = data.get("app_files_base_url")
    if old and isinstance(files, str) and files.startswith(old + "/"):
        data["app_files_base_url"] = server_url + files[len(old):]
    data.update(server_url=server_url, workspace=req.workspace, client_id=req.client_id)
    again = parse_start(data, workspace=None, limits=limits, net=net, free_id=free_id,
                        asking_server=req.asking_server)
    return replace(again, notes=tuple(dict.fromkeys((*req.notes, *again.notes, note))))


def _url(net: NetworkPolicy, value: str | None, field: str) -> str | None:
    if not value:
        return None
    return net.check_page_url(value, field).rstrip("/")


def _check_size(value: Any, field: str, cap: int) -> None:
    try:
        size = len(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        raise WorkerError(f"{field} must be JSON-like data") from None
    if size > cap:
        raise WorkerError(f"{field} is {size} bytes (rule: at most {cap} bytes)")
