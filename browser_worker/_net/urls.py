"""URL helpers every rule shares: one notion of an origin, one way to show a URL in an error."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_parts(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` with the host lower-cased and the default port filled in;
    None for a malformed URL. Two URLs share an origin exactly when these are equal."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower().rstrip(".")
        return scheme, host, parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None


def origin_of(url: str) -> str:
    """The origin as a browser's ``location.origin`` shows it: ``scheme://host[:port]``, the
    host lower-cased and a default port left out ("" for a malformed URL)."""
    parts = origin_parts(url)
    if parts is None:
        return ""
    scheme, host, port = parts
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS.get(scheme) or not port else f":{port}")


def display_url(url: str) -> str:
    """A URL as errors show it: no credentials, query or fragment (they may hold secrets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme in DEFAULT_PORTS else f"{parts.scheme}:…"
