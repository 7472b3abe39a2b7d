"""SessionAudit ends the running sessions whose page's client the restarted server does not know
after the grace, and only those (fake engine and server; no Hypha server, no browser)."""

from __future__ import annotations

import asyncio
from typing import Any

from browser_worker._session.session import Session, SessionStatus
from browser_worker._logs.buffer import LogBuffer
from browser_worker._door import CONNECTS_TO_HYPHA
from browser_worker.hypha.session_audit import SessionAudit


def session(sid: str, app_type: str = "window", status: SessionStatus = SessionStatus.RUNNING) -> Session:
    ws, client = sid.split("/")
    return Session(id=sid, app_id="app", workspace=ws, client_id=client, app_type=app_type,
                   entry_point=None, logs=LogBuffer(), status=status)


class FakeEngine:
    """What the audit asks of the worker (``hypha.session_audit.Sessions``), over plain sessions,
    with the engine's rule: running sessions of the types whose page connects to Hypha."""

    def __init__(self, sessions: list[Session], pages: dict[str, str] | None = None) -> None:
        self.all = sessions
        self.ended: list[tuple[str, SessionStatus, str | None]] = []
        #: What each page answered the worker's "reconnect now" (default: it could not say).
        self.pages = pages or {}

    async def page_answers(self) -> dict[str, str]:
        return {sid: self.pages.get(sid, "unsupported") for sid in self.sessions_to_reconnect()}

    def sessions_to_reconnect(self) -> list[str]:
        return [s.id for s in self.all if s.status is SessionStatus.RUNNING
                and (s.page_type or s.app_type) in CONNECTS_TO_HYPHA]

    def is_running(self, session_id: str) -> bool:
        return any(s.id == session_id and s.status is SessionStatus.RUNNING for s in self.all)

    async def end_lost(self, session_id: str, reason: str) -> bool:
        (session,) = [s for s in self.all if s.id == session_id]
        if session.status is not SessionStatus.RUNNING:
            return False
        self.ended.append((session.id, SessionStatus.FAILED, reason))
        session.status = SessionStatus.FAILED
        return True


class FakeServer:
    """``get_service_info`` of a server that knows ``clients`` (changing over time) and fails
    for the ids in ``silent`` as a server still coming back would."""

    def __init__(self, clients: set[str], silent: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.clients = clients
        self.silent = silent
        self.asked: list[str] = []
        self.stopped: list[str] = []
        self.refuse_stop: set[str] = set()

    async def get_service_info(self, service_id: str) -> dict[str, Any]:
        self.asked.append(service_id)
        client = service_id.removesuffix(":built-in")
        if client in self.silent:
            raise ConnectionError("Connection is closed")
        if client not in self.clients:
            raise Exception(f"KeyError: 'Service not found: {service_id}@*'")
        return {"id": service_id}

    async def get_service(self, service_id: str) -> Any:
        assert service_id == "public/server-apps"
        server = self

        class Apps:
            async def stop(self, session_id: str, raise_exception: bool = True) -> None:
                if session_id in server.refuse_stop:
                    raise Exception("PermissionError: Permission denied for workspace")
                server.stopped.append(session_id)

        return Apps()


async def test_sessions_whose_client_never_comes_back_are_ended_the_others_kept() -> None:
    back, gone, late = session("ws-a/back"), session("ws-a/gone"), session("ws-b/late")
    engine = FakeEngine([back, gone, late])
    server = FakeServer({"ws-a/back"})
    audit = SessionAudit(engine, server, grace=0.3, poll=0.05)

    async def late_page_reconnects() -> None:
        await asyncio.sleep(0.1)
        server.clients.add("ws-b/late")

    asyncio.ensure_future(late_page_reconnects())
    audit.reconnected()
    assert await audit.wait() == ["ws-a/gone"]
    ((sid, status, reason),) = engine.ended
    assert (sid, status) == ("ws-a/gone", SessionStatus.FAILED)
    assert "did not reconnect within 0.3s" in (reason or "")
    assert back.status is late.status is SessionStatus.RUNNING
    assert "ws-a/back:built-in" in server.asked
    # and the server is asked to stop listing the ended one (a server on Redis would hand it out)
    assert server.stopped == ["ws-a/gone"] and audit.forgotten == ["ws-a/gone"]


async def test_a_server_that_refuses_to_stop_an_ended_instance_is_logged_not_raised(caplog: Any) -> None:
    gone = session("ws-other/gone")
    engine = FakeEngine([gone])
    server = FakeServer(set())
    server.refuse_stop = {"ws-other/gone"}
    audit = SessionAudit(engine, server, grace=0.1, poll=0.02)
    audit.reconnected()
    assert await audit.wait() == ["ws-other/gone"]
    assert server.stopped == [] and audit.forgotten == []
    assert any("may still list it" in r.getMessage() and "Permission denied" in r.getMessage()
               for r in caplog.records)


async def test_types_that_need_not_connect_and_sessions_not_running_are_not_asked_about() -> None:
    frame, web_app = session("ws/frame", "iframe"), session("ws/site", "web-app")
    starting = session("ws/starting", status=SessionStatus.STARTING)
    engine = FakeEngine([frame, web_app, starting])
    server = FakeServer(set())
    audit = SessionAudit(engine, server, grace=0.1, poll=0.02)
    audit.reconnected()
    assert await audit.wait() == [] and server.asked == [] and engine.ended == []


async def test_a_server_that_does_not_answer_ends_nothing() -> None:
    quiet = session("ws/quiet")
    engine = FakeEngine([quiet])
    audit = SessionAudit(engine, FakeServer(set(), silent={"ws/quiet"}), grace=0.1, poll=0.02)
    audit.reconnected()
    assert await audit.wait() == [] and quiet.status is SessionStatus.RUNNING


async def test_a_second_reconnection_starts_the_grace_over_and_zero_turns_it_off() -> None:
    gone = session("ws/gone")
    engine = FakeEngine([gone])
    server = FakeServer(set())
    audit = SessionAudit(engine, server, grace=0.3, poll=0.02)
    audit.reconnected()
    await asyncio.sleep(0.2)
    audit.reconnected()  # the first audit is cancelled; the session gets a full grace again
    await asyncio.sleep(0.2)
    assert engine.ended == []
    assert await audit.wait() == ["ws/gone"]
    off = SessionAudit(FakeEngine([session("ws/x")]), server, grace=0)
    off.reconnected()
    assert await off.wait() == []


async def test_an_imjoy_iframe_plugin_runs_in_a_window_page_and_is_asked_about() -> None:
    from browser_worker._door.start import StartRequest

    def request(app_type: str, template: str | None) -> StartRequest:
        manifest = {"compiled": {"template": template}} if template else {}
        return StartRequest(session_id="ws/p", workspace="ws", client_id="p", app_id="a", app_type=app_type,
                            manifest=manifest, timeout=5)

    assert request("iframe", "window.html").page_type == "window"  # compiled from a script entry
    assert request("iframe", "none (the app's own HTML, assets inlined)").page_type == "iframe"
    assert request("iframe", None).page_type == "iframe" and request("window", None).page_type == "window"
    plugin = session("ws/plugin", "iframe")
    plugin.page_type = "window"
    engine = FakeEngine([plugin])
    audit = SessionAudit(engine, FakeServer(set()), grace=0.1, poll=0.02)
    audit.reconnected()
    assert await audit.wait() == ["ws/plugin"]


async def test_the_pages_own_answers_decide_and_the_server_is_asked_only_about_the_others() -> None:
    """On Redis the server's registry still lists a page's services from before the restart, so
    a page's own answer wins: one that gave up or was still trying at the end of the grace is
    ended, one that says it is connected is kept whatever the registry says."""
    gave_up, trying, back, mute = (session("ws/gave-up"), session("ws/trying"), session("ws/back"),
                                   session("ws/mute"))
    engine = FakeEngine([gave_up, trying, back, mute], pages={
        "ws/gave-up": "closed", "ws/trying": "still reconnecting after 0.1s", "ws/back": "connected",
        "ws/mute": "still no answer after 0.1s"})
    server = FakeServer({"ws/gave-up", "ws/trying", "ws/mute"})  # stale registrations
    audit = SessionAudit(engine, server, grace=0.1, poll=0.02)
    audit.reconnected()
    assert await audit.wait() == ["ws/gave-up", "ws/trying"]
    assert back.status is mute.status is SessionStatus.RUNNING
    assert server.asked == ["ws/mute:built-in"]  # only the page that could not say
    assert server.stopped == ["ws/gave-up", "ws/trying"]
