"""``Progress`` coalescing with an injected timer: every message is logged at once, the callback
gets them joined, at most once per window, and ``flush`` sends what is left."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

from browser_worker._logs.progress import Progress
from browser_worker._logs.buffer import LogBuffer


class FakeTimers:
    """Stands in for ``loop.call_later``: records what is scheduled; the test fires it."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[float, Callable[[], None], "FakeHandle"]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> "FakeHandle":
        handle = FakeHandle()
        self.scheduled.append((delay, callback, handle))
        return handle

    def pending(self) -> list[tuple[float, Callable[[], None], "FakeHandle"]]:
        return [s for s in self.scheduled if not s[2].cancelled and not s[2].fired]

    def fire(self) -> None:
        """The window ends: run every timer still due."""
        for _, callback, handle in self.pending():
            handle.fired = True
            callback()


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False
        self.fired = False

    def cancel(self) -> None:
        self.cancelled = True


def recorder() -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], None]]:
    calls: list[dict[str, Any]] = []
    return calls, calls.append


async def test_messages_in_one_window_are_one_call() -> None:
    calls, callback = recorder()
    timers = FakeTimers()
    progress = Progress(callback, coalesce=2.0, call_later=timers)
    logs = LogBuffer()
    progress.attach(logs)
    progress.info("Starting window app")
    progress.info("Context ready")
    progress.success("App loaded in 0.1s")
    assert calls == []  # held back until the window ends
    assert [(d, h.cancelled) for d, _, h in timers.scheduled] == [(2.0, False)]  # one timer, not three
    # ...but the session log has each message at once.
    assert logs.texts() == ["Starting window app", "Context ready", "App loaded in 0.1s"]
    timers.fire()
    assert calls == [{"type": "success", "message": "Starting window app\nContext ready\nApp loaded in 0.1s"}]


async def test_at_most_one_call_per_window_and_a_new_window_after_it() -> None:
    calls, callback = recorder()
    timers = FakeTimers()
    progress = Progress(callback, coalesce=1.5, call_later=timers)
    for window in range(3):
        for i in range(4):
            progress.info(f"w{window} m{i}")
        assert len(timers.pending()) == 1
        timers.fire()
        assert len(calls) == window + 1
    assert [c["message"] for c in calls] == [
        "w0 m0\nw0 m1\nw0 m2\nw0 m3", "w1 m0\nw1 m1\nw1 m2\nw1 m3", "w2 m0\nw2 m1\nw2 m2\nw2 m3"]
    assert [d for d, _, _ in timers.scheduled] == [1.5, 1.5, 1.5]
    timers.fire()  # nothing pending: no empty call
    assert len(calls) == 3


async def test_flush_sends_the_rest_at_once_and_cancels_the_timer() -> None:
    calls, callback = recorder()
    timers = FakeTimers()
    progress = Progress(callback, coalesce=10.0, call_later=timers)
    progress.info("Installing packages")
    progress.warning("numpy took 4s")
    progress.flush()
    assert calls == [{"type": "warning", "message": "Installing packages\nnumpy took 4s"}]
    assert timers.scheduled[0][2].cancelled
    progress.flush()  # nothing left: no second call
    timers.fire()
    assert len(calls) == 1


async def test_a_batch_carries_its_most_severe_type() -> None:
    cases = [
        (["info", "success"], "success"),
        (["success", "info"], "success"),
        (["info", "warning", "success"], "warning"),
        (["warning", "error", "info"], "error"),
        (["info", "info"], "info"),
    ]
    for kinds, expected in cases:
        calls, callback = recorder()
        progress = Progress(callback, coalesce=1.0, call_later=FakeTimers())
        for kind in kinds:
            progress.emit(kind, kind)
        progress.flush()
        assert calls == [{"type": expected, "message": "\n".join(kinds)}], kinds


async def test_without_coalescing_each_message_is_a_call() -> None:
    calls, callback = recorder()
    timers = FakeTimers()
    progress = Progress(callback, call_later=timers)
    progress.info("a")
    progress.error("b")
    assert calls == [{"type": "info", "message": "a"}, {"type": "error", "message": "b"}]
    assert timers.scheduled == []


def test_outside_an_event_loop_nothing_is_held_back() -> None:
    calls, callback = recorder()
    progress = Progress(callback, coalesce=5.0)  # no running loop: no timer to flush with
    progress.info("a")
    progress.info("b")
    assert [c["message"] for c in calls] == ["a", "b"]


async def test_the_real_loop_timer_flushes_after_the_window() -> None:
    calls, callback = recorder()
    progress = Progress(callback, coalesce=0.05)
    progress.info("a")
    progress.info("b")
    assert calls == []
    for _ in range(100):
        if calls:
            break
        await asyncio.sleep(0.01)
    assert calls == [{"type": "info", "message": "a\nb"}]


async def test_a_broken_or_async_callback_never_fails_the_caller() -> None:
    def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("callback down")

    progress = Progress(broken)
    progress.info("still fine")  # does not raise

    got: list[dict[str, Any]] = []

    async def remote(message: dict[str, Any]) -> None:
        got.append(message)

    progress = Progress(remote, coalesce=1.0, call_later=FakeTimers())
    progress.info("x")
    progress.flush()
    await asyncio.sleep(0)
    assert got == [{"type": "info", "message": "x"}]


async def test_emit_from_a_thread_lands_in_the_loop() -> None:
    calls, callback = recorder()
    timers = FakeTimers()
    progress = Progress(callback, coalesce=1.0, call_later=timers)
    thread = threading.Thread(target=progress.info, args=("from a thread",))
    thread.start()
    thread.join()
    for _ in range(50):
        if timers.scheduled:
            break
        await asyncio.sleep(0.01)
    timers.fire()
    assert calls == [{"type": "info", "message": "from a thread"}]


async def test_tokens_are_redacted_before_the_callback_and_the_log() -> None:
    calls, callback = recorder()
    jwt = "eyJhbGciOiJI.eyJzdWIiOiJh.c2lnbmF0dXJl"  # token-shaped: redacted even if never registered
    progress = Progress(callback, coalesce=1.0, call_later=FakeTimers())
    logs = LogBuffer()
    progress.attach(logs)
    progress.info(f"connecting with {jwt}")
    progress.flush()
    assert calls == [{"type": "info", "message": "connecting with ***"}]
    assert logs.texts() == ["connecting with ***"]
