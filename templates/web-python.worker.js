// A web-python app: Pyodide and the wheels come from the worker's local asset server, so the
// app runs with no internet. Booting (Pyodide, micropip, hypha-rpc) can happen long before an
// app arrives: warm pages keep a booted worker waiting for its "run" message.
let pyodide = null;
const ms = (t0) => `${Math.round(performance.now() - t0)} ms`;

async function boot({ assets, python }) {
  if (!assets || !assets.url) {
    throw new Error("no local asset server was given to this page (web-python needs Pyodide: run `browser-worker assets fetch`)");
  }
  const base = assets.url.replace(/\/$/, "");
  let t = performance.now();
  importScripts(base + "/pyodide/pyodide.js");
  pyodide = await loadPyodide({
    indexURL: base + "/pyodide/",
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
        postMessage({ type: "boot-failed", ...describe(err) });
      }
      resolve();
    } else if (msg.type === "run") {
      await booted;
      const t = performance.now();
      try {
        if (!pyodide) throw new Error("Pyodide did not boot; see the errors above");
        await pyodide.globals.get("_bw_run")(pyodide.toPy(msg.config), msg.app.script,
          pyodide.toPy(msg.app.requirements || []), msg.app.name || "app");
        progress(`app code ran in ${ms(t)}`);
        postMessage({ type: "ready" });
      } catch (err) {
        const stack = String((err && err.message) || err);
        const lines = stack.trim().split("\n").filter((l) => l.trim());
        postMessage({ type: "error", message: lines[lines.length - 1] || stack, stack });
      }
    }
  };
});
