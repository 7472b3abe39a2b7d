"""Running an ``act`` call's typed steps in a page, each within its deadline and the call's.

No step runs caller-supplied JavaScript: targets resolve through Playwright's locators (a ref
from the latest snapshot, a role and name) or the mouse at a point. The first step that fails
stops the call; its result says why, and the steps after it did not run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from browser_worker._aio import quietly
from browser_worker._door import MAX_WAIT_SECONDS, InputEvent, NAVIGATION_SECONDS, STEP_SECONDS, Step, Target
from browser_worker.errors import WorkerError, first_line


@dataclass
class StepResult:
    action: str
    target: str | None = None
    ok: bool = True
    error: str | None = None

    def reply(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "ok": self.ok}
        if self.target is not None:
            out["target"] = self.target
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class Run:
    """What a call did: a result per step run, and what the page did meanwhile."""

    steps: list[StepResult] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


def _locator(page: Page, target: Target) -> Locator:
    if target.ref is not None:
        return page.get_by_ref(target.ref)
    assert target.role is not None
    return page.get_by_role(target.role, name=target.name, exact=target.exact)  # type: ignore[arg-type]


async def _present(locator: Locator, target: Target) -> None:
    """A ref that matches nothing fails now, not after the step's timeout."""
    if target.ref is not None and await locator.count() == 0:
        raise WorkerError(f"ref {target.ref} is not in the page now (take a new snapshot: refs hold only "
                          "for the latest one)")


async def _described(locator: Locator, target: Target) -> str:
    """The target as Playwright would write it (``get_by_role("button", name="Sign in")``),
    resolved before the step acts (a click may remove its element); else as it was named."""
    await _present(locator, target)
    try:
        return str(await asyncio.wait_for(locator.normalize(), 2.0))
    except Exception:
        return str(target)


class StepRunner:
    """Runs steps in one page. ``check_url`` refuses navigation targets the worker's network
    rules forbid (it raises ``WorkerError`` naming the rule)."""

    def __init__(self, page: Page, check_url: Callable[[str], Awaitable[str]], deadline: float) -> None:
        self.page = page
        self.check_url = check_url
        self.deadline = deadline

    def _ms(self, seconds: float = STEP_SECONDS) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise WorkerError("act: the call's deadline passed before this step")
        return min(seconds, left) * 1000

    async def run(self, steps: tuple[Step, ...]) -> Run:
        run = Run()

        def on_dialog(dialog: Any) -> None:
            run.dialogs.append(f"{dialog.type}: {dialog.message[:200]}")
            asyncio.ensure_future(quietly(dialog.dismiss(), 5.0))

        self.page.on("dialog", on_dialog)
        try:
            for step in steps:
                result = StepResult(step.action)
                run.steps.append(result)
                try:
                    result.target = await self._one(step)
                except (PlaywrightError, WorkerError) as exc:
                    result.ok = False
                    result.error = _explain(exc)
                    break
        finally:
            self.page.remove_listener("dialog", on_dialog)
        return run

    async def _one(self, step: Step) -> str | None:
        page, t = self.page, step.target
        a = step.action
        if a in ("click", "double_click", "hover") and t is not None:
            if t.x is not None and t.y is not None:
                if a == "hover":
                    await page.mouse.move(t.x, t.y)
                else:
                    await page.mouse.click(t.x, t.y, button=step.button, click_count=2 if a == "double_click" else 1)  # type: ignore[arg-type]
                return str(t)
            loc = _locator(page, t)
            desc = await _described(loc, t)
            if a == "click":
                await loc.click(button=step.button, timeout=self._ms())  # type: ignore[arg-type]
            elif a == "double_click":
                await loc.dblclick(button=step.button, timeout=self._ms())  # type: ignore[arg-type]
            else:
                await loc.hover(timeout=self._ms())
            return desc
        if a in ("type", "fill") and t is not None:
            text = step.text or ""
            if t.x is not None and t.y is not None:
                await page.mouse.click(t.x, t.y)
                await page.keyboard.type(text)
                if step.submit:
                    await page.keyboard.press("Enter")
                return str(t)
            loc = _locator(page, t)
            desc = await _described(loc, t)
            if a == "fill":
                await loc.fill(text, timeout=self._ms())
            else:
                await loc.press_sequentially(text, timeout=self._ms())
            if step.submit:
                await loc.press("Enter", timeout=self._ms())
            return desc
        if a == "press":
            await asyncio.wait_for(page.keyboard.press(step.key or ""), self._ms() / 1000)
            return None
        if a == "select" and t is not None:
            loc = _locator(page, t)
            desc = await _described(loc, t)
            await loc.select_option(list(step.values), timeout=self._ms())
            return desc
        if a == "check" and t is not None:
            loc = _locator(page, t)
            desc = await _described(loc, t)
            await loc.set_checked(step.checked, timeout=self._ms())
            return desc
        if a == "scroll":
            if t is not None and t.x is not None and t.y is not None:
                await page.mouse.move(t.x, t.y)
            await page.mouse.wheel(step.dx, step.dy)
            return str(t) if t is not None else None
        if a == "navigate":
            url = await self.check_url(step.url or "")
            await page.goto(url, timeout=self._ms(NAVIGATION_SECONDS), wait_until="load")
            return url
        if a in ("back", "forward", "reload"):
            go = {"back": page.go_back, "forward": page.go_forward, "reload": page.reload}[a]
            await go(timeout=self._ms(NAVIGATION_SECONDS))
            return None
        if a == "wait_for":
            if step.wait_seconds is not None:
                await asyncio.sleep(min(step.wait_seconds, MAX_WAIT_SECONDS, self._ms(MAX_WAIT_SECONDS) / 1000))
                return None
            text = step.wait_text or step.wait_text_gone or ""
            state = "visible" if step.wait_text is not None else "hidden"
            await page.get_by_text(text).first.wait_for(state=state, timeout=self._ms(MAX_WAIT_SECONDS))  # type: ignore[arg-type]
            return f"text {text[:100]!r} {state}"
        if a == "upload" and t is not None:
            loc = _locator(page, t)
            desc = await _described(loc, t)
            await loc.set_input_files([{"name": n, "mimeType": m, "buffer": b} for n, m, b in step.files],
                                      timeout=self._ms())
            return desc
        raise WorkerError(f"act: step {a} is missing what it acts on")


def _explain(exc: BaseException) -> str:
    text = first_line(exc, 300)
    if "Ref " in text and "not found" in text or "does not match any" in text:
        return text + " (take a new snapshot: refs hold only for the latest one)"
    return text


async def dispatch(page: Page, events: tuple[InputEvent, ...], deadline: float) -> None:
    """Replay a viewer's input burst in the page, in order, within ``deadline`` (monotonic)."""
    for e in events:
        if time.monotonic() > deadline:
            raise WorkerError("send_input: the burst took longer than its deadline; the rest was dropped")
        if e.kind == "mouse":
            await page.mouse.move(e.x, e.y)
            if e.action == "down":
                await page.mouse.down(button=e.button)  # type: ignore[arg-type]
            elif e.action == "up":
                await page.mouse.up(button=e.button)  # type: ignore[arg-type]
        elif e.kind == "wheel":
            await page.mouse.move(e.x, e.y)
            await page.mouse.wheel(e.dx, e.dy)
        elif e.kind == "key":
            action = {"down": page.keyboard.down, "up": page.keyboard.up, "press": page.keyboard.press}[e.action]
            await action(e.key)
        else:
            await page.keyboard.insert_text(e.text)


def burst_summary(events: tuple[InputEvent, ...]) -> str:
    """What a burst did, for the audit: counts per kind, typed text as its length only."""
    counts: dict[str, int] = {}
    chars = 0
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
        chars += len(e.text)
    parts = [f"{n} {kind}" for kind, n in counts.items() if kind != "text"]
    if chars:
        parts.append(f"text ({chars} characters)")
    return ", ".join(parts)
