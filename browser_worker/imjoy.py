"""Reading ImJoy/Hypha XML app sources (``<config>``, ``<script>``, ``<window>``, ``<style>``, …).

Parsed with lxml's HTML parser (tolerant of what app authors write), never with regular
expressions. Configuration errors name the line, so an author can find them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lxml.html
import yaml

from .errors import WorkerError

SOURCE_TAGS = ("config", "script", "window", "style", "docs", "file", "link")


@dataclass
class AppSource:
    config: dict[str, Any] = field(default_factory=dict)
    script: str = ""
    script_lang: str = "javascript"
    window_html: str = ""
    styles: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    docs: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)


def looks_like_source(text: str) -> bool:
    """An XML app source, as opposed to a whole HTML page or a plain script."""
    head = text.lstrip()[:4096].lower()
    if not head.startswith("<") or head.startswith(("<!doctype html", "<html")):
        return False
    return "<config" in head or "<script" in head or "<window" in head


def parse_source(text: str) -> AppSource:
    root = lxml.html.fragment_fromstring(text, create_parent="div")
    app = AppSource()
    for el in root.iter("config"):
        app.config.update(_config(el.text or "", (el.get("lang") or "json").lower()))
    scripts = list(root.iter("script"))
    if scripts:
        app.script = (scripts[0].text or "").strip("\n")
        app.script_lang = (scripts[0].get("lang") or "javascript").lower()
    for el in root.iter("window"):
        app.window_html += "".join(_inner_html(el))
    app.styles = [el.text or "" for el in root.iter("style")]
    app.links = [el.get("href") for el in root.iter("link") if el.get("href")]
    app.docs = "\n".join((el.text_content() or "").strip() for el in root.iter("docs"))
    for el in root.iter("file"):
        name = el.get("name")
        if not name:
            raise WorkerError("a <file> element needs a name attribute")
        app.files.append({"path": name, "name": name, "content": (el.text or "").strip(),
                          "format": (el.get("format") or "text").lower()})
    return app


def _inner_html(el: lxml.html.HtmlElement) -> list[str]:
    parts = [el.text or ""]
    for child in el:
        parts.append(lxml.html.tostring(child, encoding="unicode"))
    return parts


def _config(text: str, lang: str) -> dict[str, Any]:
    if lang == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkerError(f"invalid JSON in <config> at line {exc.lineno}: {exc.msg}") from None
    elif lang == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise WorkerError(f"invalid YAML in <config>{where}: {problem}") from None
    else:
        raise WorkerError(f"<config lang={lang!r}> is not supported; use json or yaml")
    if not isinstance(data, dict):
        raise WorkerError("<config> must hold an object of fields (name, type, requirements, …)")
    return data
