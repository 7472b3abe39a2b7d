"""Control of a session: what an agent reads (the page's accessibility snapshot, secrets
masked), the typed steps it acts with (no caller JavaScript), and the one control lease per
session that decides who may act now (a person may take it from an agent, never the reverse)."""

from browser_worker._control.lease import ControlBusyError, ControlLease
from browser_worker._control.snapshot import MASK, Snapshot, page_title, scrub
from browser_worker._control.snapshot import take as take_snapshot
from browser_worker._control.steps import Run, StepRunner, burst_summary, dispatch

__all__ = [
    "ControlBusyError",
    "burst_summary",
    "ControlLease",
    "dispatch",
    "MASK",
    "page_title",
    "Run",
    "scrub",
    "Snapshot",
    "StepRunner",
    "take_snapshot",
]
