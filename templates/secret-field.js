// Is this element a field whose value is a secret (a password box, a one-time code, a card
// number)? The worker masks such values in accessibility snapshots; it runs this per element.
(el) => {
  if (!(el instanceof HTMLInputElement)) return false;
  if (el.type === "password") return true;
  return /(^|\s)(one-time-code|current-password|new-password|cc-number|cc-csc)(\s|$)/.test(el.autocomplete || "");
}
