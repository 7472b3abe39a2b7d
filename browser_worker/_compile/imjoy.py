"""Reading ImJoy/Hypha XML app sources (``<config>``, ``<script>``, ``<window>``, ``<style>``, …)
and HTML fragments.

Parsed with lxml's HTML parser (tolerant of what app authors write), never with regular
expressions. Configuration errors name the line, so an author can find them. The Hypha server
strips ``<config>`` before it calls ``compile``, so a source may arrive as bare markup
(``<div>…</div>``): whatever is not a source tag is the page's markup, shown in the window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import lxml.html
import yaml

from browser_worker._compile.budget import CompileBudget
from browser_worker.errors import WorkerError
from browser_worker._door import is_html

#: Elements that describe the app rather than being part of its page.
SOURCE_TAGS = frozenset({"config", "window", "style", "docs", "file", "attachment", "manifest"})
JS_TYPES = frozenset({"", "text/javascript", "application/javascript", "javascript"})

SourceKind = Literal["script", "html", "source"]


@dataclass
class AppSource:
    config: dict[str, Any] = field(default_factory=dict)
    script: str = ""
    script_lang: str = "javascript"
    window_html: str = ""
    #: The page markup outside the source tags (other ``<script>`` elements stay in it).
    markup: str = ""
    styles: list[str] = field(default_factory=list)
    docs: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)


def source_kind(text: str) -> SourceKind:
    """``html``: a whole page; ``source``: an XML app source or an HTML fragment; ``script``: code."""
    head = text.lstrip("\ufeff \t\r\n")
    if not head.startswith("<"):
        return "script"
    return "html" if is_html(head) else "source"


def parse_source(text: str, budget: CompileBudget | None = None) -> AppSource:
    budget = budget or CompileBudget()
    root = lxml.html.fragment_fromstring(text.lstrip("\ufeff"), create_parent="div")
    app = AppSource()
    for el in root.iter("config"):
        app.config.update(_config(el.text or "", (el.get("lang") or "json").lower(), budget))
    chosen = _app_script(root)
    if chosen is not None:
        app.script = (chosen.text or "").strip("\n")
        app.script_lang = (chosen.get("lang") or "javascript").lower()
        chosen.drop_tree()
    for el in root.iter("window"):
        app.window_html += "".join(_inner_html(el))
    app.styles = [el.text or "" for el in root if el.tag == "style"]
    app.docs = "\n".join((el.text_content() or "").strip() for el in root.iter("docs"))
    for el in root.iter("file"):
        name = el.get("name")
        if not name:
            raise WorkerError("a <file> element needs a name attribute")
        app.files.append({"path": name, "name": name, "content": (el.text or "").strip(),
                          "format": (el.get("format") or "text").lower()})
    app.markup = _markup(root).strip()
    return app


def _app_script(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    """The script run with ``api`` in scope: the first inline, non-empty, classic script."""
    for el in root.iter("script"):
        kind = (el.get("type") or "").strip().lower()
        if el.get("src") is None and (el.text or "").strip() and (kind in JS_TYPES or el.get("lang")):
            return el
    return None


def _markup(root: lxml.html.HtmlElement) -> str:
    """Top-level nodes that are not source tags (nor ImJoy script variants), as HTML."""
    parts = [root.text or ""]
    for child in root:
        tag = child.tag if isinstance(child.tag, str) else ""
        variant = tag == "script" and (child.get("lang") is not None or child.get("tag") is not None)
        if tag in SOURCE_TAGS or variant:
            parts.append(child.tail or "")
        else:
            parts.append(lxml.html.tostring(child, encoding="unicode"))  # includes the tail
    return "".join(parts)


def _inner_html(el: lxml.html.HtmlElement) -> list[str]:
    parts = [el.text or ""]
    for child in el:
        parts.append(lxml.html.tostring(child, encoding="unicode"))
    return parts


def _config(text: str, lang: str, budget: CompileBudget) -> dict[str, Any]:
    if len(text.encode()) > budget.max_manifest_bytes:
        raise budget.error("max_manifest_bytes", f"by the <config> ({len(text.encode())} bytes)")
    try:
        if lang == "json":
            data = _json(text)
        elif lang == "yaml":
            data = _yaml(text)
        else:
            raise WorkerError(f"<config lang={lang!r}> is not supported; use json or yaml")
    except RecursionError:
        raise WorkerError("<config> nests too deeply") from None
    if not isinstance(data, dict):
        raise WorkerError("<config> must hold an object of fields (name, type, requirements, …)")
    size = len(json.dumps(data, default=str).encode())
    if size > budget.max_manifest_bytes:
        raise budget.error("max_manifest_bytes", f"by the parsed <config> ({size} bytes)")
    return data


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkerError(f"invalid JSON in <config> at line {exc.lineno}: {exc.msg}") from None


def _yaml(text: str) -> Any:
    """YAML without aliases: an alias repeats a node, so a few hundred bytes of anchors and
    aliases can stand for millions of nodes (a "billion laughs" bomb)."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise WorkerError(
                    f"invalid YAML in <config> at line {line}: YAML aliases (*{event.anchor}) are not "
                    "allowed (rule: no anchors/aliases in <config>; write the values out)")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkerError(f"invalid YAML in <config>{where}: {problem}") from None
