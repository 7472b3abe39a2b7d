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

from browser_worker.config import TRACE_MODES, WorkerSettings
from browser_worker.errors import ConfigError, WorkerError

log = logging.getLogger("browser_worker")


_DEFAULTS = WorkerSettings()


def _default_text(value: Any) -> str:
    if value is None or value == "" or isinstance(value, bool):
        return ""
    if value == 0:
        return " (default 0 = off)"
    if isinstance(value, int) and value >= 1 << 20 and value % (1 << 20) == 0:
        return f" (default {value >> 20} MiB)"
    return f" (default {value:g})" if isinstance(value, float) else f" (default {value})"


def _flag(group: Any, *names: str, **kwargs: Any) -> None:
    """A flag for a setting: its help ends with the setting's default and environment variable,
    both read from ``WorkerSettings`` (so the text cannot drift from the code)."""
    dest = kwargs.get("dest") or names[0].lstrip("-").replace("-", "_")
    spec = next((f for f in fields(WorkerSettings) if f.name == dest), None)
    if spec is not None and "help" in kwargs:
        kwargs["help"] += f"{_default_text(getattr(_DEFAULTS, dest))} [{spec.metadata['env']}]"
    group.add_argument(*names, **kwargs)


def _worker_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("browser and pool (flags override BROWSER_WORKER_* env)")
    _flag(g, "--chromium-path", help="Chromium binary; default: Playwright's build, then system chromium")
    _flag(g, "--chromium-args", metavar="'--flag --flag'", help="extra Chromium flags, space-separated")
    _flag(g, "--gpu", action="store_true", default=None, help="launch Chromium with WebGPU and experimental web-platform features (the built-in worker's flags)")
    _flag(g, "--browser-endpoint", metavar="WS_URL", help="use a remote Playwright browser server (playwright run-server, browserless, Moon)")
    _flag(g, "--cdp-endpoint", metavar="URL", help="use a running Chromium through its DevTools endpoint")
    _flag(g, "--python-pool-size", type=int, help="warm web-python pages (Pyodide booted, ~130 MB each) kept ready")
    _flag(g, "--pool-size", type=int, help="warm contexts kept ready")
    _flag(g, "--max-sessions", type=int, help="concurrent sessions before starts queue")
    _flag(g, "--queue-timeout", type=float, help="seconds a start waits for a free slot")
    _flag(g, "--start-timeout", type=float, help="default seconds for an app to load")
    _flag(g, "--max-log-entries", type=int, help="log ring buffer size per session")
    _flag(g, "--log-retention", type=float, help="seconds logs of ended sessions stay readable")
    _flag(g, "--recycle-after", type=int, help="relaunch Chromium after this many sessions, draining the old one; 0 = never")
    _flag(g, "--session-ttl", type=float, help="stop sessions older than this many seconds")
    _flag(g, "--trace", choices=TRACE_MODES, help="Playwright tracing of sessions (read with get_artifact(id, 'trace')): on-failure keeps a failed session's trace, on keeps every one; the ceiling for what apps' manifests ask")
    _flag(g, "--allow-file-urls", action="store_true", default=None, help="let web-app entry points use file: URLs (off: a file: page can read the disk)")
    _flag(g, "--allow-private-network", action="store_true", default=None, help="let server-side fetches (entry files, inline_remote) reach loopback/private addresses besides the Hypha server")
    _flag(g, "--execute-timeout", type=float, help="seconds an execute may run when the call gives none")
    _flag(g, "--max-start-timeout", type=float, help="largest start timeout a caller may ask for")
    _flag(g, "--compile-timeout", type=float, help="seconds for one compile, inline_remote included")
    _flag(g, "--compile-max-bundle-bytes", type=int, help="largest compiled bundle")
    _flag(g, "--pyodide-packages", dest="pyodide_packages_url", metavar="URL_OR_DIR", help="where web-python apps get Pyodide-built packages (numpy, pydantic, …): a URL or a local directory holding pyodide-lock.json and its files; empty: the official CDN of the pinned Pyodide, reached only when an app needs a package")
    _flag(g, "--allow-hosts", metavar="HOST,HOST", help="only these hosts may be reached from app pages")
    _flag(g, "--cache-dir", metavar="DIR", help="folder of the per-app route cache (manifest cache_routes), kept across restarts; empty: ~/.cache/browser-worker/routes")
    _flag(g, "--cache-max-bytes", type=int, help="bytes the route cache keeps for all apps (least recently used go first); 0 = no cache")
    _flag(g, "--user-agent", help="navigator.userAgent of every page")
    _flag(g, "--locale", help="locale of every page, e.g. de-DE")
    _flag(g, "--timezone", dest="timezone_id", metavar="IANA_NAME", help="time zone of every page, e.g. Europe/Berlin")
    _flag(g, "--color-scheme", choices=("light", "dark", "no-preference"), help="prefers-color-scheme of every page")
    _flag(g, "--device-scale-factor", type=float, help="device pixel ratio of every page (2: screenshots at twice the pixels)")
    _flag(g, "--headed", action="store_true", help="show the browser window (debugging)")


def _settings(args: argparse.Namespace) -> WorkerSettings:
    """Flags override env, which overrides defaults: every flag named like a setting is one."""
    overrides: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(WorkerSettings)
                                 if getattr(args, f.name, None) is not None}
    if getattr(args, "headed", False):
        overrides["headless"] = False
    return WorkerSettings.from_env(**overrides)


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


def build_parser() -> argparse.ArgumentParser:
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
    _flag(serve, "--server-url", help="Hypha server URL")
    _flag(serve, "--workspace", help="workspace to register in")
    _flag(serve, "--token", help="access token; prefer the env variable")
    serve.add_argument("--public", action="store_true",
                       help="register in workspace 'public' so the apps of every workspace run here "
                       "(replaces Hypha's built-in browser worker); needs HYPHA_ROOT_TOKEN, or a "
                       "token for 'public' in HYPHA_TOKEN (see below)")
    serve.add_argument("--root-token", help="the server's root token, used once to mint a 'public' "
                       "token [HYPHA_ROOT_TOKEN]; prefer the env variable")
    _flag(serve, "--service-id", help="service id")
    _flag(serve, "--session-reconnect-grace", type=float, help="after a server restart: seconds an app page may take to reconnect before its session is ended (0: never)")
    _flag(serve, "--drain-timeout", type=float, help="on SIGTERM: seconds starts in flight may take before every session is stopped and the service unregistered")
    _flag(serve, "--metrics-port", type=int, help="serve /health and /metrics on 127.0.0.1:PORT (BROWSER_WORKER_METRICS_HOST to change the host)")
    _worker_flags(serve)

    run = sub.add_parser("run", help="render a page or URL headlessly, print its console, screenshot it",
                         description="Open a local HTML file or a URL with no Hypha server. Exits 1 on a page error.")
    run.add_argument("target", metavar="PAGE_OR_URL")
    run.add_argument("--screenshot", metavar="OUT.png", help="write a screenshot here")
    run.add_argument("--full-page", action="store_true", help="screenshot the whole scrollable page")
    run.add_argument("--wait-for", metavar="SELECTOR", help="wait for this CSS selector before the screenshot")
    run.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for load/selector (default 30)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    _worker_flags(run)

    comp = sub.add_parser("compile", help="build an app's index.html bundle (no server or browser needed)")
    comp.add_argument("source", metavar="SOURCE", help="app source: a .js/.py script, an .html page or an ImJoy/Hypha XML source")
    comp.add_argument("--files", metavar="DIR", help="folder of the app's other files (assets are resolved and inlined from here; default: SOURCE's folder)")
    comp.add_argument("--inline-remote", action="store_true", help="also fetch and inline remote http(s) assets (5 MB each, 50 MB in all, 15 s timeout)")
    comp.add_argument("--check", action="store_true", help="open the result in headless Chromium with all network blocked; exit 1 on console errors")
    comp.add_argument("-o", "--output", metavar="OUT.html", help="write here (default: stdout)")
    comp.add_argument("--type", default=None, help="app type (default: from <config>, else window for .js, web-python for .py, iframe for .html)")
    comp.add_argument("--name", default=None, help="app name (default: the file name)")
    comp.add_argument("--server-url", help="default Hypha server URL baked into the bundle")

    assets = sub.add_parser("assets", help="fetch or extend the offline web-python assets (Pyodide, wheels)",
                            description="Offline assets for web-python apps live in static/ (or $BROWSER_WORKER_STATIC).")
    assets_sub = assets.add_subparsers(dest="assets_command", required=True, metavar="ACTION")
    fetch = assets_sub.add_parser("fetch", help="download Pyodide (npm) and the base wheelhouse (PyPI); skips what is present")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    add = assets_sub.add_parser("add", help="add pure-Python wheels (and their dependencies) to the wheelhouse")
    add.add_argument("packages", nargs="+", metavar="PACKAGE", help="requirement specifiers, e.g. pyyaml==6.0.2")
    assets_sub.add_parser("list", help="show what the asset folder holds")

    demo = sub.add_parser("demo", help="local Hypha server + sample app: install, start, call, screenshot, logs")
    demo.add_argument("--out", default="out", help="folder for the screenshot and server logs (default ./out)")
    _worker_flags(demo)

    doctor = sub.add_parser("doctor", help="report Chromium, packages and assets found on this machine")
    doctor.add_argument("--chromium-path", help="check this Chromium binary")
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
        settings = _settings(args)
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
            return _compile(args)
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


def _compile(args: argparse.Namespace) -> int:
    from browser_worker._compile import ENTRY, compile_app
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
        out_manifest, out_files = compile_app(manifest, files, {k: v for k, v in options.items() if v},
                                              Progress(_print_warning), policy=NetworkPolicy.from_env(os.environ))
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
