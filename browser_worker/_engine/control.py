"""Control of running sessions for the engine: snapshots, ``act`` steps and a person's input,
under each session's control lease, every action audited in the session's logs. The facade has
authorized the caller; the page work itself is ``_control``'s."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any, Awaitable, Callable

from browser_worker._control import ControlLease, StepRunner, burst_summary, dispatch, page_title, scrub, take_snapshot
from browser_worker._door import (
    CALL_SECONDS, DEFAULT_SNAPSHOT_CHARS, MAX_UPLOAD_BYTES, STEP_SECONDS, ActRequest, Actor, InputEvent,
    SnapshotRequest, Step,
)
from browser_worker._page import read_console
from browser_worker._session import Session
from browser_worker.errors import WorkerError


class SessionControl:
    """Snapshot, act, input and the lease, for sessions of one engine."""

    def __init__(self, idle_timeout: float, check_url: Callable[[str], Awaitable[str]]) -> None:
        self._idle = idle_timeout
        #: Refuses navigation targets the worker's network rules forbid (naming the rule).
        self._check_url = check_url

    def lease_of(self, session: Session) -> ControlLease:
        if session.control is None:
            session.control = ControlLease(self._idle)
        return session.control

    async def snapshot(self, session: Session, req: SnapshotRequest) -> dict[str, Any]:
        """The page's accessibility snapshot, secrets masked (see ``_control.snapshot``)."""
        snap = await take_snapshot(session.running_lease().page, depth=req.depth, max_chars=req.max_chars,
                                   root=req.root, typed_secrets=session.typed_secrets)
        return snap.reply()

    async def act(self, session: Session, req: ActRequest, actor: Actor) -> dict[str, Any]:
        """Run the steps as ``actor``, who must hold (or be able to take) the control lease;
        every step run goes into the session's logs as an ``action`` item."""
        lease = session.running_lease()
        control = self.lease_of(session)
        control.take(actor)
        req = replace(req, steps=tuple([await _with_downloads(session, s) for s in req.steps]))
        for step in req.steps:
            if step.secret and step.text:
                session.typed_secrets.add(step.text)
                session.logs.add_secret(step.text, min_length=4)
        downloads_from = session.downloads.started
        console_from, popups_from = session.logs.end, lease.popups_blocked
        async with control.acting:
            run = await StepRunner(lease.page, self._check_url, time.monotonic() + CALL_SECONDS).run(req.steps)
        await read_console(lease)  # the lines the steps caused, before the reply counts them
        for step, result in zip(req.steps, run.steps):
            session.logs.action(audit_line(actor, step, result.target, result.error))
        secrets = session.typed_secrets
        console, _ = session.logs.since(console_from, limit=500)
        reply: dict[str, Any] = {
            "ok": run.ok, "steps": [r.reply() for r in run.steps],
            "skipped": len(req.steps) - len(run.steps),
            "url": scrub(lease.page.url, secrets), "title": scrub(await page_title(lease.page), secrets),
            "dialogs": [scrub(d, secrets) for d in run.dialogs],
            "popups_refused": lease.popups_blocked - popups_from,
            "downloads": [f"d{i}" for i in range(downloads_from + 1, session.downloads.started + 1)],
            "console": [i["content"] for i in console if i["type"] == "console"][-20:],
        }
        if req.return_snapshot:
            reply["snapshot"] = await self.snapshot(session, SnapshotRequest(None, DEFAULT_SNAPSHOT_CHARS, None))
        return reply

    async def send_input(self, session: Session, events: tuple[InputEvent, ...], actor: Actor) -> dict[str, Any]:
        """Replay a person's input burst; they must hold (or be able to take) the lease."""
        lease = session.running_lease()
        control = self.lease_of(session)
        control.take(actor)
        control.spend(len(events))
        async with control.acting:
            try:
                await dispatch(lease.page, events, time.monotonic() + STEP_SECONDS)
            finally:
                session.logs.action(f"{actor.id} ({actor.kind}): input {burst_summary(events)}")
        return control.state()

    def take(self, session: Session, actor: Actor) -> dict[str, Any]:
        session.running_lease()
        control = self.lease_of(session)
        control.take(actor)
        session.logs.action(f"{actor.id} ({actor.kind}) took control")
        return control.state()

    def release(self, session: Session, actor: Actor) -> dict[str, Any]:
        control = self.lease_of(session)
        if control.release(actor):
            session.logs.action(f"{actor.id} ({actor.kind}) released control")
        return control.state()


async def _with_downloads(session: Session, step: Step) -> Step:
    """An upload step's files named by download id, read from the session's downloads."""
    if not step.downloads:
        return step
    files = list(step.files)
    for download_id in step.downloads:
        found = session.downloads.get(download_id, session.id)
        files.append((found.name, "application/octet-stream", await asyncio.to_thread(found.path.read_bytes)))
    if sum(len(b) for _, _, b in files) > MAX_UPLOAD_BYTES:
        raise WorkerError(f"upload: files are over the upload budget of {MAX_UPLOAD_BYTES >> 20} MiB")
    return replace(step, files=tuple(files), downloads=())


def audit_line(actor: Actor, step: Step, target: str | None, error: str | None) -> str:
    """Who did what to which target; typed text as its length only, never its characters."""
    line = f"{actor.id} ({actor.kind}): {step.action}"
    if target:
        line += f" {target[:300]}"
    if step.text is not None:
        line += f" ({'secret, ' if step.secret else ''}{len(step.text)} characters)"
    if step.key:
        line += f" key {step.key}"
    if step.files:
        line += f" ({len(step.files)} file(s), {sum(len(b) for _, _, b in step.files)} bytes)"
    if error:
        line += f" — failed: {error[:300]}"
    return line
