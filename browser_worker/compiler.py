"""Install-time compile: turn an app's manifest and files into an ``index.html`` bundle.

The Hypha server calls this when an app is installed and stores what comes back; a started
session then loads ``index.html`` and nothing else has to be rendered at start.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import lxml.html

from .apptypes import canonical_type
from .errors import WorkerError
from .imjoy import looks_like_source, parse_source
from .inline import Inliner
from .remote import RemoteFetcher
from .manifest import clean, is_html, requirements, web_app_url
from .progress import Progress
from .templates import WORKER_KINDS, bundle_type, render_window, render_worker_page, worker_app

ENTRY = "index.html"


def compile_app(
    manifest: dict[str, Any],
    files: list[dict[str, Any]] | None,
    config: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    progress = progress or Progress(None)
    manifest = clean(manifest)
    files = list(files or [])
    app_type = canonical_type(manifest.get("type"))
    progress.info(f"Compiling {app_type} app {manifest.get('name') or ''}".rstrip())

    if app_type == "web-app":
        web_app_url(manifest)
        progress.success("web-app: nothing to compile")
        return manifest, files

    entry_name = manifest.get("entry_point") or ENTRY
    entry = _find(files, entry_name) or _find(files, ENTRY)
    if entry is None:
        names = ", ".join(_path(f) for f in files) or "none"
        raise WorkerError(f"entry point {entry_name!r} is not among the app's files ({names})")
    content = _text_of(entry)

    if bundle_type(content):
        progress.success("already compiled; left as is")
        return {**manifest, "entry_point": ENTRY}, files

    source_name = _path(entry)
    styles: list[str] = []
    window_html = ""
    if looks_like_source(content):
        progress.info(f"Parsing the app source {source_name}")
        source = parse_source(content)
        manifest = {**manifest, **source.config}
        app_type = canonical_type(manifest.get("type") or app_type)
        files = files + [f for f in source.files if _find(files, f["path"]) is None]
        styles, window_html, content = source.styles, source.window_html, source.script
    assets = _asset_bytes(files)
    fetcher = RemoteFetcher() if (config or {}).get("inline_remote") else None
    inliner = Inliner(assets, fetch=fetcher)
    try:
        html = _render(app_type, content, manifest, config, inliner, source_name, styles, window_html)
    finally:
        if fetcher is not None:
            fetcher.close()
    progress.info(f"Inlined {inliner.count} asset(s)")

    out_files = [f for f in files if f is not entry and _path(f) != ENTRY]
    out_files.append({"path": ENTRY, "name": ENTRY, "content": html, "format": "text"})
    digest = hashlib.sha256(html.encode()).hexdigest()
    progress.success(f"Rendered {ENTRY} ({len(html.encode()) / 1024:.1f} KiB)")
    out_manifest = {**manifest, "type": manifest.get("type") or app_type, "entry_point": ENTRY,
                    "content_hash": f"sha256:{digest}", "compiled": {"template": _template_of(app_type, content),
                                                                  "source": source_name}}
    return out_manifest, out_files


def _render(app_type: str, content: str, manifest: dict[str, Any], config: dict[str, Any] | None,
            inliner: Inliner, source_name: str, styles: list[str], window_html: str) -> str:
    """The bundle's HTML: a template filled with the app (assets inlined), or the app's own page."""
    if app_type == "window" and not is_html(content):
        server_url = (config or {}).get("public_url") or (config or {}).get("server_url")
        html = render_window(
            content,
            name=str(manifest.get("name") or "Hypha App"),
            requirements=requirements(manifest),
            server_url=server_url,
            source_name=source_name,
            styles=[inliner.css(css, source_name) for css in styles],
            window_html=_inline_fragment(inliner, window_html, source_name),
        )
    elif app_type in WORKER_KINDS and not is_html(content):
        html = render_worker_page(app_type, worker_app(
            content,
            name=str(manifest.get("name") or "Hypha App"),
            requirements=requirements(manifest),
            source_name=source_name,
        ))
    elif is_html(content):
        html = inliner.html(content, source_name)
    else:
        raise WorkerError(f"{app_type} apps need an HTML entry point; {source_name!r} is not HTML")
    return html


def _template_of(app_type: str, content: str) -> str:
    if is_html(content):
        return "none (the app's own HTML, assets inlined)"
    return "worker-page.html" if app_type in WORKER_KINDS else "window.html"


def _inline_fragment(inliner: Inliner, html: str, referrer: str) -> str:
    """Inline assets referred to from a ``<window>`` fragment."""
    if not html.strip():
        return html
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    inliner.fragment(root, referrer)
    return "".join([root.text or ""] + [lxml.html.tostring(c, encoding="unicode") for c in root])


def _asset_bytes(files: list[dict[str, Any]]) -> dict[str, bytes]:
    """The app's files by path, as bytes, for inlining."""
    out: dict[str, bytes] = {}
    for f in files:
        content = f.get("content")
        if content is None:
            continue
        fmt = f.get("format") or f.get("type") or "text"
        if fmt == "base64":
            try:
                out[_path(f)] = base64.b64decode(content)
            except ValueError:
                raise WorkerError(f"file {_path(f)!r} is not valid base64") from None
        elif fmt == "json" or not isinstance(content, str):
            out[_path(f)] = json.dumps(content).encode()
        else:
            out[_path(f)] = content.encode("utf-8")
    return out


def _path(f: dict[str, Any]) -> str:
    return str(f.get("path") or f.get("name") or "")


def _find(files: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for f in files:
        if _path(f) == name or f.get("name") == name:
            return f
    return None


def _text_of(f: dict[str, Any]) -> str:
    content = f.get("content")
    fmt = f.get("format") or f.get("type") or "text"
    if content is None:
        raise WorkerError(f"file {_path(f)!r} has no content")
    if fmt == "base64":
        try:
            return base64.b64decode(content).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise WorkerError(f"file {_path(f)!r} is not valid base64-encoded UTF-8 text") from None
    if not isinstance(content, str):
        raise WorkerError(f"file {_path(f)!r} must hold text, got {type(content).__name__}")
    return content
