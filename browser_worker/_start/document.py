"""From a Hypha ``start`` config to the document a session's page will show.

The server hands us the app's manifest and where its files live; the entry file (usually the
``index.html`` our compile step produced) is fetched with the session token in a header.
Server-less callers may pass the entry's text directly as ``config["source"]``.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from browser_worker._pyodide import PageAssets
from browser_worker._start.required_files import ROOT as ARTIFACT_FILES_ROOT, fetch_required_files
from browser_worker._render import init_script
from browser_worker._start.entry_cache import EntryCache
from browser_worker._compile import CompileBudget
from browser_worker._compile import ENTRY, compile_app
from browser_worker.errors import AppStartError, WorkerError
from browser_worker._compile import source_kind
from browser_worker._net import NetworkPolicy
from browser_worker._start.loader import AppDocument
from browser_worker._door import is_html
from browser_worker._door import StartRequest
from browser_worker._render import WORKER_KINDS, app_data, bundle_type, render_window, render_worker_page, worker_app

LOCAL_PAGE_BASE = "http://localhost/__browser_worker__/app"
MAX_ENTRY_BYTES = 64 * 1024 * 1024
ENTRY_FETCH_SECONDS = 60.0


async def build_document(
    req: StartRequest,
    net: NetworkPolicy,
    cache: EntryCache | None = None,
    assets: PageAssets | None = None,
    budget: CompileBudget | None = None,
) -> AppDocument:
    """Decide what the page loads for this request (fetching the entry file when needed)."""
    if req.app_type == "web-app":
        return _web_app_document(req)
    content = req.source
    if content is None:
        content = cache.get(req.workspace, req.content_hash) if cache else None
        if content is None:
            content = await fetch_entry(req, net, time.monotonic() + min(req.timeout, ENTRY_FETCH_SECONDS))
            if cache and req.content_hash:
                cache.put(req.workspace, content)
    content = content.lstrip("\ufeff")
    if source_kind(content) == "source":  # an XML app source or markup, given directly: compile it
        content = await asyncio.to_thread(_compile_source, req, content, net, budget)
    page_url = _page_url(req)
    doc = AppDocument(
        page_url=page_url,
        permissions=list(req.permissions),
        config={**req.page_config, "assets": assets.page_config() if assets else None},
        files_base_url=req.files_base_url,
        token=req.token,
        kind=req.app_type,
        extra_headers=dict(req.extra_headers),
        viewport=req.viewport,
    )
    if req.app_type in WORKER_KINDS and not is_html(content):
        doc.html = render_worker_page(req.app_type, worker_app(
            content,
            name=req.app_name,
            requirements=list(req.requirements),
            source_name=req.entry_point or "app",
        ))
    elif req.app_type in ("window", "iframe") and not is_html(content):  # an iframe script: ImJoy's
        doc.html = render_window(
            content,
            name=req.app_name,
            requirements=list(req.requirements),
            server_url=req.server_url,
            source_name=req.entry_point or "app.js",
        )
    else:
        doc.html = content
    bundle = bundle_type(doc.html)
    doc.reports_ready = bundle is not None
    if bundle == "window":  # an ImJoy iframe plugin runs (and fails) like a window app
        doc.kind = "window"
    if req.app_type == "web-python":
        if assets is None:
            raise AppStartError(
                "web-python needs the local Pyodide assets, which this worker does not have; "
                "run `browser-worker assets fetch` and restart the worker"
            )
        doc.app = app_data(doc.html)
        deadline = time.monotonic() + min(req.timeout, ENTRY_FETCH_SECONDS)
        files = await fetch_required_files(req, net, deadline)
        if files:
            doc.config["files"] = {"root": ARTIFACT_FILES_ROOT, "entries": list(req.required_files), "files": files}
    return doc


async def fetch_entry(req: StartRequest, net: NetworkPolicy, deadline: float) -> str:
    """Download the app's entry file from the Hypha server's artifact files (the token goes
    in a header; the fetch obeys the network policy, a size cap and the start's deadline)."""
    assert req.files_base_url and req.entry_point  # parse_start guarantees a source
    url = f"{req.files_base_url}/{quote(req.entry_point)}"
    headers = {"Authorization": f"Bearer {req.token}"} if req.token else {}
    try:
        body, _ = await net.fetch_bytes(url, "app_files_base_url", max_bytes=MAX_ENTRY_BYTES,
                                        deadline=deadline, headers=headers, trust_redirects=True)
    except WorkerError as exc:
        raise AppStartError(f"could not fetch the app's entry file {req.entry_point!r}: {exc}") from None
    return body.decode("utf-8", errors="replace")


def _compile_source(req: StartRequest, content: str, net: NetworkPolicy, budget: CompileBudget | None) -> str:
    manifest = {**req.manifest, "type": req.manifest.get("type") or req.app_type, "entry_point": "source"}
    _, files = compile_app(manifest, [{"path": "source", "content": content, "format": "text"}],
                           {"server_url": req.server_url}, policy=net, budget=budget)
    return next(f["content"] for f in files if f["path"] == ENTRY)


def _web_app_document(req: StartRequest) -> AppDocument:
    target = req.web_app
    assert target is not None  # parse_start sets it for every web-app
    return AppDocument(
        page_url=target.url,
        permissions=list(req.permissions),
        cookies=list(target.cookies),
        local_storage=dict(target.local_storage),
        session_storage=dict(target.session_storage),
        init_script=init_script(target.url, target.auth_params, req.token) if target.auth_params else None,
        kind="web-app",
        extra_headers=dict(req.extra_headers),
        viewport=req.viewport,
    )


def _page_url(req: StartRequest) -> str:
    entry = req.entry_point if req.entry_point and req.entry_point.endswith(".html") else "index.html"
    if req.files_base_url:
        return f"{req.files_base_url}/{quote(entry)}"
    if req.server_url:
        return f"{req.server_url}/__browser_worker__/app/{quote(req.session_id, safe='')}/{quote(entry)}"
    return f"{LOCAL_PAGE_BASE}/{quote(req.session_id, safe='')}/{quote(entry)}"
