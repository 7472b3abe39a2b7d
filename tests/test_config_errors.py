"""Issue 17: an operator's mistake ends in one line naming the setting and the rule, exit 1 or
2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "browser_worker", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_a_bad_setting_is_one_line() -> None:
    proc = run("serve", BROWSER_WORKER_POOL_SIZE="-1")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "browser-worker: pool_size must not be negative, got -1"


@pytest.mark.e2e  # the package base is checked once Chromium is up
def test_a_missing_package_base_is_one_line_not_a_traceback(tmp_path: object) -> None:
    proc = run("serve", "--server-url", "http://127.0.0.1:9", "--pyodide-packages", "/nope",
               BROWSER_WORKER_POOL_SIZE="0", BROWSER_WORKER_PYTHON_POOL_SIZE="0")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("browser-worker:")]
    assert line.startswith("browser-worker: pyodide_packages_url: '/nope' must be an http(s) URL or a directory"), line


def test_compile_reads_settings_strictly_like_serve(tmp_path: object) -> None:
    """Issue 25: `compile` parses BROWSER_WORKER_ALLOW_PRIVATE_NETWORK as every command does (it
    used to take any value but 1/true/yes/on as off, silently)."""
    proc = run("compile", "no-such-app.js", BROWSER_WORKER_ALLOW_PRIVATE_NETWORK="maybe")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("browser-worker: allow_private_network: expected a boolean (1/true/yes/on or "
                                   "0/false/no/off), got 'maybe' in BROWSER_WORKER_ALLOW_PRIVATE_NETWORK")
