"""Failure capture without a browser: scrubbing a trace zip, keeping artifacts with the retained
logs (age, count, byte budget; files deleted with them), the tracing level rule."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from browser_worker._door.calls import Limits
from browser_worker._door.start import parse_start
from browser_worker._door.manifest import trace_level
from browser_worker._session.artifacts import SCREENSHOT, TRACE, Artifact, SessionArtifacts
from browser_worker._session.session import Session, SessionRegistry, SessionStatus
from browser_worker._postmortem.tracezip import scrub_zip
from browser_worker._logs.buffer import LogBuffer
from browser_worker._net.policy import NetworkPolicy
from browser_worker.config import WorkerSettings
from browser_worker.errors import WorkerError

SECRET = 'tok"en/with+odd&chars \\ 1234'
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ"


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


# ----- scrubbing -------------------------------------------------------------------------------


def test_scrubbing_removes_every_form_of_a_secret_from_every_member(tmp_path: Path) -> None:
    event = json.dumps({"type": "before", "params": {"arg": {"token": SECRET}}}).encode()
    members = {
        "trace.trace": event + b"\n" + json.dumps({"text": f"jwt {JWT}"}).encode(),
        "trace.network": json.dumps({"url": f"http://h/x?t={quote(SECRET, safe='')}"}).encode(),
        "resources/abc.html": f"<p>{SECRET}</p>".encode(),
        "resources/plain.css": b"body { color: red }",
    }
    src, dst = tmp_path / "raw.zip", tmp_path / "clean.zip"
    _zip(src, members)
    count = scrub_zip(src, dst, [SECRET])
    assert count == 4
    data = dst.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        assert z.namelist() == list(members)
        out = {n: z.read(n) for n in z.namelist()}
    for form in (SECRET, json.dumps(SECRET)[1:-1], quote(SECRET, safe=""), JWT):
        assert form.encode() not in data
        assert all(form.encode() not in body for body in out.values()), form
    assert out["resources/plain.css"] == members["resources/plain.css"]  # untouched
    assert json.loads(out["trace.trace"].splitlines()[0])["params"]["arg"]["token"] == "***"  # still JSON


def test_a_secret_inside_a_longer_form_leaves_no_piece_behind(tmp_path: Path) -> None:
    src, dst = tmp_path / "raw.zip", tmp_path / "clean.zip"
    _zip(src, {"trace.trace": f"a {quote(SECRET)} b {SECRET}".encode()})
    scrub_zip(src, dst, [SECRET, "1234"])
    with zipfile.ZipFile(dst) as z:
        text = z.read("trace.trace")
    assert b"1234" not in text and b"odd" not in text


# ----- artifacts -------------------------------------------------------------------------------


def _ended(reg: SessionRegistry, sid: str, tmp: Path | None = None, shot: int = 0) -> Session:
    session = Session(id=sid, app_id="a", workspace="ws", client_id="c", app_type="window",
                      entry_point=None, logs=LogBuffer())
    reg.add(session)
    session.move_to(SessionStatus.FAILED, "x")
    session.artifacts.trace_mode = "on-failure"
    if shot:
        session.artifacts.keep(Artifact(SCREENSHOT, shot, data=b"p" * shot))
    if tmp is not None:
        path = tmp / f"{sid.replace('/', '_')}.zip"
        path.write_bytes(b"PK" + b"z" * 98)
        session.artifacts.keep(Artifact(TRACE, 100, path=path))
    session.artifacts.settled = True
    reg.retire(session)
    return session


def test_artifacts_go_with_sessions_dropped_by_count_age_or_a_new_session_of_the_id(tmp_path: Path) -> None:
    reg = SessionRegistry(retention_seconds=3600, retention_count=2)
    first = _ended(reg, "ws/1", tmp_path)
    trace = first.artifacts.kept[TRACE].path
    _ended(reg, "ws/2", tmp_path)
    _ended(reg, "ws/3", tmp_path)  # ws/1 falls off the count
    assert not trace.exists()
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["ws_2.zip", "ws_3.zip"]

    again = Session(id="ws/2", app_id="a", workspace="ws", client_id="c", app_type="window",
                    entry_point=None, logs=LogBuffer())
    reg.add(again)  # the id is reused: the old session's trace goes
    assert [p.name for p in tmp_path.iterdir()] == ["ws_3.zip"]

    old = SessionRegistry(retention_seconds=0.01, retention_count=10)
    aged = _ended(old, "ws/old", tmp_path)
    time.sleep(0.02)
    assert old.ended_sessions() == []
    assert not aged.artifacts.kept and not (tmp_path / "ws_old.zip").exists()


def test_over_the_artifact_budget_the_oldest_lose_their_artifacts_and_keep_their_logs(tmp_path: Path) -> None:
    reg = SessionRegistry(retention_seconds=3600, retention_count=100, retained_artifact_bytes=2_500)
    sessions = [_ended(reg, f"ws/{n}", tmp_path, shot=900) for n in range(4)]  # 1000 bytes each
    assert reg.retained_artifact_bytes() <= 2_500
    assert [s.id for s in reg.ended_sessions()] == [f"ws/{n}" for n in range(4)]  # logs all kept
    assert [bool(s.artifacts.kept) for s in sessions] == [False, False, True, True]
    assert len(list(tmp_path.iterdir())) == 2
    with pytest.raises(WorkerError, match=r"^no trace for session ws/0: dropped to keep retained_artifact_bytes \(2500\) \(this session has no artifacts\)$"):
        sessions[0].artifacts.reply(TRACE, "ws/0", "failed")
    assert sessions[3].artifacts.reply(SCREENSHOT, "ws/3", "failed")["bytes"] == b"p" * 900
    reg.drop_artifacts("the worker closed")
    assert list(tmp_path.iterdir()) == [] and reg.retained_artifact_bytes() == 0


def test_a_missing_artifact_says_why_and_what_there_is() -> None:
    live = SessionArtifacts(trace_mode="on")
    with pytest.raises(WorkerError, match=r"^no trace for session s: the session is running; artifacts are kept when it ends"):
        live.reply(TRACE, "s", "running")
    off = SessionArtifacts(settled=True)
    off.keep(Artifact(SCREENSHOT, 3, data=b"png"))
    with pytest.raises(WorkerError, match=r"^no trace for session s: tracing was off \(this session has: screenshot\)$"):
        off.reply(TRACE, "s", "failed")
    reply = off.reply(SCREENSHOT, "s", "failed")
    assert (reply["kind"], reply["content_type"], reply["size"], reply["bytes"]) == ("screenshot", "image/png", 3, b"png")
    assert reply["created_at"].endswith("+00:00")
    big = SessionArtifacts(trace_mode="on-failure", settled=True)
    big.lack(TRACE, "the trace was 9 bytes, over trace_max_bytes (5)")
    with pytest.raises(WorkerError, match=r"over trace_max_bytes \(5\)"):
        big.reply(TRACE, "s", "failed")


# ----- the tracing level -----------------------------------------------------------------------


@pytest.mark.parametrize("asked, ceiling, level, warned", [
    (None, "off", "off", False), (None, "on-failure", "on-failure", False), (None, "on", "on", False),
    ("off", "on", "off", False), ("on-failure", "on", "on-failure", False),
    ("on", "on-failure", "on-failure", True), ("on", "off", "off", True), ("on-failure", "off", "off", True),
])
def test_the_worker_setting_is_the_ceiling(asked: str | None, ceiling: str, level: str, warned: bool) -> None:
    got, note = trace_level({} if asked is None else {"trace": asked}, ceiling)
    assert got == level and bool(note) == warned
    if note:
        assert "rule: an app may not trace more than its worker allows" in note


def _start(trace: object, ceiling: str) -> tuple[str, tuple[str, ...]]:
    req = parse_start({"id": "ws/c", "source": "x", "manifest": {"type": "window", "trace": trace}},
                      workspace=None, limits=Limits(trace=ceiling), net=NetworkPolicy(), free_id=True)
    return req.trace, req.notes


def test_the_manifest_field_is_checked_at_the_door() -> None:
    assert _start(None, "on-failure") == ("on-failure", ())
    level, notes = _start("on", "on-failure")
    assert level == "on-failure" and len(notes) == 1
    with pytest.raises(WorkerError, match=r"^manifest 'trace' must be one of off, on-failure, on, got 'yes'$"):
        _start("yes", "on")
    with pytest.raises(WorkerError, match="manifest 'trace' must be one of"):
        _start(True, "on")


def test_trace_settings_are_validated_naming_the_setting() -> None:
    assert WorkerSettings.from_env({"BROWSER_WORKER_TRACE": "on-failure"}).trace == "on-failure"
    assert Limits.from_settings(WorkerSettings(trace="on")).trace == "on"
    with pytest.raises(ValueError, match=r"^trace must be one of off, on-failure, on, got 'always'$"):
        WorkerSettings(trace="always").validated()
    with pytest.raises(ValueError, match="trace_max_bytes must be at least 1 and at most retained_artifact_bytes"):
        WorkerSettings(trace_max_bytes=10, retained_artifact_bytes=5).validated()
