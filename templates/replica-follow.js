// Several Hypha replicas behind one load balancer: the replica whose app controller asked for this
// page waits for the app's services on its own process only, but the page may have reached
// another replica through the balancer. The worker passes the asking replica's manager (taken
// from the server-stamped caller of the start, never from the start config) as
// config.asking_manager; when the page's connection reports another manager, each service the
// page registers is registered once more, the same service info under the page's own client id,
// through the asking replica's manager (reachable from any replica over Redis), so that its
// controller hears it. Nothing is registered on anyone else's behalf. It leans on hypha-rpc's
// RPC object (register_service, get_remote_service, the connection's manager_id): with one that
// looks different, a page on another replica fails its start saying so.
// settle() waits for the registrations made so far and fails, naming the reason, if the page
// could not reach the asking replica; later failures are logged only.
const BW_FOLLOW_SECONDS = 10;
const bwFollowAskingReplica = (api, askingManager) => {
  const idle = { settle: async () => {} };
  if (!askingManager) return idle;
  const rpc = api && api.rpc;
  if (!rpc || typeof rpc.register_service !== "function" || typeof rpc.get_remote_service !== "function") {
    return {
      settle: async () => {
        const here = api && api.config && api.config.manager_id;
        if (here && here !== askingManager) {
          throw new Error(`the app's page is connected to Hypha replica ${here}, not to ${askingManager} whose app ` +
            "controller started it, and this hypha-rpc cannot register its services there too " +
            "(no register_service/get_remote_service on its RPC object)");
        }
      },
    };
  }
  const reached = () => (rpc._connection && rpc._connection.manager_id) || (api.config && api.config.manager_id) || null;
  const pending = new Set();
  let failure = null;
  let settled = false;
  let asking = null;  // the asking replica's manager service, fetched once
  const within = (promise, what) => {
    let timer;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${BW_FOLLOW_SECONDS} s`)), BW_FOLLOW_SECONDS * 1000);
    });
    return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
  };
  const follow = async (info) => {
    const here = reached();
    if (here === askingManager) return;
    try {
      asking = asking || within(rpc.get_remote_service(`*/${askingManager}:default`,
        { timeout: BW_FOLLOW_SECONDS, case_conversion: "camel" }), `reaching ${askingManager}`);
      const manager = await asking;
      await within(manager.registerService(info), `registering through ${askingManager}`);
      console.info(`[browser-worker] service ${String(info.id).split(":").pop()} registered also through ` +
        `${askingManager} (the page reached ${here})`);
    } catch (err) {
      asking = null;
      const reason = `the app's page is connected to Hypha replica ${here}, not to ${askingManager} whose app ` +
        `controller started it (the load balancer chose), and could not register its services through ` +
        `${askingManager}: ${(err && err.message) || err}`;
      if (settled) console.error("[browser-worker] " + reason);
      else failure = failure || new Error(reason);
    }
  };
  const own = rpc.register_service.bind(rpc);
  // Tracked from the call on: an app may export without awaiting, and settle() must still wait.
  const wrapped = (service, config) => {
    const step = (async () => {
      const info = await own(service, config);
      if (!(config && config.notify === false)) await follow(info);
      return info;
    })();
    pending.add(step);
    const done = () => pending.delete(step);
    step.then(done, done);
    return step;
  };
  rpc.register_service = wrapped;  // what api.export calls
  if (typeof api.registerService === "function") {  // bound to the original when the client connected
    const schema = api.registerService.__schema__;
    api.registerService = (...args) => wrapped(...args);
    if (schema) api.registerService.__schema__ = schema;
  }
  return {
    settle: async () => {
      while (pending.size) await Promise.allSettled([...pending]);
      settled = true;
      if (failure) throw failure;
    },
  };
};
