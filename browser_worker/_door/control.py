"""The arguments of ``snapshot`` and ``act``, parsed at the door (see ``calls.py``).

An ``act`` call is a short list of typed steps; none runs caller-supplied JavaScript. A step
names its target by a snapshot ref (``e12``, ``f1e3``), by ARIA role and name, or by a point in
CSS pixels of the viewport. Every size and deadline is bounded here, naming the rule.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from browser_worker._door.calls import _validate
from browser_worker.errors import WorkerError

#: What a snapshot may hold: 24 000 characters (about 6k tokens) unless asked, never more than this.
DEFAULT_SNAPSHOT_CHARS = 24_000
MAX_SNAPSHOT_CHARS = 200_000
#: Steps one ``act`` call may take, and the text one step may type.
MAX_STEPS = 10
MAX_TEXT_CHARS = 4096
#: Seconds one step may take (a navigation gets longer), and the most a whole call may take:
#: both end before hypha-rpc's 30 s call timeout, so the caller gets our error, not the transport's.
STEP_SECONDS = 5.0
NAVIGATION_SECONDS = 20.0
CALL_SECONDS = 25.0
#: ``wait_for`` with ``time``: at most this many seconds.
MAX_WAIT_SECONDS = 10.0
#: Files one ``upload`` step may carry, in all.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024

#: ARIA roles a step may name (Playwright's ``get_by_role`` list).
ROLES = frozenset("""alert alertdialog application article banner blockquote button caption cell checkbox code
columnheader combobox complementary contentinfo definition deletion dialog directory document emphasis feed
figure form generic grid gridcell group heading img insertion link list listbox listitem log main marquee math
meter menu menubar menuitem menuitemcheckbox menuitemradio navigation none note option paragraph presentation
progressbar radio radiogroup region row rowgroup rowheader scrollbar search searchbox separator slider spinbutton
status strong subscript superscript switch tab table tablist tabpanel term textbox time timer toolbar tooltip
tree treegrid treeitem""".split())

Ref = Annotated[StrictStr, Field(pattern=r"^(f[0-9]{1,4})?e[0-9]{1,6}$")]
Coord = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
#: A key in Playwright's syntax: "Enter", "ArrowDown", "Control+a", "Shift+Tab", or one character.
Key = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^([A-Za-z]{1,20}\+){0,3}([A-Za-z0-9]{1,20}|[^\sA-Za-z0-9])$")]
Text = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS)]


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: Ref | None = None
    role: StrictStr | None = None
    name: Annotated[StrictStr, Field(max_length=500)] | None = None
    exact: StrictBool = False
    x: Coord | None = None
    y: Coord | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "_Target":
        if self.name is not None and self.role is None:
            raise ValueError("name goes with role")
        ways = [self.ref is not None, self.role is not None, self.x is not None or self.y is not None]
        if sum(ways) > 1:
            raise ValueError("name the target one way: ref, role (and name), or x and y")
        if (self.x is None) != (self.y is None):
            raise ValueError("x and y go together")
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"role {self.role[:40]!r} is not an ARIA role")
        return self


class _Click(_Target):
    action: Literal["click", "double_click", "hover"]
    button: Literal["left", "right", "middle"] = "left"


class _Type(_Target):
    action: Literal["type", "fill"]
    text: Text
    secret: StrictBool = False
    submit: StrictBool = False


class _Press(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["press"]
    key: Key


class _Select(_Target):
    action: Literal["select"]
    values: Annotated[list[Annotated[StrictStr, Field(max_length=500)]], Field(min_length=1, max_length=50)]


class _Check(_Target):
    action: Literal["check"]
    checked: StrictBool = True


class _Scroll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["scroll"]
    dx: Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)] = 0
    dy: Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)] = 0
    x: Coord | None = None
    y: Coord | None = None


class _Navigate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["navigate"]
    url: Annotated[StrictStr, Field(max_length=8192)]


class _History(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["back", "forward", "reload"]


class _WaitFor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["wait_for"]
    text: Annotated[StrictStr, Field(min_length=1, max_length=500)] | None = None
    text_gone: Annotated[StrictStr, Field(min_length=1, max_length=500)] | None = None
    time: Annotated[float, Field(gt=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _one(self) -> "_WaitFor":
        if sum(v is not None for v in (self.text, self.text_gone, self.time)) != 1:
            raise ValueError("wait_for takes one of text, text_gone or time")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")] | None = None
    data: Any = None  # bytes, or base64 text: checked below
    mime_type: Annotated[StrictStr, Field(max_length=100)] = "application/octet-stream"
    #: Or a file this session downloaded (its id from ``list_downloads``).
    download: Annotated[StrictStr, Field(pattern=r"^d[0-9]{1,6}$")] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "_File":
        if (self.download is None) == (self.data is None):
            raise ValueError("give a file as name and data, or as download (the id of one this session downloaded)")
        if self.download is None and self.name is None:
            raise ValueError("a file given as data needs a name")
        return self


class _Upload(_Target):
    action: Literal["upload"]
    files: Annotated[list[_File], Field(min_length=1, max_length=10)]


_Step = Annotated[Union[_Click, _Type, _Press, _Select, _Check, _Scroll, _Navigate, _History, _WaitFor, _Upload],
                  Field(discriminator="action")]


class _RawAct(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: Annotated[list[_Step], Field(min_length=1, max_length=MAX_STEPS)]
    return_snapshot: StrictBool = False


class _RawSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    depth: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    max_chars: Annotated[StrictInt, Field(ge=500, le=MAX_SNAPSHOT_CHARS)] = DEFAULT_SNAPSHOT_CHARS
    root: Ref | None = None


@dataclass(frozen=True)
class Target:
    """Where a step acts: a ref, a role and name, or a point (CSS pixels of the viewport)."""

    ref: str | None = None
    role: str | None = None
    name: str | None = None
    exact: bool = False
    x: float | None = None
    y: float | None = None

    def __str__(self) -> str:
        if self.ref is not None:
            return f"ref {self.ref}"
        if self.role is not None:
            return f"{self.role} {self.name!r}" if self.name is not None else self.role
        return f"point ({self.x:g}, {self.y:g})"


@dataclass(frozen=True)
class Step:
    """One typed step; only the fields its ``action`` uses are set."""

    action: str
    target: Target | None = None
    text: str | None = None
    secret: bool = False
    submit: bool = False
    button: str = "left"
    key: str | None = None
    values: tuple[str, ...] = ()
    checked: bool = True
    dx: float = 0.0
    dy: float = 0.0
    url: str | None = None
    wait_text: str | None = None
    wait_text_gone: str | None = None
    wait_seconds: float | None = None
    files: tuple[tuple[str, str, bytes], ...] = ()  # (name, mime type, bytes)
    #: Files to upload that the session downloaded (ids), added to ``files`` by the engine.
    downloads: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActRequest:
    steps: tuple[Step, ...]
    return_snapshot: bool


@dataclass(frozen=True)
class SnapshotRequest:
    depth: int | None
    max_chars: int
    root: str | None


def parse_snapshot(depth: Any = None, max_chars: Any = None, root: Any = None) -> SnapshotRequest:
    given = {k: v for k, v in (("depth", depth), ("max_chars", max_chars), ("root", root)) if v is not None}
    raw = _validate(_RawSnapshot, given, "snapshot arguments")
    return SnapshotRequest(depth=raw.depth, max_chars=raw.max_chars, root=raw.root)


def _target(raw: Any) -> Target | None:
    if not isinstance(raw, _Target):
        return None
    if raw.ref is None and raw.role is None and raw.x is None:
        return None
    return Target(ref=raw.ref, role=raw.role, name=raw.name, exact=raw.exact, x=raw.x, y=raw.y)


def _file_bytes(f: _File, where: str) -> bytes:
    if isinstance(f.data, (bytes, bytearray)):
        return bytes(f.data)
    if isinstance(f.data, str):
        try:
            return base64.b64decode(f.data, validate=True)
        except ValueError:
            raise WorkerError(f"{where}.data: not base64 (rule: bytes, or base64 text)") from None
    raise WorkerError(f"{where}.data must be bytes or base64 text, got {type(f.data).__name__}")


def parse_act(steps: Any, return_snapshot: Any = None) -> ActRequest:
    """The steps of an ``act`` call. Steps that need a target and have none are refused."""
    data: dict[str, Any] = {"steps": steps}
    if return_snapshot is not None:
        data["return_snapshot"] = return_snapshot
    raw = _validate(_RawAct, data, "act arguments")
    out: list[Step] = []
    for i, s in enumerate(raw.steps):
        where = f"steps.{i}"
        target = _target(s)
        if s.action in ("click", "double_click", "hover", "type", "fill", "select", "check", "upload") and target is None:
            raise WorkerError(f"{where}: {s.action} needs a target (ref, role and name, or x and y)")
        if s.action == "upload" and target is not None and target.x is not None:
            raise WorkerError(f"{where}: upload needs an element (ref, or role and name), not a point")
        if isinstance(s, _Click):
            out.append(Step(s.action, target, button=s.button))
        elif isinstance(s, _Type):
            if s.action == "fill" and target is not None and target.x is not None:
                raise WorkerError(f"{where}: fill needs an element (ref, or role and name), not a point")
            out.append(Step(s.action, target, text=s.text, secret=s.secret, submit=s.submit))
        elif isinstance(s, _Press):
            out.append(Step("press", key=s.key))
        elif isinstance(s, _Select):
            out.append(Step("select", target, values=tuple(s.values)))
        elif isinstance(s, _Check):
            out.append(Step("check", target, checked=s.checked))
        elif isinstance(s, _Scroll):
            point = Target(x=s.x, y=s.y) if s.x is not None and s.y is not None else None
            out.append(Step("scroll", point, dx=s.dx, dy=s.dy))
        elif isinstance(s, _Navigate):
            out.append(Step("navigate", url=s.url))
        elif isinstance(s, _History):
            out.append(Step(s.action))
        elif isinstance(s, _WaitFor):
            out.append(Step("wait_for", wait_text=s.text, wait_text_gone=s.text_gone, wait_seconds=s.time))
        elif isinstance(s, _Upload):
            files = tuple((f.name or "", f.mime_type, _file_bytes(f, f"{where}.files.{j}"))
                          for j, f in enumerate(s.files) if f.download is None)
            if sum(len(b) for _, _, b in files) > MAX_UPLOAD_BYTES:
                raise WorkerError(f"{where}: files are over the upload budget of {MAX_UPLOAD_BYTES >> 20} MiB")
            out.append(Step("upload", target, files=files,
                            downloads=tuple(f.download for f in s.files if f.download is not None)))
    return ActRequest(steps=tuple(out), return_snapshot=raw.return_snapshot)


#: An agent grant lives this long unless the call asks (seconds), and at most this long.
DEFAULT_GRANT_SECONDS = 600.0
MAX_GRANT_SECONDS = 3600.0


class _RawGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl: Annotated[float, Field(gt=0, le=MAX_GRANT_SECONDS, allow_inf_nan=False)] = DEFAULT_GRANT_SECONDS


def parse_grant(ttl: Any = None) -> float:
    """The seconds an agent grant lives."""
    return float(_validate(_RawGrant, {} if ttl is None else {"ttl": ttl}, "grant_agent arguments").ttl)


#: Input events one ``send_input`` call may carry (a viewer flushes a burst about every 30 ms).
MAX_INPUT_EVENTS = 120


class _Mouse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["mouse"]
    action: Literal["move", "down", "up"]
    x: Coord
    y: Coord
    button: Literal["left", "right", "middle"] = "left"


class _Wheel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["wheel"]
    x: Coord
    y: Coord
    dx: Annotated[float, Field(ge=-10_000, le=10_000, allow_inf_nan=False)] = 0
    dy: Annotated[float, Field(ge=-10_000, le=10_000, allow_inf_nan=False)] = 0


class _KeyEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["key"]
    action: Literal["down", "up", "press"] = "press"
    key: Key


class _TextEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


_Event = Annotated[Union[_Mouse, _Wheel, _KeyEvent, _TextEvent], Field(discriminator="type")]


class _RawInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: Annotated[list[_Event], Field(min_length=1, max_length=MAX_INPUT_EVENTS)]


@dataclass(frozen=True)
class InputEvent:
    """One event a person's viewer forwards: ``kind`` mouse, wheel, key or text."""

    kind: str
    action: str = ""
    x: float = 0.0
    y: float = 0.0
    button: str = "left"
    dx: float = 0.0
    dy: float = 0.0
    key: str = ""
    text: str = ""


def parse_input(events: Any) -> tuple[InputEvent, ...]:
    """A burst of a viewer's input events, in CSS pixels of the page's viewport."""
    raw = _validate(_RawInput, {"events": events}, "send_input arguments")
    out = []
    for e in raw.events:
        if isinstance(e, _Mouse):
            out.append(InputEvent("mouse", e.action, x=e.x, y=e.y, button=e.button))
        elif isinstance(e, _Wheel):
            out.append(InputEvent("wheel", x=e.x, y=e.y, dx=e.dx, dy=e.dy))
        elif isinstance(e, _KeyEvent):
            out.append(InputEvent("key", e.action, key=e.key))
        else:
            out.append(InputEvent("text", text=e.text))
    return tuple(out)
