"""Screenshot and PDF calls, parsed once at the door into typed requests.

A caller may ask the page to settle first (``wait_for``: fonts, network idle, a visible element,
a JS predicate). Each of those runs in the page, so each is bounded: by count, by size and by the
call's one deadline. Errors name the field and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from browser_worker._door.calls import Limits, Seconds, _timeout, _validate
from browser_worker.errors import WorkerError

#: Conditions one call may wait for, and how large each may be (UTF-8 bytes).
MAX_WAIT_CONDITIONS = 8
MAX_SELECTOR_BYTES = 1024
MAX_PREDICATE_BYTES = 64 * 1024
#: Largest PDF the worker hands back (it travels over RPC in one message).
MAX_PDF_BYTES = 64 * 1024 * 1024
#: Paper sizes Chromium's printer knows, as Playwright names them.
PDF_FORMATS = ("Letter", "Legal", "Tabloid", "Ledger", "A0", "A1", "A2", "A3", "A4", "A5", "A6")
_NAMED_WAITS = ("fonts", "networkidle")


@dataclass(frozen=True)
class WaitCondition:
    """One thing the page must reach before the capture: ``fonts``, ``networkidle``,
    ``selector`` (a CSS selector, visible) or ``function`` (a JS predicate, truthy)."""

    kind: Literal["fonts", "networkidle", "selector", "function"]
    value: str | None = None

    def describe(self) -> str:
        """What did not happen, for the error of a wait that ran out of time."""
        if self.kind == "fonts":
            return "the page's fonts did not finish loading"
        if self.kind == "networkidle":
            return "the network did not become idle (no request for 500 ms)"
        if self.kind == "selector":
            shown = self.value if len(self.value or "") <= 80 else (self.value or "")[:80] + "…"
            return f"no element matching {shown!r} became visible"
        return "the wait_for function did not return a truthy value"


def _bounded(text: Any, field: str, cap: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise WorkerError(f"{field} must be a non-empty string")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > cap:
        raise WorkerError(f"{field} is {size} bytes (rule: at most {cap} bytes)")
    return text


def _condition(value: Any, field: str) -> WaitCondition:
    if isinstance(value, str):
        if value not in _NAMED_WAITS:
            raise WorkerError(f"{field} {value[:40]!r} is unknown (rule: 'fonts', 'networkidle', "
                              "{'selector': css} or {'function': js})")
        return WaitCondition(value)  # type: ignore[arg-type]
    if isinstance(value, dict):
        keys = sorted(k for k in value if k != "_rtype")  # hypha-rpc tags the objects it sends
        if keys == ["selector"]:
            return WaitCondition("selector", _bounded(value["selector"], f"{field}.selector", MAX_SELECTOR_BYTES))
        if keys == ["function"]:
            return WaitCondition("function", _bounded(value["function"], f"{field}.function", MAX_PREDICATE_BYTES))
        raise WorkerError(f"{field} must have exactly one key, 'selector' or 'function' "
                          f"(got {', '.join(map(str, keys))[:80] or 'none'})")
    raise WorkerError(f"{field} must be 'fonts', 'networkidle', an object or a list of these, "
                      f"got {type(value).__name__}")


def parse_wait_for(value: Any) -> tuple[WaitCondition, ...]:
    """``wait_for`` as a caller gives it: one condition or a list of them (in order)."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_WAIT_CONDITIONS:
            raise WorkerError(f"wait_for has {len(value)} conditions (rule: at most {MAX_WAIT_CONDITIONS})")
        return tuple(_condition(v, f"wait_for[{i}]") for i, v in enumerate(value))
    return (_condition(value, "wait_for"),)


class _Clip(BaseModel):
    model_config = ConfigDict(extra="ignore")
    x: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
    y: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
    width: Annotated[float, Field(gt=0, le=16_384, allow_inf_nan=False)]
    height: Annotated[float, Field(gt=0, le=16_384, allow_inf_nan=False)]


class _RawScreenshot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["png", "jpeg", "webp"] = "png"
    quality: Annotated[int, Field(ge=0, le=100, strict=True)] | None = None
    full_page: StrictBool = False
    clip: _Clip | None = None
    selector: Annotated[StrictStr, Field(min_length=1, max_length=1000)] | None = None
    timeout: Seconds | None = None
    animations: Literal["disabled", "allow"] = "allow"


@dataclass(frozen=True)
class ScreenshotRequest:
    format: str = "png"
    quality: int | None = None
    full_page: bool = False
    clip: dict[str, float] | None = None
    selector: str | None = None
    timeout: float = 10.0
    #: Conditions awaited in order before the capture, all within ``timeout``.
    wait_for: tuple[WaitCondition, ...] = ()
    #: ``disabled``: finite CSS animations jump to their end, infinite ones to their start, and
    #: the text caret is hidden, so two captures of the same page are the same image.
    animations: str = "allow"


def parse_screenshot(limits: Limits, *, wait_for: Any = None, **kwargs: Any) -> ScreenshotRequest:
    waits = parse_wait_for(wait_for)
    raw = _validate(_RawScreenshot, {k: v for k, v in kwargs.items() if v is not None}, "take_screenshot arguments")
    if raw.quality is not None and raw.format == "png":
        raise WorkerError("quality: applies to format 'jpeg' and 'webp' only")
    return ScreenshotRequest(
        format=raw.format, quality=raw.quality, full_page=raw.full_page,
        clip=raw.clip.model_dump() if raw.clip else None, selector=raw.selector,
        timeout=_timeout(raw.timeout, limits.screenshot_timeout, limits.max_execute_timeout, "timeout"),
        wait_for=waits, animations=raw.animations,
    )


class _RawPdf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Annotated[StrictStr, Field(max_length=16)] = "A4"
    landscape: StrictBool = False
    print_background: StrictBool = True
    timeout: Seconds | None = None


@dataclass(frozen=True)
class PdfRequest:
    format: str = "A4"
    landscape: bool = False
    print_background: bool = True
    timeout: float = 10.0
    max_bytes: int = MAX_PDF_BYTES


def parse_pdf(limits: Limits, **kwargs: Any) -> PdfRequest:
    raw = _validate(_RawPdf, {k: v for k, v in kwargs.items() if v is not None}, "print_pdf arguments")
    paper = next((f for f in PDF_FORMATS if f.lower() == raw.format.lower()), None)
    if paper is None:
        raise WorkerError(f"format {raw.format!r} is not a paper size (rule: one of {', '.join(PDF_FORMATS)})")
    return PdfRequest(
        format=paper, landscape=raw.landscape, print_background=raw.print_background,
        timeout=_timeout(raw.timeout, limits.screenshot_timeout, limits.max_execute_timeout, "timeout"),
    )
