"""Install-time compile: turn an app's manifest and files into an ``index.html`` bundle.

The Hypha server calls this when an app is installed and stores what comes back; a started
session then loads ``index.html`` and nothing else has to be rendered at start. The app's
other files (its source, e.g. ``main.py``, included) are returned as they came.

Inputs are hostile until checked: ``files`` are validated at the door (:mod:`.appfiles`),
inlining runs within a :class:`~.budget.CompileBudget`, and ``inline_remote`` fetches go
through the :class:`~.netpolicy.NetworkPolicy`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import lxml.html

from browser_worker._compile.appfiles import AppFile, parse_files
from browser_worker._door import canonical_type
from browser_worker._compile.budget import CompileBudget, Meter
from browser_worker.errors import WorkerError
from browser_worker._compile.imjoy import AppSource, parse_source, source_kind
from browser_worker._compile.inline import Inliner
from browser_worker._door import clean, requirements, web_app_url
from browser_worker._net import NetworkPolicy
from browser_worker._compile.remote import RemoteAssets
from browser_worker._render import WORKER_KINDS, bundle_type, render_window, render_worker_page, worker_app

ENTRY = "index.html"



class Reporter(Protocol):
    """Where compile reports its steps (the engine's ``Progress`` is one): compile stays
    browser-free and knows nothing of sessions."""

    def info(self, message: str) -> None: ...
    def success(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...


class _Silent:
    def info(self, message: str) -> None:
        pass

    success = warning = info


def compile_app(
    manifest: dict[str, Any],
    files: list[dict[str, Any]] | None,
    config: dict[str, Any] | None = None,
    progress: Reporter | None = None,
    *,
    policy: NetworkPolicy | None = None,
    budget: CompileBudget | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest, files) → (manifest with ``entry_point: index.html`` and ``content_hash``,
    files with ``index.html`` rendered). Blocking: run it in a thread from async code."""
    progress = progress or _Silent()
    budget = budget or CompileBudget()
    policy = policy or NetworkPolicy()
    meter = Meter.start(budget)
    config = _config(config, policy)
    manifest = clean(manifest)
    app_files = parse_files(files, budget)
    app_type = canonical_type(manifest.get("type"))
    progress.info(f"Compiling {app_type} app {manifest.get('name') or ''}".rstrip())

    if app_type == "web-app":
        url = web_app_url(manifest, allow_file=policy.allow_file_urls)
        policy.check_page_url(url, "entry_point", schemes=("http", "https", "data", "file"))
        progress.success("web-app: nothing to compile")
        return manifest, [f.raw for f in app_files]

    entry_name = manifest.get("entry_point") or ENTRY
    if not isinstance(entry_name, str):
        raise WorkerError(f"manifest entry_point must be a string, got {type(entry_name).__name__}")
    entry = _find(app_files, entry_name) or _find(app_files, ENTRY)
    if entry is None:
        names = ", ".join(f.path for f in app_files[:20]) or "none"
        raise WorkerError(f"entry point {entry_name!r} is not among the app's files ({names})")
    content = entry.text()
    if bundle_type(content):
        progress.success("already compiled; left as is")
        return {**manifest, "entry_point": ENTRY}, [f.raw for f in app_files]

    kind = source_kind(content)
    source = AppSource(script=content)
    if kind == "source":
        progress.info(f"Parsing the app source {entry.path}")
        source = parse_source(content, budget)
        manifest = {**manifest, **source.config}
        app_type = canonical_type(manifest.get("type") or app_type)
        known = {f.path for f in app_files}
        extra = parse_files([f for f in source.files if f["path"] not in known], budget)
        app_files = app_files + [AppFile(len(app_files) + i, f.path, f.raw, f.data) for i, f in enumerate(extra)]
    if len(app_files) > budget.max_files:
        raise budget.error("max_files", f"by {len(app_files)} files")

    assets = {f.path: f.data for f in app_files if f.data is not None}
    remote = RemoteAssets(policy, meter) if config.get("inline_remote") else None
    for _pass in range(budget.max_depth + 2):
        inliner = Inliner(assets, Meter(budget, meter.deadline), remote=remote.fetched if remote else None)
        html = _render(app_type, kind, content, source, manifest, config, inliner, entry.path)
        if remote is None or not inliner.missing:
            break
        progress.info(f"Fetching {len(inliner.missing)} remote asset(s)")
        remote.fetch(inliner.missing)
    else:
        raise budget.error("max_depth", "by remote stylesheets importing each other (inline_remote)")
    size = len(html.encode())
    if size > budget.max_bundle_bytes:
        raise budget.error("max_bundle_bytes", f"by the rendered {ENTRY} ({size} bytes)")
    for warning in inliner.warnings:
        progress.warning(warning)
    progress.info(f"Inlined {inliner.count} asset(s)")

    out_files = [f.raw for f in app_files if f.path != ENTRY]
    out_files.append({"path": ENTRY, "name": ENTRY, "content": html, "format": "text"})
    progress.success(f"Rendered {ENTRY} ({size / 1024:.1f} KiB)")
    compiled: dict[str, Any] = {"template": _template_of(app_type, kind, source), "source": entry.path}
    if inliner.warnings:
        compiled["warnings"] = list(inliner.warnings)
    out_manifest = {**manifest, "type": manifest.get("type") or app_type, "entry_point": ENTRY,
                    "content_hash": f"sha256:{hashlib.sha256(html.encode()).hexdigest()}", "compiled": compiled}
    return out_manifest, out_files


def _render(app_type: str, kind: str, content: str, source: AppSource, manifest: dict[str, Any],
            config: dict[str, Any], inliner: Inliner, source_name: str) -> str:
    """The bundle's HTML: a template filled with the app (assets inlined), or the app's own page."""
    name = str(manifest.get("name") or "Hypha App")
    if kind == "html":
        return inliner.html(content.lstrip("\ufeff"), source_name)
    if app_type == "window" or is_imjoy_iframe(app_type, kind, source):
        styles = [inliner.css(css, source_name) for css in source.styles]
        window_html = _inline_fragment(inliner, source.markup + source.window_html, source_name)
        shared = inliner.shared_css()
        return render_window(
            source.script,
            name=name,
            requirements=requirements(manifest),
            server_url=config.get("public_url") or config.get("server_url"),
            source_name=source_name,
            styles=([shared] if shared else []) + styles,
            window_html=window_html,
        )
    if app_type in WORKER_KINDS:
        return render_worker_page(app_type, worker_app(
            source.script, name=name, requirements=requirements(manifest), source_name=source_name))
    if kind == "source" and not source.config:  # an HTML fragment: the page's body, run as written
        page = f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{content}</body></html>"
        return inliner.html(page, source_name)
    raise WorkerError(f"{app_type} apps need an HTML entry point; {source_name!r} is not HTML")


def is_imjoy_iframe(app_type: str, kind: str, source: AppSource) -> bool:
    """An ``iframe`` app whose entry is a script (or an XML source with a ``<script>``): an
    ImJoy iframe plugin (a Hypha iframe app is an HTML page). It runs like a window app."""
    if app_type != "iframe" or not source.script.strip():
        return False
    return kind == "script" or bool(source.config)


def _template_of(app_type: str, kind: str, source: AppSource) -> str:
    if is_imjoy_iframe(app_type, kind, source):
        return "window.html"
    if kind == "html" or app_type not in ("window", *WORKER_KINDS):
        return "none (the app's own HTML, assets inlined)"
    return "worker-page.html" if app_type in WORKER_KINDS else "window.html"


def _inline_fragment(inliner: Inliner, html: str, referrer: str) -> str:
    """Inline assets referred to from markup shown in the window."""
    if not html.strip():
        return html
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    inliner.fragment(root, referrer)
    return "".join([root.text or ""] + [lxml.html.tostring(c, encoding="unicode") for c in root])


def _config(config: object, policy: NetworkPolicy) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise WorkerError(f"compile config must be an object, got {type(config).__name__}")
    for key in ("server_url", "public_url"):
        if config.get(key) is not None:
            policy.check_page_url(config[key], f"config.{key}")
    if config.get("inline_remote") not in (None, True, False):
        raise WorkerError("config.inline_remote must be true or false")
    return config


def _find(files: list[AppFile], name: str) -> AppFile | None:
    for f in files:
        if f.path == name or f.raw.get("name") == name:
            return f
    return None
