"""Control of a session without a browser: the door's parsing of ``snapshot``/``act`` arguments
(hostile values refused, naming the field and the rule) and the control lease (fake clock)."""

from __future__ import annotations

import base64

import pytest

from browser_worker._control import ControlBusyError, ControlLease
from browser_worker._door import Actor, parse_act, parse_input, parse_snapshot
from browser_worker.errors import WorkerError

CLICK = {"action": "click", "ref": "e3"}


@pytest.mark.parametrize("steps, message", [
    ([CLICK] * 11, "invalid act arguments: steps: List should have at most 10 items"),
    ([], "invalid act arguments: steps: List should have at least 1 item"),
    ("click", "invalid act arguments: steps: Input should be a valid list"),
    ([{"action": "eval", "script": "1"}], "invalid act arguments: steps.0: Input tag 'eval' found using 'action'"),
    ([{"action": "click", "ref": "e3; alert(1)"}], "invalid act arguments: steps.0.click.ref: String should match pattern"),
    ([{"action": "click", "ref": "e3", "role": "button"}], "name the target one way: ref, role (and name), or x and y"),
    ([{"action": "click", "x": 10}], "x and y go together"),
    ([{"action": "click", "role": "bogus"}], "role 'bogus' is not an ARIA role"),
    ([{"action": "click", "name": "Sign in"}], "name goes with role"),
    ([{"action": "click", "x": 1, "y": float("nan")}], "steps.0.click.y: Input should be a finite number"),
    ([{"action": "click"}], "steps.0: click needs a target (ref, role and name, or x and y)"),
    ([{"action": "type", "ref": "e1", "text": "x" * 4097}], "steps.0.type.text: String should have at most 4096 characters"),
    ([{"action": "fill", "x": 1, "y": 2, "text": "a"}], "steps.0: fill needs an element (ref, or role and name), not a point"),
    ([{"action": "press", "key": "Enter; rm -rf"}], "steps.0.press.key: String should match pattern"),
    ([{"action": "navigate", "url": 5}], "steps.0.navigate.url: Input should be a valid string"),
    ([{"action": "wait_for", "time": 11}], "steps.0.wait_for.time: Input should be less than or equal to 10"),
    ([{"action": "wait_for", "text": "a", "time": 1}], "wait_for takes one of text, text_gone or time"),
    ([{"action": "upload", "ref": "e1", "files": [{"name": "a.txt", "data": "not base64!"}]}],
     "steps.0.files.0.data: not base64 (rule: bytes, or base64 text)"),
    ([{"action": "upload", "ref": "e1", "files": [{"name": "../../etc/x", "data": ""}]}],
     "steps.0.upload.files.0.name: String should match pattern"),
    ([{"action": "upload", "ref": "e1", "files": [{"name": "big", "data": b"x" * (10 * 1024 * 1024 + 1)}]}],
     "steps.0: files are over the upload budget of 10 MiB"),
    ([{"action": "upload", "ref": "e1", "files": [{"download": "d1", "name": "a", "data": "YQ=="}]}],
     "give a file as name and data, or as download (the id of one this session downloaded)"),
    ([{"action": "upload", "ref": "e1", "files": [{"download": "../d1"}]}],
     "steps.0.upload.files.0.download: String should match pattern"),
    ([{"action": "upload", "ref": "e1", "files": [{"data": "YQ=="}]}], "a file given as data needs a name"),
])
def test_hostile_steps_are_refused_naming_the_field_and_rule(steps: object, message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_act(steps)
    assert message in str(err.value)


def test_good_steps_parse_into_typed_steps() -> None:
    req = parse_act([
        {"action": "fill", "ref": "f1e12", "text": "hunter2hunter2", "secret": True, "submit": True},
        {"action": "click", "role": "button", "name": "Sign in", "exact": True},
        {"action": "double_click", "x": 10.5, "y": 20},
        {"action": "press", "key": "Control+Shift+A"},
        {"action": "press", "key": "é"},
        {"action": "scroll", "dy": 400, "x": 5, "y": 5},
        {"action": "navigate", "url": "https://example.org/"},
        {"action": "wait_for", "text_gone": "Loading"},
        {"action": "upload", "role": "button", "name": "File", "files": [
            {"name": "a.csv", "data": base64.b64encode(b"a,b\n").decode(), "mime_type": "text/csv"}]},
        {"action": "back"},
    ], return_snapshot=True)
    fill, click, dbl, press, press2, scroll, nav, wait, upload, back = req.steps
    assert (fill.action, fill.target.ref, fill.secret, fill.submit) == ("fill", "f1e12", True, True)
    assert str(click.target) == "button 'Sign in'" and click.target.exact
    assert (dbl.target.x, dbl.target.y) == (10.5, 20)
    assert (press.key, press2.key) == ("Control+Shift+A", "é")
    assert (scroll.dy, str(scroll.target)) == (400, "point (5, 5)")
    assert nav.url == "https://example.org/" and wait.wait_text_gone == "Loading"
    assert upload.files == (("a.csv", "text/csv", b"a,b\n"),) and back.action == "back"
    assert req.return_snapshot is True


@pytest.mark.parametrize("kwargs, message", [
    ({"max_chars": 200_001}, "max_chars: Input should be less than or equal to 200000"),
    ({"max_chars": "10"}, "max_chars: Input should be a valid integer"),
    ({"depth": 0}, "depth: Input should be greater than or equal to 1"),
    ({"root": "body > div"}, "root: String should match pattern"),
])
def test_snapshot_arguments_are_bounded(kwargs: dict, message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_snapshot(**kwargs)
    assert message in str(err.value)
    assert parse_snapshot().max_chars == 24_000 and parse_snapshot(root="f2e7").root == "f2e7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


PERSON = Actor("alice@ws-user-alice", "person")
AGENT = Actor("agent-grant-1", "agent")
OTHER_AGENT = Actor("bot@ws-user-alice", "agent")


def lease(clock: Clock) -> ControlLease:
    return ControlLease(60.0, clock=clock, wall=lambda: 1_800_000_000.0 + clock.now)


def test_one_holder_a_person_takes_it_from_an_agent_never_the_reverse() -> None:
    clock = Clock()
    control = lease(clock)
    control.take(AGENT)
    with pytest.raises(ControlBusyError) as err:
        control.take(OTHER_AGENT)
    assert str(err.value).startswith("Session is controlled by agent-grant-1 (agent) until 2027-01-15T08:17:40+00:00 "
                                     "(60 s left unless they act again)")
    control.take(PERSON)  # a person takes it from an agent
    assert control.state()["holder"] == "alice@ws-user-alice"
    clock.now += 30
    with pytest.raises(ControlBusyError, match=r"controlled by alice@ws-user-alice \(person\) until .* \(30 s left"):
        control.take(AGENT)
    control.take(PERSON)  # acting again renews it
    clock.now += 59
    with pytest.raises(ControlBusyError, match="1 s left"):
        control.take(AGENT)


def test_the_lease_lapses_when_idle_and_only_its_holder_releases_it() -> None:
    clock = Clock()
    control = lease(clock)
    control.take(PERSON)
    assert control.release(AGENT) is False and control.state()["holder"] == PERSON.id
    assert control.release(Actor(PERSON.id, "agent")) is True  # the same caller, however it acted
    assert control.state() == {"holder": None}
    control.take(PERSON)
    clock.now += 60
    assert control.state() == {"holder": None}
    assert control.take(AGENT).actor == AGENT


@pytest.mark.parametrize("events, message", [
    ([{"type": "mouse", "action": "down", "x": 1, "y": 2}] * 121, "events: List should have at most 120 items"),
    ([{"type": "mouse", "action": "click", "x": 1, "y": 2}], "events.0.mouse.action: Input should be 'move', 'down' or 'up'"),
    ([{"type": "mouse", "action": "down", "x": -1, "y": 2}], "events.0.mouse.x: Input should be greater than or equal to 0"),
    ([{"type": "key", "key": "Enter; evil()"}], "events.0.key.key: String should match pattern"),
    ([{"type": "text", "text": ""}], "events.0.text.text: String should have at least 1 character"),
    ([{"type": "script", "code": "1"}], "events.0: Input tag 'script' found using 'type'"),
])
def test_hostile_viewer_input_is_refused(events: object, message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_input(events)
    assert message in str(err.value)


def test_viewer_input_parses_in_order() -> None:
    burst = parse_input([{"type": "mouse", "action": "down", "x": 10.5, "y": 20, "button": "right"},
                         {"type": "wheel", "x": 1, "y": 1, "dy": -120},
                         {"type": "key", "action": "press", "key": "Shift+Tab"},
                         {"type": "text", "text": "héllo 日本"}])
    assert [(e.kind, e.action, e.x, e.button, e.dy, e.key, e.text) for e in burst] == [
        ("mouse", "down", 10.5, "right", 0.0, "", ""), ("wheel", "", 1, "left", -120, "", ""),
        ("key", "press", 0.0, "left", 0.0, "Shift+Tab", ""), ("text", "", 0.0, "left", 0.0, "", "héllo 日本")]


def test_viewer_input_has_a_rate_per_session() -> None:
    clock = Clock()
    control = lease(clock)
    control.spend(120)
    control.spend(120)  # a burst of 240
    with pytest.raises(WorkerError, match=r"over this session's input rate \(rule: at most 120 events a second"):
        control.spend(1)
    clock.now += 0.5
    control.spend(60)  # half a second refills 60
    with pytest.raises(WorkerError):
        control.spend(1)
