// Moving to another tab from inside one (e.g. from a Health reason to the dead letters it counts), without
// the tab modules importing main.js: main.js says how a tab is opened.

let open = () => {};

export function onOpenTab(opener) {
  open = opener;
}

/** Select the tab `id` (e.g. "tab-dead-letters") and move the focus to it. */
export function openTab(id) {
  open(id);
}
