"""Screenshot/PDF arguments and the per-app viewport and scale factor, parsed at the door
without a browser: every bad value is refused with the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker._door.calls import Limits
from browser_worker._door.pictures import (MAX_PREDICATE_BYTES, PDF_FORMATS, WaitCondition, parse_pdf,
                                          parse_screenshot, parse_wait_for)
from browser_worker._door.manifest import device_scale_factor, viewport
from browser_worker._engine.assembly import fresh_context_options
from browser_worker.config import WorkerSettings
from browser_worker.errors import WorkerError


def test_the_old_arguments_keep_their_meaning() -> None:
    req = parse_screenshot(Limits(), format="jpeg", quality=50, full_page=True, selector="#a")
    assert (req.format, req.quality, req.full_page, req.selector, req.timeout) == ("jpeg", 50, True, "#a", 10.0)
    assert req.wait_for == () and req.animations == "allow"


def test_wait_for_takes_one_condition_or_a_list_in_order() -> None:
    assert parse_wait_for("fonts") == (WaitCondition("fonts"),)
    assert parse_wait_for(["networkidle", {"selector": "#x"}, {"function": "() => 1", "_rtype": "o"}]) == (
        WaitCondition("networkidle"), WaitCondition("selector", "#x"), WaitCondition("function", "() => 1"))
    assert parse_wait_for(None) == () and parse_wait_for([]) == ()


@pytest.mark.parametrize("value, message", [
    ("load", "wait_for 'load' is unknown (rule: 'fonts', 'networkidle', {'selector': css} or {'function': js})"),
    (5, "wait_for must be 'fonts', 'networkidle', an object or a list of these, got int"),
    ({"selector": "#a", "function": "x"}, "wait_for must have exactly one key, 'selector' or 'function' (got function, selector)"),
    ({}, "wait_for must have exactly one key, 'selector' or 'function' (got none)"),
    ({"selector": ""}, "wait_for.selector must be a non-empty string"),
    ({"selector": 3}, "wait_for.selector must be a non-empty string"),
    ({"selector": "é" * 513}, "wait_for.selector is 1026 bytes (rule: at most 1024 bytes)"),
    ({"function": "x" * (MAX_PREDICATE_BYTES + 1)}, f"wait_for.function is {MAX_PREDICATE_BYTES + 1} bytes "
                                                    f"(rule: at most {MAX_PREDICATE_BYTES} bytes)"),
    (["fonts"] * 9, "wait_for has 9 conditions (rule: at most 8)"),
    (["fonts", ["fonts"]], "wait_for[1] must be 'fonts', 'networkidle', an object or a list of these, got list"),
    (["fonts", "idle"], "wait_for[1] 'idle' is unknown (rule: 'fonts', 'networkidle', {'selector': css} or {'function': js})"),
])
def test_bad_wait_for_names_the_field_and_the_rule(value: Any, message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_screenshot(Limits(), wait_for=value)
    assert str(err.value) == message


def test_a_selector_of_exactly_1_kib_and_eight_conditions_pass() -> None:
    assert len(parse_wait_for([{"selector": "a" * 1024}] * 8)) == 8


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "gif"}, "invalid take_screenshot arguments: format: Input should be 'png', 'jpeg' or 'webp'"),
    ({"animations": "paused"}, "invalid take_screenshot arguments: animations: Input should be 'disabled' or 'allow'"),
    ({"quality": 50}, "quality: applies to format 'jpeg' and 'webp' only"),
    ({"format": "webp", "quality": 101}, "invalid take_screenshot arguments: quality: Input should be less than or equal to 100"),
    ({"format": "webp", "quality": True}, "invalid take_screenshot arguments: quality: Input should be a valid integer"),
    ({"timeout": 1000}, "timeout 1000s is above this worker's maximum of 300s"),
])
def test_bad_screenshot_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_screenshot(Limits(), **kwargs)
    assert str(err.value) == message


def test_webp_takes_a_quality_and_animations_may_be_disabled() -> None:
    req = parse_screenshot(Limits(), format="webp", quality=80, animations="disabled")
    assert (req.format, req.quality, req.animations) == ("webp", 80, "disabled")


def test_pdf_defaults_and_paper_names() -> None:
    req = parse_pdf(Limits())
    assert (req.format, req.landscape, req.print_background, req.timeout) == ("A4", False, True, 10.0)
    assert req.max_bytes == 64 * 2**20
    assert parse_pdf(Limits(), format="letter").format == "Letter"
    assert [parse_pdf(Limits(), format=f).format for f in PDF_FORMATS] == list(PDF_FORMATS)


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "A7"}, "format 'A7' is not a paper size (rule: one of Letter, Legal, Tabloid, Ledger, A0, A1, A2, "
                       "A3, A4, A5, A6)"),
    ({"format": 4}, "invalid print_pdf arguments: format: Input should be a valid string"),
    ({"landscape": 1}, "invalid print_pdf arguments: landscape: Input should be a valid boolean"),
    ({"print_background": "true"}, "invalid print_pdf arguments: print_background: Input should be a valid boolean"),
    ({"timeout": 0}, "invalid print_pdf arguments: timeout: Input should be greater than 0"),
    ({"scale": 2}, "invalid print_pdf arguments: scale: Extra inputs are not permitted"),
])
def test_bad_pdf_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_pdf(Limits(), **kwargs)
    assert str(err.value) == message


def test_manifest_viewport_and_scale_factor() -> None:
    assert viewport(None) is None and device_scale_factor(None) is None
    assert viewport({"width": 1280, "height": 720, "_rtype": "o"}, 2) == {"width": 1280, "height": 720}
    assert device_scale_factor(2) == 2.0 and device_scale_factor(0.5) == 0.5


@pytest.mark.parametrize("value, scale, message", [
    ([1280, 720], None, "manifest 'viewport' must be an object with exactly 'width' and 'height'"),
    ({"width": 1280}, None, "manifest 'viewport' must be an object with exactly 'width' and 'height'"),
    ({"width": 1280.5, "height": 720}, None,
     "manifest 'viewport.width' must be a whole number of CSS pixels from 16 to 8192, got 1280.5"),
    ({"width": 1280, "height": True}, None,
     "manifest 'viewport.height' must be a whole number of CSS pixels from 16 to 8192, got True"),
    ({"width": 8192, "height": 8192}, None,
     "manifest 'viewport' at device_scale_factor 1 is 67108864 device pixels (rule: at most 33177600, 7680×4320)"),
    ({"width": 3840, "height": 2160}, 4,
     "manifest 'viewport' at device_scale_factor 4 is 132710400 device pixels (rule: at most 33177600, 7680×4320)"),
])
def test_bad_viewports_name_the_rule(value: Any, scale: Any, message: str) -> None:
    with pytest.raises(WorkerError) as err:
        viewport(value, scale)
    assert str(err.value) == message


@pytest.mark.parametrize("value", [0, 5, "2", True, float("nan"), float("inf")])
def test_bad_scale_factors_name_the_rule(value: Any) -> None:
    with pytest.raises(WorkerError, match=r"^manifest 'device_scale_factor' must be a number from 0.25 to 4, got "):
        device_scale_factor(value)


def test_only_another_scale_factor_needs_a_context_of_its_own() -> None:
    s = WorkerSettings(locale="de-DE")
    assert fresh_context_options(s, None, None) is None
    assert fresh_context_options(s, {"width": 800, "height": 600}, None) is None  # set on a warm page
    assert fresh_context_options(s, None, 1.0) is None  # the worker's own
    options = fresh_context_options(s, None, 2.0)
    assert options == {"viewport": {"width": 1280, "height": 720}, "device_scale_factor": 2.0, "locale": "de-DE"}
    assert fresh_context_options(s, {"width": 800, "height": 600}, 2)["viewport"] == {"width": 800, "height": 600}


class _PrintingPage:
    """Stands in for a page that prints ``size`` bytes (the bound is the worker's, not Chromium's)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.asked: dict[str, Any] = {}

    async def pdf(self, **options: Any) -> bytes:
        self.asked = options
        return b"%PDF-" + b"x" * (self.size - 5)


async def test_a_pdf_above_the_bound_is_refused_naming_it() -> None:
    from dataclasses import replace

    from browser_worker._page.pictures import pdf

    req = replace(parse_pdf(Limits(), format="Legal", landscape=True), max_bytes=1000)
    page = _PrintingPage(1000)
    assert len(await pdf(page, req)) == 1000  # type: ignore[arg-type]
    assert page.asked == {"format": "Legal", "landscape": True, "print_background": True}
    with pytest.raises(WorkerError) as err:
        await pdf(_PrintingPage(1001), req)  # type: ignore[arg-type]
    assert str(err.value) == "print_pdf: the PDF is 1001 bytes (rule: at most 1000 bytes; print a shorter page)"


def test_an_app_s_own_context_settings_need_a_fresh_context_the_worker_s_own_do_not() -> None:
    s = WorkerSettings(locale="de-DE")
    assert fresh_context_options(s, None, None, {"locale": "de-DE"}) is None  # what the worker has anyway
    options = fresh_context_options(s, {"width": 640, "height": 480}, None, {"locale": "fr-FR", "bypass_csp": True})
    assert options is not None and options["locale"] == "fr-FR" and options["bypass_csp"] is True
    assert options["viewport"] == {"width": 640, "height": 480}
