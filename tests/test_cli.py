"""Acceptance 5: the CLI works with no server; doctor and compile report clearly."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CLI = [sys.executable, "-m", "browser_worker"]


async def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI without blocking the event loop: the session-wide worker fixture keeps its
    connection to the Hypha server alive (answering pings) while the command runs."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return subprocess.CompletedProcess(list(args), proc.returncode or 0, out.decode(), err.decode())


@pytest.mark.e2e  # launches Chromium
async def test_run_page_writes_screenshot_and_prints_console(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    proc = await run("run", str(FIXTURES / "page.html"), "--screenshot", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "[log] fixture page loaded" in proc.stdout
    assert "[warning] a warning line" in proc.stdout
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


@pytest.mark.e2e  # launches Chromium
async def test_run_json_and_wait_for(tmp_path: Path) -> None:
    proc = await run("run", str(FIXTURES / "page.html"), "--json", "--wait-for", "#title", "--full-page",
               "--screenshot", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["title"] == "Fixture page"
    assert any(e["content"] == "fixture page loaded" for e in result["logs"])


@pytest.mark.e2e  # launches Chromium
async def test_run_exits_nonzero_on_page_error() -> None:
    proc = await run("run", str(FIXTURES / "broken.html"))
    assert proc.returncode == 1
    assert "fixture-explodes" in proc.stdout


async def test_run_missing_file_is_clear() -> None:
    proc = await run("run", "no/such/page.html")
    assert proc.returncode == 1
    assert "no such file: no/such/page.html" in proc.stderr


async def test_compile_script_to_bundle(tmp_path: Path) -> None:
    src = tmp_path / "app.js"
    src.write_text("api.export({setup(){}}) // </script>", encoding="utf-8")
    out = tmp_path / "index.html"
    proc = await run("compile", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    assert 'name="browser-worker-bundle" content="window"' in html
    assert "</script> " not in html.split('id="bw-app"', 1)[1].split("</script>", 1)[0]


@pytest.mark.e2e  # launches Chromium
async def test_doctor_reports_chromium() -> None:
    proc = await run("doctor")
    assert proc.returncode == 0, proc.stdout
    assert "chromium" in proc.stdout and "status        ready" in proc.stdout


@pytest.mark.parametrize("command", ["serve", "run", "compile", "demo", "doctor"])
async def test_help_explains_each_command(command: str) -> None:
    proc = await run(command, "--help")
    assert proc.returncode == 0
    assert "usage: browser-worker " + command in proc.stdout


@pytest.mark.e2e  # launches Chromium
async def test_compile_with_files_dir_and_check(tmp_path: Path) -> None:
    from .fixtures.compile.make_png import png

    (tmp_path / "css").mkdir()
    (tmp_path / "img").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><link rel="stylesheet" href="css/s.css"></head>'
        '<body><img src="img/l.png"><script>console.log("ok")</script></body></html>')
    (tmp_path / "css" / "s.css").write_text("body { background: url(../img/l.png) }")
    (tmp_path / "img" / "l.png").write_bytes(png(3, 3, (1, 2, 3)))
    out = tmp_path / "bundle.html"
    proc = await run("compile", str(tmp_path / "index.html"), "--files", str(tmp_path), "-o", str(out), "--check")
    assert proc.returncode == 0, proc.stderr
    assert "check: ok (network blocked)" in proc.stderr
    assert "img/l.png" not in out.read_text() and "data:image/png;base64," in out.read_text()

    (tmp_path / "remote.html").write_text('<!doctype html><html><body><img src="https://example.org/x.png"></body></html>')
    proc = await run("compile", str(tmp_path / "remote.html"), "-o", str(tmp_path / "r.html"), "--check")
    assert proc.returncode == 1 and "blocked (network is off): https://example.org/x.png" in proc.stderr

    (tmp_path / "missing.html").write_text('<!doctype html><html><body><img src="nope.png"></body></html>')
    proc = await run("compile", str(tmp_path / "missing.html"))  # as Hypha: a warning, left as is
    assert proc.returncode == 0
    assert "browser-worker: warning: missing.html refers to 'nope.png', a file that is not among" in proc.stderr
