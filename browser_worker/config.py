"""Worker settings: one dataclass, filled from defaults, then environment, then CLI flags.

Each field says everything about itself once, through :func:`~browser_worker.settings_spec.setting`:
the environment variables it reads, its flag, its help text, its bounds, the unit it is shown in
and the commands that take it. The CLI's flags (``cli/__init__.py``), :meth:`WorkerSettings.validated`
and ``docs/configuration.md`` (``scripts/gen_config_docs.py``) are all built from that declaration,
so none of them can drift from the others."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping, Self

from browser_worker.errors import ConfigError
from browser_worker.settings_spec import (
    COMPILE, SERVE, WORKER, check_fields, env_values, setting,
)

#: Tracing levels, least first: a session traces at its app's level, capped by the worker's.
TRACE_MODES = ("off", "on-failure", "on")

#: ``prefers-color-scheme`` values, and the shape of an IANA time zone name (worker settings and
#: manifests check the same rules).
COLOR_SCHEMES = ("light", "dark", "no-preference")
TIMEZONE_PATTERN = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+){0,2}")


@dataclass(frozen=True)
class WorkerSettings:
    """Everything an operator can tune; each field declares itself with :func:`setting`."""

    # ----- the Hypha service (serve) -----------------------------------------------------------
    server_url: str | None = setting(
        None, env="HYPHA_SERVER_URL", commands=SERVE, metavar="URL",
        help="Hypha server to register on; none: `serve` starts a local one.")
    workspace: str | None = setting(
        None, env="HYPHA_WORKSPACE", commands=SERVE,
        help="Workspace to register in; none: the token's own.")
    token: str | None = setting(
        None, env="HYPHA_TOKEN", commands=SERVE,
        help="Access token for the server; prefer the environment variable (flags show in `ps`).")
    service_id: str = setting(
        "browser-worker", env="BROWSER_WORKER_SERVICE_ID", aliases=("HYPHA_SERVICE_ID",), commands=SERVE,
        help="Id of the registered worker service.")
    visibility: str = setting(
        "public", env="BROWSER_WORKER_VISIBILITY", aliases=("HYPHA_VISIBILITY",), commands=SERVE,
        choices=("public", "protected"),
        help="Visibility of the registered service: `public` (every workspace's controller and users may "
             "call it; each method authorizes its caller) or `protected` (its workspace only).")
    drain_timeout: float = setting(
        20.0, env="BROWSER_WORKER_DRAIN_TIMEOUT", commands=SERVE, unit="s", min=0, finite=True,
        help="Seconds SIGTERM gives starts in flight before every session is stopped and the service "
             "unregistered (`serve` exits 0 within about this long).")
    session_reconnect_grace: float = setting(
        90.0, env="BROWSER_WORKER_SESSION_RECONNECT_GRACE", commands=SERVE, unit="s", min=0, finite=True,
        help="Seconds an app page may take to reconnect after the worker reconnected to a restarted server; "
             "sessions whose page is not back then, or whose client gave up, are ended and the server is "
             "asked to stop listing them (0: never).")
    control_idle_timeout: float = setting(
        60.0, env="BROWSER_WORKER_CONTROL_IDLE_TIMEOUT", commands=SERVE, unit="s", positive=True, finite=True,
        help="Seconds a session's control lease is held after its holder's last action (act or viewer "
             "input); then anyone who may act in the session can take it.")
    progress_coalesce: float = setting(
        0.5, env="BROWSER_WORKER_PROGRESS_COALESCE", commands=SERVE, unit="s", min=0, finite=True,
        help="Seconds a start's progress messages are held and joined before the caller's callback gets "
             "them (each callback is two messages through the Hypha server).")
    max_watchers_per_session: int = setting(
        4, env="BROWSER_WORKER_MAX_WATCHERS_PER_SESSION", commands=SERVE, min=1,
        help="Viewers that may watch one session at once (`watch`; each shares its screencast).")
    max_watchers: int = setting(
        16, env="BROWSER_WORKER_MAX_WATCHERS", commands=SERVE, min=1,
        help="Viewers this worker serves at once, over all sessions.")
    metrics_port: int = setting(
        0, env="BROWSER_WORKER_METRICS_PORT", commands=SERVE, min=0, max=65535, metavar="PORT",
        help="Port serving `/health` (JSON) and Prometheus `/metrics` on metrics_host (0: off).")
    metrics_host: str = setting(
        "127.0.0.1", env="BROWSER_WORKER_METRICS_HOST", commands=SERVE, metavar="HOST",
        help="Address the metrics endpoint binds to.")

    # ----- Chromium ----------------------------------------------------------------------------
    chromium_path: str | None = setting(
        None, env="BROWSER_WORKER_CHROMIUM", commands=WORKER | {"doctor"}, metavar="PATH",
        help="Browser binary; none: Playwright's build, then chromium-headless-shell, then chromium.")
    chromium_args: str = setting(
        "", env="BROWSER_WORKER_CHROMIUM_ARGS", metavar="'--flag --flag'",
        help="Extra Chromium command-line flags, quoted as on a shell command line, added after the worker's own.")
    browser_endpoint: str | None = setting(
        None, env="BROWSER_WORKER_BROWSER_ENDPOINT", metavar="WS_URL",
        help="ws:// endpoint of a Playwright browser server (playwright run-server, browserless, Moon); "
             "sessions then live on that machine.")
    cdp_endpoint: str | None = setting(
        None, env="BROWSER_WORKER_CDP_ENDPOINT", metavar="URL",
        help="http(s):// or ws:// Chrome DevTools endpoint of an already running Chromium.")
    in_docker: bool = setting(
        False, env="BROWSER_WORKER_IN_DOCKER", aliases=("HYPHA_IN_DOCKER",),
        help="Running in a container: Chromium then runs without its sandbox (as Hypha's `in_docker`).")
    gpu: bool = setting(
        False, env="BROWSER_WORKER_GPU",
        help="Launch Chromium with the built-in worker's WebGPU and experimental web-platform flags "
             "(`GPU_FLAGS`), for apps that use WebGPU; JSPI is on by default in current Chromium.")
    headless: bool = setting(
        True, env="BROWSER_WORKER_HEADLESS", flag="--headed", flag_sets=False,
        help="Run Chromium without a window (off: show it, for debugging).")
    recycle_after: int = setting(
        500, env="BROWSER_WORKER_RECYCLE_AFTER", min=0,
        help="Relaunch Chromium after this many sessions, draining the old one (0: never).")

    # ----- pools and sessions ------------------------------------------------------------------
    pool_size: int = setting(
        2, env="BROWSER_WORKER_POOL_SIZE", min=0,
        help="Warm window pages kept ready: a start takes one instead of making a context.")
    python_pool_size: int = setting(
        3, env="BROWSER_WORKER_PYTHON_POOL_SIZE", min=0,
        help="Warm web-python pages kept ready, about 130 MB of Chromium memory each (a burst of 10 starts "
             "on 2 cores measured p50/p90 3.3/5.8 s with 3, 4.4/7.8 s with 2 and 5.3/8.5 s with 1).")
    python_pool_max: int = setting(
        8, env="BROWSER_WORKER_PYTHON_POOL_MAX", min=0,
        help="Most warm web-python pages kept after a burst of starts: as many as the most starts seen "
             "within 10 s, for 10 minutes, never fewer than python_pool_size.")
    python_boot_concurrency: int = setting(
        0, env="BROWSER_WORKER_PYTHON_BOOT_CONCURRENCY", min=0,
        help="Web-python pages booting Pyodide or loading an app at once (0: one per CPU core); the rest "
             "wait in arrival order, warm pages first, refills last.")
    pyodide_snapshot: bool = setting(
        True, env="BROWSER_WORKER_PYODIDE_SNAPSHOT",
        help="Boot web-python pages from a memory snapshot of a Pyodide booted once per worker process "
             "(about a second of CPU instead of several); off: every page boots the full way.")
    pyodide_packages_url: str = setting(
        "", env="BROWSER_WORKER_PYODIDE_PACKAGES", flag="--pyodide-packages", metavar="URL_OR_DIR",
        help="Where web-python apps get Pyodide-built packages (numpy, pydantic, …): a URL or a local "
             "directory holding `pyodide-lock.json` and its files; empty: the official repository of the "
             "pinned Pyodide version, reached only when an app needs a package.")
    max_sessions: int = setting(
        32, env="BROWSER_WORKER_MAX_SESSIONS", aliases=("HYPHA_MAX_BROWSER_SESSIONS",), min=1,
        help="Concurrent sessions; further starts queue.")
    queue_timeout: float = setting(
        30.0, env="BROWSER_WORKER_QUEUE_TIMEOUT", unit="s", min=0, finite=True,
        help='Seconds a queued start waits for a free slot before "worker at capacity (N/N sessions)".')
    start_timeout: float = setting(
        60.0, env="BROWSER_WORKER_START_TIMEOUT", unit="s", min=0, finite=True,
        help="Seconds an app may take to load when the start config gives no timeout.")
    max_start_timeout: float = setting(
        600.0, env="BROWSER_WORKER_MAX_START_TIMEOUT", unit="s", positive=True, finite=True,
        help="Longest start timeout a caller may ask for.")
    stop_timeout: float = setting(
        10.0, env="BROWSER_WORKER_STOP_TIMEOUT", unit="s", min=0, finite=True,
        help="Seconds closing one session's context may take before its slot is freed anyway.")
    session_ttl: float = setting(
        0.0, env="BROWSER_WORKER_SESSION_TTL", unit="s", min=0, finite=True,
        help="Seconds a session may live before it is stopped (0: no limit).")
    execute_timeout: float = setting(
        25.0, env="BROWSER_WORKER_EXECUTE_TIMEOUT", unit="s", positive=True, finite=True,
        help="Deadline of `execute` when the call gives none (a call may ask for up to max_execute_timeout); "
             "the default ends before hypha-rpc's 30 s call timeout, so a caller gets this deadline's error.")
    max_execute_timeout: float = setting(
        300.0, env="BROWSER_WORKER_MAX_EXECUTE_TIMEOUT", unit="s", positive=True, finite=True,
        help="Longest timeout a call of `execute`, `take_screenshot` or `print_pdf` may ask for.")
    screenshot_timeout: float = setting(
        10.0, env="BROWSER_WORKER_SCREENSHOT_TIMEOUT", unit="s", positive=True, finite=True,
        help="Deadline of `take_screenshot` (its `wait_for` conditions, element and capture) and of "
             "`print_pdf` when the call gives none.")

    # ----- every page's context ----------------------------------------------------------------
    viewport_width: int = setting(
        1280, env="BROWSER_WORKER_VIEWPORT_WIDTH", aliases=("PLAYWRIGHT_VIEWPORT_WIDTH",), min=1,
        help="Page viewport width in CSS pixels.")
    viewport_height: int = setting(
        720, env="BROWSER_WORKER_VIEWPORT_HEIGHT", aliases=("PLAYWRIGHT_VIEWPORT_HEIGHT",), min=1,
        help="Page viewport height in CSS pixels.")
    device_scale_factor: float = setting(
        1.0, env="BROWSER_WORKER_DEVICE_SCALE_FACTOR", aliases=("PLAYWRIGHT_DEVICE_SCALE_FACTOR",),
        min=0.25, max=4,
        help="Device pixel ratio of every page (2: screenshots at twice the viewport's pixels).")
    user_agent: str | None = setting(
        None, env="BROWSER_WORKER_USER_AGENT", aliases=("PLAYWRIGHT_USER_AGENT",),
        help="`navigator.userAgent` of every page; none: Chromium's own.")
    locale: str | None = setting(
        None, env="BROWSER_WORKER_LOCALE", aliases=("PLAYWRIGHT_LOCALE",),
        help="Locale of every page, e.g. `de-DE` (`navigator.language`, `Intl`).")
    timezone_id: str | None = setting(
        None, env="BROWSER_WORKER_TIMEZONE", aliases=("PLAYWRIGHT_TIMEZONE_ID",), flag="--timezone",
        metavar="IANA_NAME", pattern=TIMEZONE_PATTERN, shape="an IANA name like Europe/Berlin",
        help="Time zone of every page, e.g. `Europe/Berlin`; none: the machine's.")
    color_scheme: str | None = setting(
        None, env="BROWSER_WORKER_COLOR_SCHEME", aliases=("PLAYWRIGHT_COLOR_SCHEME",), choices=COLOR_SCHEMES,
        help="`prefers-color-scheme` of every page; none: Chromium's own.")
    geolocation_latitude: float | None = setting(
        None, env="BROWSER_WORKER_GEOLOCATION_LATITUDE", aliases=("PLAYWRIGHT_GEOLOCATION_LATITUDE",),
        min=-90, max=90,
        help="Latitude of every page's `navigator.geolocation`, with geolocation_longitude; pages still "
             "need the `geolocation` permission (manifest `permissions`).")
    geolocation_longitude: float | None = setting(
        None, env="BROWSER_WORKER_GEOLOCATION_LONGITUDE", aliases=("PLAYWRIGHT_GEOLOCATION_LONGITUDE",),
        min=-180, max=180,
        help="Longitude of every page's `navigator.geolocation`, with geolocation_latitude.")
    geolocation_accuracy: float | None = setting(
        None, env="BROWSER_WORKER_GEOLOCATION_ACCURACY", aliases=("PLAYWRIGHT_GEOLOCATION_ACCURACY",),
        min=0, max=1e7,
        help="Accuracy in metres of that position.")
    bypass_csp: bool = setting(
        False, env="BROWSER_WORKER_BYPASS_CSP", aliases=("PLAYWRIGHT_BYPASS_CSP",),
        help="Ignore every page's Content-Security-Policy (an app may also ask with manifest `bypass_csp`).")
    ignore_https_errors: bool = setting(
        False, env="BROWSER_WORKER_IGNORE_HTTPS_ERRORS", aliases=("PLAYWRIGHT_IGNORE_HTTPS_ERRORS",),
        help="Accept invalid TLS certificates in every page (self-signed test servers); unsafe elsewhere.")

    # ----- network rules (compile too) ---------------------------------------------------------
    allow_hosts: str = setting(
        "", env="BROWSER_WORKER_ALLOW_HOSTS", commands=COMPILE, metavar="HOST,HOST",
        help="Comma-separated host names that pages and server-side fetches may reach besides the Hypha "
             "server (empty: any), e.g. to prove apps run offline or to fence them in.")
    allow_private_network: bool = setting(
        False, env="BROWSER_WORKER_ALLOW_PRIVATE_NETWORK", commands=COMPILE,
        help="Let server-side fetches (entry files, inline_remote) reach loopback and private addresses "
             "other than the Hypha server itself.")
    allow_file_urls: bool = setting(
        False, env="BROWSER_WORKER_ALLOW_FILE_URLS", commands=COMPILE,
        help="Let web-app entry points be `file:` URLs (a `file:` page can read the disk).")

    # ----- compile budgets ---------------------------------------------------------------------
    compile_timeout: float = setting(
        30.0, env="BROWSER_WORKER_COMPILE_TIMEOUT", commands=COMPILE, unit="s", positive=True, finite=True,
        help="Seconds one compile may take, remote fetches (inline_remote) included.")
    compile_max_bundle_bytes: int = setting(
        50 * 1024 * 1024, env="BROWSER_WORKER_COMPILE_MAX_BUNDLE_BYTES", commands=COMPILE, unit="bytes", min=1,
        help="Largest compiled `index.html` bundle.")
    compile_max_asset_bytes: int = setting(
        20 * 1024 * 1024, env="BROWSER_WORKER_COMPILE_MAX_ASSET_BYTES", commands=COMPILE, unit="bytes", min=1,
        help="Largest single asset a compile inlines, a file or a fetched URL.")
    compile_max_files: int = setting(
        1000, env="BROWSER_WORKER_COMPILE_MAX_FILES", commands=COMPILE, min=1,
        help="Files per app a compile accepts (and remote assets it fetches).")

    # ----- logs and artifacts ------------------------------------------------------------------
    max_log_entries: int = setting(
        10_000, env="BROWSER_WORKER_MAX_LOG_ENTRIES", min=1,
        help="Entries one session's log ring buffer holds.")
    max_log_bytes: int = setting(
        4 * 1024 * 1024, env="BROWSER_WORKER_MAX_LOG_BYTES", unit="bytes",
        help="Bytes one session's log holds (hostile pages print without limit).")
    max_log_entry_bytes: int = setting(
        16 * 1024, env="BROWSER_WORKER_MAX_LOG_ENTRY_BYTES", unit="bytes", min=64,
        help="Bytes of one log entry's content kept, at most max_log_bytes; longer content is cut with a marker.")
    log_retention: float = setting(
        3600.0, env="BROWSER_WORKER_LOG_RETENTION", unit="s", min=0, finite=True,
        help="Seconds the logs of an ended session stay readable.")
    log_retention_sessions: int = setting(
        200, env="BROWSER_WORKER_LOG_RETENTION_SESSIONS", min=0,
        help="Ended sessions whose logs are kept, oldest dropped first.")
    retained_log_bytes: int = setting(
        64 * 1024 * 1024, env="BROWSER_WORKER_RETAINED_LOG_BYTES", unit="bytes",
        help="Bytes the logs of all ended sessions hold together, oldest dropped first (at least max_log_bytes).")
    trace: str = setting(
        "off", env="BROWSER_WORKER_TRACE", choices=TRACE_MODES, shape=f"one of {', '.join(TRACE_MODES)}",
        help="Playwright tracing of sessions (read with `get_artifact(id, 'trace')`): on-failure keeps a "
             "failed session's trace, on keeps every one; the ceiling for what apps' manifests ask.")
    download_max_file_bytes: int = setting(
        25 * 1024 * 1024, env="BROWSER_WORKER_DOWNLOAD_MAX_FILE_BYTES", unit="bytes", min=1,
        help="Largest file a session may download (sessions with manifest `downloads: true`); a larger "
             "one is deleted, saying so in its logs.")
    download_max_session_bytes: int = setting(
        100 * 1024 * 1024, env="BROWSER_WORKER_DOWNLOAD_MAX_SESSION_BYTES", unit="bytes", min=1,
        help="Bytes of downloads one session keeps; past it, further files are deleted.")
    download_max_files: int = setting(
        20, env="BROWSER_WORKER_DOWNLOAD_MAX_FILES", min=1,
        help="Files one session may download.")
    download_max_bytes: int = setting(
        1024 * 1024 * 1024, env="BROWSER_WORKER_DOWNLOAD_MAX_BYTES", unit="bytes", min=1,
        help="Bytes of downloads this worker keeps over all sessions (they go with the session's logs).")
    trace_max_bytes: int = setting(
        32 * 1024 * 1024, env="BROWSER_WORKER_TRACE_MAX_BYTES", unit="bytes", min=1,
        help="Largest trace kept for one session; a larger one is deleted, saying so in its logs.")
    retained_artifact_bytes: int = setting(
        256 * 1024 * 1024, env="BROWSER_WORKER_RETAINED_ARTIFACT_BYTES", unit="bytes",
        help="Bytes the artifacts of all ended sessions hold together (failure screenshots in memory, traces "
             "on disk), oldest sessions' first, their logs staying (at least trace_max_bytes).")

    # ----- route cache -------------------------------------------------------------------------
    cache_dir: str = setting(
        "", env="BROWSER_WORKER_CACHE_DIR", metavar="DIR",
        help="Folder of the route cache (responses of the URLs apps' manifests list in `cache_routes`, kept "
             "per workspace and app across restarts; one worker process per folder); empty: "
             "`$XDG_CACHE_HOME/browser-worker/routes`, else `~/.cache/browser-worker/routes`.")
    cache_max_bytes: int = setting(
        1024 * 1024 * 1024, env="BROWSER_WORKER_CACHE_MAX_BYTES", unit="bytes", min=0,
        help="Bytes the route cache keeps for all apps together, least recently used going first (0: no cache).")
    cache_max_entry_bytes: int = setting(
        50 * 1024 * 1024, env="BROWSER_WORKER_CACHE_MAX_ENTRY_BYTES", unit="bytes", min=1,
        help="Largest single response the route cache keeps.")

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.allow_hosts.split(",") if h.strip())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Defaults, overridden by environment variables, overridden by non-None ``overrides``."""
        environ = os.environ if environ is None else environ
        values = env_values(cls, environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def validated(self) -> Self:
        """Reject settings that cannot work, naming the field and the rule: each field's declared
        rules first, then the rules that tie fields together."""
        check_fields(self)
        if self.max_log_entry_bytes > self.max_log_bytes:
            raise ConfigError(f"max_log_entry_bytes must be at least 64 and at most max_log_bytes, got "
                              f"{self.max_log_entry_bytes} (max_log_bytes {self.max_log_bytes})")
        if self.retained_log_bytes < self.max_log_bytes:
            raise ConfigError(f"retained_log_bytes must be at least max_log_bytes ({self.max_log_bytes}), "
                              f"got {self.retained_log_bytes}")
        if self.trace_max_bytes > self.retained_artifact_bytes:
            raise ConfigError(f"trace_max_bytes must be at least 1 and at most retained_artifact_bytes, got "
                              f"{self.trace_max_bytes} (retained_artifact_bytes {self.retained_artifact_bytes})")
        if (self.geolocation_latitude is None) != (self.geolocation_longitude is None):
            raise ConfigError("geolocation_latitude and geolocation_longitude go together: give both or neither")
        if self.browser_endpoint and self.cdp_endpoint:
            raise ConfigError("give either browser_endpoint or cdp_endpoint, not both")
        if self.start_timeout > self.max_start_timeout:
            raise ConfigError(f"start_timeout ({self.start_timeout:g}) must not exceed "
                              f"max_start_timeout ({self.max_start_timeout:g})")
        return self

    def with_(self, **changes: Any) -> Self:
        return replace(self, **changes).validated()


#: Environment variables read besides the settings' own, and what each does
#: (docs/configuration.md lists them after the settings).
#: Every setting at its default: what a component uses when it is built without settings (one
#: instance, so no module writes a default of its own).
DEFAULTS = WorkerSettings()

#: hypha-rpc's default call timeout (seconds): the default deadline of every method a client calls
#: directly ends at least 2 s before it, so the caller gets the worker's error, not the transport's.
RPC_CALL_TIMEOUT = 30.0

OTHER_ENV = {
    "HYPHA_ROOT_TOKEN": "The Hypha server's root token, for `serve --public` (as `--root-token`): used once, "
                        "to mint a token for workspace `public`.",
    "BROWSER_WORKER_STATIC": "Folder of the offline web-python assets (Pyodide, wheels; `browser-worker assets`); "
                             "default: the `static/` folder of the installation.",
    "XDG_CACHE_HOME": "Base of the default route cache folder (`cache_dir` empty): "
                      "`$XDG_CACHE_HOME/browser-worker/routes`, else `~/.cache/browser-worker/routes`.",
}

#: What ``gpu`` adds to Chromium's command line (the flags Hypha's built-in worker always uses).
GPU_FLAGS = ("--enable-unsafe-webgpu", "--use-vulkan", "--enable-features=Vulkan,WebAssemblyJSPI",
             "--enable-experimental-web-platform-features", "--ignore-gpu-blocklist")
