"""Inlining an app's local assets into one HTML document, so a started app needs nothing else.

Scripts, stylesheets, images, media posters, icons, and CSS ``url()``/``@import`` (recursively,
relative to the file that refers to them) become ``data:`` URIs. Keeping scripts and styles as
``<script src="data:…">`` / ``<link href="data:…">`` preserves their order, type and attributes
and means no user text is ever pasted between tags: ``</script>`` in a script cannot break out.

Each distinct asset is encoded once; in CSS declarations it is shared through a custom property
(see :mod:`.css`). Every piece is checked against the compile budget before it is built. A
reference to a file the app does not have (or outside it, or a server-root path) is left as
it is, with a warning, as Hypha's built-in worker does. Remote ``http(s)`` references stay as
they are unless ``inline_remote`` prefetched them. Output is deterministic.
"""

from __future__ import annotations

import base64
import mimetypes
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html

from browser_worker._compile.budget import Meter
from browser_worker._compile.css import rewrite_declarations, rewrite_sheet, root_rule
from browser_worker.errors import WorkerError
from browser_worker._net import display_url

#: (tag, attribute) pairs whose value names an asset to inline.
ASSET_ATTRIBUTES = (
    ("script", "src"), ("img", "src"), ("source", "src"), ("video", "poster"),
    ("audio", "src"), ("video", "src"), ("track", "src"), ("input", "src"),
)
LINK_RELS = {"stylesheet", "icon", "preload", "modulepreload", "manifest", "apple-touch-icon"}
EXTRA_TYPES = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf",
               ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
               ".svg": "image/svg+xml", ".webp": "image/webp", ".ico": "image/x-icon"}
MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
ASSET_VAR = "--bw-asset-"

#: ``inline_remote`` results: URL → (bytes, content type).
Fetched = dict[str, tuple[bytes, str | None]]


def mime_type(path: str) -> str:
    ext = posixpath.splitext(path)[1].lower()
    return EXTRA_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def is_local(ref: str) -> bool:
    """A reference to one of the app's own files (not remote, not data:, not a fragment)."""
    ref = ref.strip()
    if not ref or ref.startswith(("#", "//")):
        return False
    return not urlsplit(ref).scheme


def _is_http(ref: str) -> bool:
    return urlsplit(ref.strip()).scheme in ("http", "https")


@dataclass
class Inliner:
    """Resolves references against the app's files (``path → bytes``) within a budget."""

    files: dict[str, bytes]
    meter: Meter
    #: Prefetched remote assets (``inline_remote``); None leaves remote references as they are.
    remote: Fetched | None = None
    count: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Remote URLs met that are not prefetched yet (the compiler fetches them and runs again).
    missing: set[str] = field(default_factory=set)
    _uris: dict[str, str] = field(default_factory=dict)
    _vars: dict[str, str] = field(default_factory=dict)
    _definitions: list[tuple[str, str]] = field(default_factory=list)
    _chain: list[str] = field(default_factory=list)
    _pending: list[int] = field(default_factory=list)

    # ----- the css.Sink protocol ---------------------------------------------------------

    def wants(self, ref: str, referrer: str) -> bool:
        """Whether ``ref`` (found in ``referrer``) is to be inlined."""
        if _is_http(referrer) and is_local(ref):
            return self.remote is not None
        return is_local(ref) or (self.remote is not None and _is_http(ref))

    def copy(self, ref: str, referrer: str) -> str | None:
        key = self._key(ref, referrer)
        if key is None:
            return None
        uri = self._uri(key)
        if self._chain:
            self.meter.fits(sum(self._pending) + len(uri), _label(key))
            self._pending[-1] += len(uri)
        else:
            self.meter.charge(len(uri), _label(key))
        return uri

    def shared(self, ref: str, referrer: str) -> str | None:
        key = self._key(ref, referrer)
        if key is None:
            return None
        if key not in self._vars:
            uri = self._uri(key)
            name = f"{ASSET_VAR}{len(self._vars) + 1}"
            self.meter.charge(len(name) + len(uri) + 8, _label(key))
            self._vars[key] = name
            self._definitions.append((name, uri))
        return self._vars[key]

    # ----- documents --------------------------------------------------------------------

    def css(self, text: str, referrer: str) -> str:
        """A stylesheet that lands in the document as text (``<style>``, template styles)."""
        return rewrite_sheet(text, referrer, self)

    def html(self, text: str, referrer: str) -> str:
        """Inline every local asset a whole HTML document refers to."""
        doc = lxml.html.document_fromstring(text)
        self.fragment(doc, referrer)
        shared = self.shared_css()
        if shared:
            style = lxml.html.Element("style")
            style.set("data-bw", "assets")
            style.text = shared
            head = doc.find("head")
            (head if head is not None else doc).insert(0, style)
        doctype = doc.getroottree().docinfo.doctype or "<!DOCTYPE html>"
        return lxml.html.tostring(doc, encoding="unicode", doctype=doctype)

    def fragment(self, root: lxml.html.HtmlElement, referrer: str) -> None:
        for tag, attr in ASSET_ATTRIBUTES:
            for el in root.iter(tag):
                ref = el.get(attr)
                if ref and self.wants(ref, referrer):
                    el.set(attr, self.copy(ref, referrer) or ref)
        for el in root.iter("link"):
            rel = set((el.get("rel") or "").lower().split())
            ref = el.get("href")
            if ref and rel & LINK_RELS and self.wants(ref, referrer):
                el.set("href", self.copy(ref, referrer) or ref)
        for el in root.iter("style"):
            if el.text:
                el.text = self.css(el.text, referrer).replace("</", "<\\/")
        for el in root.xpath("//*[@style]"):
            el.set("style", rewrite_declarations(el.get("style"), referrer, self))

    def shared_css(self) -> str:
        """The ``:root`` rule defining every shared asset; put it in the document once."""
        return root_rule(self._definitions)

    # ----- resolving -------------------------------------------------------------------

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def _key(self, ref: str, referrer: str) -> str | None:
        """``file:<path>`` or ``url:<url>`` for a reference, or None (left as is)."""
        if _is_http(referrer) or _is_http(ref):
            url = urljoin(referrer, ref.strip()) if _is_http(referrer) else ref.strip()
            if self.remote is None:
                return None
            if url not in self.remote:
                self.missing.add(url)
                return None
            return f"url:{url}"
        clean = unquote(urlsplit(ref.strip()).path)
        if not clean:
            return None
        path = posixpath.normpath(posixpath.join(posixpath.dirname(referrer), clean)).lstrip("/")
        if path == ".." or path.startswith("../"):
            self.warn(f"{referrer} refers to {ref!r}, outside the app's files; left as is")
            return None
        if path not in self.files:
            what = "a server-root path that is" if clean.startswith("/") else "a file that is"
            self.warn(f"{referrer} refers to {ref!r}, {what} not among the app's files; left as is")
            return None
        return f"file:{path}"

    def _uri(self, key: str) -> str:
        if key in self._uris:
            return self._uris[key]
        name = _name(key)
        if key.startswith("url:"):
            data, ctype = self.remote[name]  # type: ignore[index]
            ctype = ctype if ctype and MIME.match(ctype) else None
            mime = ctype or mime_type(urlsplit(name).path or "/asset")
        else:
            data, mime = self.files[name], mime_type(name)
        self.meter.check_asset(len(data), _label(key))
        if mime == "text/css" or urlsplit(name).path.endswith(".css"):
            data = self._sheet(data, name, _label(key))
            mime = "text/css"
        uri = data_uri(mime, data)
        self.meter.fits(sum(self._pending) + len(uri), _label(key))
        self.count += 1
        self._uris[key] = uri
        return uri

    def _sheet(self, data: bytes, name: str, label: str) -> bytes:
        """A linked or imported stylesheet, rewritten (cycles refused, depth within budget)."""
        if name in self._chain:
            chain = [display_url(c) if _is_http(c) else c for c in self._chain]
            raise WorkerError(f"stylesheet import cycle: {' → '.join(chain + [label])}")
        self._chain.append(name)
        self._pending.append(0)
        try:
            self.meter.check_depth([display_url(c) if _is_http(c) else c for c in self._chain], label)
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise WorkerError(f"stylesheet {label} is not UTF-8 text") from None
            return rewrite_sheet(text, name, self).encode("utf-8")
        finally:
            self._chain.pop()
            self._pending.pop()


def _name(key: str) -> str:
    return key.split(":", 1)[1]


def _label(key: str) -> str:
    """How errors name an asset: its path, or its URL without query (it may hold secrets)."""
    return display_url(_name(key)) if key.startswith("url:") else _name(key)
