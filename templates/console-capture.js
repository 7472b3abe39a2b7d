// Installed in every frame before any page script: console output is batched in the page and
// handed to the worker every 50 ms (at most 500 lines a batch, the newest kept), so an app that
// logs without limit cannot flood the worker's event loop.
(() => {
  if (window.__bwConsoleWrapped || typeof window.__bwConsole !== "function") return;
  window.__bwConsoleWrapped = true;
  const send = window.__bwConsole;
  const LIMIT = 500;
  const ring = new Array(LIMIT);
  let start = 0, count = 0, dropped = 0, timer = null;
  const text = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack || String(value);
    try { return JSON.stringify(value) ?? String(value); } catch (_) { return String(value); }
  };
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!count && !dropped) return;
    const batch = [];
    if (dropped) batch.push(["warn", `[browser-worker] ${dropped} console lines dropped (logged faster than ${LIMIT} per 50 ms)`]);
    for (let i = 0; i < count; i++) batch.push(ring[(start + i) % LIMIT]);
    start = 0; count = 0; dropped = 0;
    send(batch).catch(() => {});
  };
  window.__bwFlushConsole = flush;  // called before the app reports ready/failed
  for (const level of ["log", "info", "warn", "error", "debug", "trace"]) {
    console[level] = (...args) => {
      const entry = [level, args.map(text).join(" ")];
      if (count < LIMIT) { ring[(start + count) % LIMIT] = entry; count++; }
      else { ring[start] = entry; start = (start + 1) % LIMIT; dropped++; }
      if (!timer) timer = setTimeout(flush, 50);
    };
  }
})();
