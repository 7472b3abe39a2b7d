"""Issue 25, one source per setting: a field declared with ``setting()`` gets its flag, its
environment variables, its validation and its row in docs/configuration.md from that one
declaration; nothing else has to be written for a new setting."""

from __future__ import annotations

import argparse
import importlib.util
import re
from dataclasses import fields, make_dataclass
from pathlib import Path
from types import ModuleType

import pytest

from browser_worker.cli import add_setting_flags, build_parser, settings_from_args
from browser_worker.config import OTHER_ENV, WorkerSettings
from browser_worker.errors import ConfigError
from browser_worker.settings_spec import NO_FLAG, flag_of, setting, spec_of, value_text

ROOT = Path(__file__).resolve().parents[2]


def _docs_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _docs_script()

#: WorkerSettings plus one setting, declared the way config.py declares its own.
Extra = make_dataclass("Extra", [
    ("frob_timeout", float, setting(2.5, env="BW_TEST_FROB_TIMEOUT", aliases=("OLD_FROB_TIMEOUT",), unit="s",
                                    min=1, max=10, help="Seconds one frob may take.")),
    ("frob_depth", "int | None", setting(None, env="BW_TEST_FROB_DEPTH", flag=NO_FLAG, min=0,
                                         help="Nesting of frobs; none: unlimited.")),
], bases=(WorkerSettings,), frozen=True)


def _help(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_help().split())


def test_a_new_setting_gets_its_flag_from_its_declaration() -> None:
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, "run", Extra)
    text = _help(parser)
    assert "--frob-timeout SECONDS Seconds one frob may take (default 2.5 s) [BW_TEST_FROB_TIMEOUT]" in text
    assert "--frob-depth" not in text  # flag=NO_FLAG: environment only
    args = build_parser(Extra).parse_args(["serve", "--frob-timeout", "4"])
    assert settings_from_args(args, "serve", Extra).frob_timeout == 4.0


def test_a_new_setting_reads_its_variable_then_its_alias() -> None:
    assert Extra.from_env({}).frob_timeout == 2.5
    assert Extra.from_env({"OLD_FROB_TIMEOUT": "3"}).frob_timeout == 3.0
    assert Extra.from_env({"BW_TEST_FROB_TIMEOUT": "4", "OLD_FROB_TIMEOUT": "3"}).frob_timeout == 4.0
    assert Extra.from_env({"BW_TEST_FROB_DEPTH": "7"}).frob_depth == 7  # int | None, parsed as int
    assert Extra.from_env({"BW_TEST_FROB_DEPTH": ""}).frob_depth is None  # empty: unset
    with pytest.raises(ConfigError, match=r"^frob_depth: expected an integer, got 'deep' in BW_TEST_FROB_DEPTH$"):
        Extra.from_env({"BW_TEST_FROB_DEPTH": "deep"})


def test_a_new_setting_is_validated_by_its_declared_rules() -> None:
    with pytest.raises(ConfigError, match=r"^frob_timeout must be between 1 and 10, got 11.0$"):
        Extra.from_env({"BW_TEST_FROB_TIMEOUT": "11"})
    with pytest.raises(ConfigError, match=r"^frob_timeout must be between 1 and 10, got nan$"):
        Extra.from_env(frob_timeout=float("nan"))
    with pytest.raises(ConfigError, match=r"^frob_depth must not be negative, got -1$"):
        Extra(frob_depth=-1).validated()
    with pytest.raises(ConfigError, match=r"^frob_depth must be an integer, got str$"):
        Extra(frob_depth="3").validated()  # type: ignore[arg-type]


def test_a_new_setting_has_its_row_in_the_docs() -> None:
    text = GEN.render(Extra)
    assert ("| `frob_timeout` | `--frob-timeout` | `BW_TEST_FROB_TIMEOUT` `OLD_FROB_TIMEOUT` | 2.5 s "
            "| Seconds one frob may take. |") in text
    assert "| `frob_depth` | — | `BW_TEST_FROB_DEPTH` | — | Nesting of frobs; none: unlimited. |" in text


def test_every_setting_declares_help_variable_and_flag() -> None:
    seen_env: set[str] = set()
    seen_flags: set[str] = set()
    for f in fields(WorkerSettings):
        spec = spec_of(f)
        assert len(spec.help) > 20 and spec.help.endswith("."), f.name  # a sentence
        assert re.fullmatch(r"(BROWSER_WORKER|HYPHA)_[A-Z_]+", spec.env), f.name
        assert not seen_env & set(spec.env_names), f.name
        seen_env |= set(spec.env_names)
        flag = flag_of(f)
        assert flag is not None or spec.flag == NO_FLAG, f.name
        if flag is not None:
            assert re.fullmatch(r"--[a-z][a-z-]+", flag) and flag not in seen_flags, f.name
            seen_flags.add(flag)
        assert spec.commands, f.name


def test_headed_turns_headless_off() -> None:
    parser = build_parser()
    assert settings_from_args(parser.parse_args(["run", "p.html"]), "run").headless is True
    assert settings_from_args(parser.parse_args(["run", "p.html", "--headed"]), "run").headless is False
    assert WorkerSettings.from_env({"BROWSER_WORKER_HEADLESS": "off"}).headless is False


def test_bool_flags_set_either_way_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSER_WORKER_PYODIDE_SNAPSHOT", "0")
    parser = build_parser()
    assert settings_from_args(parser.parse_args(["serve"]), "serve").pyodide_snapshot is False
    assert settings_from_args(parser.parse_args(["serve", "--pyodide-snapshot"]), "serve").pyodide_snapshot is True
    monkeypatch.setenv("BROWSER_WORKER_GPU", "1")
    assert settings_from_args(parser.parse_args(["serve", "--no-gpu"]), "serve").gpu is False


def test_a_command_sets_only_the_settings_it_takes() -> None:
    """compile's own --server-url is the URL baked into a bundle, not the worker's server."""
    args = build_parser().parse_args(["compile", "app.js", "--server-url", "http://example.org"])
    assert settings_from_args(args, "compile").server_url is None


def test_values_are_shown_in_their_unit() -> None:
    defaults = WorkerSettings()
    shown = {f.name: value_text(getattr(defaults, f.name), spec_of(f).unit) for f in fields(WorkerSettings)}
    assert (shown["device_scale_factor"], shown["queue_timeout"], shown["progress_coalesce"]) == ("1", "30 s", "0.5 s")
    assert (shown["compile_max_asset_bytes"], shown["max_log_entry_bytes"], shown["cache_max_bytes"]) == (
        "20 MiB", "16 KiB", "1 GiB")
    assert (shown["headless"], shown["max_sessions"], shown["server_url"]) == ("on", "32", "")


def test_inline_remote_help_states_the_compile_settings_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """Its limits are the settings' defaults, whatever they are (here: one changed)."""
    smaller = make_dataclass("Smaller", [
        ("compile_max_asset_bytes", int, setting(3 * 1024 * 1024, env="BROWSER_WORKER_COMPILE_MAX_ASSET_BYTES",
                                                 unit="bytes", min=1, help="Largest asset."))],
        bases=(WorkerSettings,), frozen=True)
    with pytest.raises(SystemExit):
        build_parser(smaller).parse_args(["compile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("each asset at most 3 MiB (--compile-max-asset-bytes), the bundle at most 50 MiB "
            "(--compile-max-bundle-bytes), the whole compile at most 30 s (--compile-timeout)") in text


def test_other_environment_variables_are_declared() -> None:
    """Every variable the package reads by name is a setting's or listed in OTHER_ENV (docs)."""
    settings_env = {n for f in fields(WorkerSettings) for n in spec_of(f).env_names}
    read = set()
    for path in (ROOT / "browser_worker").rglob("*.py"):
        read |= set(re.findall(r"environ\.get\(\s*\"([A-Z_]+)\"", path.read_text(encoding="utf-8")))
    assert read - settings_env == set(OTHER_ENV)


def test_a_rule_that_cannot_apply_to_its_type_is_refused() -> None:
    wrong = make_dataclass("Wrong", [
        ("frob_mode", str, setting("a", env="BW_TEST_FROB_MODE", min=1, help="Frob mode here."))],
        bases=(WorkerSettings,), frozen=True)
    with pytest.raises(TypeError, match=r"frob_mode \(str\): min/max/positive/finite cannot apply"):
        wrong.from_env({})
