"""Compile budgets: caps that stop a small hostile app from growing into a huge bundle.

A compile inlines files into one document, so a few hundred bytes of input can ask for
gigabytes of output (stylesheets importing each other twice per level, one image referenced a
thousand times, YAML alias bombs). Every cap is checked *while* inlining, before the bytes
are built, and an error names the budget that stopped it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

from browser_worker.errors import WorkerError
from browser_worker.config import DEFAULTS

MiB = 1024 * 1024


class BudgetError(WorkerError):
    """A compile went over one of its budgets."""


_DEFAULTS = DEFAULTS


@dataclass(frozen=True)
class CompileBudget:
    """Operator-set limits for one compile (callers cannot raise them)."""

    #: Files in the ``files`` list (and remote assets fetched by ``inline_remote``).
    max_files: int = _DEFAULTS.compile_max_files
    #: Bytes of any one asset (a file or a fetched URL), before encoding.
    max_asset_bytes: int = _DEFAULTS.compile_max_asset_bytes
    #: Bytes of the rendered ``index.html``.
    max_bundle_bytes: int = _DEFAULTS.compile_max_bundle_bytes
    #: Nesting of stylesheets (a linked sheet is depth 1, a sheet it imports depth 2, …).
    max_depth: int = 8
    #: Bytes of the app's ``<config>`` (as written and as parsed, serialized to JSON).
    max_manifest_bytes: int = 1 * MiB
    #: Bytes fetched by ``inline_remote`` in all.
    max_remote_bytes: int = 50 * MiB
    #: Seconds for the whole compile, remote fetches included.
    timeout: float = _DEFAULTS.compile_timeout
    #: Remote assets fetched at the same time.
    remote_concurrency: int = 4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"compile budget {f.name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"compile budget {f.name} must be a finite number above 0, got {value}")

    def error(self, name: str, doing: str) -> BudgetError:
        value = getattr(self, name)
        shown = f"{value:g}s" if name == "timeout" else str(value)
        return BudgetError(f"compile budget {name}={shown} exceeded {doing}")


@dataclass
class Meter:
    """What one compile has used so far; ``deadline`` is a ``time.monotonic()`` value."""

    budget: CompileBudget
    deadline: float = field(default=0.0)
    bundle_bytes: int = 0

    @classmethod
    def start(cls, budget: CompileBudget) -> "Meter":
        return cls(budget, time.monotonic() + budget.timeout)

    def check_time(self, doing: str) -> None:
        if time.monotonic() > self.deadline:
            raise self.budget.error("timeout", doing)

    def check_asset(self, size: int, name: str) -> None:
        if size > self.budget.max_asset_bytes:
            raise self.budget.error("max_asset_bytes", f"while inlining {name} ({size} bytes)")

    def fits(self, size: int, name: str) -> None:
        """Refuse a piece that could not fit in what is left of the bundle (checked at every
        nesting level, so exponential growth stops at the first oversized piece)."""
        self.check_time(f"while inlining {name}")
        if self.bundle_bytes + size > self.budget.max_bundle_bytes:
            raise self.budget.error("max_bundle_bytes", f"while inlining {name}")

    def charge(self, size: int, name: str) -> None:
        """Count a piece that lands in the bundle itself (not inside another inlined piece)."""
        self.fits(size, name)
        self.bundle_bytes += size

    def check_depth(self, chain: list[str], name: str) -> None:
        if len(chain) > self.budget.max_depth:
            raise self.budget.error(
                "max_depth", f"while inlining {name} (stylesheet chain: {' → '.join(chain)})")
