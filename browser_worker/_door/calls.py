"""Parse each service call once, at the door, into a typed and validated request.

Everything that arrives over RPC is hostile: types are checked strictly, numbers must be finite
and are capped by the worker's limits, URLs obey the network policy, and the session id is bound
to the one workspace the caller is authorized for. Errors name the field and the rule. Nothing
downstream reads the raw dicts again. Screenshots and PDFs are parsed in ``captures.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from browser_worker.config import WorkerSettings
from browser_worker.errors import WorkerError
from browser_worker.config import DEFAULTS

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
MAX_MANIFEST_BYTES = 1024 * 1024
#: A whole library fits (plotly.min.js is ~3.5 MB); the page's result has its own bound.
MAX_SCRIPT_CHARS = 16 * 1024 * 1024


_SETTINGS = DEFAULTS


@dataclass(frozen=True)
class Limits:
    """Caps the worker applies to what callers ask for; the defaults are ``WorkerSettings``'s."""

    default_start_timeout: float = _SETTINGS.start_timeout
    max_start_timeout: float = _SETTINGS.max_start_timeout
    default_execute_timeout: float = _SETTINGS.execute_timeout
    max_execute_timeout: float = _SETTINGS.max_execute_timeout
    screenshot_timeout: float = _SETTINGS.screenshot_timeout
    #: The most tracing an app may ask for (``WorkerSettings.trace``), and what it gets by default.
    trace: str = _SETTINGS.trace

    @classmethod
    def from_settings(cls, s: WorkerSettings) -> "Limits":
        return cls(default_start_timeout=s.start_timeout, max_start_timeout=s.max_start_timeout,
                   default_execute_timeout=s.execute_timeout, max_execute_timeout=s.max_execute_timeout,
                   screenshot_timeout=s.screenshot_timeout, trace=s.trace)


def _message(exc: ValidationError, what: str) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or what
        parts.append(f"{loc}: {err.get('msg')}")
    return f"invalid {what}: " + "; ".join(parts)


def _validate(model: type[BaseModel], data: Any, what: str) -> Any:
    if hasattr(data, "model_dump") and callable(data.model_dump):  # e.g. Hypha's WorkerConfig
        data = {**data.model_dump(), **{k: getattr(data, k) for k in ("progress_callback",) if hasattr(data, k)}}
    if not isinstance(data, dict):
        raise WorkerError(f"{what} must be an object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WorkerError(_message(exc, what)) from None


def _timeout(value: float | None, default: float, cap: float, field: str) -> float:
    if value is None:
        return default
    if value > cap:
        raise WorkerError(f"{field} {value:g}s is above this worker's maximum of {cap:g}s")
    return float(value)


# ----- reading and acting on sessions ---------------------------------------------------------

class _RawLogs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Annotated[StrictStr, Field(max_length=32)] | None = None
    offset: Annotated[int, Field(ge=0, le=10**9, strict=True)] = 0
    limit: Annotated[int, Field(ge=0, le=100_000, strict=True)] | None = None


@dataclass(frozen=True)
class LogsQuery:
    type: str | None
    offset: int
    limit: int | None


def parse_logs(type: Any = None, offset: Any = 0, limit: Any = None) -> LogsQuery:
    raw = _validate(_RawLogs, {"type": type, "offset": 0 if offset is None else offset, "limit": limit}, "get_logs arguments")
    return LogsQuery(raw.type, raw.offset, raw.limit)


class _RawExecute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    script: Annotated[StrictStr, Field(min_length=1)]
    timeout: Seconds | None = None


@dataclass(frozen=True)
class ExecuteRequest:
    script: str
    timeout: float


def parse_execute(limits: Limits, script: Any, timeout: Any = None) -> ExecuteRequest:
    raw = _validate(_RawExecute, {"script": script, **({"timeout": timeout} if timeout is not None else {})}, "execute arguments")
    if len(raw.script) > MAX_SCRIPT_CHARS:
        raise WorkerError(f"script is {len(raw.script)} characters (rule: at most {MAX_SCRIPT_CHARS // 2**20} MiB; "
                          "load a larger library from a URL in the page instead)")
    if not raw.script.strip():
        raise WorkerError("script: must be non-empty JavaScript")
    return ExecuteRequest(
        raw.script,
        _timeout(raw.timeout, limits.default_execute_timeout, limits.max_execute_timeout, "timeout"),
    )


#: Longest session id a caller may name (``<128-character workspace>/<128-character client>``).
MAX_SESSION_ID = 300


def parse_session_id(value: Any, field: str = "session_id") -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_SESSION_ID or not value.isprintable():
        raise WorkerError(f"{field} must be a non-empty string of at most {MAX_SESSION_ID} printable characters")
    return value


def check_free_id(value: str, field: str = "id") -> str:
    """A session id the in-process caller chose: bounded, printable, no surrounding spaces."""
    if not value or len(value) > MAX_SESSION_ID or not value.isprintable() or value != value.strip():
        raise WorkerError(
            f"{field} {value[:80]!r} is malformed (rule: 1-{MAX_SESSION_ID} printable characters, "
            "no control characters, no leading or trailing spaces)"
        )
    return value
