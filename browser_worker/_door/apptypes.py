"""The app types this worker runs, and the names Hypha uses for them."""

from __future__ import annotations

from browser_worker.errors import UnsupportedAppTypeError

#: Canonical types; each has a template under ``templates/`` (web-app needs none).
APP_TYPES: tuple[str, ...] = ("window", "iframe", "web-app", "web-worker", "web-python")

#: Other names Hypha manifests use for the same thing.
ALIASES: dict[str, str] = {"javascript": "window", "hypha": "window"}

#: Types whose page our templates connect to Hypha as the session's client (an iframe or
#: web-app page connects only if its own code does).
CONNECTS_TO_HYPHA: frozenset[str] = frozenset({"window", "web-worker", "web-python"})

#: Every name a manifest may carry, as advertised in the service's ``supported_types``.
SUPPORTED_TYPES: tuple[str, ...] = APP_TYPES + tuple(ALIASES)


def canonical_type(app_type: object) -> str:
    """Map a manifest ``type`` to its canonical name, or raise naming the supported ones."""
    if not isinstance(app_type, str) or not app_type:
        raise UnsupportedAppTypeError(
            f"App type missing or not a string ({app_type!r}); "
            f"supported types: {', '.join(SUPPORTED_TYPES)}"
        )
    name = ALIASES.get(app_type, app_type)
    if name not in APP_TYPES:
        raise UnsupportedAppTypeError(
            f"Unsupported app type {app_type!r}; supported types: {', '.join(SUPPORTED_TYPES)}"
        )
    return name
