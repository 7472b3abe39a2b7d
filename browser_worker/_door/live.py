"""The arguments of ``watch`` and ``stream_logs``, parsed at the door (see ``calls.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from browser_worker._door.calls import _validate

#: Caps a watcher may ask for (higher values are refused, naming the rule).
MAX_FPS = 10
MAX_WIDTH = 1920


class _RawWatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fps: Annotated[StrictInt, Field(ge=1, le=MAX_FPS)] = 2
    quality: Annotated[StrictInt, Field(ge=10, le=90)] = 60
    max_width: Annotated[StrictInt, Field(ge=160, le=MAX_WIDTH)] = 1280


@dataclass(frozen=True)
class WatchRequest:
    fps: int
    quality: int
    max_width: int


def parse_watch(fps: Any = None, quality: Any = None, max_width: Any = None) -> WatchRequest:
    given = {k: v for k, v in (("fps", fps), ("quality", quality), ("max_width", max_width)) if v is not None}
    raw = _validate(_RawWatch, given, "watch arguments")
    return WatchRequest(fps=raw.fps, quality=raw.quality, max_width=raw.max_width)


class _RawStreamLogs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offset: Annotated[StrictInt, Field(ge=0)] = 0


def parse_stream_logs(offset: Any = None) -> int:
    return _validate(_RawStreamLogs, {} if offset is None else {"offset": offset}, "stream_logs arguments").offset
