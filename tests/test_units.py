"""Pure pieces: log ring buffer, session registry retention, settings, templates, compile."""

from __future__ import annotations

import json
import re
import time

import pytest

from browser_worker import SessionNotFoundError, UnsupportedAppTypeError, WorkerError, WorkerSettings
from browser_worker._compile.compiler import compile_app
from browser_worker._logs.buffer import REDACTED, LogBuffer
from browser_worker._session.session import Session, SessionRegistry, SessionStatus
from browser_worker._render.templates import bundle_type, render_window


def test_ring_buffer_is_bounded_and_pages() -> None:
    buf = LogBuffer(max_entries=100)
    for i in range(100_000):
        buf.append("console" if i % 2 else "error", f"line {i}", level="log" if i % 2 else "error", source="console")
    assert len(buf) == 100 and buf.dropped == 99_900
    page = buf.query(offset=10, limit=5)
    assert page["total"] == 100 and page["offset"] == 10 and page["limit"] == 5
    assert [i["content"] for i in page["items"]] == [f"line {99_910 + k}" for k in range(5)]
    errors = buf.query(type="error")
    assert errors["total"] == 50 and all(i["type"] == "error" for i in errors["items"])
    assert {"type", "content", "level", "time", "source"} <= set(page["items"][0])


def test_logs_redact_secrets() -> None:
    buf = LogBuffer(secrets=["s3cr3t-token-value"])
    buf.console("log", "connecting with s3cr3t-token-value now")
    assert buf.texts() == [f"[log] connecting with {REDACTED} now"]


def _session(sid: str) -> Session:
    return Session(id=sid, app_id="a", workspace="ws", client_id="c", app_type="window",
                   entry_point=None, logs=LogBuffer())


def test_registry_keeps_ended_sessions_by_count_and_age() -> None:
    reg = SessionRegistry(retention_seconds=3600, retention_count=2)
    for sid in ("ws/1", "ws/2", "ws/3"):
        s = _session(sid)
        reg.add(s)
        s.move_to(SessionStatus.FAILED, "x")
        reg.retire(s)
    with pytest.raises(SessionNotFoundError):
        reg.any("ws/1")
    assert reg.any("ws/3").status is SessionStatus.FAILED
    old = SessionRegistry(retention_seconds=0.01, retention_count=10)
    s = _session("ws/old")
    old.add(s)
    old.retire(s)
    time.sleep(0.02)
    with pytest.raises(SessionNotFoundError):
        old.any("ws/old")


def test_illegal_transition_is_caught() -> None:
    s = _session("ws/x")
    s.move_to(SessionStatus.RUNNING)
    s.move_to(SessionStatus.STOPPING)
    s.move_to(SessionStatus.STOPPED)
    with pytest.raises(RuntimeError):
        s.move_to(SessionStatus.RUNNING)


def test_settings_from_env_and_flags() -> None:
    env = {"BROWSER_WORKER_POOL_SIZE": "5", "HYPHA_SERVER_URL": "http://x", "BROWSER_WORKER_HEADLESS": "no"}
    s = WorkerSettings.from_env(env, pool_size=7)
    assert s.pool_size == 7 and s.server_url == "http://x" and s.headless is False
    with pytest.raises(ValueError, match="BROWSER_WORKER_MAX_SESSIONS|max_sessions"):
        WorkerSettings.from_env({"BROWSER_WORKER_MAX_SESSIONS": "many"})
    with pytest.raises(ValueError, match="max_sessions must be at least 1"):
        WorkerSettings.from_env({}, max_sessions=0)


@pytest.mark.parametrize("hostile", [
    "</script><script>alert(1)</script>",
    "<!-- <script>",
    "`${document.cookie}`",
    "line\u2028sep\u2029 😀 ünï",
    "{{ 7*7 }} {% raw %}",
])
def test_window_template_embeds_code_as_data(hostile: str) -> None:
    html = render_window(hostile, name=hostile, requirements=[hostile])
    block = re.search(r'<script id="bw-app" type="application/json">(.*?)</script>', html, re.S)
    assert block, "app data block must close exactly where the template closes it"
    data = json.loads(block.group(1))
    assert data["script"] == hostile and data["name"] == hostile and data["requirements"] == [hostile]
    assert "49" not in html  # no template evaluation of user text
    assert bundle_type(html) == "window"


def test_compile_renders_and_is_idempotent() -> None:
    manifest = {"type": "hypha", "name": "x", "entry_point": "main.js", "_rtype": "x"}
    files = [{"path": "main.js", "content": "api.export({})", "format": "text"},
             {"path": "data.txt", "content": "keep me", "format": "text"}]
    m1, f1 = compile_app(manifest, files, {"server_url": "http://s"})
    assert m1["entry_point"] == "index.html" and "_rtype" not in m1
    assert m1["content_hash"].startswith("sha256:")
    assert sorted(f["path"] for f in f1) == ["data.txt", "index.html", "main.js"]  # the source is kept
    m2, f2 = compile_app(m1, f1, {"server_url": "http://s"})
    assert f2 == f1 and m2["content_hash"] == m1["content_hash"]
    m3, f3 = compile_app(manifest, files, {"server_url": "http://s"})
    assert f3 == f1  # deterministic


def test_compile_errors_name_the_problem() -> None:
    with pytest.raises(UnsupportedAppTypeError, match="supported types"):
        compile_app({"type": "nope"}, [])
    with pytest.raises(WorkerError, match="'main.js' is not among the app's files"):
        compile_app({"type": "window", "entry_point": "main.js"}, [{"path": "other.js", "content": ""}])
    with pytest.raises(WorkerError, match="scheme"):
        compile_app({"type": "web-app", "entry_point": "javascript:alert(1)"}, [])


def test_web_app_opens_the_manifest_entry_point_as_hypha_does() -> None:
    from browser_worker._net.policy import NetworkPolicy
    from browser_worker._door.calls import Limits
    from browser_worker._door.start import parse_start

    cfg = {"id": "ws-a/c1", "entry_point": "https://config.example/",
           "manifest": {"type": "web-app", "entry_point": "https://manifest.example/"}}
    req = parse_start(cfg, workspace=None, limits=Limits(), net=NetworkPolicy())
    assert req.web_app is not None and req.web_app.url == "https://manifest.example/"
    cfg["manifest"].pop("entry_point")
    req = parse_start(cfg, workspace=None, limits=Limits(), net=NetworkPolicy())
    assert req.web_app is not None and req.web_app.url == "https://config.example/"
