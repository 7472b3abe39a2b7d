"""What a session's page sends back becomes its logs, within budgets the page cannot raise.

Console output is *pulled*: the page keeps its lines in a ring (``templates/console-capture.js``)
and the worker asks for them, on a timer (every 0.2 s while lines flow or the app is starting,
backing off to 5 s while the page stays quiet), before ``get_logs`` and before the context
closes. The back-off is what keeps hundreds of idle sessions cheap: each pull is a round trip
through Playwright's driver and the page's renderer, and at 1 s, 500 quiet pages cost the
worker's event loop a good part of a core and slowed every new start (issue 13). A page that
wakes up after a quiet spell keeps up to 500 lines in its ring until the next pull; more are
counted and reported as dropped. The page gets
no function to push data into the worker, because any Playwright binding hands its arguments
to the worker's event loop to deserialize (Playwright ≥ 1.5x has no ``handle=True`` any more),
and that is how one page could stall every session (issue 10: 200 000-entry batches, 28 s).
Each pull is one ``evaluate`` of a function that returns the page's answer only if it is a
primitive string of at most ``PULL_CHARS`` characters (``typeof`` and a primitive string's
``length`` cannot be faked by the page), so a pull costs the worker a bounded amount whatever
the page does. The answer is then parsed and validated here; anything malformed is dropped and
counted, with one warning per session.

Page errors, failed requests, crashes and popups are wired to the logs in ``_page/events.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from browser_worker._logs.buffer import CONSOLE_LEVELS

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page

log = logging.getLogger(__name__)


PULL_CHARS = 256 * 1024  # characters of JSON one answer may have
PULL_LINES = 500  # lines one answer may carry (the page's ring holds no more)
PULL_TIMEOUT = 2.0  # seconds one frame may take to answer (a busy page is simply skipped)
MAX_FRAMES = 8  # frames pulled per round: the main frame first, then child frames
FAST, SLOW = 0.2, 5.0  # seconds between pulls while lines flow / when the page is quiet

#: Evaluated in the page for each pull; returns the page's answer only if it is a primitive
#: string of at most ``max`` characters, else null (counted as a rejected answer).
PULL = """(max) => {
  let out;
  try {
    const take = window.__bwTakeConsole;
    out = typeof take === "function" ? take(max) : "";
  } catch (_) {
    return null;
  }
  return typeof out === "string" && out.length <= max ? out : null;
}"""


@dataclass
class Answer:
    """One validated answer from a page: its lines and what had to be dropped."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    dropped_in_page: int = 0  # lines the page's ring overwrote before this pull
    more: bool = False  # the page has more lines than fitted in this answer
    problem: str | None = None  # why (part of) the answer was rejected


def decode(raw: Any, max_chars: int = PULL_CHARS, max_lines: int = PULL_LINES) -> Answer:
    """Validate a page's answer: ``{"lines": [[type, text], …], "dropped": n, "more": bool}``."""
    if raw == "":
        return Answer()
    if not isinstance(raw, str) or len(raw) > max_chars:
        return Answer(problem=f"answer is not a string of at most {max_chars} characters")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return Answer(problem="answer is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        return Answer(problem='answer is not an object with a "lines" list')
    answer = Answer(more=data.get("more") is True)
    dropped = data.get("dropped")
    if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > 0:
        answer.dropped_in_page = min(dropped, 10**9)
    items = data["lines"]
    if len(items) > max_lines:
        answer.problem = f"{len(items)} lines in one answer (at most {max_lines})"
        items = items[:max_lines]
    bad = 0
    for item in items:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], str):
            answer.lines.append((item[0] if item[0] in CONSOLE_LEVELS else "log", item[1]))
        else:
            bad += 1
    if bad and answer.problem is None:
        answer.problem = f"{bad} malformed lines (each must be a [type, text] pair of strings)"
    return answer


class ConsolePump:
    """Pulls a page's console lines, one pull at a time, on a timer and on demand."""

    def __init__(
        self,
        page: "Page",
        on_line: Callable[[str, str], None],
        notice: Callable[[str], None],
        *,
        eager: Callable[[], bool] = lambda: False,
        max_chars: int = PULL_CHARS,
        max_lines: int = PULL_LINES,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        jitter: Callable[[float, float], float] | None = None,
    ) -> None:
        self._page = page
        # Injected by unit tests to drive the timer without waiting for it.
        self._sleep = sleep or asyncio.sleep
        self._jitter = jitter or random.uniform
        self._on_line = on_line
        self._notice = notice
        self._eager = eager  # pull at the fast rate regardless (e.g. while the app starts)
        self._max_chars = max_chars
        self._max_lines = max_lines
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._more = False
        self._closed = False
        self.pulls = 0  # evaluates made
        self.lines = 0  # lines delivered
        self.rejected = 0  # answers (or parts) dropped as malformed or oversized
        self.timeouts = 0  # pulls the page did not answer in time
        self.first_problem: str | None = None
        self._inflight: dict[Any, asyncio.Future[Any]] = {}  # frame → its pending read
        self._woken = asyncio.Event()  # set by ``hurry``: end the current wait now

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="browser-worker-console-pump")

    def stop(self) -> None:
        self._closed = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        for task in self._inflight.values():
            task.cancel()
        self._inflight.clear()

    def hurry(self) -> None:
        """Pull now instead of at the end of a quiet page's back-off (a reader started
        following the logs; ``eager`` keeps the fast rate while it does)."""
        self._woken.set()

    async def _nap(self, delay: float) -> None:
        self._woken.clear()
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def pull(self, rounds: int = 1, timeout: float = PULL_TIMEOUT) -> int:
        """Pull every watched frame (up to ``rounds`` times while a frame has more); return the
        number of lines delivered."""
        got = 0
        async with self._lock:
            for _ in range(max(1, rounds)):
                if self._closed or self._page.is_closed():
                    break
                self._more = False
                frames = self._frames()
                for frame in [f for f, t in self._inflight.items() if t.done() and f not in frames]:
                    del self._inflight[frame]  # a frame that went away
                for frame in frames:
                    got += await self._pull_frame(frame, timeout)
                if not self._more:
                    break
        return got

    def _frames(self) -> list["Frame"]:
        main = self._page.main_frame
        return [main] + [f for f in self._page.frames if f is not main][: MAX_FRAMES - 1]

    async def _pull_frame(self, frame: "Frame", timeout: float) -> int:
        # A page that does not answer (busy or hung) keeps its one read pending; later rounds
        # wait for that read again instead of piling up new ones.
        task = self._inflight.get(frame)
        if task is None:
            self.pulls += 1
            task = asyncio.ensure_future(frame.evaluate(PULL, self._max_chars))
            task.add_done_callback(_consume)
            self._inflight[frame] = task
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            self.timeouts += 1
            return 0
        del self._inflight[frame]
        if task.cancelled() or task.exception() is not None:  # navigating, detached or closed
            return 0
        raw = task.result()
        answer = decode(raw, self._max_chars, self._max_lines)
        if answer.problem:
            self._reject(answer.problem)
        if answer.dropped_in_page:
            self._notice(f"{answer.dropped_in_page} console lines dropped in the page "
                         f"(more than {self._max_lines} between two reads)")
        self._more = self._more or answer.more
        for kind, text in answer.lines:
            self._on_line(kind, text)
        self.lines += len(answer.lines)
        return len(answer.lines)

    def _reject(self, problem: str) -> None:
        self.rejected += 1
        if self.rejected == 1:
            self.first_problem = problem
            self._notice(f"console output from the page dropped: {problem}; "
                         "later drops are counted, not logged")

    def summarize(self) -> None:
        """One closing line if anything was rejected (the first notice may have aged out)."""
        if self.rejected:
            self._notice(f"console output from the page dropped {self.rejected} times in this "
                         f"session (first: {self.first_problem})")

    async def _run(self) -> None:
        delay = FAST
        while not self._closed and not self._page.is_closed():
            await self._nap(delay)
            try:
                got = await self.pull()
            except Exception as exc:  # never let the pump die silently mid-session
                log.debug("console pull failed: %r", exc)
                got = 0
            # Jitter spreads the pulls of many quiet pages instead of letting them fall in step.
            delay = FAST if got or self._more or self._eager() else min(SLOW, delay * 2) * self._jitter(0.9, 1.1)


def _consume(task: "asyncio.Future[Any]") -> None:
    """Mark a read's error as seen (a closed page is normal, not worth a warning)."""
    if not task.cancelled():
        task.exception()
