// The values of this document's secret fields (see secret-field.js), so the worker can mask
// them wherever a snapshot shows them; at most 200, each cut at 4096 characters.
() => Array.from(document.querySelectorAll("input"))
  .filter((el) => el.type === "password" ||
    /(^|\s)(one-time-code|current-password|new-password|cc-number|cc-csc)(\s|$)/.test(el.autocomplete || ""))
  .map((el) => String(el.value || "").slice(0, 4096))
  .filter((v) => v.length > 0)
  .slice(0, 200)
