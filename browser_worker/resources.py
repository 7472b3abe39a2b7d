"""Where the top-level ``templates/`` and ``static/`` folders are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    # A wheel carries them inside the package (hatch force-include); a checkout has them beside it.
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    return _PACKAGE.parent / name


def templates_dir() -> Path:
    return _locate("templates")


def static_dir() -> Path:
    return _locate("static")
