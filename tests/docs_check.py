"""Issue 25, docs that are checked: read README.md and docs/*.md, pull out the concrete claims they
make about the code, and check each against the code as it is now.

A plain module (no pytest): ``tests/unit/test_docs.py`` runs it, ``scripts/check_docs.py`` prints
its findings. Everything it compares with is read from the code when it runs (``WorkerSettings``
fields and defaults, ``browser_worker.cli.build_parser()``, the package's source); the only
values written here are the allowlists below, each with its reason.

Rules (a finding is ``file:line: kind: claim — why``):

* **dotted name** — ``browser_worker.x.y``, ``browser_worker.x:attr`` and ``browser_worker.x.C.m``
  in inline code or code blocks: the longest importable module prefix is imported, the rest is
  looked up with ``getattr`` (after ``:`` the whole left side must be a module). ``from
  browser_worker.x import A, B`` lines in code blocks: each name must import. A whole code span
  like ``_engine.document`` (a private package, then dots) is read as ``browser_worker._engine.document``.
  In a table with ``package`` and ``modules`` columns, each module must exist in that package.
* **path** — anywhere in the text (inline code, code blocks, prose), a path starting with one of
  ``PATH_PREFIXES`` (not preceded by a word character or one of ``/ . ~ $ @ -``), or one of
  ``TOP_LEVEL_FILES``, must exist relative to the repo root; a ``:12`` / ``:12-34`` suffix is
  dropped and ``*``/``?`` are globs. A whole code span whose first segment starts with ``_``
  (``_engine/engine.py``) is package-relative: it must exist under ``browser_worker/``. Other
  bare names (``throughput.py``) are not checked. Markdown links ``[x](target)`` and images must
  point at an existing file relative to the Markdown file (``/x``: the repo root); ``http(s):``,
  ``mailto:`` and other schemes, and ``#anchors`` are ignored. In a table with a ``modules`` column
  and no ``package`` column (docs/testing.md), ``test_*`` names are test modules under ``tests/``.
* **flag** — a command in inline code or a code-block line (after ``VAR=value`` assignments,
  ``&&``/``;``/``|``, ``RUN``/``CMD [...]``/``ExecStart=``) that starts with ``browser-worker``,
  ``…/bin/browser-worker`` or ``python -m browser_worker``: its subcommand (and ``assets``
  action) must exist and every ``-x``/``--flag`` must be an option of that (sub)parser in
  ``build_parser()``. A command that runs a repo script (``benchmarks/x.py``, ``scripts/x.py``, or
  a bare ``x.py`` found there) may only use flags that script spells as string literals. A code
  span that is a lone flag (`` `--pool-size` ``, `` `--max-sessions 4` ``) must be an option of
  some subcommand, a flag the package itself passes on (a string literal such as Chromium's
  ``--no-sandbox``), a flag of a repo script, or in ``OTHER_TOOLS_FLAGS``.
* **env** — every ``BROWSER_WORKER_*``, ``HYPHA_*`` and ``PLAYWRIGHT_*`` name in the text must be
  read by the code: the ``env``/``aliases`` of a ``WorkerSettings`` field, or a Python string
  literal in ``browser_worker/`` equal to the name (``os.environ.get("BROWSER_WORKER_STATIC")``,
  a page's ``globalThis.env`` keys), or be in ``SERVER_ENV`` (set on the Hypha server). Names in
  ``NOT_READ_ON_PURPOSE`` are documented as not read: they are a finding if the code reads them.
  Elisions are expanded first: ``…_MAX_FILES`` after ``BROWSER_WORKER_COMPILE_MAX_BUNDLE_BYTES``,
  ``PLAYWRIGHT_VIEWPORT_WIDTH``/`` `_HEIGHT` `` (the longest prefix of the previous full name, on
  the same or the line before, that gives a known name; else the shortest).
* **default** — in a table whose header has a ``default`` column, the row's settings are the
  flags, variables and field names in its ``setting``/``flag``/``env``/``environment`` columns
  (in order; a flag through its ``dest``). The default cell, parentheses dropped, gives values in
  order: code spans (strings), numbers with an optional unit (``ms``/``s``/``min``/``h``,
  ``B``/``KiB``/``MiB``/``GiB``/``KB``/``MB``/``GB``), and ``none``/``—``/``empty`` (None or
  ""), ``off`` (False, 0 or "off"), ``on`` (True). Other words (``any``, ``the token's``) are
  not checked. Values pair with settings one to one (``2 / 3`` with ``--pool-size`` /
  ``--python-pool-size``; ``60 s, at most 600 s`` with ``--start-timeout``,
  ``--max-start-timeout``); another count is a finding. Units must fit the setting (time units
  for ``*_timeout``/``*_ttl``/``*_retention``/``*_grace``/``*_coalesce``, byte units for
  ``*_bytes``). Columns that name different settings in one row are a finding (and its default is
  not compared). In running text a
  setting's code span followed by ``(N unit``, ``(default N``, ``, N unit`` or ``seconds
  (default N`` is compared the same way (numbers only).
* Exit codes (``exits 3``) are not checked.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import math
import re
import shlex
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "browser_worker"

#: A path claim starts with one of these (the repo's folders, and ones docs may name that are gone).
PATH_PREFIXES = ("browser_worker/", "tests/", "docs/", "scripts/", "benchmarks/", "templates/",
                 "static/", "deploy/", ".ci/", "constraints/")
#: Top-level files a doc may name bare.
TOP_LEVEL_FILES = ("README.md", "Makefile", "pyproject.toml", "LICENSE", "CHANGELOG.md", "Dockerfile")

#: Lone flags (in a code span) that belong to other programs the docs tell operators to run.
OTHER_TOOLS_FLAGS = frozenset({
    # python -m hypha.server (the Hypha server's own command line; --root-token is also ours)
    "--startup-functions", "--from-env", "--server-id", "--redis-uri", "--public-base-url",
    "--local-base-url", "--enable-mcp",
    # Chromium: named as never used (docs/security.md), so the package does not spell it
    "--disable-web-security",
    # not a flag: a CSS custom property the compiler writes (docs/security.md)
    "--bw-asset-N",
})

#: Variables set on the Hypha server (not read by this worker) that the docs tell operators about.
SERVER_ENV = frozenset({
    "HYPHA_DISABLE_INPROCESS_BROWSER_WORKER",  # keeps the server's own browser worker off
    "HYPHA_JWT_SECRET",                         # one secret for every server instance
    "HYPHA_MAX_CONNECTIONS_PER_USER",           # the server's per-user connection cap
})
#: The built-in worker's variables the docs say this worker does not read, on purpose.
NOT_READ_ON_PURPOSE = frozenset({
    "PLAYWRIGHT_DISABLE_WEB_SECURITY", "PLAYWRIGHT_PERMISSIONS", "PLAYWRIGHT_ACCEPT_DOWNLOADS",
})

ENV_FULL = r"\b(?:BROWSER_WORKER|HYPHA|PLAYWRIGHT)_[A-Z0-9]+(?:_[A-Z0-9]+)*\b"
ENV_RE = re.compile(
    rf"(?P<full>{ENV_FULL})|(?P<elided>(?:…|\.\.\.)_[A-Z0-9]+(?:_[A-Z0-9]+)*\b|(?<=`)_[A-Z0-9]+(?:_[A-Z0-9]+)*(?=`))")
DOTTED_RE = re.compile(rf"(?<![\w./-]){PACKAGE}(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?")
RELATIVE_DOTTED_RE = re.compile(r"_[a-z0-9_]+(?:\.[A-Za-z_]\w*)+")
FROM_IMPORT_RE = re.compile(rf"^\s*from\s+({PACKAGE}(?:\.\w+)*)\s+import\s+\(?([^)#]+)")
PATH_RE = re.compile(
    r"(?<![\w./~$@-])(?:(?:" + "|".join(re.escape(p) for p in PATH_PREFIXES) + r")[\w.*?/-]*"
    r"|(?:" + "|".join(re.escape(f) for f in TOP_LEVEL_FILES) + r")(?![\w-]))(?::\d+(?:-\d+)?)?")
PACKAGE_RELATIVE_RE = re.compile(r"_[a-z0-9_]+/[\w.*?/-]+(?::\d+(?:-\d+)?)?")
LINK_RE = re.compile(r"!?\[(?:[^\]\n]|\n(?!\s*\n))*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SPAN_RE = re.compile(r"(?<![`\\])(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
FLAG_RE = re.compile(r"--?[A-Za-z0-9][\w-]*")
PLACEHOLDERS = {"…", "...", "COMMAND", "ACTION"}
UNITS = {"ms": ("time", 1e-3), "s": ("time", 1.0), "min": ("time", 60.0), "h": ("time", 3600.0),
         "B": ("bytes", 1), "KiB": ("bytes", 1 << 10), "MiB": ("bytes", 1 << 20), "GiB": ("bytes", 1 << 30),
         "KB": ("bytes", 10**3), "MB": ("bytes", 10**6), "GB": ("bytes", 10**9)}
UNIT_RE = "|".join(sorted(UNITS, key=len, reverse=True))
VALUE_RE = re.compile(
    rf"`(?P<code>[^`]*)`|(?<![\w.])(?P<num>\d+(?:\.\d+)?)(?:\s*(?P<unit>{UNIT_RE}))?(?![\w.])"
    r"|(?<![\w-])(?P<word>none|off|on|—|empty)(?![\w-])", re.I)
INLINE_DEFAULT_RE = re.compile(
    rf"\s*(?:seconds\s*)?(?:\(\s*(?:default\s+)?|,\s*)(?P<num>\d+(?:\.\d+)?)(?:\s*(?P<unit>{UNIT_RE}))?(?![\w.])")


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    kind: str
    claim: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.claim} — {self.why}"


# ---------------------------------------------------------------------------------------------
# What the code says


@dataclass
class Facts:
    """Everything the checks compare with, read from the code."""

    defaults: Any                                   # WorkerSettings()
    field_names: frozenset[str]
    env_to_field: dict[str, str]                    # env var or alias → field name
    parser: argparse.ArgumentParser
    flag_dests: dict[str, str]                      # any subcommand's option → its dest
    package_literals: frozenset[str]                # exact Python string literals in browser_worker/
    script_flags: dict[str, frozenset[str]] = field(default_factory=dict)  # repo script → its flags

    @property
    def package_flags(self) -> frozenset[str]:
        return frozenset(s.split("=", 1)[0] for s in self.package_literals if FLAG_RE.fullmatch(s.split("=", 1)[0]))

    @property
    def all_script_flags(self) -> frozenset[str]:
        return frozenset().union(*self.script_flags.values()) if self.script_flags else frozenset()


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's subcommands (argparse has no public way to list them)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def _string_literals(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


@lru_cache(maxsize=1)
def code_facts() -> Facts:
    from browser_worker.cli import build_parser
    from browser_worker import WorkerSettings

    env_to_field = {}
    from browser_worker.settings_spec import spec_of

    for f in fields(WorkerSettings):
        spec = spec_of(f)
        for name in (spec.env, *spec.aliases):
            env_to_field[name] = f.name
    parser = build_parser()
    flag_dests: dict[str, str] = {}

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            for s in action.option_strings:
                flag_dests.setdefault(s, action.dest)

    walk(parser)
    literals: set[str] = set()
    for path in (ROOT / PACKAGE).rglob("*.py"):
        literals |= _string_literals(path)
    script_flags = {}
    for folder in ("scripts", "benchmarks"):
        for path in sorted((ROOT / folder).glob("*.py")):
            found = {s.split("=", 1)[0] for s in _string_literals(path) if FLAG_RE.fullmatch(s.split("=", 1)[0])}
            script_flags[f"{folder}/{path.name}"] = frozenset(found | {"-h", "--help"})
    return Facts(WorkerSettings(), frozenset(f.name for f in fields(WorkerSettings)), env_to_field, parser,
                 flag_dests, frozenset(literals), script_flags)


# ---------------------------------------------------------------------------------------------
# Reading Markdown


@dataclass
class Span:
    line: int        # line of the opening backtick
    text: str        # content, newlines kept
    end: int         # offset just after the closing backticks, in the prose text


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass
class Doc:
    name: str
    base: Path                               # folder relative links start from
    lines: list[str]
    code: list[tuple[int, str, str]]         # (line, text, language) of lines inside fences
    prose: str = ""                          # the text with fenced lines blanked (same line numbers)

    @classmethod
    def parse(cls, text: str, name: str, base: Path) -> "Doc":
        lines = text.splitlines()
        code, prose, fence, lang = [], [], None, ""
        for i, line in enumerate(lines, 1):
            m = FENCE_RE.match(line)
            if fence is None and m:
                fence, lang = m.group(1), m.group(2)
                prose.append("")
            elif fence is not None and line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
                prose.append("")
            elif fence is not None:
                code.append((i, line, lang))
                prose.append("")
            else:
                prose.append(line)
        return cls(name, base, lines, code, "\n".join(prose))

    def line_at(self, offset: int) -> int:
        return self.prose.count("\n", 0, offset) + 1

    def spans(self) -> list[Span]:
        out = []
        for m in SPAN_RE.finditer(self.prose):
            content = m.group(2)
            if content.startswith(" ") and content.endswith(" ") and content.strip():
                content = content[1:-1]
            out.append(Span(self.line_at(m.start()), content.replace("\\|", "|"), m.end()))
        return out

    def code_commands(self) -> list[tuple[int, str]]:
        """Code-block lines with shell comments cut and ``\\`` continuations joined."""
        out: list[tuple[int, str]] = []
        pending: tuple[int, str] | None = None
        for line, text, _ in self.code:
            text = re.sub(r"(^|\s)#.*$", "", text).rstrip()
            if pending is not None:
                line, text = pending[0], pending[1] + " " + text.strip()
                pending = None
            if text.endswith("\\"):
                pending = (line, text[:-1])
                continue
            out.append((line, text))
        if pending:
            out.append(pending)
        return out

    def tables(self) -> list[Table]:
        lines = self.prose.split("\n")
        out, i = [], 0
        while i < len(lines) - 1:
            if lines[i].lstrip().startswith("|") and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1]):
                header = [c.strip().lower() for c in split_row(lines[i])]
                rows, j = [], i + 2
                while j < len(lines) and lines[j].lstrip().startswith("|"):
                    rows.append((j + 1, split_row(lines[j])))
                    j += 1
                out.append(Table(header, rows))
                i = j
            else:
                i += 1
        return out


def split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return [c.strip() for c in cells]


def cell_spans(cell: str) -> list[str]:
    return [m.group(2).strip().replace("\\|", "|") for m in SPAN_RE.finditer(cell)]


# ---------------------------------------------------------------------------------------------
# The checks


def check_text(text: str, name: str = "<text>", base: Path | None = None, facts: Facts | None = None) -> list[Finding]:
    """Every finding in one Markdown text; ``base`` is the folder its relative links start from."""
    facts = facts or code_facts()
    doc = Doc.parse(text, name, base or ROOT)
    found: set[Finding] = set()
    for check in (check_dotted, check_paths, check_links, check_commands, check_lone_flags, check_env,
                  check_default_tables, check_inline_defaults, check_module_tables):
        found.update(check(doc, facts))
    return sorted(found)


def check_file(path: Path, facts: Facts | None = None) -> list[Finding]:
    path = Path(path).resolve()
    try:
        name = path.relative_to(ROOT).as_posix()
    except ValueError:
        name = str(path)
    return check_text(path.read_text(encoding="utf-8"), name, path.parent, facts)


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def check_docs(root: Path = ROOT) -> list[Finding]:
    facts = code_facts()
    return [f for path in doc_files(root) for f in check_file(path, facts)]


# -- dotted names


@lru_cache(maxsize=None)
def resolve(name: str) -> str | None:
    """None if ``name`` (``pkg.mod.attr`` or ``pkg.mod:attr.attr``) resolves; else why not."""
    if ":" in name:
        modname, rest = name.split(":", 1)
        try:
            obj: Any = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            return f"no module {exc.name}" if exc.name and modname.startswith(exc.name) else f"importing {modname} failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - any import error is the finding
            return f"importing {modname} failed: {type(exc).__name__}: {exc}"
        attrs = rest.split(".")
    else:
        parts = name.split(".")
        obj, attrs = None, []
        for i in range(len(parts), 0, -1):
            modname = ".".join(parts[:i])
            try:
                obj = importlib.import_module(modname)
            except ModuleNotFoundError as exc:
                if exc.name and modname.startswith(exc.name):
                    continue
                return f"importing {modname} failed: {exc}"
            except Exception as exc:  # noqa: BLE001
                return f"importing {modname} failed: {type(exc).__name__}: {exc}"
            attrs = parts[i:]
            break
        if obj is None:
            return f"no module {parts[0]}"
    where = getattr(obj, "__name__", name)
    for attr in attrs:
        if not hasattr(obj, attr):
            kind = "module" if isinstance(obj, type(importlib)) else type(obj).__name__
            return f"{kind} {where} has no attribute {attr}"
        obj = getattr(obj, attr)
        where = f"{where}.{attr}"
    return None


def check_dotted(doc: Doc, facts: Facts) -> Iterator[Finding]:
    def one(line: int, claim: str, resolved: str) -> Iterator[Finding]:
        why = resolve(resolved)
        if why:
            yield Finding(doc.name, line, "dotted name", claim, why)

    for span in doc.spans():
        for m in DOTTED_RE.finditer(span.text):
            yield from one(span.line + span.text.count("\n", 0, m.start()), m.group(0), m.group(0))
        if RELATIVE_DOTTED_RE.fullmatch(span.text.strip()):
            yield from one(span.line, span.text.strip(), f"{PACKAGE}.{span.text.strip()}")
    for line, text, _ in doc.code:
        for m in DOTTED_RE.finditer(text):
            yield from one(line, m.group(0), m.group(0))
        m = FROM_IMPORT_RE.match(text)
        if m:
            for item in m.group(2).split(","):
                item = item.strip().split(" as ")[0].strip()
                if re.fullmatch(r"[A-Za-z_]\w*", item):
                    full = f"{m.group(1)}.{item}"
                    why = resolve(full) if importlib.util.find_spec(m.group(1)) else f"no module {m.group(1)}"
                    if why:
                        yield Finding(doc.name, line, "dotted name", f"from {m.group(1)} import {item}", why)


# -- paths


def _path_exists(rel: str, under: Path = ROOT) -> bool:
    rel = rel.rstrip("/") or "."
    if any(c in rel for c in "*?"):
        return any(under.glob(rel))
    return (under / rel).exists()


def _strip_path(raw: str) -> str:
    path = re.sub(r":\d+(?:-\d+)?$", "", raw)
    return path.rstrip(".,;:")


def check_paths(doc: Doc, facts: Facts) -> Iterator[Finding]:
    texts = [(i, line) for i, line in enumerate(doc.prose.split("\n"), 1)] + [(i, t) for i, t, _ in doc.code]
    for line, text in texts:
        for m in PATH_RE.finditer(text):
            path = _strip_path(m.group(0))
            if path and not _path_exists(path):
                yield Finding(doc.name, line, "path", path, "no such file or folder in the repo")
    for span in doc.spans():
        text = span.text.strip()
        if PACKAGE_RELATIVE_RE.fullmatch(text):
            path = _strip_path(text)
            if not _path_exists(path, ROOT / PACKAGE):
                yield Finding(doc.name, span.line, "path", path, f"no such file or folder under {PACKAGE}/")


def check_links(doc: Doc, facts: Facts) -> Iterator[Finding]:
    for m in LINK_RE.finditer(doc.prose):
        target = m.group(1)
        if re.match(r"^[A-Za-z][\w+.-]*:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (ROOT / path.lstrip("/")) if path.startswith("/") else (doc.base / path)
        if not resolved.exists():
            yield Finding(doc.name, doc.line_at(m.start()), "link", target, "no such file")


# -- the command line


def _tokens(text: str) -> list[str]:
    try:
        raw = shlex.split(text, posix=True)
    except ValueError:
        raw = text.split()
    return [t.strip("[](),\"'") for t in raw]


def _command_start(tokens: list[str]) -> int | None:
    """Index just after ``browser-worker`` (or ``python -m browser_worker``) when the segment runs it."""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.startswith("ExecStart="):
            t = t.split("=", 1)[1]
        if t == "browser-worker" or t.endswith("/bin/browser-worker"):
            return i + 1
        if re.fullmatch(r"(?:\S*/)?python[\d.]*", t) and tokens[i + 1:i + 3] == ["-m", PACKAGE]:
            return i + 3
        if re.fullmatch(r"[A-Za-z_]\w*=\S*", t) or t in ("$", "RUN", "CMD", "exec", "sudo", "ENTRYPOINT"):
            i += 1
            continue
        return None
    return None


def _segments(text: str) -> list[str]:
    return re.split(r"&&|\|\||;|\|", text.replace("\\\n", " ").replace("\n", " "))


def check_cli_tokens(args: list[str], facts: Facts) -> list[tuple[str, str]]:
    """(claim, why) for each subcommand or flag of ``browser-worker ARGS`` the parser lacks."""
    parser, path, problems, i = facts.parser, ["browser-worker"], [], 0
    while i < len(args):
        t, subs = args[i], subparsers(parser)
        if FLAG_RE.match(t):
            name = t.split("=", 1)[0].rstrip("…")
            opts = options(parser)
            if name not in opts:
                problems.append((f"{' '.join(path)} {name}", f"`{' '.join(path)}` has no option {name}"))
            elif "=" not in t and opts[name].nargs != 0:
                i += 1  # its value
        elif subs and t and (t in PLACEHOLDERS or "…" in t):
            break  # "browser-worker …": no subcommand named
        elif subs and t:
            if t not in subs:
                problems.append((f"{' '.join(path)} {t}", f"no subcommand {t} (there are: {', '.join(sorted(subs))})"))
                break
            parser = subs[t]
            path.append(t)
        i += 1  # otherwise a positional argument
    return problems


def _script_of(token: str, facts: Facts) -> str | None:
    if token in facts.script_flags:
        return token
    matches = [s for s in facts.script_flags if s.endswith("/" + token)]
    return matches[0] if "/" not in token and len(matches) == 1 else None


def _command_texts(doc: Doc) -> Iterator[tuple[int, str]]:
    for span in doc.spans():
        yield span.line, span.text
    yield from doc.code_commands()


def check_commands(doc: Doc, facts: Facts) -> Iterator[Finding]:
    for line, text in _command_texts(doc):
        for segment in _segments(text):
            tokens = _tokens(segment)
            start = _command_start(tokens)
            if start is not None:
                for claim, why in check_cli_tokens(tokens[start:], facts):
                    yield Finding(doc.name, line, "flag", claim, why)
                continue
            # a repo script: python benchmarks/x.py --flag, or x.py --flag
            k = 1 if tokens and re.fullmatch(r"(?:\S*/)?python[\d.]*", tokens[0]) else 0
            script = _script_of(tokens[k], facts) if len(tokens) > k and tokens[k].endswith(".py") else None
            if script:
                for t in tokens[k + 1:]:
                    name = t.split("=", 1)[0]
                    if FLAG_RE.fullmatch(name) and name not in facts.script_flags[script]:
                        yield Finding(doc.name, line, "flag", f"{tokens[k]} {name}", f"{script} has no option {name}")


def check_lone_flags(doc: Doc, facts: Facts) -> Iterator[Finding]:
    known = set(facts.flag_dests) | facts.package_flags | facts.all_script_flags | OTHER_TOOLS_FLAGS
    for span in doc.spans():
        text = span.text.strip()
        if not text.startswith("--"):
            continue
        name = re.split(r"[=\s]", text, maxsplit=1)[0]
        if name not in known:
            yield Finding(doc.name, span.line, "flag", name,
                          "no browser-worker subcommand has this option (nor a repo script, nor the allowlist)")


# -- environment variables


def expand_env(lines: Iterable[tuple[int, str]], facts: Facts) -> Iterator[tuple[int, str, str]]:
    """(line, as written, full name) for each variable, elisions expanded."""
    known = set(facts.env_to_field) | _read_literals(facts) | SERVER_ENV | NOT_READ_ON_PURPOSE
    last: tuple[int, str] | None = None
    for line, text in lines:
        for m in ENV_RE.finditer(text):
            if m.group("full"):
                last = (line, m.group("full"))
                yield line, m.group("full"), m.group("full")
            elif last and line - last[0] <= 1:
                tail = m.group("elided").lstrip("….")
                parts = last[1].split("_")
                family = 1 if parts[0] in ("HYPHA", "PLAYWRIGHT") else 2
                candidates = ["_".join(parts[:n]) + tail for n in range(len(parts) - 1, family - 1, -1)]
                yield line, m.group("elided"), next((c for c in candidates if c in known), candidates[-1])


def _read_literals(facts: Facts) -> set[str]:
    return {s for s in facts.package_literals if re.fullmatch(ENV_FULL, s)}


def check_env(doc: Doc, facts: Facts) -> Iterator[Finding]:
    read = set(facts.env_to_field) | _read_literals(facts)
    for line, written, name in expand_env(enumerate(doc.lines, 1), facts):
        claim = written if written == name else f"{written} ({name})"
        if name in NOT_READ_ON_PURPOSE:
            if name in read:
                yield Finding(doc.name, line, "env", claim, "listed as not read on purpose, but the code reads it")
        elif name not in read and name not in SERVER_ENV:
            yield Finding(doc.name, line, "env", claim,
                          "not read by the code (no WorkerSettings env/alias, no string literal in browser_worker/)")


# -- defaults


def setting_of(text: str, facts: Facts) -> str | None:
    """The WorkerSettings field a code span names: a flag, a variable or the field itself."""
    text = text.strip()
    flag = re.split(r"[=\s]", text, maxsplit=1)[0]
    if flag.startswith("-") and facts.flag_dests.get(flag) in facts.field_names:
        return facts.flag_dests[flag]
    if text in facts.env_to_field:
        return facts.env_to_field[text]
    return text if text in facts.field_names else None


def value_kind(name: str) -> str:
    if re.search(r"_(timeout|ttl|retention|grace|coalesce)$", name):
        return "time"
    return "bytes" if name.endswith("_bytes") else "plain"


def shown(name: str, value: Any) -> str:
    if value is None or value == "":
        return "none/empty"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)) and value_kind(name) == "bytes":
        for unit in ("GiB", "MiB", "KiB"):
            if value and value % UNITS[unit][1] == 0:
                return f"{value // UNITS[unit][1]} {unit}"
    if isinstance(value, (int, float)):
        return f"{value:g}" + (" s" if value_kind(name) == "time" else "")
    return repr(value)


def compare(name: str, value: Any, found: re.Match[str] | dict[str, str | None]) -> str | None:
    """None if the written value matches the default ``value`` of setting ``name``; else why."""
    g = found.groupdict() if isinstance(found, re.Match) else found
    code, num, unit, word = g.get("code"), g.get("num"), g.get("unit"), g.get("word")
    if code is not None:
        if re.fullmatch(r"\d+(?:\.\d+)?", code.strip()):
            num = code.strip()
        elif code.strip().lower() in ("none", "off", "on", "—", "empty", "true", "false"):
            word = {"true": "on", "false": "off"}.get(code.strip().lower(), code.strip().lower())
        else:
            return None if value == code else f"the code's default is {shown(name, value)}"
    if word is not None:
        word = word.lower()
        ok = {"none": value in (None, ""), "—": value in (None, ""), "empty": value in (None, ""),
              "off": value is False or value == "off" or (type(value) in (int, float) and value == 0),
              "on": value is True or value == "on"}[word]
        return None if ok else f"the code's default is {shown(name, value)}"
    assert num is not None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"the code's default is {shown(name, value)}"
    number, kind = float(num), value_kind(name)
    if unit:
        unit_kind, scale = UNITS.get(unit) or UNITS[next(u for u in UNITS if u.lower() == unit.lower())]
        if unit_kind != kind:
            return f"{unit} is not a unit of {name} ({'seconds' if kind == 'time' else 'bytes' if kind == 'bytes' else 'a plain number'}); the code's default is {shown(name, value)}"
        number *= scale
    return None if math.isclose(number, float(value), rel_tol=1e-9, abs_tol=1e-9) else f"the code's default is {shown(name, value)}"


def _row_settings(cells: list[str], key_columns: list[int], facts: Facts) -> tuple[list[str], list[list[str]]]:
    per_column = []
    for c in key_columns:
        names: list[str] = []
        spans = cell_spans(cells[c]) if c < len(cells) else []
        env_line = " ".join(f"`{s}`" for s in spans)
        for s in spans:
            name = setting_of(s, facts)
            if name is None and ENV_RE.fullmatch(s):  # an elided variable
                expanded = [full for _, w, full in expand_env([(0, env_line)], facts) if w == s]
                name = facts.env_to_field.get(expanded[0]) if expanded else None
            if name and name not in names:
                names.append(name)
        per_column.append(names)
    ordered = [n for col in per_column for n in col]
    return list(dict.fromkeys(ordered)), per_column


def check_default_tables(doc: Doc, facts: Facts) -> Iterator[Finding]:
    for table in doc.tables():
        if "default" not in table.header:
            continue
        d = table.header.index("default")
        keys = [i for i, h in enumerate(table.header)
                if i != d and re.search(r"\b(setting|flag|env|environment)\b", h)]
        for line, cells in table.rows:
            if d >= len(cells):
                continue
            settings, per_column = _row_settings(cells, keys, facts)
            filled = [c for c in per_column if c]
            if len(filled) > 1 and any(c != filled[0] for c in filled[1:]):
                yield Finding(doc.name, line, "table row", " | ".join(cells[i] for i in keys),
                              f"its columns name different settings: {' vs '.join(', '.join(c) for c in filled)}")
                continue
            cell = re.sub(r"\([^)]*\)", "", cells[d].replace("\\|", "|"))
            values = list(VALUE_RE.finditer(cell))
            if not settings or not values:
                continue
            claim = f"{' / '.join(settings)} default {cells[d]}"
            if len(values) != len(settings):
                yield Finding(doc.name, line, "default", claim,
                              f"{len(values)} value(s) for {len(settings)} setting(s); the code's defaults: "
                              + ", ".join(f"{n} {shown(n, getattr(facts.defaults, n))}" for n in settings))
                continue
            for name, m in zip(settings, values):
                why = compare(name, getattr(facts.defaults, name), m)
                if why:
                    yield Finding(doc.name, line, "default", f"{name} default {m.group(0).strip()}", why)


def check_inline_defaults(doc: Doc, facts: Facts) -> Iterator[Finding]:
    for span in doc.spans():
        name = setting_of(span.text, facts) if not re.search(r"\s", span.text.strip()) else None
        if not name:
            continue
        m = INLINE_DEFAULT_RE.match(doc.prose, span.end)
        if m:
            why = compare(name, getattr(facts.defaults, name), m)
            if why:
                yield Finding(doc.name, doc.line_at(m.start("num")), "default",
                              f"{span.text.strip()} {m.group('num')}{' ' + m.group('unit') if m.group('unit') else ''}", why)


def check_module_tables(doc: Doc, facts: Facts) -> Iterator[Finding]:
    for table in doc.tables():
        if "modules" not in table.header:
            continue
        mcol = table.header.index("modules")
        pcol = table.header.index("package") if "package" in table.header else None
        for line, cells in table.rows:
            if mcol >= len(cells):
                continue
            if pcol is not None:
                packages = cell_spans(cells[pcol])
                if len(packages) != 1:
                    continue
                package = f"{PACKAGE}.{packages[0]}"
                if importlib.util.find_spec(package) is None:
                    yield Finding(doc.name, line, "dotted name", package, f"no package {package}")
                    continue
                for module in cell_spans(cells[mcol]):
                    if module == "__init__":
                        continue
                    if not re.fullmatch(r"\w+", module) or importlib.util.find_spec(f"{package}.{module}") is None:
                        yield Finding(doc.name, line, "dotted name", f"{package}.{module}", f"no module {module} in {package}")
            else:
                for module in cell_spans(cells[mcol]):
                    if re.fullmatch(r"test_[\w*?]+", module) and not any((ROOT / "tests").rglob(f"{module}.py")):
                        yield Finding(doc.name, line, "path", f"tests/**/{module}.py", "no such test module")
