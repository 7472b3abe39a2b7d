"""Issue 25: `browser-worker compile` honours the worker's settings, read like every other
command's: its budgets from BROWSER_WORKER_COMPILE_* (or flags), its network rules from
--allow-hosts / --allow-private-network (or their variables). Browser-free, in process."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Iterator

import pytest
from aiohttp import web

from browser_worker._net import start_site
from browser_worker.cli import main
from browser_worker.config import WorkerSettings
from browser_worker.settings_spec import spec_of

from .fixtures.compile.make_png import png

DOT = png(3, 3, (0, 200, 0))


@pytest.fixture(autouse=True)
def no_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own BROWSER_WORKER_*/HYPHA_* variables must not decide these tests."""
    from dataclasses import fields

    for f in fields(WorkerSettings):
        for name in spec_of(f).env_names:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def remote_png() -> Iterator[str]:
    """URL of a PNG on 127.0.0.1, served from a thread: compile is blocking and runs its fetches
    in an event loop of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def dot(request: web.Request) -> web.Response:
        return web.Response(body=DOT, content_type="image/png")

    app = web.Application()
    app.router.add_get("/dot.png", dot)
    runner, base = asyncio.run_coroutine_threadsafe(start_site(app), loop).result(10)
    try:
        yield f"{base}/dot.png"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def compile_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``browser-worker compile ARGV`` in process → (exit code, stderr)."""
    capsys.readouterr()
    code = main(["compile", *argv])
    return code, capsys.readouterr().err


def test_compile_takes_its_asset_budget_from_the_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "big.bin").write_bytes(b"\0" * 4096)
    (tmp_path / "index.html").write_text('<!doctype html><html><body><img src="big.bin"></body></html>')
    out = tmp_path / "bundle.html"

    code, err = compile_cli(capsys, str(tmp_path / "index.html"), "-o", str(out))
    assert code == 0, err
    assert "big.bin" not in out.read_text()  # inlined: within the default budget

    monkeypatch.setenv("BROWSER_WORKER_COMPILE_MAX_ASSET_BYTES", "1024")
    code, err = compile_cli(capsys, str(tmp_path / "index.html"), "-o", str(out))
    assert code == 1
    assert "browser-worker: compile budget max_asset_bytes=1024 exceeded while inlining big.bin" in err, err

    # A flag overrides the variable.
    code, err = compile_cli(capsys, str(tmp_path / "index.html"), "-o", str(out), "--compile-max-asset-bytes", "8192")
    assert code == 0, err


def test_a_bad_compile_setting_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.js").write_text("api.export({setup(){}})")
    code, err = compile_cli(capsys, str(tmp_path / "app.js"), "--compile-max-files", "0")
    assert (code, err.strip()) == (2, "browser-worker: compile_max_files must be at least 1, got 0")
    monkeypatch.setenv("BROWSER_WORKER_COMPILE_TIMEOUT", "nan")
    code, err = compile_cli(capsys, str(tmp_path / "app.js"))
    assert (code, err.strip()) == (2, "browser-worker: compile_timeout must be a finite positive number, got nan")


def test_compile_inline_remote_follows_allow_hosts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, remote_png: str) -> None:
    page = tmp_path / "remote.html"
    page.write_text(f'<!doctype html><html><body><img src="{remote_png}"></body></html>')
    out = tmp_path / "bundle.html"
    remote = ("-o", str(out), "--inline-remote", "--allow-private-network")

    code, err = compile_cli(capsys, str(page), *remote, "--allow-hosts", "127.0.0.1")
    assert code == 0, err
    assert remote_png not in out.read_text() and "data:image/png;base64," in out.read_text()

    code, err = compile_cli(capsys, str(page), *remote, "--allow-hosts", "cdn.example.org")
    assert code == 1
    assert "host 127.0.0.1 is not in --allow-hosts (cdn.example.org)" in err, err

    monkeypatch.setenv("BROWSER_WORKER_ALLOW_HOSTS", "cdn.example.org")  # the variable, as serve reads it
    code, err = compile_cli(capsys, str(page), *remote)
    assert code == 1 and "is not in --allow-hosts (cdn.example.org)" in err, err

    monkeypatch.delenv("BROWSER_WORKER_ALLOW_HOSTS")
    code, err = compile_cli(capsys, str(page), "-o", str(out), "--inline-remote")  # loopback: refused
    assert code == 1 and "--allow-private-network" in err, err
