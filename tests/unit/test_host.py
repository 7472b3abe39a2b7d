"""``BrowserHost`` relaunch back-off, with a fake Playwright whose launches fail on cue and an
injected sleep: no Chromium. A local browser that dies is relaunched after 0, 0.5, 1, 2 and 4 s,
then the host gives up until a start asks again; a remote one is retried every 4 s for as long
as it takes."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable

import pytest

from browser_worker._browser.host import BACKOFF, BrowserHost
from browser_worker.errors import WorkerError


class FakeBrowser:
    def __init__(self, name: str) -> None:
        self.name = name
        self.connected = True
        self.contexts: list[Any] = []
        self._handlers: dict[str, list[Callable[[Any], Any]]] = {}

    def on(self, event: str, handler: Callable[[Any], Any]) -> None:
        self._handlers.setdefault(event, []).append(handler)

    def is_connected(self) -> bool:
        return self.connected

    def crash(self) -> None:
        self.connected = False
        for handler in self._handlers.get("disconnected", []):
            handler(self)

    async def close(self) -> None:
        if self.connected:
            self.crash()

    def __repr__(self) -> str:
        return f"<browser {self.name}>"


class FakeChromium:
    """``launch``/``connect_over_cdp`` answer from ``script``: True launches, an exception fails;
    once the script is played, every launch fails."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.launched: list[FakeBrowser] = []
        self.attempts = 0
        self.executable_path = None  # as when Playwright's own build is not installed

    async def _next(self) -> FakeBrowser:
        self.attempts += 1
        step = self.script.pop(0) if self.script else RuntimeError("launch failed for good")
        if isinstance(step, BaseException):
            raise step
        browser = FakeBrowser(f"b{len(self.launched) + 1}")
        self.launched.append(browser)
        return browser

    async def launch(self, executable_path: str, headless: bool, args: list[str]) -> FakeBrowser:
        assert executable_path == sys.executable and headless is True and args
        return await self._next()

    async def connect_over_cdp(self, endpoint: str) -> FakeBrowser:
        assert endpoint == "http://cdp.example:9222"
        return await self._next()


class FakePlaywright:
    def __init__(self, script: list[Any]) -> None:
        self.chromium = FakeChromium(script)


class Sleeps:
    """The injected sleep: records each delay; ``then`` runs after the n-th one."""

    def __init__(self, then: dict[int, Callable[[], None]] | None = None) -> None:
        self.delays: list[float] = []
        self._then = then or {}

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        action = self._then.get(len(self.delays))
        if action:
            action()
        await asyncio.sleep(0)


def local_host(script: list[Any], sleeps: Sleeps, **kwargs: Any) -> tuple[BrowserHost, FakeChromium]:
    playwright = FakePlaywright(script)
    # Any executable passes the explicit-path check; nothing is launched for real.
    host = BrowserHost(playwright, chromium_path=sys.executable, sleep=sleeps, **kwargs)  # type: ignore[arg-type]
    return host, playwright.chromium


def test_the_schedule() -> None:
    assert BACKOFF == (0.0, 0.5, 1.0, 2.0, 4.0)


async def test_a_crashed_browser_is_relaunched_with_backoff() -> None:
    sleeps = Sleeps()
    host, chromium = local_host([True, OSError("boom"), OSError("boom\nat line 2"), OSError("boom"), True], sleeps)
    lost: list[Any] = []
    host.subscribe(on_lost=lost.append)
    await host.start()
    first = await host.browser(1)
    assert first is chromium.launched[0] and sleeps.delays == []
    first.crash()
    assert lost == [first] and not host.alive
    second = await host.browser(5)  # a start waits for the relaunch
    assert second is chromium.launched[1] and second is not first
    assert sleeps.delays == [0.0, 0.5, 1.0, 2.0]  # three failures, then the fourth try worked
    assert chromium.attempts == 5 and host.restarts == 1 and host.alive
    assert host._failure is None  # cleared by the success
    await host.close()


async def test_a_local_browser_is_given_up_after_five_tries_until_a_start_asks() -> None:
    sleeps = Sleeps()
    host, chromium = local_host([True], sleeps)
    await host.start()
    chromium.launched[0].crash()
    assert host._relaunch is not None
    await asyncio.wait_for(host._relaunch, 5)
    assert sleeps.delays == list(BACKOFF)
    assert chromium.attempts == 1 + len(BACKOFF) and host.restarts == 0 and not host.alive
    for _ in range(20):
        await asyncio.sleep(0)
    assert chromium.attempts == 1 + len(BACKOFF)  # given up: nothing runs in the background

    # The next start tries again (another round of five) and says why there is no browser.
    with pytest.raises(WorkerError) as err:
        await host.browser(0.1)
    assert str(err.value) == ("no browser available (Chromium is being relaunched): "
                              "attempt 5 failed: launch failed for good")
    assert sleeps.delays == list(BACKOFF) * 2 and chromium.attempts == 1 + 2 * len(BACKOFF)
    await host.close()


async def test_a_failure_reports_the_first_line_of_the_error() -> None:
    host: BrowserHost
    seen: list[str | None] = []
    probe = {n: (lambda: seen.append(host._failure)) for n in (2, 3)}  # before attempts 2 and 3
    sleeps = Sleeps(then=probe)
    host, chromium = local_host([True, RuntimeError("Executable doesn't exist\n  at /x\n  at /y"), RuntimeError("  ")],
                                sleeps)
    await host.start()
    chromium.launched[0].crash()
    await asyncio.wait_for(host._relaunch, 5)  # type: ignore[arg-type]
    assert seen == ["attempt 1 failed: Executable doesn't exist", "attempt 2 failed: RuntimeError"]
    assert host._failure == "attempt 5 failed: launch failed for good"
    await host.close()


async def test_a_remote_browser_is_retried_every_four_seconds_until_closed() -> None:
    host: BrowserHost
    sleeps = Sleeps(then={9: lambda: setattr(host, "_closed", True)})
    playwright = FakePlaywright([True])
    host = BrowserHost(playwright, cdp_endpoint="http://cdp.example:9222", sleep=sleeps)  # type: ignore[arg-type]
    assert host.remote
    await host.start()
    playwright.chromium.launched[0].crash()
    await asyncio.wait_for(host._relaunch, 5)  # type: ignore[arg-type]
    assert sleeps.delays == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert playwright.chromium.attempts == 1 + 9


async def test_recycling_launches_a_fresh_browser_without_counting_a_restart() -> None:
    sleeps = Sleeps()
    host, chromium = local_host([True, True], sleeps, recycle_after=2)
    retired: list[Any] = []
    host.subscribe(on_retired=retired.append)
    await host.start()
    old = await host.browser(1)
    old.contexts = ["a session"]
    host.context_opened(old)
    host.context_opened(old)  # the second context: time to recycle
    assert retired == [old] and not host.is_current(old)
    new = await host.browser(1)
    assert new is chromium.launched[1] and sleeps.delays == [0.0]
    assert host.recycles == 1 and host.restarts == 0
    assert old.connected and set(host.browsers()) == {old, new}  # the old one drains
    old.contexts = []
    host.context_closed(old)  # its last session ended: it is closed, and that is no crash
    for _ in range(5):
        await asyncio.sleep(0)
    assert not old.connected and host.browsers() == [new] and host.restarts == 0
    assert sleeps.delays == [0.0]
    await host.close()
