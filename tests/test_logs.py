"""Session logs: Hypha's vocabulary, byte budgets, retention budget, and validation of what a
page answers when the worker reads its console (issues 10 and 12)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from browser_worker import SessionNotFoundError, WorkerSettings
from browser_worker._logs.buffer import ENTRY_OVERHEAD, NETWORK, REDACTED, LogBuffer, truncate
from browser_worker._logs.console import decode
from browser_worker._session.session import Session, SessionRegistry, SessionStatus


def test_console_lines_use_hyphas_vocabulary() -> None:
    buf = LogBuffer()
    buf.console("log", "plain")
    buf.console("warn", "old name for warning")
    buf.console("warning", "w")
    buf.console("trace", "t")
    buf.console("made-up", "unknown kinds are log")
    items = buf.query(type="console")["items"]
    assert [i["content"] for i in items] == [
        "[log] plain", "[warning] old name for warning", "[warning] w", "[trace] t", "[log] unknown kinds are log"]
    assert [i["level"] for i in items] == ["log", "warning", "warning", "debug", "log"]
    assert {i["source"] for i in items} == {"console"}
    buf.worker("Session stopped")
    buf.worker("boot failed", "error")
    buf.worker("ttl", "warning")
    assert [(i["type"], i["level"], i["source"]) for i in buf.query()["items"][-3:]] == [
        ("info", "info", "worker"), ("error", "error", "worker"), ("warning", "warning", "worker")]
    assert buf.query(type="error")["total"] == 1


def test_append_keeps_type_level_and_source_as_given() -> None:
    buf = LogBuffer()
    buf.append("error", "Uncaught boom", level="error", source="page")
    buf.append(NETWORK, 404, level="made-up", source="network")  # type: ignore[arg-type]
    first, second = buf.query()["items"]
    assert {k: first[k] for k in ("type", "content", "level", "source")} == {
        "type": "error", "content": "Uncaught boom", "level": "error", "source": "page"}
    assert {k: second[k] for k in ("type", "content", "level", "source")} == {
        "type": NETWORK, "content": "404", "level": "log", "source": "network"}  # unknown level: log
    stamp = datetime.fromisoformat(first["time"])
    assert stamp.utcoffset() == timedelta(0) and abs(datetime.now(timezone.utc) - stamp) < timedelta(seconds=5)
    assert len(first["time"].split(".")[1]) == len("123+00:00")  # milliseconds


def test_entry_content_is_capped_with_a_marker() -> None:
    buf = LogBuffer(max_entry_bytes=1024)
    buf.console("log", "x" * 1_000_000)
    (item,) = buf.query()["items"]
    assert len(item["content"].encode()) <= 1024
    assert item["content"].endswith("bytes]") and "… [truncated " in item["content"]
    cut = int(item["content"].rsplit("[truncated ", 1)[1].split()[0])
    assert len(item["content"].split("…")[0].encode()) + cut == len("[log] ".encode()) + 1_000_000
    assert buf.truncated == 1
    assert buf.bytes == len(item["content"].encode()) + ENTRY_OVERHEAD


def test_truncation_never_splits_a_character_and_short_text_is_kept() -> None:
    text, size, cut = truncate("é" * 1000, 101)
    # 61 bytes kept would end inside the 31st "é": 30 whole ones, and the 1940 bytes cut said.
    assert (text, size, cut) == ("é" * 30 + "… [truncated 1940 bytes]", len(text.encode()), True)
    assert "\ufffd" not in text
    assert truncate("short", 100) == ("short", 5, False)
    assert truncate("ü" * 50, 100) == ("ü" * 50, 100, False)  # exactly at the cap: kept whole


def test_secret_is_redacted_before_truncation() -> None:
    secret = "tok-" + "s" * 40
    buf = LogBuffer(secrets=[secret], max_entry_bytes=100)
    buf.console("log", "a" * 40 + secret + "b" * 1000)  # the cut (byte 60) falls inside the token
    (text,) = buf.texts()
    assert text.startswith("[log] " + "a" * 40 + REDACTED + "b")  # the token replaced where it stood
    assert "tok-" not in text and "ssss" not in text  # and no piece of it survived the cut
    assert text.endswith(" bytes]") and len(text.encode()) <= 100


def test_session_log_is_bounded_in_bytes_oldest_dropped() -> None:
    buf = LogBuffer(max_entries=100_000, max_bytes=100_000, max_entry_bytes=4096)
    for i in range(1000):
        buf.console("log", f"{i:04d} " + "y" * 5000)
    assert buf.bytes <= 100_000 and buf.dropped == 1000 - len(buf)
    assert 20 <= len(buf) <= 25  # ≈ 100 000 / (4096 + overhead)
    assert buf.texts()[-1].startswith("[log] 0999 ")  # the newest kept
    many = LogBuffer(max_entries=50, max_bytes=10**9)
    for i in range(200):
        many.console("log", str(i))
    assert len(many) == 50 and many.dropped == 150 and many.bytes == sum(
        len(t.encode()) + ENTRY_OVERHEAD for t in many.texts())


def _ended(reg: SessionRegistry, sid: str, log_bytes: int) -> Session:
    logs = LogBuffer(max_bytes=10**9, max_entry_bytes=10**9)
    logs.console("log", "z" * log_bytes)
    session = Session(id=sid, app_id="a", workspace="ws", client_id="c", app_type="window",
                      entry_point=None, logs=logs)
    reg.add(session)
    session.move_to(SessionStatus.FAILED, "x")
    reg.retire(session)
    return session


def test_retained_sessions_are_bounded_in_bytes_oldest_first() -> None:
    reg = SessionRegistry(retention_seconds=3600, retention_count=1000, retained_bytes=5_000_000)
    for n in range(12):
        _ended(reg, f"ws/{n}", 1_000_000)
    assert reg.retained_bytes() <= 5_000_000
    kept = [s.id for s in reg.ended_sessions()]
    assert kept == [f"ws/{n}" for n in range(8, 12)]  # 4 × (1 MB + overhead) fit, the newest
    with pytest.raises(SessionNotFoundError):
        reg.any("ws/0")
    assert reg.any("ws/11").logs.bytes > 1_000_000


def test_log_budget_settings_from_env_and_validation() -> None:
    s = WorkerSettings.from_env({"BROWSER_WORKER_MAX_LOG_BYTES": "1048576",
                                 "BROWSER_WORKER_MAX_LOG_ENTRY_BYTES": "2048",
                                 "BROWSER_WORKER_RETAINED_LOG_BYTES": "8388608"})
    assert (s.max_log_bytes, s.max_log_entry_bytes, s.retained_log_bytes) == (1048576, 2048, 8388608)
    d = WorkerSettings()
    assert (d.max_log_bytes, d.max_log_entry_bytes, d.retained_log_bytes) == (4 << 20, 16 << 10, 64 << 20)
    with pytest.raises(ValueError, match="retained_log_bytes must be at least max_log_bytes"):
        s.with_(retained_log_bytes=1000)
    with pytest.raises(ValueError, match="max_log_entry_bytes must be at least 64"):
        s.with_(max_log_entry_bytes=10)


def test_decode_accepts_a_well_formed_answer() -> None:
    raw = json.dumps({"lines": [["log", "a"], ["warning", "b"], ["nonsense", "c"]], "dropped": 7, "more": True})
    answer = decode(raw)
    assert answer.lines == [("log", "a"), ("warning", "b"), ("log", "c")]
    assert answer.dropped_in_page == 7 and answer.more is True and answer.problem is None
    assert decode("").lines == [] and decode("").problem is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "not a string of at most"),
        (12, "not a string of at most"),
        ("x" * 300_000, "not a string of at most"),
        ("{nope", "not JSON"),
        ("[" * 200_000 + "]" * 200_000, "not a string of at most 262144 characters"),  # the size rule fires first
        ("[" * 100_000 + "]" * 100_000, "not JSON"),  # nesting bomb within the size limit
        (json.dumps([["log", "a"]]), '"lines" list'),
        (json.dumps({"lines": "x"}), '"lines" list'),
        (json.dumps({"lines": [["log", "a"]] * 600}), "600 lines in one answer (at most 500)"),
        (json.dumps({"lines": [["log", 1], ["log"], "x", ["log", "ok"]]}), "3 malformed lines"),
    ],
)
def test_decode_rejects_hostile_answers(raw: object, problem: str) -> None:
    answer = decode(raw)
    assert answer.problem is not None and problem in answer.problem
    assert len(answer.lines) <= 500
    assert all(isinstance(k, str) and isinstance(t, str) for k, t in answer.lines)


def test_decode_ignores_a_bogus_dropped_count() -> None:
    for dropped in (True, -5, "9", 1.5, [1]):
        assert decode(json.dumps({"lines": [], "dropped": dropped})).dropped_in_page == 0
    assert decode(json.dumps({"lines": [], "dropped": 10**30})).dropped_in_page == 10**9
