"""``ContextPool`` refill back-off and trimming, with a fake browser host and an injected clock
and timer: no Chromium. A refill that fails backs off 0.5 s doubling to 60 s (and does not try
again before then, however often it is woken), a success resets the back-off, and warm pages
above the target are closed, oldest first."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from browser_worker._browser.lease import Lease
from browser_worker._browser.pool import ContextPool
from browser_worker.errors import WorkerError


class FakePage:
    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed


class FakeContext:
    def __init__(self, browser: "FakeBrowser") -> None:
        self.browser = browser
        self.closed = False
        self.init_scripts = 0

    async def route(self, *_: Any) -> None:
        pass

    async def add_init_script(self, script: str) -> None:
        assert script
        self.init_scripts += 1

    async def new_page(self) -> FakePage:
        return FakePage()

    def on(self, *_: Any) -> None:
        pass

    async def close(self) -> None:
        self.closed = True
        self.browser.contexts.remove(self)


class FakeBrowser:
    def __init__(self) -> None:
        self.contexts: list[FakeContext] = []
        self.connected = True
        self.options: list[dict[str, Any]] = []  # what each new_context was made with

    def is_connected(self) -> bool:
        return self.connected

    async def new_context(self, **options: Any) -> FakeContext:
        self.options.append(options)
        context = FakeContext(self)
        self.contexts.append(context)
        return context


class FakeHost:
    """``browser()`` fails while ``failing`` is positive (as while Chromium is relaunched)."""

    def __init__(self, failing: int = 0) -> None:
        self.failing = failing
        self.current = FakeBrowser()
        self.calls = 0
        self.closed = 0

    def subscribe(self, **_: Any) -> None:
        pass

    async def browser(self, timeout: float | None = None) -> FakeBrowser:
        self.calls += 1
        if self.failing > 0:
            self.failing -= 1
            raise WorkerError("no browser available (Chromium is being relaunched)")
        return self.current

    def context_opened(self, browser: Any) -> None:
        pass

    def context_closed(self, browser: Any) -> None:
        self.closed += 1

    def is_current(self, browser: Any) -> bool:
        return browser is self.current and browser.connected


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Timers:
    """``call_later``: records the delays; ``fire`` runs what was scheduled."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._due: list[Callable[[], Any]] = []

    def __call__(self, delay: float, callback: Callable[[], Any]) -> None:
        self.delays.append(delay)
        self._due.append(callback)

    def fire(self) -> None:
        due, self._due = self._due, []
        for callback in due:
            callback()


async def spin(rounds: int = 50) -> None:
    """Let the refillers run until they wait again."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def make_pool(host: FakeHost, **kwargs: Any) -> tuple[ContextPool, Clock, Timers]:
    clock, timers = Clock(), Timers()
    pool = ContextPool(host, clock=clock, call_later=timers, **kwargs)  # type: ignore[arg-type]
    return pool, clock, timers


async def test_a_failing_refill_backs_off_and_does_not_spin() -> None:
    host = FakeHost(failing=4)
    pool, clock, timers = make_pool(host, size=1)
    await pool.start()  # the first fill fails (call 1); the refiller tries once more (call 2)
    try:
        await spin()
        assert host.calls == 2 and pool.idle == 0
        assert timers.delays == [0.5]

        # Woken early (a released session asks for a refill): no attempt before the back-off
        # is over, and the timer set for its end still stands.
        for _ in range(3):
            pool.refill()
            await spin()
        assert host.calls == 2 and timers.delays == [0.5]

        clock.now += 0.5
        timers.fire()
        await spin()
        assert host.calls == 3 and timers.delays == [0.5, 1.0]
        clock.now += 0.99
        pool.refill()
        await spin()
        assert host.calls == 3  # 10 ms early is still early
        clock.now += 0.01
        timers.fire()
        await spin()
        assert host.calls == 4 and timers.delays == [0.5, 1.0, 2.0]

        clock.now += 2.0
        timers.fire()  # the browser is back: this one succeeds
        await spin()
        assert host.calls == 5 and pool.idle == 1 and pool.idle_of("window") == 1
        assert timers.delays == [0.5, 1.0, 2.0]  # no back-off after a success

        # A success resets the back-off: the next failure waits 0.5 s again.
        pool._ready.clear()
        host.failing = 1
        pool.refill()
        await spin()
        assert host.calls == 6 and timers.delays == [0.5, 1.0, 2.0, 0.5]
    finally:
        await pool.close()


async def test_the_back_off_doubles_up_to_a_minute() -> None:
    host = FakeHost(failing=10**6)
    pool, clock, timers = make_pool(host, size=1)
    await pool.start()
    try:
        await spin()
        for _ in range(10):
            clock.now += timers.delays[-1]
            timers.fire()
            await spin()
        assert timers.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0]
        assert host.calls == 1 + len(timers.delays)  # one try per back-off, plus the first fill
    finally:
        await pool.close()


async def test_each_kind_backs_off_on_its_own() -> None:
    host = FakeHost()
    pool, clock, timers = make_pool(host, size=1)
    pool._failures["web-python"] = 5
    pool._retry_at["web-python"] = clock.now + 999
    await pool.start()
    try:
        await spin()
        assert pool.idle_of("window") == 1 and timers.delays == []
    finally:
        await pool.close()


class Demand:
    """A web-python target the test sets (a burst of starts, then its end)."""

    def __init__(self, target: int) -> None:
        self.value = target

    def target(self) -> int:
        return self.value

    def note(self) -> None:
        pass


async def test_warm_pages_above_the_target_are_closed_oldest_first() -> None:
    host = FakeHost()
    pool, _, _ = make_pool(host, size=1, python_boot_limit=2)
    pool.python_demand = Demand(3)  # type: ignore[assignment]
    await pool.start()
    try:
        await spin(200)
        assert pool.idle_of("web-python") == 3 and pool.idle_of("window") == 1
        python = [lease for lease in pool._ready if lease.warm_kind == "web-python"]
        window = [lease for lease in pool._ready if lease.warm_kind == "window"]
        pool.python_demand.value = 1  # type: ignore[attr-defined]  # the burst is over
        pool.refill()
        await spin(200)
        assert [lease for lease in pool._ready if lease.warm_kind == "web-python"] == python[2:]
        assert [lease.context.closed for lease in python] == [True, True, False]
        assert [lease for lease in pool._ready if lease.warm_kind == "window"] == window  # untouched
        assert host.closed == 2
        assert len(host.current.contexts) == 2  # what Chromium still holds: one of each kind
    finally:
        await pool.close()


async def test_trim_closes_only_the_extra_of_one_kind() -> None:
    host = FakeHost()
    pool, _, _ = make_pool(host, size=2)
    browser = host.current
    leases = []
    for kind in ("window", "window", "web-python", "window", "window"):
        context = await browser.new_context()
        leases.append(Lease(browser, context, FakePage(), warm_kind=kind))  # type: ignore[arg-type]
    pool._ready = list(leases)
    await pool._trim("window")
    assert pool._ready == [leases[2], leases[3], leases[4]]
    assert [lease.context.closed for lease in leases] == [True, True, False, False, False]
    await pool._trim("window")  # at the target: nothing more
    assert pool._ready == [leases[2], leases[3], leases[4]] and host.closed == 2


async def test_a_warm_page_of_a_retired_browser_is_not_handed_out() -> None:
    host = FakeHost()
    pool, _, _ = make_pool(host, size=1)
    await pool.start()
    try:
        (stale,) = pool._ready
        old = host.current
        host.current = FakeBrowser()  # the browser was recycled
        lease = await pool.acquire(timeout=1)
        assert lease is not stale and lease.browser is host.current
        await spin()
        assert stale.context.closed and old.contexts == []
        assert pool.in_use == 1
        await pool.release(lease)
        assert pool.in_use == 0 and lease.context.closed
    finally:
        await pool.close()


async def test_a_warm_page_that_closed_is_not_handed_out() -> None:
    host = FakeHost()
    pool, _, _ = make_pool(host, size=1)
    await pool.start()
    try:
        (stale,) = pool._ready
        stale.page.closed = True  # type: ignore[attr-defined]  # its renderer went away
        lease = await pool.acquire(timeout=1)
        assert lease is not stale
        await spin()
        assert stale.context.closed
        await pool.release(lease)
    finally:
        await pool.close()


async def test_a_lease_with_context_options_is_fresh_and_released_like_any() -> None:
    host = FakeHost()
    pool, _, _ = make_pool(host, size=1, context_options={"device_scale_factor": 1.0})
    await pool.start()
    try:
        (warm,) = pool._ready
        lease = await pool.acquire(timeout=1, context_options={"device_scale_factor": 2.0})
        assert lease is not warm and pool._ready == [warm]  # the warm context stays for others
        assert host.current.options[-1] == {"accept_downloads": False, "device_scale_factor": 2.0}
        assert pool.in_use == 1
        await pool.release(lease)
        assert pool.in_use == 0 and lease.context.closed and pool._slots._value == pool.capacity
        assert await pool.acquire(timeout=1) is warm  # without options: the warm one
    finally:
        await pool.close()
