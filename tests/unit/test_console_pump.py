"""``ConsolePump``'s timer with a fake page and an injected sleep: 0.2 s between pulls while
lines flow (or the app starts), doubling to 5 s while the page is quiet, back to 0.2 s as soon
as lines come again; and every wait is followed by a pull."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from browser_worker._logs.console import FAST, PULL, SLOW, ConsolePump


def lines(*texts: str, more: bool = False) -> str:
    return json.dumps({"lines": [["log", t] for t in texts], "dropped": 0, "more": more})


QUIET = ""


class FakeFrame:
    def __init__(self, page: "FakePage") -> None:
        self._page = page
        self.calls: list[tuple[str, int]] = []

    async def evaluate(self, script: str, arg: int) -> Any:
        self.calls.append((script, arg))
        answer = self._page.answers.pop(0)
        if not self._page.answers:
            self._page.closed = True  # the script is played: the page goes away after this pull
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakePage:
    """A page whose successive pulls answer ``answers`` (strings, or exceptions to raise)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = list(answers)
        self.closed = False
        self.main_frame = FakeFrame(self)
        self.frames = [self.main_frame]

    def is_closed(self) -> bool:
        return self.closed


async def run_pump(answers: list[Any], *, eager: Any = lambda: False, jitter: Any = lambda a, b: 1.0,
                   ) -> tuple[list[float], ConsolePump, FakePage, list[tuple[str, str]]]:
    """Run the pump's timer loop over ``answers``; return the delays it slept."""
    page = FakePage(answers)
    delays: list[float] = []
    got: list[tuple[str, str]] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) > len(answers) + 2:
            pump.stop()  # a pump that waits without pulling would never reach the page's end
        await asyncio.sleep(0)

    kwargs: dict[str, Any] = {"sleep": sleep}
    if jitter is not None:
        kwargs["jitter"] = jitter
    pump = ConsolePump(page, lambda kind, text: got.append((kind, text)), lambda _: None,  # type: ignore[arg-type]
                       eager=eager, **kwargs)
    pump.start()
    assert pump._task is not None
    await asyncio.wait_for(pump._task, 5)
    return delays, pump, page, got


def test_the_constants() -> None:
    assert (FAST, SLOW) == (0.2, 5.0)


async def test_a_quiet_page_backs_off_doubling_to_five_seconds() -> None:
    delays, pump, page, _ = await run_pump([QUIET] * 10)
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0, 5.0])
    assert pump.pulls == 10 == len(page.main_frame.calls)  # a pull after every wait
    assert page.main_frame.calls[0] == (PULL, 256 * 1024)


async def test_lines_keep_the_fast_rate_and_bring_it_back_after_a_quiet_spell() -> None:
    answers = [lines("a"), lines("b", "c"), lines("d"), QUIET, QUIET, QUIET, lines("e"), QUIET, QUIET]
    delays, pump, _, got = await run_pump(answers)
    assert delays == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.4, 0.8, 1.6, 0.2, 0.4])
    assert got == [("log", t) for t in "abcde"]
    assert pump.lines == 5 and pump.pulls == 9


async def test_more_lines_waiting_in_the_page_keeps_the_fast_rate() -> None:
    delays, _, _, got = await run_pump([QUIET, QUIET, lines(more=True), QUIET])
    assert delays == pytest.approx([0.2, 0.4, 0.8, 0.2])
    assert got == []


async def test_while_the_app_starts_the_pump_stays_fast() -> None:
    starting = [True]
    answers = [QUIET] * 4 + [QUIET] * 4

    def eager() -> bool:
        return starting[0]

    page_answers = list(answers)
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 4:
            starting[0] = False  # the app has started
        await asyncio.sleep(0)

    page = FakePage(page_answers)
    pump = ConsolePump(page, lambda *_: None, lambda _: None, eager=eager, sleep=sleep,  # type: ignore[arg-type]
                       jitter=lambda a, b: 1.0)
    pump.start()
    await asyncio.wait_for(pump._task, 5)  # type: ignore[arg-type]
    assert delays == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.4, 0.8, 1.6, 3.2])


async def test_a_failing_read_counts_as_quiet_and_the_pump_goes_on() -> None:
    delays, pump, _, got = await run_pump([RuntimeError("Execution context was destroyed"), QUIET, lines("x"), QUIET])
    assert delays == pytest.approx([0.2, 0.4, 0.8, 0.2])
    assert got == [("log", "x")] and pump.pulls == 4


async def test_the_real_jitter_stays_within_ten_percent_and_under_the_cap() -> None:
    delays, pump, _, _ = await run_pump([QUIET] * 40, jitter=None)
    assert delays[0] == FAST and pump.pulls == 40
    for before, after in zip(delays, delays[1:]):
        base = min(SLOW, before * 2)
        assert 0.9 * base - 1e-9 <= after <= 1.1 * base + 1e-9, (before, after)
    assert max(delays) <= SLOW * 1.1
    assert min(delays[10:]) >= SLOW * 0.9  # reached the slow rate and stayed there
    assert len({round(d, 6) for d in delays[10:]}) > 1  # spread out, not in step


async def test_a_stopped_pump_pulls_no_more() -> None:
    page = FakePage([QUIET] * 100)
    slept: list[float] = []
    pump: ConsolePump

    async def sleep(delay: float) -> None:
        slept.append(delay)
        if len(slept) == 3:
            pump.stop()
        await asyncio.sleep(0)

    pump = ConsolePump(page, lambda *_: None, lambda _: None, sleep=sleep)  # type: ignore[arg-type]
    pump.start()
    # stop() from outside the pump's task cancels it (the wait runs beside a wake-up event)
    await asyncio.wait_for(asyncio.gather(pump._task, return_exceptions=True), 5)  # type: ignore[arg-type]
    assert len(slept) == 3 and pump.pulls == 2  # the third wait ended in a stop, not a pull


async def test_hurry_ends_a_quiet_pages_wait_at_once() -> None:
    page = FakePage([QUIET] * 100)
    pump = ConsolePump(page, lambda *_: None, lambda _: None)  # type: ignore[arg-type]
    pump.start()
    await asyncio.sleep(1.0)  # quiet: the waits have grown to 0.4 s, 0.8 s, 1.6 s…
    before = pump.pulls
    pump.hurry()
    await asyncio.sleep(0.05)
    assert pump.pulls == before + 1  # pulled now, not at the end of the current wait
    pump.stop()
