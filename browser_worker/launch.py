"""From a Hypha ``start`` config to the document a session's page will show.

The server hands us the app's manifest and where its files live; the entry file (usually the
``index.html`` our compile step produced) is fetched with the session token in a header.
Server-less callers may pass the entry's text directly as ``config["source"]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from .apptypes import canonical_type
from .cache import EntryCache
from .errors import AppStartError, WorkerError
from .loader import AppDocument
from .manifest import clean, is_html, permissions, requirements, web_app_url
from .templates import WORKER_KINDS, app_data, bundle_type, render_window, render_worker_page, worker_app

LOCAL_PAGE_BASE = "http://localhost/__browser_worker__/app"


@dataclass(frozen=True)
class StartRequest:
    """The validated parts of a start config that the worker uses."""

    session_id: str
    app_id: str
    workspace: str
    client_id: str
    app_type: str
    manifest: dict[str, Any]
    server_url: str | None
    files_base_url: str | None
    entry_point: str | None
    token: str | None
    timeout: float | None
    source: str | None
    allow_file_urls: bool = False

    @classmethod
    def parse(cls, config: Any, default_timeout: float, allow_file_urls: bool = False) -> "StartRequest":
        if not isinstance(config, dict):
            raise WorkerError(f"start config must be an object, got {type(config).__name__}")
        manifest = clean(config.get("manifest"))
        app_type = canonical_type(manifest.get("type") or config.get("app_type"))
        workspace = _text(config, "workspace", required=False) or ""
        client_id = _text(config, "client_id", required=False) or ""
        session_id = _text(config, "id", required=False) or (
            f"{workspace}/{client_id}" if workspace and client_id else ""
        )
        if not session_id:
            raise WorkerError("start config needs 'id' (or 'workspace' and 'client_id')")
        if "/" in session_id and not workspace:
            workspace = session_id.split("/", 1)[0]
        if "/" in session_id and not client_id:
            client_id = session_id.split("/", 1)[1]
        timeout = config.get("timeout")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise WorkerError(f"timeout must be a positive number of seconds, got {timeout!r}")
        entry_point = config.get("entry_point") or manifest.get("entry_point")
        if entry_point is not None and not isinstance(entry_point, str):
            raise WorkerError(f"entry_point must be a string, got {type(entry_point).__name__}")
        source = config.get("source")
        if source is not None and not isinstance(source, str):
            raise WorkerError(f"source must be a string, got {type(source).__name__}")
        return cls(
            session_id=session_id,
            app_id=_text(config, "app_id", required=False) or manifest.get("id") or "app",
            workspace=workspace,
            client_id=client_id,
            app_type=app_type,
            manifest=manifest,
            server_url=(_text(config, "server_url", required=False) or "").rstrip("/") or None,
            files_base_url=(_text(config, "app_files_base_url", required=False) or "").rstrip("/") or None,
            entry_point=entry_point,
            token=_text(config, "token", required=False),
            timeout=float(timeout) if timeout else default_timeout,
            source=source,
            allow_file_urls=allow_file_urls,
        )

    @property
    def page_config(self) -> dict[str, Any]:
        """What the page gets as ``window.__BW__.config``."""
        return {
            "server_url": self.server_url,
            "workspace": self.workspace,
            "client_id": self.client_id,
            "token": self.token,
            "app_id": self.app_id,
        }


def _text(config: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = config.get(key)
    if value is None:
        if required:
            raise WorkerError(f"start config is missing {key!r}")
        return None
    if not isinstance(value, str):
        raise WorkerError(f"{key} must be a string, got {type(value).__name__}")
    return value


async def build_document(
    req: StartRequest,
    http: aiohttp.ClientSession | None,
    cache: EntryCache | None = None,
    assets: dict[str, Any] | None = None,
) -> AppDocument:
    """Decide what the page loads for this request (fetching the entry file when needed)."""
    if req.app_type == "web-app":
        return _web_app_document(req)
    content = req.source
    if content is None:
        content_hash = req.manifest.get("content_hash")
        content = cache.get(req.workspace, content_hash) if cache else None
        if content is None:
            content = await fetch_entry(req, http)
            if cache and content_hash and _hash_matches(content, content_hash):
                cache.put(req.workspace, content_hash, content)
    page_url = _page_url(req)
    doc = AppDocument(
        page_url=page_url,
        permissions=permissions(req.manifest),
        config={**req.page_config, "assets": assets},
        files_base_url=req.files_base_url,
        token=req.token,
        kind=req.app_type,
    )
    if req.app_type in WORKER_KINDS and not is_html(content):
        doc.html = render_worker_page(req.app_type, worker_app(
            content,
            name=str(req.manifest.get("name") or req.app_id),
            requirements=requirements(req.manifest),
            source_name=req.entry_point or "app",
        ))
    elif req.app_type == "window" and not is_html(content):
        doc.html = render_window(
            content,
            name=str(req.manifest.get("name") or req.app_id),
            requirements=requirements(req.manifest),
            server_url=req.server_url,
            source_name=req.entry_point or "app.js",
        )
    else:
        doc.html = content
    doc.reports_ready = bundle_type(doc.html) is not None
    if req.app_type == "web-python":
        if not (assets and assets.get("url")):
            raise AppStartError(
                "web-python needs the local Pyodide assets, which this worker does not have; "
                "run `browser-worker assets fetch` and restart the worker"
            )
        doc.app = app_data(doc.html)
    return doc


async def fetch_entry(req: StartRequest, http: aiohttp.ClientSession | None) -> str:
    """Download the app's entry file from the Hypha server's artifact files."""
    if not req.files_base_url or not req.entry_point:
        raise AppStartError(
            "no app source: give 'source', or 'app_files_base_url' and 'entry_point' in the start config"
        )
    if http is None:
        raise AppStartError("no HTTP client available to fetch the app's entry file")
    url = f"{req.files_base_url}/{quote(req.entry_point)}"
    headers = {"Authorization": f"Bearer {req.token}"} if req.token else {}
    try:
        async with http.get(url, headers=headers) as resp:
            if resp.status != 200:
                raise AppStartError(
                    f"could not fetch the app's entry file {req.entry_point!r}: HTTP {resp.status}"
                )
            return await resp.text()
    except aiohttp.ClientError as exc:
        raise AppStartError(f"could not fetch the app's entry file {req.entry_point!r}: {exc}") from None


def _hash_matches(content: str, content_hash: str) -> bool:
    algo, _, digest = content_hash.partition(":")
    return algo == "sha256" and hashlib.sha256(content.encode()).hexdigest() == digest


def _web_app_document(req: StartRequest) -> AppDocument:
    url = web_app_url(req.manifest, req.entry_point, allow_file=req.allow_file_urls)
    m = req.manifest
    return AppDocument(
        page_url=url,
        permissions=permissions(m),
        cookies=_cookies(m.get("cookies"), url),
        local_storage=_string_map(m.get("local_storage"), "local_storage"),
        session_storage=_string_map(m.get("session_storage"), "session_storage"),
    )


def _page_url(req: StartRequest) -> str:
    entry = req.entry_point if req.entry_point and req.entry_point.endswith(".html") else "index.html"
    if req.files_base_url:
        return f"{req.files_base_url}/{quote(entry)}"
    if req.server_url:
        return f"{req.server_url}/__browser_worker__/app/{quote(req.session_id, safe='')}/{quote(entry)}"
    return f"{LOCAL_PAGE_BASE}/{quote(req.session_id, safe='')}/{quote(entry)}"


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkerError(f"manifest {name!r} must be an object of key/value pairs")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _cookies(value: Any, url: str) -> list[dict[str, Any]]:
    """Accept ``{name: value}`` or a list of Playwright cookie objects; default them to ``url``."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [{"name": str(k), "value": str(v), "url": url} for k, v in value.items()]
    if isinstance(value, list) and all(isinstance(c, dict) and "name" in c for c in value):
        cookies = []
        for c in value:
            cookie = {k: v for k, v in c.items() if k in _COOKIE_KEYS}
            cookie["value"] = str(cookie.get("value", ""))
            if "domain" not in cookie and "url" not in cookie:
                cookie["url"] = url
            cookies.append(cookie)
        return cookies
    raise WorkerError("manifest 'cookies' must be an object of name/value pairs or a list of cookie objects")


_COOKIE_KEYS = {"name", "value", "url", "domain", "path", "expires", "httpOnly", "secure", "sameSite"}
