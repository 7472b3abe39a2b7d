// After a Hypha server restart, hypha-rpc's reconnection loop sleeps on a back-off (1 s doubling
// to 60 s), so a page can come back many seconds after the server did, and every call the server
// routes to it meanwhile is lost. The worker sees the server come back and calls this to end the
// sleep now. It leans on hypha-rpc's private fields, so each one is feature-tested first: with a
// hypha-rpc that looks different, the library's own loop is left alone ("unsupported").
// The answer is one word: connected, reconnecting, attempting (an attempt is in flight), closed
// (the library gave up, or the app closed it), or unsupported.
const bwReconnectNow = (conn) => {
  if (!conn || typeof conn !== "object") return "unsupported";
  if (conn._closed) return "closed";
  const ws = conn._websocket;
  // Open and not inside a reconnection (whose handshake the server may hold for a second).
  if (ws && ws.readyState === WebSocket.OPEN) return conn._reconnecting ? "attempting" : "connected";
  const timers = conn._reconnect_timeouts;
  if (!(timers instanceof Set) || typeof conn._handle_close !== "function") return "unsupported";
  if (!conn._enable_reconnect) return "closed";
  if (!conn._reconnecting || timers.size === 0 || !ws || ws.readyState !== WebSocket.CLOSED) return "attempting";
  for (const id of timers) clearTimeout(id);
  timers.clear();
  conn._reconnecting = false;  // _handle_close starts a fresh loop, whose first attempt is now
  conn._handle_close({ code: 1012, reason: "browser-worker: the server is back" });
  return "reconnecting";
};
