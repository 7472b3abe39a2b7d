// Installed in every frame before any page script: app pages may not open windows. A headless
// session has no use for popups, and each one is a whole page of Chromium memory. The worker
// also closes any page that appears in a session's context anyway (links with target=_blank,
// windows opened from frames this script could not reach first); see browser_worker/pool.py.
(() => {
  let told = 0;
  const open = function open(url) {
    if (told < 10) {
      told++;
      console.warn("popup blocked: " + String(url === undefined ? "about:blank" : url).slice(0, 200));
    }
    return null;
  };
  try {
    Object.defineProperty(window, "open", { value: open, writable: false, configurable: false });
  } catch (_) {
    window.open = open;
  }
})();
