// Inside a Web Worker: send console output and progress to the page, whose console the
// browser worker reads (Chromium does not report a worker's console to the page's listeners).
// Lines are cut to 16 KiB here already: the page keeps no more of a line than that.
const __bwText = (value) => {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.stack || String(value);
  try { return JSON.stringify(value) ?? String(value); } catch (_) { return String(value); }
};
const __bwLine = (args) => {
  const text = args.map(__bwText).join(" ");
  return text.length > 16384 ? text.slice(0, 16384) + `… [truncated ${text.length - 16384} characters in the worker]` : text;
};
for (const level of ["log", "info", "warn", "error", "debug", "trace"]) {
  console[level] = (...args) => postMessage({ type: "log", level, text: __bwLine(args) });
}
const progress = (message) => postMessage({ type: "progress", message });
const describe = (err) => {
  const stack = err && err.stack ? String(err.stack) : String(err);
  const message = err && err.message ? String(err.message) : String(err);
  return { message, stack };
};
