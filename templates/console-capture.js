// Installed in every frame before any page script. Console output is kept in a ring in the page
// (at most 500 lines, each at most 16 KiB; the newest kept, the rest counted) and the worker
// *pulls* it: nothing reaches the worker unless the worker asks, and what it asks for is a
// bounded string (see browser_worker/page_logs.py). There is deliberately no function a page
// could call to push data into the worker.
(() => {
  if (Object.prototype.hasOwnProperty.call(window, "__bwTakeConsole")) return;
  const LIMIT = 500;
  const TEXT = 16 * 1024;
  // Playwright's console message types, which Hypha's built-in worker writes as "[type] text".
  const LABELS = { log: "log", info: "info", warn: "warning", error: "error", debug: "debug", trace: "trace" };
  const stringify = JSON.stringify;
  const ring = new Array(LIMIT);
  let start = 0, count = 0, dropped = 0;
  const text = (value) => {
    let out;
    if (typeof value === "string") out = value;
    else if (value instanceof Error) out = value.stack || String(value);
    else { try { out = stringify(value) ?? String(value); } catch (_) { out = String(value); } }
    return out.length > TEXT ? out.slice(0, TEXT) + `… [truncated ${out.length - TEXT} characters in the page]` : out;
  };
  const push = (entry) => {
    if (count < LIMIT) { ring[(start + count) % LIMIT] = entry; count++; }
    else { ring[start] = entry; start = (start + 1) % LIMIT; dropped++; }
  };
  // Oldest lines first, as many as fit in maxChars of JSON; the worker pulls again if "more".
  const take = (maxChars) => {
    const parts = [];
    let size = 64;
    while (count) {
      let json = stringify(ring[start]);
      if (json.length + 1 > maxChars - 64) json = stringify([ring[start][0], "[line too long to pull]"]);
      if (parts.length && size + json.length + 1 > maxChars) break;
      parts.push(json); size += json.length + 1;
      ring[start] = undefined; start = (start + 1) % LIMIT; count--;
    }
    const out = `{"lines":[${parts.join(",")}],"dropped":${dropped},"more":${count > 0}}`;
    dropped = 0;
    return out;
  };
  const hide = (name, value) => Object.defineProperty(window, name, { value, writable: false, configurable: false, enumerable: false });
  hide("__bwTakeConsole", take);
  hide("__bwFlushConsole", () => undefined);  // kept for callers written for the old push design
  for (const method of Object.keys(LABELS)) {
    const label = LABELS[method];
    console[method] = (...args) => { push([label, args.map(text).join(" ")]); };
  }
})();
