"""One redaction function for every string that leaves the worker.

Session tokens are registered when a start is parsed; anything shaped like a JSON Web Token
(Hypha's token format) is redacted even if the worker never saw it. Errors, progress messages,
session info and logs all pass through :func:`redact` on their way out.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import OrderedDict
from typing import Any, Awaitable, Callable

REDACTED = "***"
#: header.payload.signature, base64url: what Hypha (and most) access tokens look like.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")
#: The same shape, for redacting bytes (a trace zip's members).
TOKEN_SHAPE = re.compile(_JWT.pattern.encode())
_MIN_SECRET = 8
_MAX_SECRETS = 4096


class Secrets:
    """Known secrets (session tokens, the worker's own token), newest kept."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, None] = OrderedDict()

    def add(self, secret: Any) -> None:
        if isinstance(secret, str) and len(secret) >= _MIN_SECRET:
            self._items[secret] = None
            self._items.move_to_end(secret)
            while len(self._items) > _MAX_SECRETS:
                self._items.popitem(last=False)

    def known(self) -> list[str]:
        """Every registered secret, newest first."""
        return list(reversed(self._items))

    def redact(self, text: str, also: tuple[str, ...] | list[str] = ()) -> str:
        if not text:
            return text
        for secret in also:  # the caller's own (a session keeps its token however many come after)
            if secret in text:
                text = text.replace(secret, REDACTED)
        for secret in reversed(self._items):  # newest first: likelier to be in this text
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _JWT.sub(REDACTED, text)


#: Process-wide: a token must be redacted wherever it turns up, whichever session it belongs to.
SECRETS = Secrets()


def add_secret(secret: Any) -> None:
    SECRETS.add(secret)


def known_secrets() -> list[str]:
    """Every secret registered so far (for scrubbing data that is not text, like a trace)."""
    return SECRETS.known()


def redact(text: Any, also: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` as a string with every known secret (and ``also``) and every token-shaped
    string replaced."""
    return SECRETS.redact(text if isinstance(text, str) else str(text), also)


def redact_value(value: Any, depth: int = 0) -> Any:
    """Redact the strings inside a JSON-like value (session info, progress payloads)."""
    if isinstance(value, str):
        return redact(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {k: redact_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, depth + 1) for v in value]
    return value


def redacting(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a service method so errors leave it redacted, and internal ones without internals."""
    from browser_worker.errors import WorkerError

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except WorkerError as exc:
            exc.args = (redact(str(exc)),)
            raise
        except Exception as exc:
            logging.getLogger("browser_worker").exception("%s failed", method.__name__)
            raise WorkerError(redact(f"internal error in {method.__name__}: {type(exc).__name__}: {exc}")) from None

    return call
