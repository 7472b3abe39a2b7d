"""Issue 25: the docs are checked against the code (``tests/docs_check.py`` holds the rules).

Every expected value here is read from the code (``WorkerSettings()``, the CLI parser), never
copied from the docs."""

from __future__ import annotations

from dataclasses import fields

from browser_worker.settings_spec import spec_of
from browser_worker import WorkerSettings
from tests import docs_check
from tests.docs_check import Finding, check_text

DEFAULTS = WorkerSettings()


def env_of(name: str) -> str:
    return next(spec_of(f).env for f in fields(WorkerSettings) if f.name == name)


def table(*rows: str) -> str:
    return "| setting | flag | environment | default | meaning |\n|---|---|---|---|---|\n" + "\n".join(rows)


def shown(value: float, unit: str = "") -> str:
    return f"{value:g}{unit}"


def found(text: str) -> list[tuple[int, str]]:
    return [(f.line, f.kind) for f in check_text(text, "planted.md")]


def test_docs_match_the_code() -> None:
    findings = docs_check.check_docs()
    assert not findings, f"{len(findings)} claim(s) in README.md and docs/*.md do not match the code:\n" + "\n".join(
        map(str, findings))


# -- planted claims: one wrong item per kind, each reported on its line


def planted(pool_size_default: str) -> str:
    return "\n".join([
        "# Planted",                                                   # 1
        "",                                                            # 2
        "Register with `browser_worker.hypha.no_such_thing(worker)`.",  # 3
        "See `docs/no-such-page.md` for more.",                         # 4
        "Run `browser-worker serve --no-such-flag 3`.",                 # 5
        "Set `BROWSER_WORKER_NOPE=1` first.",                           # 6
        "",                                                            # 7
        table(f"| `pool_size` | `--pool-size` | `{env_of('pool_size')}` | {pool_size_default} | warm pages |"),  # 8-10
    ])


def test_each_wrong_claim_is_reported_on_its_line() -> None:
    findings = check_text(planted(str(DEFAULTS.pool_size + 1)), "planted.md")
    assert [(f.line, f.kind) for f in findings] == [
        (3, "dotted name"), (4, "path"), (5, "flag"), (6, "env"), (10, "default")], "\n".join(map(str, findings))
    by_kind = {f.kind: f for f in findings}
    assert by_kind["dotted name"].claim == "browser_worker.hypha.no_such_thing"
    assert "has no attribute no_such_thing" in by_kind["dotted name"].why
    assert by_kind["path"].claim == "docs/no-such-page.md"
    assert by_kind["flag"].claim == "browser-worker serve --no-such-flag"
    assert by_kind["env"].claim == "BROWSER_WORKER_NOPE"
    assert f"is {DEFAULTS.pool_size}" in by_kind["default"].why
    assert str(by_kind["path"]) == "planted.md:4: path: docs/no-such-page.md — no such file or folder in the repo"


def test_the_same_claims_made_right_are_not_reported() -> None:
    text = "\n".join([
        "Use `browser_worker.WorkerSettings` and `browser_worker.config:WorkerSettings.from_env`.",
        "See `docs/configuration.md` and `tests/unit/test_docs.py:1-20` and `_engine/engine.py`.",
        "Run `browser-worker serve --pool-size 3`, or `python -m browser_worker run page.html --json`.",
        f"Set `{env_of('pool_size')}`.",
        "",
        table(f"| `pool_size` | `--pool-size` | `{env_of('pool_size')}` | {DEFAULTS.pool_size} | warm pages |"),
    ])
    assert check_text(text, "planted.md") == []


# -- each rule, a little further


def test_dotted_names() -> None:
    text = "\n".join([
        "```python",
        "from browser_worker import BrowserWorker, NoSuchName",       # 2
        "from browser_worker.no_such_module import Thing",             # 3
        "```",
        "`browser_worker.startup:hypha_startup` `browser_worker.startup:nope`",  # 5
        "`_session.session` and `_engine.no_such_module`",             # 6
        "| package | modules | what |",
        "|---|---|---|",
        "| `_engine` | `engine`, `gone_module` | x |",               # 9
    ])
    assert found(text) == [(2, "dotted name"), (3, "dotted name"), (3, "dotted name"), (5, "dotted name"),
                           (6, "dotted name"), (9, "dotted name")]


def test_a_dotted_name_in_a_code_span_across_lines_is_reported_on_its_own_line() -> None:
    assert found("Run `python -m hypha.server --startup-functions\nbrowser_worker.startup:nope` now.") == [
        (2, "dotted name")]


def test_paths_and_links() -> None:
    text = "\n".join([
        "`benchmarks/no_such.py` and `tests/test_compile*` and `_engine/no_such.py:12`",  # 1
        "prose path scripts/gen_config_docs.py and docs/gone.md, a URL https://x.org/docs/gone.md",  # 2
        "[ok](configuration.md) [gone](gone.md#x) [web](https://example.org/x) [anchor](#here)",  # 3
        "| area | modules |",
        "|---|---|",
        "| compile | `test_compile*`, `test_no_such_module` |",          # 6
    ])
    findings = check_text(text, "docs/planted.md", docs_check.ROOT / "docs")
    assert [(f.line, f.kind, f.claim) for f in findings] == [
        (1, "path", "_engine/no_such.py"), (1, "path", "benchmarks/no_such.py"), (2, "path", "docs/gone.md"),
        (3, "link", "gone.md#x"), (6, "path", "tests/**/test_no_such_module.py")]


def test_commands_and_flags() -> None:
    text = "\n".join([
        "`browser-worker nosuch --pool-size 2`",                       # 1: subcommand
        "`browser-worker assets fetch --force` `browser-worker assets nope`",  # 2: assets action
        "`browser-worker compile SOURCE -o out.html --pool-size 2`",   # 3: not a compile option
        "`--pool-size` `--no-such-option` `--startup-functions x`",     # 4: lone flags
        "```bash",
        "HYPHA_TOKEN=x .venv/bin/browser-worker run page.html \\",     # 6
        "    --screenshot out.png --nope   # comment --also-ignored",
        "make demo && browser-worker demo --out DIR",                 # 8
        "python benchmarks/soak.py --mode mixed --no-such",            # 9: a repo script's flags
        "```",
    ])
    findings = check_text(text, "planted.md")
    assert [(f.line, f.claim) for f in findings] == [
        (1, "browser-worker nosuch"), (2, "browser-worker assets nope"), (3, "browser-worker compile --pool-size"),
        (4, "--no-such-option"), (6, "browser-worker run --nope"), (9, "benchmarks/soak.py --no-such")]


def test_environment_variables_and_elisions() -> None:
    text = "\n".join([
        f"`{env_of('compile_max_bundle_bytes')}`, `…_MAX_FILES`, `…_MAX_NOPE`",  # 1
        "`PLAYWRIGHT_VIEWPORT_WIDTH`/`_HEIGHT`/`_DEPTH`",               # 2
        "`HYPHA_DISABLE_INPROCESS_BROWSER_WORKER=true` on the server, `HYPHA_ROOT_TOKEN`",  # 3
        "not read on purpose: `PLAYWRIGHT_PERMISSIONS`; but `PLAYWRIGHT_NOPE`",  # 4
    ])
    findings = check_text(text, "planted.md")
    assert [(f.line, f.claim) for f in findings] == [
        (1, "…_MAX_NOPE (BROWSER_WORKER_MAX_NOPE)"), (2, "_DEPTH (PLAYWRIGHT_DEPTH)"), (4, "PLAYWRIGHT_NOPE")]


def test_defaults_in_tables_with_units_and_pairs() -> None:
    d = DEFAULTS
    mib = d.compile_max_bundle_bytes / (1 << 20)
    text = "\n".join([
        "| flag | env | default | meaning |",
        "|---|---|---|---|",
        f"| `--pool-size` / `--python-pool-size` | `{env_of('pool_size')}` / `…_PYTHON_POOL_SIZE` "
        f"| {d.pool_size} / {d.python_pool_size} | ok |",                                         # 3
        f"| `--pool-size` / `--python-pool-size` | | {d.pool_size} / {d.python_pool_size + 1} | second wrong |",  # 4
        f"| `--queue-timeout` | | {shown(d.queue_timeout, ' s')} | ok |",                         # 5
        f"| `--queue-timeout` | | {shown(d.queue_timeout * 1000, ' ms')} | ok in ms |",           # 6
        f"| `--queue-timeout` | | {shown(d.queue_timeout, ' MiB')} | wrong unit |",               # 7
        f"| `--compile-max-bundle-bytes` | | {shown(mib, ' MiB')} | ok |",                         # 8
        f"| `--compile-max-bundle-bytes` | | {shown(mib, ' KiB')} | wrong |",                      # 9
        "| `--server-url` | `HYPHA_SERVER_URL` | none → a local server | ok |",                    # 10
        "| `--token` | `HYPHA_TOKEN` | the token's own | words are not checked |",                # 11
        "| `--pool-size` | | 1 / 2 | two values, one setting |",                                  # 12
        f"| `--pool-size` | `{env_of('max_sessions')}` | {d.pool_size} | columns disagree |",      # 13
        f"| `--metrics-port` | | {'off' if not d.metrics_port else d.metrics_port} | ok |",       # 14
        f"| `--trace` | | `{d.trace}` | ok |",                                                    # 15
    ])
    assert found(text) == [(4, "default"), (7, "default"), (9, "default"), (12, "default"), (13, "table row")]


def test_a_default_written_after_a_setting_in_running_text() -> None:
    d = DEFAULTS
    text = "\n".join([
        f"starts queue (`--queue-timeout`, {shown(d.queue_timeout, ' s')}); for",                 # 1
        f"`--session-reconnect-grace` seconds (default {shown(d.session_reconnect_grace + 1)})",  # 2
        f"`{env_of('stop_timeout')}`\n({shown(d.stop_timeout + 1, ' s')}) and `--pool-size` contexts",  # 3-4
    ])
    assert found(text) == [(2, "default"), (4, "default")]


def test_finding_format() -> None:
    f = Finding("README.md", 52, "dotted name", "browser_worker.hypha.registered",
                "module browser_worker.hypha has no attribute registered")
    assert str(f) == ("README.md:52: dotted name: browser_worker.hypha.registered — "
                      "module browser_worker.hypha has no attribute registered")
