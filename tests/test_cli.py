"""Acceptance 5: the CLI works with no server; doctor and compile report clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CLI = [sys.executable, "-m", "browser_worker"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_run_page_writes_screenshot_and_prints_console(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    proc = run("run", str(FIXTURES / "page.html"), "--screenshot", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "[log] fixture page loaded" in proc.stdout
    assert "[warn] a warning line" in proc.stdout
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_run_json_and_wait_for(tmp_path: Path) -> None:
    proc = run("run", str(FIXTURES / "page.html"), "--json", "--wait-for", "#title", "--full-page",
               "--screenshot", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["title"] == "Fixture page"
    assert any(e["content"] == "fixture page loaded" for e in result["logs"])


def test_run_exits_nonzero_on_page_error() -> None:
    proc = run("run", str(FIXTURES / "broken.html"))
    assert proc.returncode == 1
    assert "fixture-explodes" in proc.stdout


def test_run_missing_file_is_clear() -> None:
    proc = run("run", "no/such/page.html")
    assert proc.returncode == 1
    assert "no such file: no/such/page.html" in proc.stderr


def test_compile_script_to_bundle(tmp_path: Path) -> None:
    src = tmp_path / "app.js"
    src.write_text("api.export({setup(){}}) // </script>", encoding="utf-8")
    out = tmp_path / "index.html"
    proc = run("compile", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    assert 'name="browser-worker-bundle" content="window"' in html
    assert "</script> " not in html.split('id="bw-app"', 1)[1].split("</script>", 1)[0]


def test_doctor_reports_chromium() -> None:
    proc = run("doctor")
    assert proc.returncode == 0, proc.stdout
    assert "chromium" in proc.stdout and "status        ready" in proc.stdout


@pytest.mark.parametrize("command", ["serve", "run", "compile", "demo", "doctor"])
def test_help_explains_each_command(command: str) -> None:
    proc = run(command, "--help")
    assert proc.returncode == 0
    assert "usage: browser-worker " + command in proc.stdout
