"""Worker settings: one dataclass, filled from defaults, then environment, then CLI flags."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from browser_worker.errors import ConfigError

#: Tracing levels, least first: a session traces at its app's level, capped by the worker's.
TRACE_MODES = ("off", "on-failure", "on")


def _env(name: str, *aliases: str) -> dict[str, Any]:
    """The variable a setting reads, and other names read when it is unset (Hypha's built-in
    worker's ``HYPHA_*``/``PLAYWRIGHT_*`` variables, so an operator's environment keeps working)."""
    return {"env": name, "aliases": aliases}


@dataclass(frozen=True)
class WorkerSettings:
    """Everything an operator can tune. Each field names the environment variable it reads."""

    #: Hypha server to register on; none: `serve` starts a local one (the embedded default).
    server_url: str | None = field(default=None, metadata=_env("HYPHA_SERVER_URL"))
    #: Workspace to register in (default: the token's own).
    workspace: str | None = field(default=None, metadata=_env("HYPHA_WORKSPACE"))
    #: Access token for the server (prefer the environment variable: flags show in `ps`).
    token: str | None = field(default=None, metadata=_env("HYPHA_TOKEN"))
    #: Id of the registered worker service.
    service_id: str = field(default="browser-worker", metadata=_env("BROWSER_WORKER_SERVICE_ID", "HYPHA_SERVICE_ID"))
    #: Browser binary (default: Playwright's build, then chromium-headless-shell, then chromium).
    chromium_path: str | None = field(default=None, metadata=_env("BROWSER_WORKER_CHROMIUM"))
    #: Extra Chromium command-line flags, quoted as on a shell command line (added after the worker's own).
    chromium_args: str = field(default="", metadata=_env("BROWSER_WORKER_CHROMIUM_ARGS"))
    #: ws:// endpoint of a Playwright browser server; sessions then live on that machine.
    browser_endpoint: str | None = field(default=None, metadata=_env("BROWSER_WORKER_BROWSER_ENDPOINT"))
    #: http(s):// or ws:// Chrome DevTools endpoint of an already running Chromium.
    cdp_endpoint: str | None = field(default=None, metadata=_env("BROWSER_WORKER_CDP_ENDPOINT"))
    #: Warm window pages kept ready (a start takes one instead of making a context).
    pool_size: int = field(default=2, metadata=_env("BROWSER_WORKER_POOL_SIZE"))
    #: Warm web-python pages kept ready: a burst of 10 starts measured p50/p90 3.3/5.8 s with 3,
    #: 4.4/7.8 s with 2 and 5.3/8.5 s with 1 on 2 cores; each costs ~130 MB of Chromium memory.
    python_pool_size: int = field(default=3, metadata=_env("BROWSER_WORKER_PYTHON_POOL_SIZE"))
    #: Most warm web-python pages kept after a burst of starts: the pool keeps as many as the
    #: most starts seen within 10 s, for 10 minutes (never fewer than python_pool_size).
    python_pool_max: int = field(default=8, metadata=_env("BROWSER_WORKER_PYTHON_POOL_MAX"))
    #: Web-python pages booting Pyodide or loading an app at once (0: one per CPU core). The rest
    #: wait in arrival order, warm pages first, refills last: a burst's first starts finish early.
    python_boot_concurrency: int = field(default=0, metadata=_env("BROWSER_WORKER_PYTHON_BOOT_CONCURRENCY"))
    #: Concurrent sessions; further starts queue.
    max_sessions: int = field(default=32, metadata=_env("BROWSER_WORKER_MAX_SESSIONS", "HYPHA_MAX_BROWSER_SESSIONS"))
    #: Seconds a queued start waits for a free slot before "worker at capacity (N/N sessions)".
    queue_timeout: float = field(default=30.0, metadata=_env("BROWSER_WORKER_QUEUE_TIMEOUT"))
    #: Seconds an app may take to load when the start config gives no timeout.
    start_timeout: float = field(default=60.0, metadata=_env("BROWSER_WORKER_START_TIMEOUT"))
    #: Log ring buffer of one session, in entries.
    max_log_entries: int = field(default=10_000, metadata=_env("BROWSER_WORKER_MAX_LOG_ENTRIES"))
    #: Seconds the logs of an ended session stay readable.
    log_retention: float = field(default=3600.0, metadata=_env("BROWSER_WORKER_LOG_RETENTION"))
    #: Ended sessions whose logs are kept (oldest dropped first).
    log_retention_sessions: int = field(
        default=200, metadata=_env("BROWSER_WORKER_LOG_RETENTION_SESSIONS")
    )
    #: Page viewport width in CSS pixels.
    viewport_width: int = field(default=1280, metadata=_env("BROWSER_WORKER_VIEWPORT_WIDTH", "PLAYWRIGHT_VIEWPORT_WIDTH"))
    #: Page viewport height in CSS pixels.
    viewport_height: int = field(default=720, metadata=_env("BROWSER_WORKER_VIEWPORT_HEIGHT", "PLAYWRIGHT_VIEWPORT_HEIGHT"))
    #: Device pixel ratio of every page (2: screenshots at twice the viewport's pixels).
    device_scale_factor: float = field(default=1.0, metadata=_env("BROWSER_WORKER_DEVICE_SCALE_FACTOR",
                                                                  "PLAYWRIGHT_DEVICE_SCALE_FACTOR"))
    #: ``navigator.userAgent`` of every page (default: Chromium's own).
    user_agent: str | None = field(default=None, metadata=_env("BROWSER_WORKER_USER_AGENT", "PLAYWRIGHT_USER_AGENT"))
    #: Locale of every page, e.g. ``de-DE`` (``navigator.language``, ``Intl``).
    locale: str | None = field(default=None, metadata=_env("BROWSER_WORKER_LOCALE", "PLAYWRIGHT_LOCALE"))
    #: Time zone of every page, e.g. ``Europe/Berlin`` (default: the machine's).
    timezone_id: str | None = field(default=None, metadata=_env("BROWSER_WORKER_TIMEZONE", "PLAYWRIGHT_TIMEZONE_ID"))
    #: ``prefers-color-scheme`` of every page: light, dark or no-preference.
    color_scheme: str | None = field(default=None, metadata=_env("BROWSER_WORKER_COLOR_SCHEME", "PLAYWRIGHT_COLOR_SCHEME"))
    #: ``navigator.geolocation`` of every page (latitude, with ``geolocation_longitude``); pages
    #: still need the ``geolocation`` permission (manifest ``permissions``).
    geolocation_latitude: float | None = field(default=None, metadata=_env("BROWSER_WORKER_GEOLOCATION_LATITUDE",
                                                                          "PLAYWRIGHT_GEOLOCATION_LATITUDE"))
    #: Longitude of every page's ``navigator.geolocation`` (with ``geolocation_latitude``).
    geolocation_longitude: float | None = field(default=None, metadata=_env("BROWSER_WORKER_GEOLOCATION_LONGITUDE",
                                                                           "PLAYWRIGHT_GEOLOCATION_LONGITUDE"))
    #: Accuracy in metres of that position.
    geolocation_accuracy: float | None = field(default=None, metadata=_env("BROWSER_WORKER_GEOLOCATION_ACCURACY",
                                                                          "PLAYWRIGHT_GEOLOCATION_ACCURACY"))
    #: Ignore every page's Content-Security-Policy (an app may also ask with manifest ``bypass_csp``).
    bypass_csp: bool = field(default=False, metadata=_env("BROWSER_WORKER_BYPASS_CSP", "PLAYWRIGHT_BYPASS_CSP"))
    #: Accept invalid TLS certificates in every page (self-signed test servers); unsafe elsewhere.
    ignore_https_errors: bool = field(default=False, metadata=_env("BROWSER_WORKER_IGNORE_HTTPS_ERRORS",
                                                                   "PLAYWRIGHT_IGNORE_HTTPS_ERRORS"))
    #: Visibility of the registered service: ``public`` (every workspace's controller and users
    #: may call it; each method authorizes its caller) or ``protected`` (its workspace only).
    visibility: str = field(default="public", metadata=_env("BROWSER_WORKER_VISIBILITY", "HYPHA_VISIBILITY"))
    #: Running in a container: Chromium then runs without its sandbox (as Hypha's ``in_docker``).
    in_docker: bool = field(default=False, metadata=_env("BROWSER_WORKER_IN_DOCKER", "HYPHA_IN_DOCKER"))
    #: Launch Chromium with the built-in worker's WebGPU/experimental-web-platform flags
    #: (``GPU_FLAGS``): for apps that use WebGPU; JSPI is on by default in current Chromium.
    gpu: bool = field(default=False, metadata=_env("BROWSER_WORKER_GPU"))
    #: Run Chromium headless (`--headed` shows the window, for debugging).
    headless: bool = field(default=True, metadata=_env("BROWSER_WORKER_HEADLESS"))
    #: Seconds closing one session's context may take before its slot is freed anyway.
    stop_timeout: float = field(default=10.0, metadata=_env("BROWSER_WORKER_STOP_TIMEOUT"))
    #: Seconds SIGTERM gives starts in flight before every session is stopped and the service
    #: unregistered (``serve`` exits 0 within about this long).
    drain_timeout: float = field(default=20.0, metadata=_env("BROWSER_WORKER_DRAIN_TIMEOUT"))
    #: Viewers that may watch one session at once (``watch``; each shares its screencast).
    max_watchers_per_session: int = field(default=4, metadata=_env("BROWSER_WORKER_MAX_WATCHERS_PER_SESSION"))
    #: Viewers this worker serves at once, over all sessions.
    max_watchers: int = field(default=16, metadata=_env("BROWSER_WORKER_MAX_WATCHERS"))
    #: Seconds an app page may take to reconnect after the worker reconnected to a restarted
    #: server; sessions whose page the server still does not know then are ended; 0: never.
    session_reconnect_grace: float = field(default=90.0, metadata=_env("BROWSER_WORKER_SESSION_RECONNECT_GRACE"))
    #: Seconds a start's progress messages are held and joined before the caller's callback
    #: gets them: each callback is two messages through the Hypha server.
    progress_coalesce: float = field(default=0.5, metadata=_env("BROWSER_WORKER_PROGRESS_COALESCE"))
    #: Relaunch Chromium after this many sessions (the old one drains); 0: never.
    recycle_after: int = field(default=500, metadata=_env("BROWSER_WORKER_RECYCLE_AFTER"))
    #: Seconds a session may live before it is stopped; 0 turns the limit off.
    session_ttl: float = field(default=0.0, metadata=_env("BROWSER_WORKER_SESSION_TTL"))
    #: Let web-app entry points be `file:` URLs (a `file:` page can read the disk).
    allow_file_urls: bool = field(default=False, metadata=_env("BROWSER_WORKER_ALLOW_FILE_URLS"))
    #: Let server-side fetches (entry files, inline_remote) reach loopback/private addresses
    #: other than the Hypha server itself.
    allow_private_network: bool = field(default=False, metadata=_env("BROWSER_WORKER_ALLOW_PRIVATE_NETWORK"))
    #: Longest start timeout a caller may ask for (seconds).
    max_start_timeout: float = field(default=600.0, metadata=_env("BROWSER_WORKER_MAX_START_TIMEOUT"))
    #: Deadline of ``execute`` when the call gives none, and the most it may ask for.
    execute_timeout: float = field(default=30.0, metadata=_env("BROWSER_WORKER_EXECUTE_TIMEOUT"))
    #: Longest `execute` timeout a caller may ask for (seconds).
    max_execute_timeout: float = field(default=300.0, metadata=_env("BROWSER_WORKER_MAX_EXECUTE_TIMEOUT"))
    #: Deadline of ``take_screenshot`` (its ``wait_for`` conditions, element and capture) and of
    #: ``print_pdf`` when the call gives none; a call may ask for up to ``max_execute_timeout``.
    screenshot_timeout: float = field(default=10.0, metadata=_env("BROWSER_WORKER_SCREENSHOT_TIMEOUT"))
    #: Compile budgets: seconds for a whole compile (inline_remote included), bytes of the
    #: bundle, bytes of one asset, and files per app.
    compile_timeout: float = field(default=30.0, metadata=_env("BROWSER_WORKER_COMPILE_TIMEOUT"))
    #: Largest compiled `index.html` bundle (bytes).
    compile_max_bundle_bytes: int = field(default=50 * 1024 * 1024, metadata=_env("BROWSER_WORKER_COMPILE_MAX_BUNDLE_BYTES"))
    #: Largest single asset a compile inlines, a file or a fetched URL (bytes).
    compile_max_asset_bytes: int = field(default=20 * 1024 * 1024, metadata=_env("BROWSER_WORKER_COMPILE_MAX_ASSET_BYTES"))
    #: Files per app a compile accepts (and remote assets it fetches).
    compile_max_files: int = field(default=1000, metadata=_env("BROWSER_WORKER_COMPILE_MAX_FILES"))
    #: Serve `/health` (JSON) and Prometheus `/metrics` on this port; 0: off.
    metrics_port: int = field(default=0, metadata=_env("BROWSER_WORKER_METRICS_PORT"))
    #: Address the metrics endpoint binds to.
    metrics_host: str = field(default="127.0.0.1", metadata=_env("BROWSER_WORKER_METRICS_HOST"))
    #: Comma-separated host names pages may reach; empty means any. Used to prove apps run
    #: offline (only the Hypha server) and to fence apps in on locked-down deployments.
    allow_hosts: str = field(default="", metadata=_env("BROWSER_WORKER_ALLOW_HOSTS"))
    #: Where web-python apps get Pyodide-built packages (numpy, pydantic, …): a URL or a local
    #: directory holding ``pyodide-lock.json`` and the files it lists. Empty: the official
    #: repository of the pinned Pyodide version, reached only when an app needs a package.
    pyodide_packages_url: str = field(default="", metadata=_env("BROWSER_WORKER_PYODIDE_PACKAGES"))
    #: Log budgets (hostile pages print without limit): bytes one session's log holds, bytes one
    #: entry's content keeps (longer content is cut with a marker), bytes the logs of all ended
    #: sessions hold together (oldest dropped first; at least max_log_bytes).
    max_log_bytes: int = field(default=4 * 1024 * 1024, metadata=_env("BROWSER_WORKER_MAX_LOG_BYTES"))
    #: Bytes of one log entry's content (longer content is cut with a marker).
    max_log_entry_bytes: int = field(default=16 * 1024, metadata=_env("BROWSER_WORKER_MAX_LOG_ENTRY_BYTES"))
    #: Bytes the logs of all ended sessions hold together (at least max_log_bytes).
    retained_log_bytes: int = field(default=64 * 1024 * 1024, metadata=_env("BROWSER_WORKER_RETAINED_LOG_BYTES"))
    #: Playwright tracing of sessions: off, on-failure (a trace is kept when a session fails) or
    #: on (always kept). The ceiling for apps: a manifest's `trace` may ask for less, never more.
    trace: str = field(default="off", metadata=_env("BROWSER_WORKER_TRACE"))
    #: Largest trace kept for one session (bytes); a larger one is deleted, saying so in its logs.
    trace_max_bytes: int = field(default=32 * 1024 * 1024, metadata=_env("BROWSER_WORKER_TRACE_MAX_BYTES"))
    #: Bytes the artifacts of all ended sessions hold together (failure screenshots in memory,
    #: traces on disk); the oldest sessions' artifacts go first, their logs stay (at least trace_max_bytes).
    retained_artifact_bytes: int = field(default=256 * 1024 * 1024, metadata=_env("BROWSER_WORKER_RETAINED_ARTIFACT_BYTES"))
    #: Boot web-python pages from a memory snapshot of a Pyodide booted once per worker process
    #: (about a second of CPU instead of several); off: every page boots the full way.
    pyodide_snapshot: bool = field(default=True, metadata=_env("BROWSER_WORKER_PYODIDE_SNAPSHOT"))
    #: Folder of the route cache: responses of the URLs an app's manifest lists in `cache_routes`,
    #: kept per workspace and app across restarts. Empty: `$XDG_CACHE_HOME/browser-worker/routes`
    #: (else `~/.cache/browser-worker/routes`). One worker process per folder.
    cache_dir: str = field(default="", metadata=_env("BROWSER_WORKER_CACHE_DIR"))
    #: Bytes the route cache keeps for all apps together (least recently used go first); 0: no cache.
    cache_max_bytes: int = field(default=1024 * 1024 * 1024, metadata=_env("BROWSER_WORKER_CACHE_MAX_BYTES"))
    #: Largest single response the route cache keeps (bytes).
    cache_max_entry_bytes: int = field(default=50 * 1024 * 1024, metadata=_env("BROWSER_WORKER_CACHE_MAX_ENTRY_BYTES"))

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.allow_hosts.split(",") if h.strip())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "WorkerSettings":
        """Defaults, overridden by environment variables, overridden by non-None ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = next((environ[n] for n in (f.metadata["env"], *f.metadata.get("aliases", ()))
                        if environ.get(n) not in (None, "")), None)
            if raw is not None:
                values[f.name] = _coerce(f.name, 0.0 if f.default is None and str(f.type).startswith("float") else f.default, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def validated(self) -> "WorkerSettings":
        """Reject settings that cannot work, naming the field."""
        for name in ("max_sessions", "max_log_entries", "viewport_width", "viewport_height"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("pool_size", "python_pool_size", "python_pool_max", "python_boot_concurrency",
                     "log_retention_sessions", "recycle_after", "metrics_port", "cache_max_bytes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.max_log_entry_bytes < 64 or self.max_log_bytes < self.max_log_entry_bytes:
            raise ConfigError(
                f"max_log_entry_bytes must be at least 64 and at most max_log_bytes, got "
                f"{self.max_log_entry_bytes} (max_log_bytes {self.max_log_bytes})"
            )
        if self.retained_log_bytes < self.max_log_bytes:
            raise ConfigError(
                f"retained_log_bytes must be at least max_log_bytes ({self.max_log_bytes}), "
                f"got {self.retained_log_bytes}"
            )
        if self.trace not in TRACE_MODES:
            raise ConfigError(f"trace must be one of {', '.join(TRACE_MODES)}, got {self.trace!r}")
        if self.trace_max_bytes < 1 or self.retained_artifact_bytes < self.trace_max_bytes:
            raise ConfigError(
                f"trace_max_bytes must be at least 1 and at most retained_artifact_bytes, got "
                f"{self.trace_max_bytes} (retained_artifact_bytes {self.retained_artifact_bytes})"
            )
        if not (0.25 <= self.device_scale_factor <= 4) or not math.isfinite(self.device_scale_factor):
            raise ConfigError(f"device_scale_factor must be between 0.25 and 4, got {self.device_scale_factor}")
        if self.color_scheme is not None and self.color_scheme not in COLOR_SCHEMES:
            raise ConfigError(f"color_scheme must be light, dark or no-preference, got {self.color_scheme!r}")
        if self.timezone_id is not None and not TIMEZONE_PATTERN.fullmatch(self.timezone_id):
            raise ConfigError(f"timezone_id must be an IANA name like Europe/Berlin, got {self.timezone_id!r}")
        if (self.geolocation_latitude is None) != (self.geolocation_longitude is None):
            raise ConfigError("geolocation_latitude and geolocation_longitude go together: give both or neither")
        if self.geolocation_latitude is not None and not (-90 <= self.geolocation_latitude <= 90):
            raise ConfigError(f"geolocation_latitude must be between -90 and 90, got {self.geolocation_latitude}")
        if self.geolocation_longitude is not None and not (-180 <= self.geolocation_longitude <= 180):
            raise ConfigError(f"geolocation_longitude must be between -180 and 180, got {self.geolocation_longitude}")
        if self.geolocation_accuracy is not None and not (0 <= self.geolocation_accuracy < 1e7):
            raise ConfigError(f"geolocation_accuracy must be metres, 0 or more, got {self.geolocation_accuracy}")
        if self.visibility not in ("public", "protected"):
            raise ConfigError(f"visibility must be public or protected, got {self.visibility!r}")
        if self.browser_endpoint and self.cdp_endpoint:
            raise ConfigError("give either browser_endpoint or cdp_endpoint, not both")
        for name in ("queue_timeout", "start_timeout", "log_retention", "stop_timeout", "session_ttl",
                     "progress_coalesce", "drain_timeout", "session_reconnect_grace"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ConfigError(f"{name} must be a finite number, not negative, got {getattr(self, name)}")
        for name in ("compile_max_bundle_bytes", "compile_max_asset_bytes", "compile_max_files", "cache_max_entry_bytes",
                     "max_watchers_per_session", "max_watchers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_start_timeout", "execute_timeout", "max_execute_timeout", "screenshot_timeout", "compile_timeout"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a finite positive number, got {getattr(self, name)}")
        if self.start_timeout > self.max_start_timeout:
            raise ConfigError(f"start_timeout ({self.start_timeout:g}) must not exceed max_start_timeout ({self.max_start_timeout:g})")
        return self

    def with_(self, **changes: Any) -> "WorkerSettings":
        return replace(self, **changes).validated()


#: ``prefers-color-scheme`` values, and the shape of an IANA time zone name (worker settings and
#: manifests check the same rules).
COLOR_SCHEMES = ("light", "dark", "no-preference")
TIMEZONE_PATTERN = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+){0,2}")

#: What ``gpu`` adds to Chromium's command line (the flags Hypha's built-in worker always uses).
GPU_FLAGS = ("--enable-unsafe-webgpu", "--use-vulkan", "--enable-features=Vulkan,WebAssemblyJSPI",
             "--enable-experimental-web-platform-features", "--ignore-gpu-blocklist")


def _coerce(name: str, default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    return raw
