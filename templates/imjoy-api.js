// ImJoy's plugin `api` over the connected Hypha server. Many public app sources are ImJoy
// plugins; they call ImJoy's UI (alert, showMessage, ...), which a headless page does not
// have, so each such call becomes a line in the session's logs, as does log() (which also
// still reaches the server). Every other name stays the server's. (The server itself calls
// an exported default service's setup(), as ImJoy does when it loads a plugin.)
const bwImjoyApi = (server) => {
  const text = (args) => args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
  const say = (level, label) => (...args) => {
    console[level](label + " " + text(args));
    return Promise.resolve();
  };
  const ui = {
    alert: say("info", "[alert]"),
    showMessage: say("info", "[message]"),
    showSnackbar: say("info", "[message]"),
    showStatus: say("info", "[status]"),
    showProgress: (p) => say("info", "[progress]")(`${p}%`),
    error: say("error", "[error]"),
    confirm: (...args) => say("info", "[confirm]")(...args).then(() => true),
    prompt: (message, fallback) => say("info", "[prompt]")(message).then(() => fallback ?? null),
  };
  const log = (...args) => {
    console.log(text(args));
    if (typeof server.log === "function") Promise.resolve(server.log(text(args))).catch(() => {});
    return Promise.resolve();
  };
  return new Proxy(server, {
    get(target, name) {
      if (name === "log") return log;
      if (name in target || typeof name !== "string") return Reflect.get(target, name);
      return ui[name];
    },
  });
};
