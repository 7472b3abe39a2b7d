"""``inject_auth_params: true`` on a web-app, without a token in any URL.

Hypha's built-in worker appends ``server_url``, ``client_id``, ``workspace``, ``app_id`` and
``token`` to the external app's URL so that the page can connect back. A token in a URL leaks
through history, ``Referer`` headers and every access log on the way, so we append only the
non-secret four. The token reaches the page another way, in the app's own origin and top frame
only, before any of its scripts run:

* ``globalThis.env`` holds ``HYPHA_SERVER_URL``, ``HYPHA_WORKSPACE``, ``HYPHA_CLIENT_ID``,
  ``HYPHA_APP_ID`` and ``HYPHA_TOKEN`` (what hypha-rpc's JS documents for browsers);
* a page that calls ``connectToServer`` without a token (as it would after reading the query)
  still authenticates: hypha-rpc sends its credentials as the first WebSocket message, and for
  sockets to the Hypha server that message gets the token when it carries none. (hypha-rpc
  0.21's ``connectToServer`` never reaches its own ``globalThis.env`` fallback, because it sets
  a client id before checking whether it was given any options.)
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

from browser_worker._net import origin_of
from browser_worker.errors import WorkerError

#: Query parameters added to the app's URL, in the order Hypha's worker adds them.
QUERY_KEYS = ("server_url", "client_id", "workspace", "app_id")

_INIT = """((s) => {
  if (window !== window.top || location.origin !== s.origin) return;
  Object.defineProperty(globalThis, "env", { value: Object.freeze(s.env), configurable: true, writable: true });
  const Native = window.WebSocket;
  const toServer = (url) => {
    try {
      const u = new URL(String(url), location.href);
      return (u.protocol === "ws:" || u.protocol === "wss:") && u.host === s.server_host;
    } catch (_) { return false; }
  };
  class HyphaAuthWebSocket extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      this.__bwAuth = toServer(url);
    }
    send(data) {
      if (this.__bwAuth) {
        this.__bwAuth = false;
        if (typeof data === "string") {
          try {
            const m = JSON.parse(data);
            if (m && typeof m === "object" && !Array.isArray(m) && !m.token && "client_id" in m
                && (m.workspace == null || m.workspace === s.env.HYPHA_WORKSPACE)) {
              m.token = s.env.HYPHA_TOKEN;
              data = JSON.stringify(m);
            }
          } catch (_) { /* not the credentials message */ }
        }
      }
      return super.send(data);
    }
  }
  window.WebSocket = HyphaAuthWebSocket;
})(%s)"""


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended to its query (before any ``#fragment``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WorkerError(
            f"manifest.inject_auth_params needs an http(s) entry_point, not {parts.scheme or '(no scheme)'}:"
        )
    base, hash_, fragment = url.partition("#")
    sep = "&" if parts.query else ("" if base.endswith("?") else "?")
    return f"{base}{sep}{urlencode(params)}{hash_}{fragment}"


def query_params(server_url: str | None, workspace: str, client_id: str, app_id: str) -> dict[str, str]:
    if not server_url:
        raise WorkerError("manifest.inject_auth_params needs 'server_url' in the start config")
    values = {"server_url": server_url, "client_id": client_id, "workspace": workspace, "app_id": app_id}
    return {k: values[k] for k in QUERY_KEYS}


def init_script(page_url: str, params: dict[str, str], token: str | None) -> str:
    """The script that gives the app's top frame its connection parameters and token."""
    server = urlsplit(params["server_url"])
    env = {
        "HYPHA_SERVER_URL": params["server_url"], "HYPHA_WORKSPACE": params["workspace"],
        "HYPHA_CLIENT_ID": params["client_id"], "HYPHA_APP_ID": params["app_id"], "HYPHA_TOKEN": token,
    }
    settings = {"origin": origin_of(page_url), "server_host": server.netloc, "env": env}
    # json.dumps escapes nothing HTML-special, but this text is never parsed as HTML: it is
    # handed to Playwright as a script.
    return _INIT % json.dumps(settings)
