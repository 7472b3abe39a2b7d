"""What web-python pages are told about the worker's local assets, as one typed value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PageAssets:
    """The local asset server as pages see it (frozen: every page of a worker gets the same)."""

    #: Base URL of the local asset server (Pyodide core, wheelhouse, package base).
    url: str
    #: Wheel filenames every page installs first (micropip first).
    wheels: tuple[str, ...]
    #: Where Pyodide-built packages come from: ``{"url", "lock_url"}``.
    packages: dict[str, str]
    #: Path of the booted-Pyodide snapshot on the asset server (None: pages boot the full way).
    snapshot: str | None = None

    def page_config(self) -> dict[str, Any]:
        """The JSON the page templates read (``config.assets``)."""
        config: dict[str, Any] = {"url": self.url, "wheels": list(self.wheels), "packages": dict(self.packages)}
        if self.snapshot is not None:
            config["snapshot"] = self.snapshot
        return config
