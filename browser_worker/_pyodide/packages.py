"""The Pyodide package base: where web-python apps get Pyodide-built packages (numpy, pydantic, …).

A base is a ``pyodide-lock.json`` plus the package files it lists, chosen once per worker and
handed to ``loadPyodide`` when a page boots (warm pages boot before any app arrives). Three
forms (setting ``pyodide_packages_url``):

- empty (default): the official repository of the pinned Pyodide version. Its lock file is the
  one shipped with the local core (the same file), so booting needs no network; package files
  are fetched from the CDN only when an app needs one.
- an ``http(s)://`` URL: an operator's mirror, used as is.
- a local directory (or ``file://`` URL): an air-gapped mirror, served by the worker's local
  asset server under ``/pyodide-packages/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from browser_worker._pyodide.assets import PYODIDE_VERSION
from browser_worker.errors import ConfigError

OFFICIAL_BASE = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
LOCK_FILE = "pyodide-lock.json"
ROUTE = "/pyodide-packages/"


@dataclass(frozen=True)
class PackageBase:
    """A parsed ``pyodide_packages_url``: a remote URL, a local directory, or the default."""

    url: str | None = None  # remote base, ending in "/"
    directory: Path | None = None  # local mirror, served by the asset server

    @classmethod
    def parse(cls, setting: str | None) -> "PackageBase":
        """Accept a URL or a directory; refuse anything else, naming the setting."""
        value = (setting or "").strip()
        if not value:
            return cls()
        if value.startswith(("http://", "https://")):
            return cls(url=value.rstrip("/") + "/")
        path = Path(value.removeprefix("file://")).expanduser()
        if not (path / LOCK_FILE).is_file():
            raise ConfigError(
                f"pyodide_packages_url: {value!r} must be an http(s) URL or a directory "
                f"holding {LOCK_FILE} (none found at {path / LOCK_FILE})"
            )
        return cls(directory=path.resolve())

    def page_config(self, assets_url: str) -> dict[str, str]:
        """What a page passes to ``loadPyodide``: ``lock_url`` and the package ``url``."""
        origin = assets_url.rstrip("/")
        if self.directory is not None:
            url = origin + ROUTE
            return {"url": url, "lock_url": url + LOCK_FILE}
        if self.url is not None:
            return {"url": self.url, "lock_url": self.url + LOCK_FILE}
        return {"url": OFFICIAL_BASE, "lock_url": f"{origin}/pyodide/{LOCK_FILE}"}
