"""PageReconnector asks each running page to end its reconnection back-off, asks again the ones
still on their way, settles on any other answer, and never passes on what a page made up
(fake pages; no browser, no Hypha server)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from browser_worker._engine import reconnect
from browser_worker._engine.reconnect import PageReconnector
from browser_worker._logs.buffer import LogBuffer
from browser_worker._page import RECONNECT_STATES
from browser_worker._session.session import Session, SessionStatus


class Page:
    """Answers ``__bwReconnectNow`` from a script of answers (the last one repeats)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def evaluate(self, _: str) -> Any:
        self.asked += 1
        answer = self.answers[min(self.asked, len(self.answers)) - 1]
        if answer == "hang":
            await asyncio.sleep(3600)
        return answer


def running(sid: str, page: Page) -> Session:
    s = Session(id=sid, app_id="app", workspace="ws", client_id=sid, app_type="window",
                entry_point=None, logs=LogBuffer(), status=SessionStatus.RUNNING)
    s.lease = SimpleNamespace(page=page)  # type: ignore[assignment]
    return s


def texts(s: Session) -> list[str]:
    return [i["content"] for i in s.logs.query()["items"]]


async def test_pages_on_their_way_are_asked_again_until_they_are_back() -> None:
    back = running("back", Page("reconnecting", "attempting", "connected"))
    already = running("already", Page("connected"))
    gave_up = running("gave-up", Page("closed"))
    r = PageReconnector(lambda: [back, already, gave_up], interval=0.01)
    r.now()
    answers = await r.wait()
    assert answers == {"back": "connected", "already": "connected", "gave-up": "closed"}
    assert r.first == {"back": "reconnecting", "already": "connected", "gave-up": "closed"}
    assert back.lease.page.asked == 3 and already.lease.page.asked == 1  # type: ignore[union-attr]
    assert any("the page reconnected" in t for t in texts(back))
    assert not any("reconnected" in t for t in texts(already))  # it never left
    assert any("the page's connection is closed" in t for t in texts(gave_up))


async def test_a_page_that_makes_up_its_answer_is_reported_unknown() -> None:
    liar = running("liar", Page("<img src=x onerror=alert(1)>" * 1000))
    odd = running("odd", Page({"state": "connected"}))
    r = PageReconnector(lambda: [liar, odd], interval=0.01)
    r.now()
    assert await r.wait() == {"liar": "unknown", "odd": "unknown"}
    assert all(len(t) < 200 for t in texts(liar))


async def test_a_page_that_never_comes_back_is_given_up_after_within() -> None:
    slow = running("slow", Page("attempting"))
    stuck = running("stuck", Page("hang"))
    r = PageReconnector(lambda: [slow, stuck], interval=0.01, within=0.3)
    r.now()
    answers = await asyncio.wait_for(r.wait(), 5)
    assert answers == {"slow": "still attempting after 0.3s", "stuck": "still no answer after 0.3s"}


async def test_an_ended_session_is_dropped_and_close_ends_the_rounds() -> None:
    page = Page("reconnecting")
    leaving = running("leaving", page)
    r = PageReconnector(lambda: [leaving], interval=0.01, within=60)
    r.now()
    while page.asked < 2:
        await asyncio.sleep(0.01)
    leaving.status = SessionStatus.STOPPED
    assert await asyncio.wait_for(r.wait(), 5) == {}
    r.now()  # nothing running now; a new round ends at once
    await r.close()


def test_every_answer_the_templates_give_is_known() -> None:
    """The words in templates/reconnect-now.js and the web-python boot's _bw_reconnect_now."""
    from browser_worker.resources import templates_dir

    source = (templates_dir() / "reconnect-now.js").read_text() + (templates_dir() / "web_python_boot.py").read_text()
    for word in ("connected", "reconnecting", "attempting", "closed", "unsupported", "not connected"):
        assert f'"{word}"' in source and word in RECONNECT_STATES
    assert reconnect.ASK_AGAIN <= RECONNECT_STATES
