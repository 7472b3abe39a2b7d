"""Rewriting the references in a stylesheet: ``url()`` and ``@import``.

Where CSS allows it (declarations of style rules, also inside ``@media``/``@supports``/…
groups, and ``style`` attributes) a reference becomes ``var(--bw-asset-N)``, a custom property
defined once for the whole document, so an asset used by a hundred rules is in the bundle once.
Elsewhere ``var()`` is not allowed — ``@font-face`` descriptors, ``@import`` preludes, other
at-rules — and the reference becomes its own copy (the caller counts copies against the budget).
Parsed with tinycss2, never with regular expressions.
"""

from __future__ import annotations

import re
from typing import Protocol

import tinycss2
from tinycss2.ast import FunctionBlock, IdentToken, Node, URLToken
from tinycss2.serializer import serialize_string_value, serialize_url

#: What the data: URIs built here consist of: safe in an unquoted url() and in a string as is
#: (tinycss2's escaping walks the text in Python, a second per megabyte).
PLAIN = re.compile(r"[A-Za-z0-9+/=:;,._-]*")

#: At-rules whose block holds ordinary style rules (whose declarations may use ``var()``).
GROUP_RULES = frozenset({"media", "supports", "layer", "container", "scope", "document",
                         "-moz-document", "starting-style"})


class Sink(Protocol):
    """Resolves references found in a stylesheet; ``None`` leaves a reference as it is."""

    def wants(self, ref: str, referrer: str) -> bool: ...

    def copy(self, ref: str, referrer: str) -> str | None:
        """A ``data:`` URI for this one place."""

    def shared(self, ref: str, referrer: str) -> str | None:
        """The name of a document-wide custom property holding the asset (``--bw-asset-N``)."""


def rewrite_sheet(text: str, referrer: str, sink: Sink) -> str:
    rules = tinycss2.parse_stylesheet(text, skip_comments=False, skip_whitespace=False)
    _rules(rules, referrer, sink)
    return tinycss2.serialize(rules)


def rewrite_declarations(text: str, referrer: str, sink: Sink) -> str:
    """A ``style="…"`` attribute's declarations."""
    tokens = tinycss2.parse_component_value_list(text)
    _tokens(tokens, referrer, sink, hoist=True)
    return tinycss2.serialize(tokens)


def root_rule(definitions: list[tuple[str, str]]) -> str:
    """``:root{--bw-asset-1:url(data:…);…}`` for the shared assets (empty if there are none)."""
    if not definitions:
        return ""
    return ":root{" + "".join(f"{name}:{_url(uri)};" for name, uri in definitions) + "}"


def _rules(rules: list[Node], referrer: str, sink: Sink) -> None:
    for rule in rules:
        if rule.type == "qualified-rule":
            _tokens(rule.content, referrer, sink, hoist=True)
        elif rule.type == "at-rule":
            keyword = rule.lower_at_keyword
            if keyword == "import":
                _import(rule.prelude, referrer, sink)
            elif keyword in GROUP_RULES and rule.content is not None:
                nested = tinycss2.parse_rule_list(rule.content, skip_comments=False, skip_whitespace=False)
                _rules(nested, referrer, sink)
                rule.content = nested
            else:
                _tokens(rule.prelude, referrer, sink, hoist=False)
                if rule.content is not None:
                    _tokens(rule.content, referrer, sink, hoist=False)


def _import(prelude: list[Node], referrer: str, sink: Sink) -> None:
    for token in prelude:
        if token.type == "string":
            if sink.wants(token.value, referrer):
                uri = sink.copy(token.value, referrer)
                if uri is not None:
                    token.value = uri
                    token.representation = f'"{uri if PLAIN.fullmatch(uri) else serialize_string_value(uri)}"'
            return
        if token.type in ("url", "function"):
            _tokens([token], referrer, sink, hoist=False)
            return


def _tokens(nodes: list[Node], referrer: str, sink: Sink, *, hoist: bool) -> None:
    for i, node in enumerate(nodes):
        ref = _reference(node)
        if ref is not None:
            if sink.wants(ref, referrer):
                replacement = _replacement(node, ref, referrer, sink, hoist)
                if replacement is not None:
                    nodes[i] = replacement
            continue
        for attr in ("content", "arguments"):
            children = getattr(node, attr, None)
            if isinstance(children, list):
                _tokens(children, referrer, sink, hoist=hoist)


def _reference(node: Node) -> str | None:
    """The URL of a ``url(x)`` token or ``url("x")`` function, else None."""
    if node.type == "url":
        return node.value
    if node.type == "function" and node.lower_name == "url":
        strings = [a for a in node.arguments if a.type == "string"]
        return strings[0].value if strings else None
    return None


def _replacement(node: Node, ref: str, referrer: str, sink: Sink, hoist: bool) -> Node | None:
    if hoist:
        name = sink.shared(ref, referrer)
        if name is None:
            return None
        return FunctionBlock(node.source_line, node.source_column, "var",
                             [IdentToken(node.source_line, node.source_column, name)])
    uri = sink.copy(ref, referrer)
    if uri is None:
        return None
    return URLToken(node.source_line, node.source_column, uri, _url(uri))


def _url(uri: str) -> str:
    return f"url({uri if PLAIN.fullmatch(uri) else serialize_url(uri)})"
