"""Inlining an app's local assets into one HTML document, so a started app needs nothing else.

Scripts, stylesheets, images, media posters, icons, and CSS ``url()``/``@import`` (recursively,
relative to the file that refers to them) become ``data:`` URIs. Keeping scripts and styles as
``<script src="data:…">`` / ``<link href="data:…">`` preserves their order, type and attributes
and means no user text is ever pasted between tags: ``</script>`` in a script cannot break out.
Remote ``http(s)`` references stay as they are. Output is deterministic.
"""

from __future__ import annotations

import base64
import mimetypes
import posixpath
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
import tinycss2
from tinycss2.serializer import serialize_string_value, serialize_url

from .errors import WorkerError

#: (tag, attribute) pairs whose value names an asset to inline.
ASSET_ATTRIBUTES = (
    ("script", "src"), ("img", "src"), ("source", "src"), ("video", "poster"),
    ("audio", "src"), ("video", "src"), ("track", "src"), ("input", "src"),
)
EXTRA_TYPES = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf",
               ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
               ".svg": "image/svg+xml", ".webp": "image/webp", ".ico": "image/x-icon"}


def mime_type(path: str) -> str:
    ext = posixpath.splitext(path)[1].lower()
    return EXTRA_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def data_uri(path: str, data: bytes) -> str:
    return f"data:{mime_type(path)};base64,{base64.b64encode(data).decode('ascii')}"


def is_local(ref: str) -> bool:
    """A reference to one of the app's own files (not remote, not data:, not a fragment)."""
    ref = ref.strip()
    if not ref or ref.startswith(("#", "//")):
        return False
    return not urlsplit(ref).scheme


@dataclass
class Inliner:
    """Resolves references against the app's files (``path → bytes``)."""

    files: dict[str, bytes]
    #: With ``inline_remote``: fetches an http(s) URL → (bytes, content type). None leaves
    #: remote references as they are.
    fetch: Callable[[str], tuple[bytes, str | None]] | None = None
    count: int = 0
    seen: set[str] = field(default_factory=set)

    def wants(self, ref: str, referrer: str) -> bool:
        """Whether ``ref`` (found in ``referrer``) is to be inlined."""
        if is_local(ref):
            return True
        return self.fetch is not None and _is_http(ref)

    def _remote_url(self, ref: str, referrer: str) -> str | None:
        if _is_http(referrer):
            return urljoin(referrer, ref)
        return ref if _is_http(ref) else None

    def resolve(self, ref: str, referrer: str) -> str:
        """The app-relative path ``ref`` names, relative to ``referrer``'s folder."""
        clean = unquote(urlsplit(ref.strip()).path)
        base = posixpath.dirname(referrer)
        path = posixpath.normpath(posixpath.join(base, clean)).lstrip("/")
        if path.startswith("../") or path == "..":
            raise WorkerError(f"{referrer} refers to {ref!r}, outside the app's files")
        if path not in self.files:
            raise WorkerError(f"{referrer} refers to {ref!r}, but {path!r} is not among the app's files")
        return path

    def asset(self, ref: str, referrer: str) -> str:
        url = self._remote_url(ref, referrer)
        if url is not None:
            if self.fetch is None:
                return ref
            data, ctype = self.fetch(url)
            self.count += 1
            name = urlsplit(url).path or "/asset"
            if ctype == "text/css" or name.endswith(".css"):
                data = self.css(data.decode("utf-8"), url).encode("utf-8")
            return f"data:{ctype or mime_type(name)};base64,{base64.b64encode(data).decode('ascii')}"
        path = self.resolve(ref, referrer)
        self.count += 1
        data = self.files[path]
        if path.endswith(".css"):
            data = self.css(data.decode("utf-8"), path).encode("utf-8")
        return data_uri(path, data)

    def css(self, text: str, referrer: str) -> str:
        """Rewrite ``url()`` and ``@import`` in a stylesheet (recursively)."""
        if referrer in self.seen:
            raise WorkerError(f"stylesheet import cycle through {referrer}")
        self.seen.add(referrer)
        try:
            rules = tinycss2.parse_stylesheet(text, skip_comments=False, skip_whitespace=False)
            self._walk(rules, referrer)
            return tinycss2.serialize(rules)
        finally:
            self.seen.discard(referrer)

    def _walk(self, nodes: list, referrer: str) -> None:
        for node in nodes:
            kind = getattr(node, "type", None)
            if kind == "url" and self.wants(node.value, referrer):
                node.value = self.asset(node.value, referrer)
                node.representation = f"url({serialize_url(node.value)})"
            elif kind == "function" and node.lower_name == "url":
                for arg in node.arguments:
                    if arg.type == "string" and self.wants(arg.value, referrer):
                        arg.value = self.asset(arg.value, referrer)
                        arg.representation = f'"{serialize_string_value(arg.value)}"'
            elif kind == "at-rule" and node.lower_at_keyword == "import":
                for token in node.prelude:
                    if token.type == "string" and self.wants(token.value, referrer):
                        token.value = self.asset(token.value, referrer)
                        token.representation = f'"{serialize_string_value(token.value)}"'
            for child_attr in ("prelude", "content", "arguments"):
                children = getattr(node, child_attr, None)
                if isinstance(children, list):
                    self._walk(children, referrer)

    def html(self, text: str, referrer: str) -> str:
        """Inline every local asset a whole HTML document refers to."""
        doc = lxml.html.document_fromstring(text)
        self.fragment(doc, referrer)
        doctype = doc.getroottree().docinfo.doctype or "<!DOCTYPE html>"
        return lxml.html.tostring(doc, encoding="unicode", doctype=doctype)

    def fragment(self, root: lxml.html.HtmlElement, referrer: str) -> None:
        for tag, attr in ASSET_ATTRIBUTES:
            for el in root.iter(tag):
                ref = el.get(attr)
                if ref and self.wants(ref, referrer):
                    el.set(attr, self.asset(ref, referrer))
        for el in root.iter("link"):
            rel = (el.get("rel") or "").lower().split()
            ref = el.get("href")
            if ref and self.wants(ref, referrer) and ({"stylesheet", "icon", "preload", "modulepreload", "manifest"} & set(rel)
                                          or "apple-touch-icon" in rel):
                el.set("href", self.asset(ref, referrer))
        for el in root.iter("style"):
            if el.text:
                el.text = self.css(el.text, referrer).replace("</", "<\\/")
        for el in root.xpath("//*[@style]"):
            el.set("style", self.css_declarations(el.get("style"), referrer))

    def css_declarations(self, text: str, referrer: str) -> str:
        tokens = tinycss2.parse_component_value_list(text)
        self._walk(tokens, referrer)
        return tinycss2.serialize(tokens)


def _is_http(ref: str) -> bool:
    return urlsplit(ref.strip()).scheme in ("http", "https")
