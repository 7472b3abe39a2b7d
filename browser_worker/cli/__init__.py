"""The ``browser-worker`` command: serve | run | compile | demo | doctor."""

from __future__ import annotations

import argparse
import base64
import asyncio
import json
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from browser_worker.config import WorkerSettings
from browser_worker.errors import ConfigError, WorkerError
from browser_worker.settings_spec import SERVE, Setting, flag_of, spec_of, value_text, value_types

log = logging.getLogger("browser_worker")


#: ``run --timeout`` and ``demo --out`` when not given.
RUN_TIMEOUT = 30.0
DEMO_OUT = "out"


_GROUP_NOTE = "A flag overrides the environment variable in [brackets], which overrides the default."


def option_help(text: str, default: str = "", env: str = "") -> str:
    """Help of an option: its meaning, then "(default …)" and "[VARIABLE]" where it has them
    (``%`` escaped: argparse formats help strings)."""
    text = text.rstrip(".")
    if default:
        text += f" (default {default})"
    if env:
        text += f" [{env}]"
    return text.replace("%", "%%")


def setting_help(name: str, spec: Setting, default: Any) -> str:
    """A setting flag's help: the field's help, default and variable (a flag that stores a
    fixed bool says which, e.g. ``--headed`` turns headless off)."""
    text = spec.help
    if spec.flag_sets is not None:
        text = f"turn {name} {value_text(spec.flag_sets)}: {text[0].lower()}{text[1:]}"
    return option_help(text, value_text(default, spec.unit), spec.env)


def _group_of(spec: Setting) -> str:
    """The help section a setting's flag is listed in."""
    if "compile" in spec.commands:
        return "network rules and compile budgets"
    return "Hypha service" if spec.commands <= SERVE else "browser, pools and pages"


def add_setting_flags(parser: argparse.ArgumentParser, command: str,
                      cls: type[WorkerSettings] = WorkerSettings) -> None:
    """Add to ``parser`` a flag for each setting of ``cls`` that ``command`` takes; each stores
    into the field's name, None when not given (then the environment or default holds)."""
    defaults, kinds = cls(), value_types(cls)
    groups: dict[str, Any] = {}
    for f in fields(cls):
        spec, flag = spec_of(f), flag_of(f)
        if flag is None or command not in spec.commands:
            continue
        title = _group_of(spec)
        if title not in groups:
            groups[title] = parser.add_argument_group(title, _GROUP_NOTE)
        kind = kinds[f.name][0]
        options: dict[str, Any] = {"dest": f.name, "default": None,
                                   "help": setting_help(f.name, spec, getattr(defaults, f.name))}
        if kind is bool and spec.flag_sets is not None:
            options.update(action="store_const", const=spec.flag_sets)
        elif kind is bool:
            options.update(action=argparse.BooleanOptionalAction)
        else:
            options.update(type=kind, metavar=spec.metavar or _metavar(f.name, kind, spec))
            if spec.choices:
                options.update(choices=spec.choices, metavar=None)
        groups[title].add_argument(flag, **options)


def _metavar(name: str, kind: type, spec: Setting) -> str:
    if spec.unit:
        return {"s": "SECONDS", "bytes": "BYTES"}[spec.unit]
    return {int: "N", float: "NUMBER"}.get(kind, name.upper())


def settings_from_args(args: argparse.Namespace, command: str,
                       cls: type[WorkerSettings] = WorkerSettings) -> WorkerSettings:
    """Defaults, overridden by the environment, overridden by the flags ``command`` took."""
    overrides = {f.name: getattr(args, f.name, None) for f in fields(cls)
                 if flag_of(f) is not None and command in spec_of(f).commands}
    return cls.from_env(**overrides)


SERVE_PUBLIC_HELP = """\
serving every workspace (--public):
  Hypha looks for browser workers in the user's workspace, then in 'public'. Only root may
  register there. Start the Hypha server with a root token (python -m hypha.server
  --root-token=SECRET ..., or HYPHA_ROOT_TOKEN with --from-env), then either
    HYPHA_ROOT_TOKEN=SECRET browser-worker serve --public --server-url URL
  (the root token is used once, to mint a 'public' token tied to this worker's connection),
  or mint that token yourself, connected as root with hypha-rpc:
    await server.generate_token({"workspace": "public", "permission": "read_write",
                                 "expires_in": 2592000})
  and run  HYPHA_TOKEN=MINTED browser-worker serve --public --server-url URL.
  Set HYPHA_DISABLE_INPROCESS_BROWSER_WORKER=true on the server so that apps come here.
  To run inside the server process instead: python -m hypha.server ...
  --startup-functions browser_worker.startup:hypha_startup
"""


def _inline_remote_help(cls: type[WorkerSettings]) -> str:
    """``--inline-remote``'s help, its limits read from the compile settings' defaults."""
    defaults, by_name = cls(), {f.name: f for f in fields(cls)}

    def limit(name: str) -> str:
        return f"{value_text(getattr(defaults, name), spec_of(by_name[name]).unit)} ({flag_of(by_name[name])})"

    return (f"also fetch and inline remote http(s) assets, within the compile budgets: each asset at most "
            f"{limit('compile_max_asset_bytes')}, the bundle at most {limit('compile_max_bundle_bytes')}, "
            f"the whole compile at most {limit('compile_timeout')}")


def build_parser(cls: type[WorkerSettings] = WorkerSettings) -> argparse.ArgumentParser:
    """The command line; each command's setting flags come from ``cls``'s field declarations."""
    parser = argparse.ArgumentParser(
        prog="browser-worker",
        description="Run Hypha web apps in a warm pool of headless Chromium contexts.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="register the worker on a Hypha server and serve until Ctrl-C",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Connect to a Hypha server and serve app sessions. With no --server-url "
        "(and no HYPHA_SERVER_URL), start a local Hypha server and register there.",
        epilog=SERVE_PUBLIC_HELP,
    )
    serve.add_argument("--public", action="store_true",
                       help="register in workspace 'public' so the apps of every workspace run here "
                       "(replaces Hypha's built-in browser worker); needs HYPHA_ROOT_TOKEN, or a "
                       "token for 'public' in HYPHA_TOKEN (see below)")
    serve.add_argument("--root-token", help=option_help(
        "the server's root token, used once to mint a 'public' token; prefer the env variable",
        env="HYPHA_ROOT_TOKEN"))
    add_setting_flags(serve, "serve", cls)

    run = sub.add_parser("run", help="render a page or URL headlessly, print its console, screenshot it",
                         description="Open a local HTML file or a URL with no Hypha server. Exits 1 on a page error.")
    run.add_argument("target", metavar="PAGE_OR_URL")
    run.add_argument("--screenshot", metavar="OUT.png", help="write a screenshot here")
    run.add_argument("--full-page", action="store_true", help="screenshot the whole scrollable page")
    run.add_argument("--wait-for", metavar="SELECTOR", help="wait for this CSS selector before the screenshot")
    run.add_argument("--timeout", type=float, default=RUN_TIMEOUT, metavar="SECONDS",
                     help=option_help("seconds to wait for load/selector", value_text(RUN_TIMEOUT, "s")))
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    add_setting_flags(run, "run", cls)

    comp = sub.add_parser("compile", help="build an app's index.html bundle (no server or browser needed)")
    comp.add_argument("source", metavar="SOURCE", help="app source: a .js/.py script, an .html page or an ImJoy/Hypha XML source")
    comp.add_argument("--files", metavar="DIR", help="folder of the app's other files (assets are resolved and inlined from here; default: SOURCE's folder)")
    comp.add_argument("--inline-remote", action="store_true", help=option_help(_inline_remote_help(cls)))
    comp.add_argument("--check", action="store_true", help="open the result in headless Chromium with all network blocked; exit 1 on console errors")
    comp.add_argument("-o", "--output", metavar="OUT.html", help="write here (default: stdout)")
    comp.add_argument("--type", default=None, help="app type (default: from <config>, else window for .js, web-python for .py, iframe for .html)")
    comp.add_argument("--name", default=None, help="app name (default: the file name)")
    comp.add_argument("--server-url", help="default Hypha server URL baked into the bundle")
    add_setting_flags(comp, "compile", cls)

    assets = sub.add_parser("assets", help="fetch or extend the offline web-python assets (Pyodide, wheels)",
                            description="Offline assets for web-python apps live in static/ (or $BROWSER_WORKER_STATIC).")
    assets_sub = assets.add_subparsers(dest="assets_command", required=True, metavar="ACTION")
    fetch = assets_sub.add_parser("fetch", help="download Pyodide (npm) and the base wheelhouse (PyPI); skips what is present")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    add = assets_sub.add_parser("add", help="add pure-Python wheels (and their dependencies) to the wheelhouse")
    add.add_argument("packages", nargs="+", metavar="PACKAGE", help="requirement specifiers, e.g. pyyaml==6.0.2")
    assets_sub.add_parser("list", help="show what the asset folder holds")

    demo = sub.add_parser("demo", help="local Hypha server + sample app: install, start, call, screenshot, logs")
    demo.add_argument("--out", default=DEMO_OUT, metavar="DIR",
                      help=option_help("folder for the screenshot and server logs", f"./{DEMO_OUT}"))
    add_setting_flags(demo, "demo", cls)

    doctor = sub.add_parser("doctor", help="report Chromium, packages and assets found on this machine")
    add_setting_flags(doctor, "doctor", cls)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for noisy in ("websocket-client", "RPC", "hypha_rpc", "aiobotocore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = settings_from_args(args, args.command)
    except ValueError as exc:
        print(f"browser-worker: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "doctor":
            from browser_worker.cli.doctor import run_doctor

            return run_doctor(settings)
        if args.command == "assets":
            return _assets(args)
        if args.command == "compile":
            return _compile(args, settings)
        if args.command == "run":
            return asyncio.run(_run(args, settings))
        if args.command == "demo":
            from browser_worker.testing import run_demo

            return asyncio.run(run_demo(settings, Path(args.out), sys.stdout))
        if args.command == "serve":
            root_token = args.root_token or os.environ.get("HYPHA_ROOT_TOKEN") or None
            if args.public:
                from browser_worker.cli.serve import public_problem

                problem = public_problem(settings, root_token)
                if problem:
                    print(f"browser-worker: serve --public: {problem}", file=sys.stderr)
                    return 2
            from browser_worker.cli.serve import serve

            return asyncio.run(serve(settings, public=args.public, root_token=root_token))
    except KeyboardInterrupt:
        return 130
    except (ConfigError, WorkerError, FileNotFoundError, ValueError, RuntimeError) as exc:
        # Operator problems end in one line (the first of the message), never a traceback.
        print(f"browser-worker: {one_line(exc)}", file=sys.stderr)
        return 1
    return 2


def one_line(exc: BaseException, limit: int = 400) -> str:
    """An error as one line: its message with line breaks folded, cut at ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _assets(args: argparse.Namespace) -> int:
    from browser_worker._pyodide import PYODIDE_VERSION, add_wheels, default_paths, fetch_assets

    say = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.assets_command == "fetch":
        fetch_assets(say=say, force=args.force)
    elif args.assets_command == "add":
        add_wheels(args.packages, say=say)
    else:
        paths = default_paths()
        print(f"folder     {paths.root} ({paths.size_bytes() / 1e6:.1f} MB)")
        print(f"pyodide    {PYODIDE_VERSION if paths.pyodide_ready() else 'missing'}")
        for project, files in sorted(paths.wheel_index().items()):
            print(f"wheel      {', '.join(files)}")
    return 0


async def _run(args: argparse.Namespace, settings: WorkerSettings) -> int:
    from browser_worker.cli.run import print_result, run_page

    result = await run_page(
        args.target, settings=settings, screenshot=args.screenshot, full_page=args.full_page,
        wait_for=args.wait_for, timeout=args.timeout, echo=None if args.json else sys.stdout,
    )
    print_result(result, args.json)
    return 0 if result.ok else 1


def _compile(args: argparse.Namespace, settings: WorkerSettings) -> int:
    from browser_worker._compile import ENTRY, CompileBudget, compile_app
    from browser_worker._net import NetworkPolicy
    from browser_worker._logs import Progress

    path = Path(args.source)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {args.source}")
    root = Path(args.files) if args.files else path.parent
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    entry = path.resolve().relative_to(root.resolve()).as_posix() if path.resolve().is_relative_to(root.resolve()) else path.name
    files = [{"path": entry, "content": path.read_text(encoding="utf-8"), "format": "text"}]
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).as_posix()
        if item.is_file() and rel != entry and not any(part.startswith(".") for part in item.relative_to(root).parts):
            files.append({"path": rel, "content": base64.b64encode(item.read_bytes()).decode(), "format": "base64"})
    default_type = {".html": "iframe", ".htm": "iframe", ".py": "web-python"}.get(path.suffix.lower(), "window")
    manifest = {"type": args.type or default_type, "name": args.name or path.stem, "entry_point": entry}
    try:
        options = {"server_url": args.server_url, "inline_remote": args.inline_remote}
        policy = NetworkPolicy(allow_private=settings.allow_private_network, allow_hosts=settings.allowed_hosts,
                               allow_file_urls=settings.allow_file_urls)
        budget = CompileBudget(max_files=settings.compile_max_files, max_asset_bytes=settings.compile_max_asset_bytes,
                               max_bundle_bytes=settings.compile_max_bundle_bytes, timeout=settings.compile_timeout)
        out_manifest, out_files = compile_app(manifest, files, {k: v for k, v in options.items() if v},
                                              Progress(_print_warning), policy=policy, budget=budget)
    except WorkerError as exc:
        print(f"browser-worker: {exc}", file=sys.stderr)
        return 1
    html = next(f["content"] for f in out_files if f["path"] == ENTRY)
    report = {"manifest": {k: v for k, v in out_manifest.items() if k != "code"}, "bytes": len(html.encode())}
    if args.output:
        Path(args.output).write_text(html, encoding="utf-8")
        report["output"] = args.output
    else:
        sys.stdout.write(html)
    print(json.dumps(report, indent=2), file=sys.stderr)
    if args.check:
        return asyncio.run(_check(html))
    return 0


def _print_warning(message: dict) -> None:
    if message.get("type") == "warning":
        print(f"browser-worker: warning: {message.get('message')}", file=sys.stderr)


async def _check(html: str) -> int:
    """Load a bundle with every request blocked: a self-contained bundle shows no errors."""
    import tempfile

    from browser_worker.cli.run import run_page

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "index.html"
        page.write_text(html, encoding="utf-8")
        result = await run_page(str(page), block_network=True)
    errors = [e["content"] for e in result.logs if e["type"] == "error"] + result.errors
    for line in errors:
        print(f"check: {line}", file=sys.stderr)
    print(f"check: {'ok' if not errors else f'{len(errors)} error(s)'} (network blocked)", file=sys.stderr)
    return 0 if not errors else 1
