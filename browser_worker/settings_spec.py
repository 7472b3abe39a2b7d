"""How a settings field declares itself (:func:`setting`), and what reads the declaration:
environment parsing, per-field validation and the display of values. Independent of
:class:`~browser_worker.config.WorkerSettings`: the CLI parser, the checks and the docs take
any settings class built from these fields (tests declare their own)."""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import Field, dataclass, field, fields
from functools import cache
from typing import Any, Literal, Mapping

from browser_worker.errors import ConfigError

#: The commands whose flags set a setting (every command reads every setting from the
#: environment): the Hypha service only, every command that runs Chromium, and those plus
#: ``compile`` (its budgets and network rules).
SERVE = frozenset({"serve"})
WORKER = frozenset({"serve", "run", "demo"})
COMPILE = WORKER | {"compile"}
#: ``setting(flag=NO_FLAG)``: a setting read from the environment only.
NO_FLAG = ""

Unit = Literal["s", "bytes"]
_SPEC = "setting"  # the key of a field's metadata that holds its Setting


@dataclass(frozen=True)
class Setting:
    """What one settings field declares besides its default (see :func:`setting`)."""

    #: Environment variable read for the setting.
    env: str
    #: The setting's meaning, one sentence; the CLI and docs add default and variable.
    help: str
    #: Other variables read when ``env`` is unset (Hypha's built-in worker's ``HYPHA_*`` and
    #: ``PLAYWRIGHT_*``, so an operator's environment keeps working).
    aliases: tuple[str, ...] = ()
    #: The flag; None: ``--field-name``; ``NO_FLAG``: none.
    flag: str | None = None
    #: For a bool: the value the flag stores (``--headed`` stores False into ``headless``);
    #: None: ``--flag``/``--no-flag`` store True/False.
    flag_sets: bool | None = None
    metavar: str | None = None
    #: Bounds of a number: inclusive ``min``/``max``, ``positive`` (above 0), ``finite`` (no nan/inf).
    min: float | None = None
    max: float | None = None
    positive: bool = False
    finite: bool = False
    #: The values a string may take (None stays allowed where the type allows it).
    choices: tuple[str, ...] = ()
    #: A pattern a string must match in full.
    pattern: re.Pattern[str] | None = None
    #: What the value must be, as the error words it (for ``pattern``; for ``choices`` it
    #: defaults to "a, b or c").
    shape: str = ""
    #: How a number is shown: seconds ("30 s"), bytes ("20 MiB"), or plain.
    unit: Unit | None = None
    #: Commands whose flags set it.
    commands: frozenset[str] = WORKER

    @property
    def env_names(self) -> tuple[str, ...]:
        return (self.env, *self.aliases)

    def bounds_rule(self) -> str | None:
        """The bounds as an error states them, after "must" (None: a number without bounds)."""
        finite = "a finite number, " if self.finite else ""
        if self.min is not None and self.max is not None:
            return f"be between {number_text(self.min)} and {number_text(self.max)}"
        if self.positive:
            return "be a finite positive number" if self.finite else "be above 0"
        if self.min == 0:
            return "be a finite number, not negative" if self.finite else "not be negative"
        if self.min is not None:
            return f"be {finite}at least {number_text(self.min)}"
        if self.max is not None:
            return f"be {finite}at most {number_text(self.max)}"
        return "be a finite number" if self.finite else None

    def in_bounds(self, value: float) -> bool:
        return ((not self.finite or math.isfinite(value))
                and (self.min is None or value >= self.min)
                and (self.max is None or value <= self.max)
                and (not self.positive or value > 0))


def setting(default: Any, *, env: str, help: str, **declared: Any) -> Any:
    """A settings field: its ``default``, and a :class:`Setting` (``env``, ``help`` and any of
    its other fields as keywords) in the field's metadata, where every consumer reads it."""
    return field(default=default, metadata={_SPEC: Setting(env=env, help=help, **declared)})


def spec_of(f: Field[Any]) -> Setting:
    """The declaration of a settings field (a TypeError if it was not made with :func:`setting`)."""
    spec = f.metadata.get(_SPEC)
    if not isinstance(spec, Setting):
        raise TypeError(f"settings field {f.name} is not declared with setting()")
    return spec


def flag_of(f: Field[Any]) -> str | None:
    """The flag that sets a field, or None."""
    spec = spec_of(f)
    if spec.flag is None:
        return "--" + f.name.replace("_", "-")
    return spec.flag or None


@cache
def value_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Field name → (its value type: bool, int, float or str; whether it may be None), from the
    declared annotations (env values are parsed and settings checked by these)."""
    hints = typing.get_type_hints(cls)
    found: dict[str, tuple[type, bool]] = {}
    for f in fields(cls):
        hint = hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        members = typing.get_args(hint) if union else (hint,)
        kinds = [m for m in members if m is not type(None)]
        if len(kinds) != 1 or kinds[0] not in (bool, int, float, str):
            raise TypeError(f"settings field {f.name}: type {hint} is not bool, int, float or str (or None)")
        _check_declaration(f.name, kinds[0], spec_of(f))
        found[f.name] = (kinds[0], len(kinds) < len(members))
    return found


def _check_declaration(name: str, kind: type, spec: Setting) -> None:
    """A declaration whose rules cannot apply to its type is a mistake in the code: say so once,
    when the class is first used, instead of silently skipping the rule."""
    numeric = kind in (int, float)
    wrong = [rule for rule, broken in (
        ("flag_sets", spec.flag_sets is not None and kind is not bool),
        ("choices", bool(spec.choices) and kind is not str),
        ("pattern", spec.pattern is not None and (kind is not str or not spec.shape)),
        ("min/max/positive/finite", not numeric and (spec.min, spec.max, spec.positive, spec.finite)
         != (None, None, False, False)),
        ("unit", spec.unit is not None and not numeric),
    ) if broken]
    if wrong:
        raise TypeError(f"settings field {name} ({kind.__name__}): {', '.join(wrong)} cannot apply")


def number_text(value: float) -> str:
    """A number without a needless ``.0`` or exponent: 30.0 → "30", 1e7 → "10000000"."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def value_text(value: Any, unit: Unit | None = None) -> str:
    """A value as help and docs show it ("" for none): on/off, "30 s", "20 MiB", "1"."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        if value == 0:
            return "0"  # its meaning (off, unlimited, one per core) is in the setting's help
        if unit == "bytes" and isinstance(value, int):
            for size, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
                if value % size == 0:
                    return f"{value // size} {name}"
            return f"{value} bytes"
        return f"{number_text(value)} s" if unit == "s" else number_text(value)
    return str(value)


def either(choices: tuple[str, ...]) -> str:
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


_KIND_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def field_problem(name: str, spec: Setting, kind: type, optional: bool, value: Any) -> str | None:
    """What is wrong with one setting's value on its own, naming the field and the rule."""
    if value is None:
        return None if optional else f"{name} must be set, got None"
    fits = isinstance(value, kind) if kind is not float else isinstance(value, (int, float))
    if not fits or (kind is not bool and isinstance(value, bool)):
        return f"{name} must be {_KIND_WORDS[kind]}, got {type(value).__name__}"
    if spec.choices and value not in spec.choices:
        return f"{name} must be {spec.shape or either(spec.choices)}, got {value!r}"
    if spec.pattern is not None and not spec.pattern.fullmatch(value):
        return f"{name} must be {spec.shape}, got {value!r}"
    rule = spec.bounds_rule()
    if rule and kind in (int, float) and not spec.in_bounds(value):
        return f"{name} must {rule}, got {value}"
    return None


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_env(name: str, kind: type, variable: str, raw: str) -> Any:
    """An environment value as the field's declared type; the error names field and variable."""
    text = raw.strip()
    if kind is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ConfigError(f"{name}: expected a boolean ({'/'.join(_TRUE)} or {'/'.join(_FALSE)}), "
                          f"got {raw!r} in {variable}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"{name}: expected {_KIND_WORDS[kind]}, got {raw!r} in {variable}") from None
    return raw


def env_values(cls: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """Field name → value, for each field of ``cls`` whose variable (else an alias) is set and
    not empty, parsed as the field's declared type."""
    kinds = value_types(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        found = next(((n, environ[n]) for n in spec_of(f).env_names if environ.get(n, "") != ""), None)
        if found is not None:
            values[f.name] = parse_env(f.name, kinds[f.name][0], *found)
    return values


def check_fields(settings: Any) -> None:
    """Raise a ConfigError for the first field of ``settings`` that breaks its declared rules."""
    kinds = value_types(type(settings))
    for f in fields(settings):
        problem = field_problem(f.name, spec_of(f), *kinds[f.name], getattr(settings, f.name))
        if problem:
            raise ConfigError(problem)
