// A web-python app: Pyodide and the wheels come from the worker's local asset server, so the
// app runs with no internet. Booting (Pyodide, micropip, hypha-rpc) can happen long before an
// app arrives: warm pages keep a booted worker waiting for its "run" message.
// Pyodide-built packages (numpy, pydantic, …) come from the package base chosen by the worker
// (assets.packages: its lock file and file URL), fixed here at boot.
let pyodide = null;
const ms = (t0) => `${Math.round(performance.now() - t0)} ms`;
// The line naming the Python exception ("ModuleNotFoundError: …"), not Pyodide's trailing hints.
const exceptionLine = (text) => {
  const lines = String(text).split("\n").map((l) => l.trim()).filter(Boolean);
  return [...lines].reverse().find((l) => /^[\w.]+(Error|Exception|Exit|Interrupt)\b/.test(l)) || lines.pop() || String(text);
};

async function readLock(url) {
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.text();
  } catch (err) {
    throw new Error(`could not read the Pyodide package lock ${url}: ${err.message || err}`);
  }
}

async function boot({ assets, python }) {
  if (!assets || !assets.url) {
    throw new Error("no local asset server was given to this page (web-python needs Pyodide: run `browser-worker assets fetch`)");
  }
  const base = assets.url.replace(/\/$/, "");
  const packages = assets.packages || {};
  let t = performance.now();
  // Read here, not by Pyodide: it leaves a failed lock fetch as an unhandled rejection, which
  // reaches the caller as a bare "Failed to fetch".
  const lock = packages.lock_url && readLock(packages.lock_url);
  importScripts(base + "/pyodide/pyodide.js");
  pyodide = await loadPyodide({
    indexURL: base + "/pyodide/",
    lockFileContents: lock ? await lock : undefined,
    packageBaseUrl: packages.url,
    stdout: (line) => console.info(line),
    stderr: (line) => console.error(line),
  });
  progress(`Pyodide ready in ${ms(t)}`);
  t = performance.now();
  const [micropip, ...rest] = assets.wheels;
  await pyodide.loadPackage(base + "/wheels/" + micropip, { messageCallback: () => {} });
  pyodide.globals.set("_bw_wheel_urls", pyodide.toPy(rest.map((w) => base + "/wheels/" + w)));
  await pyodide.runPythonAsync("import micropip\nawait micropip.install(_bw_wheel_urls, deps=False)");
  progress(`${assets.wheels.length} wheels installed in ${ms(t)}`);
  t = performance.now();
  await pyodide.runPythonAsync(python);
  progress(`hypha-rpc imported in ${ms(t)}`);
}

const booted = new Promise((resolve) => {
  self.onmessage = async (event) => {
    const msg = event.data;
    if (msg.type === "boot") {
      try {
        await boot(msg);
        postMessage({ type: "booted" });
      } catch (err) {
        const { message, stack } = describe(err);
        postMessage({ type: "boot-failed", message: exceptionLine(message), stack });
      }
      resolve();
    } else if (msg.type === "run") {
      await booted;
      const t = performance.now();
      try {
        if (!pyodide) throw new Error("Pyodide did not boot; see the errors above");
        // _bw_run returns null, or the one-line reason the app failed (its traceback is logged).
        const failure = await pyodide.globals.get("_bw_run")(pyodide.toPy(msg.config), pyodide.toPy(msg.app));
        if (failure) {
          postMessage({ type: "error", message: failure });
          return;
        }
        progress(`app code ran in ${ms(t)}`);
        postMessage({ type: "ready" });
      } catch (err) {
        const { message, stack } = describe(err);
        postMessage({ type: "error", message: exceptionLine(message), stack });
      }
    }
  };
});
