// Inside a Web Worker: send console output and progress to the page, whose console the
// browser worker reads (Chromium does not report a worker's console to the page's listeners).
const __bwText = (value) => {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.stack || String(value);
  try { return JSON.stringify(value); } catch (_) { return String(value); }
};
for (const level of ["log", "info", "warn", "error", "debug"]) {
  console[level] = (...args) => postMessage({ type: "log", level, text: args.map(__bwText).join(" ") });
}
const progress = (message) => postMessage({ type: "progress", message });
const describe = (err) => {
  const stack = err && err.stack ? String(err.stack) : String(err);
  const message = err && err.message ? String(err.message) : String(err);
  return { message, stack };
};
