"""Acceptance 5: the CLI works with no server; doctor and compile report clearly."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from dataclasses import fields
import subprocess
import sys
from pathlib import Path

import pytest

from browser_worker import WorkerSettings
from browser_worker.settings_spec import spec_of
from browser_worker.cli import build_parser
from browser_worker.cli import main as cli_main

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
    # The user's code is in the bundle whole, and its "</script>" cannot end the element that
    # holds it: the element's text up to the first "</script>" is the app's JSON, complete.
    data = re.search(r'<script id="bw-app" type="application/json">(.*?)</script>', html, re.S)
    assert data is not None, html[:500]
    assert json.loads(data.group(1))["script"] == "api.export({setup(){}}) // </script>"
    assert "</script>" not in data.group(1) and "<" not in data.group(1)


@pytest.mark.e2e  # launches Chromium
async def test_doctor_reports_chromium() -> None:
    proc = await run("doctor")
    assert proc.returncode == 0, proc.stdout
    assert "chromium" in proc.stdout and "status        ready" in proc.stdout


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        cli_main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _squeezed(text: str) -> str:
    """Without whitespace: argparse wraps help text (at spaces and after hyphens)."""
    return "".join(text.split())


ENV_OF = {f.name: spec_of(f).env for f in fields(WorkerSettings)}
COMMANDS = ["serve", "run", "compile", "assets", "demo", "doctor"]


def test_every_command_has_help() -> None:
    assert sorted(_subcommands(build_parser())) == sorted(COMMANDS)


#: Setting → the commands whose flags set it (each such flag's help names its environment variable).
COMMANDS_OF = {f.name: spec_of(f).commands for f in fields(WorkerSettings)}


#: What each command's help must explain (the flags README.md and docs/ use, and the settings
#: flags operators set most): a flag dropped, renamed or left without help fails here.
DOCUMENTED = {
    "serve": {"--server-url", "--workspace", "--token", "--public", "--root-token", "--service-id", "--metrics-port",
              "--pool-size", "--max-sessions", "--queue-timeout", "--start-timeout", "--allow-hosts",
              "--allow-private-network", "--allow-file-urls", "--headed"},
    "run": {"target", "--screenshot", "--full-page", "--wait-for", "--timeout", "--json", "--pool-size"},
    "compile": {"source", "--files", "--inline-remote", "--check", "-o", "--type", "--name", "--server-url",
                "--allow-hosts", "--allow-private-network", "--compile-timeout", "--compile-max-bundle-bytes",
                "--compile-max-asset-bytes", "--compile-max-files"},
    "assets": {"fetch", "add", "list"},
    "assets fetch": {"--force"},
    "assets add": {"packages"},
    "assets list": set(),
    "demo": {"--out", "--max-sessions"},
    "doctor": {"--chromium-path"},
}


def _check_help(argv: list[str], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """``browser-worker ARGV --help`` names each option with its explanation (and positional
    arguments by name); returns the names it checked."""
    text = _help_of(argv, capsys)
    assert text.startswith("usage: browser-worker " + " ".join(argv)), text[:200]
    flat = _squeezed(text)
    if parser.description:
        assert _squeezed(parser.description) in flat
    checked: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for name, choice in action.choices.items():  # each named, with what it does
                assert name in text
                help_line = next(c.help for c in action._choices_actions if c.dest == name)
                assert help_line and _squeezed(help_line) in flat, name
                checked.add(name)
            continue
        if not action.option_strings:  # a positional argument: named in the usage line
            assert (action.metavar or action.dest) in text.split("\n\n")[0]
            checked.add(action.dest)
            continue
        name = action.option_strings[0]
        assert all(o in text for o in action.option_strings), name
        assert action.help and len(action.help) > 10, f"{' '.join(argv)} {name} has no explanation"
        assert _squeezed(action.help) in flat, f"{' '.join(argv)} {name}: help text not shown"
        if argv[0] in COMMANDS_OF.get(action.dest, ()):
            assert f"[{ENV_OF[action.dest]}]" in action.help, f"{argv[0]} {name} does not name {ENV_OF[action.dest]}"
        checked.add(name)
    return checked


@pytest.mark.parametrize("command", COMMANDS)
def test_help_explains_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In process (no interpreter launch per command): ``browser-worker COMMAND --help`` names
    every option with its explanation, and a flag for a setting says which environment
    variable sets it."""
    parser = _subcommands(build_parser())[command]
    checked = _check_help([command], parser, capsys)
    assert DOCUMENTED[command] <= checked, DOCUMENTED[command] - checked
    if command == "assets":  # and its actions, one level down
        assert set(_subcommands(parser)) == DOCUMENTED["assets"]
        for action, sub in _subcommands(parser).items():
            checked = _check_help([command, action], sub, capsys)
            assert DOCUMENTED[f"assets {action}"] <= checked, (action, DOCUMENTED[f"assets {action}"] - checked)


def test_setting_flags_show_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """In their unit: seconds and bytes say so, other numbers are plain (a scale factor is no time)."""
    text = _squeezed(_help_of(["serve"], capsys))
    for flag, dest, shown in (("--pool-size", "pool_size", "2"), ("--max-sessions", "max_sessions", "32"),
                              ("--queue-timeout", "queue_timeout", "30 s"), ("--start-timeout", "start_timeout", "60 s"),
                              ("--device-scale-factor", "device_scale_factor", "1"),
                              ("--compile-max-asset-bytes", "compile_max_asset_bytes", "20 MiB"),
                              ("--headed", "headless", "on")):
        assert _squeezed(f"(default {shown}) [{ENV_OF[dest]}]") in text, flag


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
