// A web-python app: Pyodide and the wheels come from the worker's local asset server, so the
// app runs with no internet. Booting (Pyodide, the base wheels, hypha-rpc) can happen long before
// an app arrives: warm pages keep a booted worker waiting for its "run" message. Most pages boot
// from a memory snapshot of an interpreter booted once per worker (pyodide_snapshot.py).
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

// A snapshot bundle: a little-endian u32 header length, the JSON header (padded so the memory
// dump starts 16-byte aligned), Pyodide's memory dump, then the site-packages files.
const SNAPSHOT_MAGIC = 0x42575331; // "BWS1"

function packBundle(memory, files, loaded) {
  const header = new TextEncoder().encode(JSON.stringify({
    memory: memory.byteLength, files: files.map(([path, bytes]) => [path, bytes.byteLength]), loaded,
  }));
  const start = Math.ceil((8 + header.byteLength) / 16) * 16;
  const total = start + memory.byteLength + files.reduce((n, [, bytes]) => n + bytes.byteLength, 0);
  const out = new Uint8Array(total);
  const words = new DataView(out.buffer);
  words.setUint32(0, SNAPSHOT_MAGIC, true);
  words.setUint32(4, header.byteLength, true);
  out.set(header, 8);
  out.set(memory, start);
  let at = start + memory.byteLength;
  for (const [, bytes] of files) { out.set(bytes, at); at += bytes.byteLength; }
  return out;
}

function unpackBundle(buffer) {
  const bytes = new Uint8Array(buffer);
  const words = new DataView(buffer);
  if (bytes.byteLength < 8 || words.getUint32(0, true) !== SNAPSHOT_MAGIC) throw new Error("not a snapshot bundle");
  const length = words.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const start = Math.ceil((8 + length) / 16) * 16;
  let at = start + header.memory;
  const files = header.files.map(([path, size]) => { const file = [path, bytes.subarray(at, at + size)]; at += size; return file; });
  return { memory: bytes.subarray(start, start + header.memory), files, loaded: header.loaded || {} };
}

// Every file under dir, as [path, bytes] (the in-memory file system is not in the dump).
function readTree(FS, dir, out = []) {
  for (const name of FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const path = dir + "/" + name;
    if (FS.isDir(FS.stat(path).mode)) readTree(FS, path, out);
    else out.push([path, FS.readFile(path)]);
  }
  return out;
}

// The bundle the worker's asset server keeps (it waits while the snapshot is being made);
// null when there is none, so the page boots the full way.
async function fetchSnapshot(url) {
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return unpackBundle(await response.arrayBuffer());
  } catch (err) {
    console.warn(`booting Pyodide without a snapshot (${url}: ${err.message || err})`);
    return null;
  }
}

// JS objects Python code keeps from boot (micropip holds these), by name: a dump can only
// refer to them by name, and a restored page binds each name to its own Pyodide's object.
const HANDLE_OBJECTS = ["pyodide", "loadedPackages"];
const HANDLE_FUNCTIONS = ["loadPackage", "install", "loadBinaryFile"];
const handles = (py) => ({
  pyodide: py, loadedPackages: py.loadedPackages, loadPackage: py.loadPackage,
  install: py._api.install, loadBinaryFile: py._api.loadBinaryFile,
});

function nameHandle(obj) {
  const found = Object.entries(handles(pyodide)).find(([, value]) => value === obj);
  if (!found) throw new Error(`Python holds a JS object the snapshot cannot name: ${String(obj).slice(0, 80)}`);
  return found[0];
}

// While Pyodide restores a dump it does not exist yet: each name becomes a stand-in that
// forwards to this page's Pyodide (set right after loading, before any Python code runs).
// Arrow-function and plain-object targets have no non-configurable own properties, so every
// trap may answer for the real object.
function handleStandIns(live) {
  const standIn = (name, target) => {
    const forward = {};
    for (const trap of ["get", "set", "has", "ownKeys", "getOwnPropertyDescriptor", "deleteProperty", "apply"]) {
      forward[trap] = (_, ...args) => Reflect[trap](handles(live.pyodide)[name], ...args);
    }
    return new Proxy(target, forward);
  };
  const standIns = {};
  for (const name of HANDLE_OBJECTS) standIns[name] = standIn(name, {});
  for (const name of HANDLE_FUNCTIONS) standIns[name] = standIn(name, () => {});
  return (name) => {
    if (!(name in standIns)) throw new Error(`the snapshot names an unknown JS object: ${name}`);
    return standIns[name];
  };
}

async function uploadSnapshot(upload, sitePackages) {
  // Pyodide refuses to dump while loadedPackages (a JS object Python saw) is not empty; the
  // restored page gets the list back from the bundle.
  const loaded = Object.assign({}, pyodide.loadedPackages);
  for (const name of Object.keys(pyodide.loadedPackages)) delete pyodide.loadedPackages[name];
  const bundle = packBundle(pyodide.makeMemorySnapshot({ serializer: nameHandle }), readTree(pyodide.FS, sitePackages), loaded);
  const response = await fetch(upload.url, {
    method: "PUT", body: bundle, headers: { "X-Browser-Worker-Upload": upload.secret },
  });
  if (!response.ok) throw new Error(`uploading the Pyodide snapshot failed: HTTP ${response.status} ${await response.text()}`);
  return bundle.byteLength;
}

// Boots Pyodide, from the worker's snapshot when there is one, else the full way: the core,
// the base wheels (loadPackage: no resolver), then the boot module, which imports hypha-rpc.
// With `upload` (the worker's private snapshot-maker page) it boots the full way and uploads
// its snapshot instead of waiting for an app.
async function boot({ assets, python, upload }) {
  if (!assets || !assets.url) {
    throw new Error("no local asset server was given to this page (web-python needs Pyodide: run `browser-worker assets fetch`)");
  }
  const base = assets.url.replace(/\/$/, "");
  const packages = assets.packages || {};
  let t = performance.now();
  // Read here, not by Pyodide: it leaves a failed lock fetch as an unhandled rejection, which
  // reaches the caller as a bare "Failed to fetch".
  const lock = packages.lock_url && readLock(packages.lock_url);
  const snapshot = !upload && assets.snapshot ? fetchSnapshot(base + assets.snapshot) : null;
  importScripts(base + "/pyodide/pyodide.js");
  const options = {
    indexURL: base + "/pyodide/",
    lockFileContents: lock ? await lock : undefined,
    packageBaseUrl: packages.url,
    stdout: (line) => console.info(line),
    stderr: (line) => console.error(line),
  };
  const restored = snapshot && await snapshot;
  if (restored) {
    const live = {};
    pyodide = await loadPyodide({ ...options, _loadSnapshot: restored.memory, _snapshotDeserializer: handleStandIns(live) });
    live.pyodide = pyodide;
    for (const [path, bytes] of restored.files) {
      pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
      pyodide.FS.writeFile(path, bytes);
    }
    Object.assign(pyodide.loadedPackages, restored.loaded);
    const reseed = pyodide.globals.get("_bw_restored");
    reseed();
    reseed.destroy();
    progress(`Pyodide ready from a snapshot in ${ms(t)}`);
    return;
  }
  pyodide = await loadPyodide({ ...options, _makeSnapshot: !!upload });
  progress(`Pyodide ready in ${ms(t)}`);
  t = performance.now();
  const urls = assets.wheels.map((w) => base + "/wheels/" + w);
  const failed = [];
  await pyodide.loadPackage(urls, { messageCallback: () => {}, errorCallback: (m) => failed.push(m) });
  const missing = urls.filter((url) => !Object.values(pyodide.loadedPackages).includes(url));
  if (missing.length) {
    throw new Error(`could not install ${missing.map((u) => u.split("/").pop()).join(", ")}: ${failed.join(" ") || "see the logs"}`);
  }
  progress(`${assets.wheels.length} wheels installed in ${ms(t)}`);
  t = performance.now();
  await pyodide.runPythonAsync(python);
  progress(`hypha-rpc imported in ${ms(t)}`);
  if (upload) {
    t = performance.now();
    const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
    const size = await uploadSnapshot(upload, sitePackages);
    progress(`snapshot of ${(size / 1e6).toFixed(1)} MB made in ${ms(t)}`);
  }
}

const booted = new Promise((resolve) => {
  self.onmessage = async (event) => {
    const msg = event.data;
    if (msg.type === "reconnect-now") {
      let state = "not booted";
      try {
        if (pyodide) {
          const ask = pyodide.globals.get("_bw_reconnect_now");
          try { state = String(ask()); } finally { ask.destroy(); }
        }
      } catch (err) {
        state = "error: " + String(err && err.message || err).slice(0, 200);
      }
      postMessage({ type: "reconnect-state", id: msg.id, state });
      return;
    }
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
