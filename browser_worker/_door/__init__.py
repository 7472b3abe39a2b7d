"""The request door: every service call's arguments parsed once into typed, validated
requests (a wrong value fails naming the field and the rule), and the caller authorized by its
Hypha ``context``. Nothing beyond this package sees a raw RPC value."""

from browser_worker._door.apptypes import canonical_type, CONNECTS_TO_HYPHA, SUPPORTED_TYPES
from browser_worker._door.artifact_kinds import ARTIFACT_KINDS, CONTENT_TYPES, parse_artifact_kind, SCREENSHOT, TRACE
from browser_worker._door.authz import Actor, authorize, Caller, caller_from, check_name, Kind, Role
from browser_worker._door.calls import ExecuteRequest, Limits, LogsQuery, MAX_SCRIPT_CHARS, parse_execute, parse_logs, parse_session_id
from browser_worker._door.control import (
    CALL_SECONDS, DEFAULT_SNAPSHOT_CHARS, MAX_UPLOAD_BYTES, MAX_WAIT_SECONDS, NAVIGATION_SECONDS, STEP_SECONDS, ActRequest, SnapshotRequest, Step, Target,
    InputEvent, parse_act, parse_grant, parse_input, parse_snapshot,
)
from browser_worker._door.compile import CompileRequest, parse_compile
from browser_worker._door.live import parse_stream_logs, parse_watch, WatchRequest
from browser_worker._door.manifest import clean, is_html, requirements, web_app_url
from browser_worker._door.pictures import parse_pdf, parse_screenshot, PdfRequest, ScreenshotRequest, WaitCondition
from browser_worker._door.start import parse_start, reroute_start, StartRequest

__all__ = [
    "Actor",
    "Kind",
    "ActRequest",
    "CALL_SECONDS",
    "DEFAULT_SNAPSHOT_CHARS",
    "MAX_UPLOAD_BYTES",
    "MAX_WAIT_SECONDS",
    "NAVIGATION_SECONDS",
    "InputEvent",
    "parse_act",
    "parse_input",
    "parse_grant",
    "parse_snapshot",
    "SnapshotRequest",
    "Step",
    "STEP_SECONDS",
    "Target",
    "ARTIFACT_KINDS",
    "authorize",
    "Caller",
    "caller_from",
    "canonical_type",
    "check_name",
    "clean",
    "CompileRequest",
    "CONNECTS_TO_HYPHA",
    "CONTENT_TYPES",
    "ExecuteRequest",
    "is_html",
    "Limits",
    "LogsQuery",
    "MAX_SCRIPT_CHARS",
    "parse_artifact_kind",
    "parse_compile",
    "parse_execute",
    "parse_logs",
    "parse_pdf",
    "parse_screenshot",
    "parse_session_id",
    "parse_start",
    "parse_stream_logs",
    "parse_watch",
    "PdfRequest",
    "requirements",
    "reroute_start",
    "Role",
    "SCREENSHOT",
    "ScreenshotRequest",
    "StartRequest",
    "SUPPORTED_TYPES",
    "TRACE",
    "WaitCondition",
    "WatchRequest",
    "web_app_url",
]
