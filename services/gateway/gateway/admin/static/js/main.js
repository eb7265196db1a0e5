// Contracts AI admin page, the entry point: wires the session, the tabs and each tab's module.
// Plain ES modules, no build step, nothing from a CDN; the only third-party code is uPlot, vendored.

import { $, toast } from "./dom.js";
import { onOpenTab } from "./navigation.js";
import { chooseTenant, isPlatform, onSession, resumeSession, signOut, startWithToken, TENANT_RE } from "./session.js";
import { state } from "./store.js";
import * as contracts from "./tabs/contracts.js";
import * as deadLetters from "./tabs/dead-letters.js";
import * as health from "./tabs/health.js";
import * as ironclad from "./tabs/ironclad.js";
import * as mapping from "./tabs/mapping.js";

// Each tab's module by its tab id, in the tablist's order. `load` fetches what the tab shows into the store.
const TABS = {
  "tab-ironclad": ironclad,
  "tab-health": health,
  "tab-mapping": mapping,
  "tab-contracts": contracts,
  "tab-dead-letters": deadLetters,
};
const tabName = (id) => id.replace("tab-", "");

// ---------------------------------------------------------------- tabs (the WAI-ARIA tabs pattern)

const visibleTabs = () => [...document.querySelectorAll('[role="tab"]')].filter((tab) => !tab.hidden);

function selectTab(id, focus = true) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === id;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  history.replaceState(null, "", `${location.pathname}${location.search}#${tabName(id)}`);
  TABS[id].load();
}

function onTabKey(event) {
  const tabs = visibleTabs();
  const index = tabs.indexOf(event.currentTarget);
  let next = null;
  if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
  else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
  else if (event.key === "Home") next = tabs[0];
  else if (event.key === "End") next = tabs[tabs.length - 1];
  if (next) {
    event.preventDefault();
    selectTab(next.id);
  }
}

/** Forget what was loaded for the previous workspace (or session). */
function resetWorkspace() {
  for (const tab of Object.values(TABS)) tab.reset();
}

// ---------------------------------------------------------------- session

async function signedIn() {
  // The operator view lists every workspace's dead letters: the platform key's only.
  $("#tab-dead-letters").hidden = !isPlatform();
  resetWorkspace();
  await ironclad.load();
  const wanted = `tab-${location.hash.replace("#", "")}`;
  const tab = document.getElementById(wanted);
  if (wanted in TABS && tab && !tab.hidden) selectTab(wanted, false);
}

async function onTenantSubmit(event) {
  event.preventDefault();
  const input = $("#tenant-input");
  const value = input.value.trim();
  if (!TENANT_RE.test(value)) {
    input.setAttribute("aria-invalid", "true");
    $("#tenant-error").textContent = "Use lower-case letters, digits and dashes (up to 63), starting with a letter or digit.";
    input.focus();
    return;
  }
  input.setAttribute("aria-invalid", "false");
  $("#tenant-error").textContent = "";
  chooseTenant(value);
  if (!state.token) return;
  resetWorkspace();
  await ironclad.load();
  const current = document.querySelector('[role="tab"][aria-selected="true"]');
  if (current && current.id !== "tab-ironclad") await TABS[current.id].load();
  toast(`Workspace “${value}” opened.`);
}

// ---------------------------------------------------------------- wiring

function init() {
  onSession({ signedIn, signedOut: () => resetWorkspace() });
  onOpenTab((id) => selectTab(id));
  $("#tenant-form").addEventListener("submit", onTenantSubmit);
  $("#forget-token").addEventListener("click", signOut);
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token-input").value.trim();
    if (!value) {
      $("#token-input").setAttribute("aria-invalid", "true");
      $("#token-error").textContent = "Enter the admin token.";
      return;
    }
    $("#token-error").textContent = "";
    startWithToken(value);
  });
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab.id));
    tab.addEventListener("keydown", onTabKey);
  }
  for (const tab of Object.values(TABS)) tab.init();
  resumeSession();
}

init();
