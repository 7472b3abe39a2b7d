"""Where pages may be loaded from (placeholder until the full network policy lands)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import WorkerError


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = False
    allow_hosts: tuple[str, ...] = ()
    allow_file_urls: bool = False
    trusted_origins: tuple[str, ...] = ()

    def check_page_url(self, url: object, field: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
        if not isinstance(url, str):
            raise WorkerError(f"{field} must be a string URL, got {type(url).__name__}")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in schemes or any(ord(c) < 33 for c in url):
            raise WorkerError(
                f"{field}: scheme {scheme + ':' if scheme else '(none)'} is not allowed "
                f"(rule: pages load only from {', '.join(s + ':' for s in schemes)})"
            )
        if scheme in ("http", "https") and (not parts.hostname or parts.username or parts.password):
            raise WorkerError(f"{field}: {scheme} URL needs a host and no user:password@ part")
        return url
