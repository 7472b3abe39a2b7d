"""Reading the fields of a Hypha app manifest that the worker relies on, with clear errors."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from browser_worker.config import COLOR_SCHEMES, TIMEZONE_PATTERN, TRACE_MODES
from browser_worker.errors import WorkerError

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
    # Hypha's own worker opens the manifest's entry_point; the start config's is the fallback.
    url = manifest.get("url") or manifest.get("entry_point") or entry_point
    if not isinstance(url, str) or not url:
        raise WorkerError("web-app needs its external URL as 'entry_point' (or manifest 'url')")
    if len(url) > 1_000_000 or any(ord(c) < 32 for c in url[:4096] if c not in "\t"):
        raise WorkerError("web-app URL is malformed (rule: at most 1 MB, no control characters)")
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


def string_map(value: Any, name: str) -> dict[str, str]:
    """``local_storage``/``session_storage``: an object of string keys to (JSON-encoded) values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkerError(f"manifest {name!r} must be an object of key/value pairs")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


#: Headers an app may not set: the browser's own, and credentials (a manifest is not a safe).
_FORBIDDEN_HEADERS = {"host", "cookie", "authorization", "proxy-authorization", "content-length",
                      "connection", "transfer-encoding", "upgrade", "te", "expect"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
MAX_HEADERS = 32


def http_headers(value: Any) -> dict[str, str]:
    """``extra_http_headers``: header name → value, sent with every request the page makes."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkerError("manifest 'extra_http_headers' must be an object of header name/value pairs")
    if len(value) > MAX_HEADERS:
        raise WorkerError(f"manifest 'extra_http_headers' has {len(value)} headers (rule: at most {MAX_HEADERS})")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise WorkerError(f"manifest 'extra_http_headers': {str(name)[:60]!r} is not a header name")
        if name.lower() in _FORBIDDEN_HEADERS:
            raise WorkerError(f"manifest 'extra_http_headers': {name} may not be set by an app "
                              "(rule: no credentials or connection headers)")
        if not isinstance(text, str) or len(text) > 4096 or any(c in text for c in "\r\n\0"):
            raise WorkerError(f"manifest 'extra_http_headers': the value of {name} must be one line "
                              "of at most 4096 characters")
        out[name] = text
    return out


def app_file_path(value: Any, field: str) -> str | None:
    """A path inside the app's files (``startup_script``): relative, no ``..``, one line."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 1024 or any(c in value for c in "\r\n\0\\"):
        raise WorkerError(f"manifest {field!r} must be a path inside the app's files (one line, at most 1024 characters)")
    parts = value.split("/")
    if value.startswith("/") or ":" in parts[0] or any(p in ("", ".", "..") for p in parts):
        raise WorkerError(f"manifest {field!r}: {value[:100]!r} is not a relative path inside the app's files "
                          "(rule: no leading '/', no '.' or '..' parts)")
    return value


#: At most this many ``required_artifact_files`` entries.
MAX_REQUIRED_FILES = 64


def required_artifact_files(value: Any, app_type: str) -> tuple[str, ...]:
    """``manifest.required_artifact_files`` (web-python): paths of the app's own files, a
    trailing ``/`` for a directory, written into the Python file system before the app runs."""
    if value is None or value == []:
        return ()
    if app_type != "web-python":
        raise WorkerError(f"manifest 'required_artifact_files' is only read for web-python apps, not {app_type}")
    if not isinstance(value, list) or len(value) > MAX_REQUIRED_FILES:
        raise WorkerError(f"manifest 'required_artifact_files' must be a list of at most {MAX_REQUIRED_FILES} paths")
    paths = []
    for i, item in enumerate(value):
        directory = isinstance(item, str) and item.endswith("/") and len(item) > 1
        path = app_file_path(item[:-1] if directory else item, f"required_artifact_files[{i}]")
        if path is None:
            raise WorkerError(f"manifest 'required_artifact_files[{i}]' must be a path inside the app's files")
        paths.append(path + "/" if directory else path)
    return tuple(dict.fromkeys(paths))


_COOKIE_KEYS = {"name", "value", "url", "domain", "path", "expires", "httpOnly", "secure", "sameSite"}
_SAME_SITE = {"Strict", "Lax", "None"}


def cookies(value: Any, url: str) -> list[dict[str, Any]]:
    """``{name: value}`` or a list of Playwright cookie objects, defaulted to ``url``."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [{"name": str(k), "value": str(v), "url": url} for k, v in value.items()]
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise WorkerError("manifest 'cookies' must be an object of name/value pairs or a list of cookie objects")
    out = []
    for i, c in enumerate(value):
        cookie = {k: v for k, v in c.items() if k in _COOKIE_KEYS}
        if not isinstance(cookie.get("name"), str) or not cookie["name"]:
            raise WorkerError(f"manifest cookies[{i}].name must be a non-empty string")
        cookie["value"] = str(cookie.get("value", ""))
        for key in ("url", "domain", "path"):
            if key in cookie and not isinstance(cookie[key], str):
                raise WorkerError(f"manifest cookies[{i}].{key} must be a string")
        for key in ("httpOnly", "secure"):
            if key in cookie and not isinstance(cookie[key], bool):
                raise WorkerError(f"manifest cookies[{i}].{key} must be true or false")
        if "expires" in cookie and not (isinstance(cookie["expires"], (int, float)) and not isinstance(cookie["expires"], bool)
                                        and -1 <= cookie["expires"] < 2**40):
            raise WorkerError(f"manifest cookies[{i}].expires must be a unix time in seconds (or -1)")
        if "sameSite" in cookie and cookie["sameSite"] not in _SAME_SITE:
            raise WorkerError(f"manifest cookies[{i}].sameSite must be one of Strict, Lax, None")
        if "domain" in cookie and "path" not in cookie:
            cookie["path"] = "/"
        if "domain" not in cookie and "url" not in cookie:
            cookie["url"] = url
        if "url" in cookie and "domain" in cookie:
            cookie.pop("domain")
        if "url" in cookie and urlsplit(cookie["url"]).scheme not in ("http", "https"):
            raise WorkerError(f"manifest cookies[{i}] need an http(s) URL (the page is {urlsplit(cookie['url']).scheme}:)")
        out.append(cookie)
    return out


def trace_level(manifest: dict[str, Any], ceiling: str) -> tuple[str, str | None]:
    """``trace``: the tracing level a session runs at, and a warning when the app asked for more.

    Rule: the worker's ``trace`` setting is the ceiling. An app that names no level gets the
    worker's; one that asks for less gets what it asked (``off`` opts out); one that asks for
    more gets the ceiling, with a warning in its logs (``off`` on the worker forbids tracing)."""
    asked = manifest.get("trace")
    if asked is None:
        return ceiling, None
    if asked not in TRACE_MODES:
        raise WorkerError(f"manifest 'trace' must be one of {', '.join(TRACE_MODES)}, got {str(asked)[:40]!r}")
    if TRACE_MODES.index(asked) <= TRACE_MODES.index(ceiling):
        return str(asked), None
    return ceiling, (f"manifest trace={asked!r} is above this worker's trace setting {ceiling!r}; "
                     f"tracing {ceiling} (rule: an app may not trace more than its worker allows)")


#: Bounds of a per-app viewport: CSS pixels per side, and device pixels in all (8K), so that
#: one app cannot make Chromium paint gigabytes for a screenshot.
VIEWPORT_SIDE = (16, 8192)
MAX_DEVICE_PIXELS = 7680 * 4320
SCALE_FACTOR = (0.25, 4.0)


def device_scale_factor(value: Any) -> float | None:
    """``device_scale_factor``: device pixels per CSS pixel (2: a HiDPI screen); None: the worker's."""
    if value is None:
        return None
    low, high = SCALE_FACTOR
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise WorkerError(f"manifest 'device_scale_factor' must be a number from {low:g} to {high:g}, "
                          f"got {str(value)[:40]}")
    return float(value)


def viewport(value: Any, scale: Any = None) -> dict[str, int] | None:
    """``viewport``: ``{"width", "height"}`` in CSS pixels; None: the worker's."""
    if value is None:
        return None
    if not isinstance(value, dict) or sorted(k for k in value if k != "_rtype") != ["height", "width"]:
        raise WorkerError("manifest 'viewport' must be an object with exactly 'width' and 'height'")
    low, high = VIEWPORT_SIDE
    for side in ("width", "height"):
        n = value[side]
        if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
            raise WorkerError(f"manifest 'viewport.{side}' must be a whole number of CSS pixels from "
                              f"{low} to {high}, got {str(n)[:40]}")
    factor = device_scale_factor(scale) or 1.0
    pixels = value["width"] * value["height"] * factor * factor
    if pixels > MAX_DEVICE_PIXELS:
        raise WorkerError(f"manifest 'viewport' at device_scale_factor {factor:g} is {pixels:.0f} device pixels "
                          f"(rule: at most {MAX_DEVICE_PIXELS}, 7680×4320)")
    return {"width": value["width"], "height": value["height"]}


_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


def context_settings(manifest: dict[str, Any], downloads: bool | None = None) -> dict[str, Any]:
    """The browser context settings an app asks for (Playwright ``new_context`` options):
    ``user_agent``, ``locale``, ``timezone_id``, ``color_scheme``, ``geolocation``,
    ``bypass_csp``, ``ignore_https_errors``, and ``downloads`` (the manifest's, or the start
    config's ``downloads``). They apply to the app's own context only: a warm context never
    accepts downloads, and Chromium fixes that when a context is made."""
    out: dict[str, Any] = {}
    wanted = manifest.get("downloads")
    if wanted is not None and not isinstance(wanted, bool):
        raise WorkerError(f"manifest 'downloads' must be true or false, got {str(wanted)[:40]}")
    if wanted or downloads:
        out["accept_downloads"] = True
    agent = manifest.get("user_agent")
    if agent is not None:
        if not isinstance(agent, str) or not 0 < len(agent) <= 512 or not agent.isprintable():
            raise WorkerError("manifest 'user_agent' must be one printable line of 1-512 characters")
        out["user_agent"] = agent
    locale = manifest.get("locale")
    if locale is not None:
        if not isinstance(locale, str) or not _LOCALE.match(locale):
            raise WorkerError(f"manifest 'locale' must be a language tag like de-DE, got {str(locale)[:40]!r}")
        out["locale"] = locale
    zone = manifest.get("timezone_id", manifest.get("timezone"))
    if zone is not None:
        if not isinstance(zone, str) or len(zone) > 64 or not TIMEZONE_PATTERN.fullmatch(zone):
            raise WorkerError(f"manifest 'timezone_id' must be an IANA name like Europe/Berlin, got {str(zone)[:40]!r}")
        out["timezone_id"] = zone
    scheme = manifest.get("color_scheme")
    if scheme is not None:
        if scheme not in COLOR_SCHEMES:
            raise WorkerError(f"manifest 'color_scheme' must be one of {', '.join(COLOR_SCHEMES)}, got {str(scheme)[:40]!r}")
        out["color_scheme"] = scheme
    geo = manifest.get("geolocation")
    if geo is not None:
        out["geolocation"] = _geolocation(geo)
    for flag in ("bypass_csp", "ignore_https_errors"):
        value = manifest.get(flag)
        if value is not None:
            if not isinstance(value, bool):
                raise WorkerError(f"manifest {flag!r} must be true or false, got {str(value)[:40]}")
            out[flag] = value
    return out


def _geolocation(value: Any) -> dict[str, float]:
    keys = {k for k in value if k != "_rtype"} if isinstance(value, dict) else None
    if keys is None or not {"latitude", "longitude"} <= keys <= {"latitude", "longitude", "accuracy"}:
        raise WorkerError("manifest 'geolocation' must be an object with 'latitude', 'longitude' and optionally 'accuracy'")
    out: dict[str, float] = {}
    for key, low, high in (("latitude", -90, 90), ("longitude", -180, 180), ("accuracy", 0, 1e7)):
        if key not in value:
            continue
        n = value[key]
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not low <= n <= high:
            raise WorkerError(f"manifest 'geolocation.{key}' must be a number from {low:g} to {high:g}, got {str(n)[:40]}")
        out[key] = float(n)
    return out
