"""Scrubbing secrets out of a Playwright trace zip before anyone can read it.

A trace records what the page and the worker did: the ``evaluate`` that hands the page its
config (with the session token), request URLs and headers, DOM snapshots, console text and
response bodies. Tokens are not kept out of the recording (the boot being recorded is what
makes a trace worth having), so the zip is rewritten after tracing stops: in every member, each
known secret — as raw text, JSON-escaped and URL-encoded — and anything token-shaped becomes
``***``. Pure bytes in, bytes out; no browser.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Iterable
from urllib.parse import quote, quote_plus

from browser_worker._redact import REDACTED, TOKEN_SHAPE

_PLACEHOLDER = REDACTED.encode()


def secret_forms(secret: str) -> set[bytes]:
    """The byte strings ``secret`` may take inside a trace: as is, JSON-escaped (trace events
    are JSON lines), and URL-encoded (request URLs)."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    return {f.encode() for f in forms if f}


def scrub_bytes(data: bytes, forms: Iterable[bytes]) -> tuple[bytes, int]:
    """``data`` with every one of ``forms`` and every token-shaped string replaced; and how many
    replacements were made. Longer forms go first, so no form leaves a piece of another behind."""
    count = 0
    for form in sorted(set(forms), key=len, reverse=True):
        hits = data.count(form)
        if hits:
            data = data.replace(form, _PLACEHOLDER)
            count += hits
    data, jwt_hits = TOKEN_SHAPE.subn(_PLACEHOLDER, data)
    return data, count + jwt_hits


def scrub_zip(src: Path, dst: Path, secrets: Iterable[str]) -> int:
    """Write ``src`` to ``dst`` with the secrets scrubbed from every member (names kept, order
    kept, deflated); return the number of replacements. ``src`` is left as it is."""
    forms: set[bytes] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    total = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data, count = scrub_bytes(zin.read(info), forms)
            total += count
            name, _ = scrub_bytes(info.filename.encode(), forms)
            out = zipfile.ZipInfo(name.decode(errors="replace"), date_time=info.date_time)
            out.compress_type = zipfile.ZIP_DEFLATED
            out.external_attr = info.external_attr
            zout.writestr(out, data)
    return total
