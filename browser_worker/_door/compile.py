"""The door for ``compile``: the controller's (manifest, files, config) parsed into one typed
request before anything is compiled or authorized against a workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from browser_worker._door.authz import check_name
from browser_worker._net import NetworkPolicy
from browser_worker.errors import WorkerError


@dataclass(frozen=True)
class CompileRequest:
    manifest: dict[str, Any]
    files: list[Any] | None
    #: The workspace the bundle is for (None: the caller's own).
    workspace: str | None
    server_url: str | None
    public_url: str | None
    inline_remote: bool | None
    progress_callback: Callable[..., Any] | None

    def compiler_config(self) -> dict[str, Any]:
        """The config ``compile_app`` reads (only the keys it knows)."""
        keys = {"server_url": self.server_url, "public_url": self.public_url,
                "workspace": self.workspace, "inline_remote": self.inline_remote}
        return {k: v for k, v in keys.items() if v is not None}


def parse_compile(manifest: Any, files: Any, config: Any, *, net: NetworkPolicy) -> CompileRequest:
    """Check the shape of every argument; the manifest's and files' contents are checked by
    the compiler itself, within its budgets. Extra config keys (``user``, …) are ignored."""
    if not isinstance(manifest, dict):
        raise WorkerError(f"manifest must be an object, got {type(manifest).__name__}")
    if files is not None and not isinstance(files, list):
        raise WorkerError(f"files must be a list, got {type(files).__name__}")
    if config is not None and not isinstance(config, dict):
        raise WorkerError(f"compile config must be an object, got {type(config).__name__}")
    config = config or {}
    workspace = config.get("workspace")
    if workspace is not None:
        check_name(workspace, "config.workspace")
    urls = {}
    for key in ("server_url", "public_url"):
        if config.get(key) is not None:
            urls[key] = net.check_page_url(config[key], f"config.{key}")
    inline_remote = config.get("inline_remote")
    if inline_remote not in (None, True, False):
        raise WorkerError("config.inline_remote must be true or false")
    callback = config.get("progress_callback")
    if callback is not None and not callable(callback):
        raise WorkerError(f"config.progress_callback must be callable, got {type(callback).__name__}")
    return CompileRequest(manifest=manifest, files=files, workspace=workspace,
                          server_url=urls.get("server_url"), public_url=urls.get("public_url"),
                          inline_remote=inline_remote, progress_callback=callback)
