"""Reading the fields of a Hypha app manifest that the worker relies on, with clear errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .errors import WorkerError

WEB_APP_SCHEMES = ("http", "https", "data")


def clean(manifest: Any) -> dict[str, Any]:
    """A plain dict copy (hypha-rpc adds an ``_rtype`` key to objects it sends)."""
    if manifest is None:
        return {}
    if not isinstance(manifest, dict):
        raise WorkerError(f"manifest must be an object, got {type(manifest).__name__}")
    return {k: v for k, v in manifest.items() if k != "_rtype"}


def requirements(manifest: dict[str, Any]) -> list[str]:
    reqs = manifest.get("requirements") or []
    if isinstance(reqs, str):
        reqs = [reqs]
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        raise WorkerError("manifest 'requirements' must be a list of URL strings")
    return reqs


def web_app_url(manifest: dict[str, Any], entry_point: str | None = None, allow_file: bool = False) -> str:
    """The external URL a web-app opens: http(s) and data:, and file: only when the operator
    allowed it (``--allow-file-urls``): a file: page could read the worker's disk."""
    url = manifest.get("url") or entry_point or manifest.get("entry_point")
    if not isinstance(url, str) or not url:
        raise WorkerError("web-app needs its external URL as 'entry_point' (or manifest 'url')")
    scheme = urlsplit(url).scheme.lower()
    allowed = WEB_APP_SCHEMES + (("file",) if allow_file else ())
    if scheme not in allowed:
        hint = " (file: needs --allow-file-urls)" if scheme == "file" else ""
        raise WorkerError(
            f"web-app URL scheme {scheme + ':' if scheme else '(none)'} is not allowed{hint}; "
            f"use one of: {', '.join(s + ':' for s in allowed)}"
        )
    return url


#: Browser permissions an app may ask for in its manifest (``permissions: [...]``); every
#: other permission stays denied.
GRANTABLE_PERMISSIONS = frozenset({
    "geolocation", "notifications", "camera", "microphone", "clipboard-read",
    "clipboard-write", "midi", "background-sync", "accelerometer", "gyroscope",
    "magnetometer", "payment-handler", "storage-access",
})


def permissions(manifest: dict[str, Any]) -> list[str]:
    asked = manifest.get("permissions") or []
    if not isinstance(asked, list) or not all(isinstance(p, str) for p in asked):
        raise WorkerError("manifest 'permissions' must be a list of permission names")
    unknown = sorted(set(asked) - GRANTABLE_PERMISSIONS)
    if unknown:
        raise WorkerError(
            f"unknown permission(s) {', '.join(unknown)}; grantable: {', '.join(sorted(GRANTABLE_PERMISSIONS))}"
        )
    return sorted(set(asked))


def is_html(content: str) -> bool:
    """Whether an entry file is a whole HTML document (as opposed to a script)."""
    head = content.lstrip()[:64].lower()
    return head.startswith("<!doctype html") or head.startswith("<html")
