"""`serve` refuses at once, saying what to set, when there is neither a server URL nor the local
Hypha server it would start instead (the container image has no server inside)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from browser_worker.cli import serve as serve_module
from browser_worker.config import WorkerSettings


async def test_no_server_url_and_no_local_server_says_to_set_hypha_server_url(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "hypha" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code = await serve_module.serve(WorkerSettings(server_url=None))
    assert code == 2
    err = capsys.readouterr().err
    assert "HYPHA_SERVER_URL" in err and "browser-worker[server]" in err and "Traceback" not in err
