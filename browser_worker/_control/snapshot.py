"""A page's accessibility tree as an agent reads it: Playwright's AI snapshot (YAML with
``[ref=eN]``, frames included), bounded in size, with every secret masked.

Playwright 1.65 prints the typed value of a password box in clear text. Such values never leave
the worker: a value is masked when its element is a secret field (checked per element), when it
equals a secret field's value anywhere in the page (read before and after the snapshot), or when
it is text this session typed as a secret.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Iterable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from browser_worker._render import template_text
from browser_worker.errors import WorkerError, first_line

MASK = "••••••"
#: A snapshot line that shows an element's value: ``- textbox "Password" [ref=e6]: value``.
_VALUE_LINE = re.compile(r"^(?P<head>\s*- .*?\[ref=(?P<ref>(?:f\d+)?e\d+)\][^:\n]*): (?P<value>.+)$")
#: Elements whose value is checked one by one; past this, every shown value is masked.
MAX_CHECKED = 100
#: Frames whose secret fields are read.
MAX_FRAMES = 20
#: Typed secrets shorter than this are masked only where they are a field's whole value.
MIN_ANYWHERE = 4
SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    text: str
    truncated: bool
    chars: int
    url: str
    title: str

    def reply(self) -> dict[str, Any]:
        out: dict[str, Any] = {"snapshot": self.text, "truncated": self.truncated, "chars": self.chars,
                               "url": self.url, "title": self.title}
        if self.truncated:
            out["hint"] = ("the snapshot was cut: ask for less with depth=N (levels of the tree), or for one "
                           "part with root=<ref of that part>, or raise max_chars (at most 200000)")
        return out


async def _secret_values(page: Page) -> set[str]:
    script = template_text("secret-values.js")
    values: set[str] = set()

    async def read(frame: Any) -> None:
        try:
            found = await asyncio.wait_for(frame.evaluate(script), 2.0)
        except Exception:  # a detached or busy frame: the per-element check still applies
            return
        if isinstance(found, list):
            values.update(v for v in found if isinstance(v, str) and v)

    await asyncio.gather(*(read(f) for f in page.frames[:MAX_FRAMES]))
    return values


async def _is_secret(page: Page, ref: str, script: str) -> bool:
    try:
        return bool(await page.get_by_ref(ref).evaluate(script, timeout=1000))
    except PlaywrightError:
        return True  # could not tell: mask (fail closed)


async def mask(page: Page, text: str, typed: Iterable[str]) -> str:
    """``text`` with every secret value masked (see the module docstring)."""
    secrets = await _secret_values(page) | {s for s in typed if s}
    lines = text.split("\n")
    shown = [(i, m) for i, line in enumerate(lines) if (m := _VALUE_LINE.match(line))]
    script = template_text("secret-field.js")
    checked = shown[:MAX_CHECKED]
    verdicts = await asyncio.gather(*(_is_secret(page, m["ref"], script) for _, m in checked))
    secret_lines = {i for (i, _), v in zip(checked, verdicts) if v} | {i for i, _ in shown[MAX_CHECKED:]}
    for i, m in shown:
        value = m["value"].strip().strip('"')
        if i in secret_lines or value in secrets:
            lines[i] = f"{m['head']}: {MASK}"
    out = "\n".join(lines)
    for secret in sorted(secrets | await _secret_values(page), key=len, reverse=True):
        if len(secret) >= MIN_ANYWHERE:
            out = out.replace(secret, MASK)
    return out


async def take(page: Page, *, depth: int | None, max_chars: int, root: str | None,
               typed_secrets: Iterable[str] = ()) -> Snapshot:
    """The page's (or ``root``'s) AI snapshot, masked, cut at ``max_chars`` on a line end."""
    target = page.get_by_ref(root) if root else page
    try:
        raw = await target.aria_snapshot(mode="ai", depth=depth, timeout=SECONDS * 1000)
    except PlaywrightError as exc:
        what = f"root {root}" if root else "the page"
        raise WorkerError(f"snapshot of {what} failed: {first_line(exc)}") from None
    text = await mask(page, raw, typed_secrets)
    chars = len(text)
    truncated = chars > max_chars
    if truncated:
        cut = text.rfind("\n", 0, max_chars)
        text = text[: cut if cut > 0 else max_chars]
    return Snapshot(text=text, truncated=truncated, chars=chars, url=scrub(page.url, typed_secrets),
                    title=scrub(await page_title(page), typed_secrets))


async def page_title(page: Page) -> str:
    """The page's title, or "" when the page does not answer within 2 s (it may be busy)."""
    try:
        return await asyncio.wait_for(page.title(), 2.0)
    except Exception:
        return ""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each typed secret (long enough to tell apart) masked."""
    for secret in sorted((s for s in secrets if len(s) >= MIN_ANYWHERE), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
