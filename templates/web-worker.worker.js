// A web-worker app: hypha-rpc is imported from the session's Hypha server at run time.
let rpcModule = null;
const loadRpc = async (serverUrl) => {
  if (!rpcModule) rpcModule = await import(serverUrl.replace(/\/$/, "") + "/assets/hypha-rpc-websocket.mjs");
  return rpcModule;
};

let connection = null;  // the app's hypha-rpc connection, once it has one

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "reconnect-now") {
    postMessage({ type: "reconnect-state", id: msg.id, state: connection ? bwReconnectNow(connection) : "not connected" });
    return;
  }
  if (msg.type === "boot") {
    postMessage({ type: "booted" });
    return;
  }
  if (msg.type !== "run") return;
  const { config, app } = msg;
  try {
    if (!config.server_url) throw new Error("no Hypha server URL was given to this app");
    const rpc = await loadRpc(config.server_url);
    const api = await rpc.connectToServer({
      server_url: config.server_url, workspace: config.workspace, client_id: config.client_id,
      token: config.token, name: app.name,
    });
    connection = api.rpc && api.rpc._connection;
    const follow = bwFollowAskingReplica(api, config.asking_manager);
    for (const url of app.requirements || []) {
      if (/\.mjs(\?|#|$)/.test(url)) await import(url);
      else importScripts(url);
    }
    const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
    const run = new AsyncFunction("api", "hyphaWebsocketClient",
      app.script + "\n//# sourceURL=" + encodeURI(app.source_name || "worker.js"));
    await run(bwImjoyApi(api), rpc);
    await follow.settle();
    postMessage({ type: "ready" });
  } catch (err) {
    postMessage({ type: "error", ...describe(err) });
  }
};
