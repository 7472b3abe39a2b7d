"""One page's live picture: Chromium's screencast (CDP ``Page.startScreencast``), shared by every
watcher of the session.

Chromium sends a JPEG frame when the page repaints and sends the next one only after the last is
acknowledged. The frame is acknowledged once every watcher has taken it, so the screencast runs
at the pace of its slowest watcher and a watcher that is not asking costs nothing; the last frame
is kept for watchers that join later (a page that does not repaint sends no new frame).
The first watcher's quality and size apply to all.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from dataclasses import dataclass
from typing import Any

from browser_worker._aio import TaskSet

log = logging.getLogger(__name__)

#: Bytes of one frame beyond which it is dropped (a 1920-wide JPEG at quality 90 is < 1 MiB).
MAX_FRAME_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Frame:
    seq: int
    data: bytes
    timestamp: float  # seconds since the epoch, when Chromium painted it
    width: int
    height: int


class Screencast:
    """Start with ``start()``; watchers ``join``, take frames with ``next_frame``, ``leave``."""

    def __init__(self, page: Any, *, quality: int, max_width: int, max_height: int, every_nth: int = 1) -> None:
        self._page = page
        self._params = {"format": "jpeg", "quality": quality, "maxWidth": max_width,
                        "maxHeight": max_height, "everyNthFrame": every_nth}
        self._cdp: Any = None
        self.latest: Frame | None = None
        self._taken: dict[int, int] = {}  # watcher → seq of the last frame it took
        self._next_watcher = 0
        self._unacked: int | None = None  # Chromium's id of the latest frame, not yet acknowledged
        self._news = asyncio.Event()
        self.closed = False
        self.frames = 0  # frames received (for tests and metrics)
        self._acks = TaskSet("screencast frame acks")

    async def start(self) -> None:
        self._cdp = await self._page.context.new_cdp_session(self._page)
        self._cdp.on("Page.screencastFrame", self._on_frame)
        await self._cdp.send("Page.startScreencast", self._params)

    async def stop(self) -> None:
        """Stop the screencast and detach; safe when the page is already gone."""
        if self.closed:
            return
        self.closed = True
        self._news.set()
        cdp, self._cdp = self._cdp, None
        if cdp is None:
            return
        for step in (lambda: cdp.send("Page.stopScreencast"), cdp.detach):
            try:
                await asyncio.wait_for(step(), 2)
            except Exception as exc:  # the page or browser closed first
                log.debug("stopping a screencast: %r", exc)

    # ----- watchers ---------------------------------------------------------------------------

    @property
    def watchers(self) -> int:
        return len(self._taken)

    def join(self) -> int:
        self._next_watcher += 1
        self._taken[self._next_watcher] = 0
        return self._next_watcher

    def leave(self, watcher: int) -> None:
        self._taken.pop(watcher, None)
        self._ack_if_all_took()

    async def next_frame(self, watcher: int, timeout: float) -> Frame | None:
        """A frame this watcher has not had yet (the newest), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.closed and watcher in self._taken:
            frame = self.latest
            if frame is not None and frame.seq > self._taken[watcher]:
                self._taken[watcher] = frame.seq
                self._ack_if_all_took()
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), left)
            except asyncio.TimeoutError:
                return None
        return None

    # ----- Chromium's side --------------------------------------------------------------------

    def _on_frame(self, params: dict[str, Any]) -> None:
        try:
            data = base64.b64decode(params.get("data", ""), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        meta = params.get("metadata") or {}
        self._unacked = params.get("sessionId")
        if not data or len(data) > MAX_FRAME_BYTES:
            self._ack_if_all_took(force=True)
            return
        self.frames += 1
        self.latest = Frame(
            seq=(self.latest.seq + 1) if self.latest else 1, data=data,
            timestamp=float(meta.get("timestamp") or time.time()),
            width=int(meta.get("deviceWidth") or 0), height=int(meta.get("deviceHeight") or 0),
        )
        self._news.set()
        self._ack_if_all_took()

    def _ack_if_all_took(self, force: bool = False) -> None:
        if self._unacked is None or self._cdp is None:
            return
        latest = self.latest.seq if self.latest else 0
        if not force and any(seq < latest for seq in self._taken.values()):
            return  # the slowest watcher has not taken it yet
        frame_id, self._unacked = self._unacked, None
        self._acks.spawn(self._ack(frame_id))

    async def _ack(self, frame_id: int) -> None:
        try:
            if self._cdp is not None:
                await self._cdp.send("Page.screencastFrameAck", {"sessionId": frame_id})
        except Exception as exc:
            log.debug("acknowledging a screencast frame: %r", exc)
