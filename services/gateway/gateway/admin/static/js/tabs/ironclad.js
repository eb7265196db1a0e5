// The Ironclad tab: connection status, the setup steps, connect, scopes, Automatic Sync, import with its
// progress, notifications (their own module), the runs, the activity (audit trail) and disconnect.

import { api, tenantPath } from "../api.js";
import { $, badge, clear, copyText, errorNotice, fmtTime, h, notice, toast } from "../dom.js";
import { set, state, subscribe } from "../store.js";
import * as notificationsCard from "./notifications.js";

const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const TERMINAL = new Set(["succeeded", "partially_succeeded", "failed"]);
const POLL_MS = 400;

export async function load() {
  await Promise.all([loadConnection(), loadRuns(), loadAudit(true), notificationsCard.load()]);
}

export function reset() {
  stopTracking();
  notificationsCard.reset();
  set({
    connection: null,
    runs: { items: [], error: null },
    audit: { items: [], cursor: null, error: null },
    loaded: { mapping: false, contracts: false, audit: false },
  });
  $("#connect-result").textContent = "";
  $("#import-progress").hidden = true;
}

export function init() {
  notificationsCard.init();
  subscribe(["connection", "scopes"], renderConnection);
  subscribe(["runs"], renderRuns);
  subscribe(["audit"], renderAudit);
  $("#refresh-status").addEventListener("click", loadConnection);
  $("#refresh-runs").addEventListener("click", loadRuns);
  $("#copy-all-scopes").addEventListener("click", () => copyText(state.scopes.map((s) => s.scope).join(" "), `Copied all ${state.scopes.length} scopes.`));
  $("#connect-form").addEventListener("submit", onConnect);
  for (const name of Object.keys(CONNECT_FIELDS)) {
    const input = $(CONNECT_FIELDS[name].input);
    // Checked on submit, then live while a flagged field is corrected (no check on blur: the message
    // appearing would move the button under the pointer that is about to click it).
    input.addEventListener("input", () => { if (input.getAttribute("aria-invalid") === "true") checkConnectField(name); });
  }
  $("#sync-button").addEventListener("click", onSyncClick);
  $("#import-form").addEventListener("submit", onImport);
  $("#disconnect-button").addEventListener("click", onDisconnectClick);
  $("#disconnect-dialog").addEventListener("close", onDisconnectClose);
  $("#refresh-audit").addEventListener("click", () => loadAudit(true));
  $("#audit-more").addEventListener("click", () => loadAudit(false));
}

// --- audit trail

const AUDIT_LABELS = {
  "connection.connected": "Connected to Ironclad",
  "connection.reconnected": "Reconnected to Ironclad",
  "connection.disconnected": "Disconnected Ironclad",
  "automatic_sync.enabled": "Enabled Automatic Sync",
  "automatic_sync.disabled": "Disabled Automatic Sync",
  "mapping.changed": "Changed the field mapping",
  "mapping.custom_fields_changed": "Changed the custom fields",
  "import.started": "Started an import",
  "reconcile.started": "Started a reconciliation",
  "writeback.create_record": "Wrote back: created a record",
  "writeback.update_record": "Wrote back: updated a record",
  "writeback.upload_document": "Wrote back: uploaded a document",
  "notifications.changed": "Changed the notification settings",
};

export async function loadAudit(fromStart) {
  const params = new URLSearchParams({ limit: "20" });
  if (!fromStart && state.audit.cursor) params.set("cursor", state.audit.cursor);
  let page;
  try {
    page = await api("GET", `${tenantPath()}/audit?${params}`);
  } catch (err) {
    if (err.status === 401) return;
    set({ audit: { ...state.audit, error: err } });
    return;
  }
  const items = fromStart ? page.items : state.audit.items.concat(page.items);
  set({ audit: { items, cursor: page.next_cursor, error: null } });
}

function auditDetails(details) {
  return Object.entries(details || {})
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${Array.isArray(v) ? v.join(", ") || "none" : typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" · ");
}

function renderAudit({ audit }) {
  const body = clear($("#audit-table tbody"));
  if (audit.error) {
    body.append(h("tr", {}, h("td", { colspan: 4 }, errorNotice(audit.error, "Could not load the activity."))));
    return;
  }
  if (!audit.items.length) body.append(h("tr", {}, h("td", { colspan: 4, class: "hint" }, "Nothing recorded yet.")));
  for (const item of audit.items) {
    const who = item.actor.kind === "platform"
      ? "Contracts AI (platform)"
      : `${item.actor.sub || "?"} (${item.actor.role || "?"})`;
    body.append(h("tr", { "data-action": item.action },
      h("td", {}, fmtTime(item.at)),
      h("td", {}, who),
      h("td", {}, AUDIT_LABELS[item.action] || item.action),
      h("td", { class: "details" }, auditDetails(item.details))));
  }
  $("#audit-more").hidden = !audit.cursor;
}

async function loadConnection() {
  let connection;
  try {
    connection = await api("GET", `${tenantPath()}/ironclad/connection`);
  } catch (err) {
    clear($("#status-box")).append(errorNotice(err, "Could not load the connection."));
    return;
  }
  set({ connection });
  // The change that led here (connect, sync, import, disconnect) is in the trail now.
  if (state.loaded.audit) loadAudit(true);
  state.loaded.audit = true;
}

function statusBadge(status) {
  if (status === "connected") return badge("ok", "Connected");
  if (status === "needs_reauth") return badge("warn", "Needs reauthorization");
  return badge("muted", "Disconnected");
}

function scopeList(scopes, empty) {
  if (!scopes || scopes.length === 0) return h("span", {}, empty);
  return h("ul", { class: "scope-list" }, scopes.map((s) => h("li", {}, h("code", {}, s))));
}

// From state.connection and state.scopes: the status, the scopes table, Automatic Sync and import.
function renderConnection() {
  const c = state.connection || { status: "disconnected" };
  const box = clear($("#status-box"));
  box.append(h("p", { id: "connection-status", "data-status": c.status }, "Status: ", statusBadge(c.status)));
  if (c.status === "disconnected") {
    box.append(h("p", {}, "This workspace is not connected to Ironclad. Follow the steps below, then connect."));
    if (c.disconnected_at) box.append(h("p", { class: "hint" }, `Disconnected ${fmtTime(c.disconnected_at)}. Imported contracts remain available.`));
    if (c.pending_cleanup) {
      box.append(notice("warn", h("p", {}, "Some webhooks could not be removed from Ironclad and will be retried: ", JSON.stringify(c.pending_cleanup))));
    }
  } else {
    if (c.status === "needs_reauth") {
      box.append(notice("warn",
        h("p", {}, "Ironclad no longer accepts the stored credentials", c.status_reason ? `: ${c.status_reason}` : ".", ""),
        h("p", {}, "Enter a valid Client Secret (create a new one in Ironclad if needed) and connect again.")));
    }
    box.append(h("dl", { class: "facts" },
      h("dt", {}, "Region"), h("dd", { id: "status-region" }, c.region || "—"),
      h("dt", {}, "User email"), h("dd", { id: "status-email" }, c.user_email || "—"),
      h("dt", {}, "Client ID"), h("dd", {}, h("code", {}, c.client_id || "—")),
      h("dt", {}, "Connected"), h("dd", {}, fmtTime(c.connected_at)),
      h("dt", {}, "Last successful call"), h("dd", {}, fmtTime(c.last_success_at)),
      h("dt", {}, "Granted scopes"), h("dd", { id: "status-granted" }, scopeList(c.granted_scopes, "None")),
      h("dt", {}, "Missing scopes"), h("dd", { id: "status-missing" }, scopeList(c.missing_scopes, "None — every scope is granted")),
    ));
    // Prefill what is not secret, so a reconnect only needs the secret.
    if (!$("#client-id").value && c.client_id) $("#client-id").value = c.client_id;
    if (!$("#user-email").value && c.user_email) $("#user-email").value = c.user_email;
    if (c.region) $("#region").value = c.region;
  }
  $("#connect-heading").textContent = c.status === "disconnected" ? "Connect to Ironclad" : "Reconnect or change credentials";
  $("#disconnect-button").disabled = c.status === "disconnected";
  renderScopes();
  renderSync();
  renderImportAvailability();
}

function renderScopes() {
  const c = state.connection || {};
  const granted = new Set(c.status && c.status !== "disconnected" ? c.granted_scopes || [] : []);
  const connected = c.status && c.status !== "disconnected";
  const body = clear($("#scopes-table tbody"));
  for (const s of state.scopes) {
    body.append(h("tr", {},
      h("td", {}, h("code", {}, s.scope)),
      h("td", {}, s.purpose),
      h("td", {}, s.required ? "Import (required)" : "Automatic Sync (optional)"),
      h("td", {}, connected ? (granted.has(s.scope) ? badge("ok", "Granted") : badge(s.required ? "err" : "warn", "Missing")) : "—"),
      h("td", {}, h("button", {
        type: "button", class: "btn btn-small", "aria-label": `Copy ${s.scope}`,
        onclick: () => copyText(s.scope, `Copied ${s.scope}`),
      }, "Copy")),
    ));
  }
}


// --- connect form

const CONNECT_FIELDS = {
  client_id: { input: "#client-id", error: "#client-id-error" },
  client_secret: { input: "#client-secret", error: "#client-secret-error" },
  user_email: { input: "#user-email", error: "#user-email-error" },
  region: { input: "#region", error: "#region-error" },
};

function setFieldError(name, message) {
  const f = CONNECT_FIELDS[name];
  if (!f) return;
  $(f.input).setAttribute("aria-invalid", message ? "true" : "false");
  $(f.error).textContent = message || "";
}

function checkConnectField(name) {
  const value = $(CONNECT_FIELDS[name].input).value.trim();
  let message = "";
  if (name === "client_id" && !value) message = "Enter the Client ID of your Ironclad app.";
  if (name === "client_secret" && !value) message = "Enter the Client Secret (shown once when the app was created).";
  if (name === "user_email") {
    if (!value) message = "Enter the email of an Ironclad user.";
    else if (!EMAIL_RE.test(value)) message = "This is not an email address, e.g. name@company.com.";
  }
  if (name === "region" && !["na1", "eu1", "demo"].includes(value)) message = "Choose a region.";
  setFieldError(name, message);
  return !message;
}

async function onConnect(event) {
  event.preventDefault();
  const result = clear($("#connect-result"));
  const names = Object.keys(CONNECT_FIELDS);
  const valid = names.map(checkConnectField);
  if (!valid.every(Boolean)) {
    $(CONNECT_FIELDS[names[valid.indexOf(false)]].input).focus();
    return;
  }
  const body = Object.fromEntries(names.map((n) => [n, $(CONNECT_FIELDS[n].input).value.trim()]));
  const button = $("#connect-button");
  button.disabled = true;
  button.textContent = "Connecting…";
  try {
    const answer = await api("PUT", `${tenantPath()}/ironclad/connection`, body);
    $("#client-secret").value = "";
    result.append(notice("ok", h("p", { id: "connect-success" }, answer.message || "Ironclad connected successfully!")));
    if (answer.missing_scopes && answer.missing_scopes.length) {
      result.append(notice("warn", h("p", {}, "Connected without these optional scopes, so Automatic Sync is not available yet: ",
        answer.missing_scopes.join(", "), ". Add them to the app in Ironclad and connect again to use it.")));
    }
    state.loaded.mapping = false; // the Ironclad schema (and a suggested mapping) may be new
    await load();
  } catch (err) {
    if (err.status === 401) return;
    result.append(errorNotice(err));
    if (err.code === "VALIDATION_FAILED") {
      for (const f of err.details.fields || []) setFieldError(String(f.field).split(".")[0], f.message);
    } else if (err.code === "IRONCLAD_INVALID_CLIENT") {
      setFieldError("client_id", "Check the Client ID.");
      setFieldError("client_secret", "Check the Client Secret.");
      $("#client-secret").focus();
    } else if (err.code === "IRONCLAD_USER_NOT_FOUND") {
      setFieldError("user_email", "Ironclad does not know this user, or the user cannot use the API.");
      $("#user-email").focus();
    } else if (err.code === "IRONCLAD_UNREACHABLE") {
      setFieldError("region", "Check the region.");
    }
  } finally {
    button.disabled = false;
    button.textContent = "Connect";
  }
}

// --- automatic sync

function renderSync() {
  const c = state.connection || { status: "disconnected" };
  const box = clear($("#sync-box"));
  const button = $("#sync-button");
  const reason = $("#sync-reason");
  const sync = c.automatic_sync || { enabled: false };
  button.dataset.action = sync.enabled ? "disable" : "enable";
  button.textContent = sync.enabled ? "Disable Automatic Sync" : "Enable Automatic Sync";
  button.className = sync.enabled ? "btn" : "btn btn-primary";
  reason.textContent = "";
  if (c.status !== "connected") {
    button.disabled = true;
    reason.textContent = c.status === "needs_reauth"
      ? "Unavailable: reconnect to Ironclad first."
      : "Unavailable: connect to Ironclad first.";
    box.append(h("p", { id: "sync-state" }, "Automatic Sync: ", badge("muted", "Off")));
    return;
  }
  if (!c.automatic_sync_available && !sync.enabled) {
    button.disabled = true;
    const lacking = (c.missing_scopes || []).filter((s) => /webhooks|workflows/.test(s));
    reason.textContent = `Unavailable until Ironclad grants the webhook scopes${lacking.length ? `: ${lacking.join(", ")}` : ""}. `
      + "Add them to the app in Company Settings → API, then connect again.";
    box.append(h("p", { id: "sync-state" }, "Automatic Sync: ", badge("muted", "Off")));
    return;
  }
  button.disabled = false;
  box.append(h("p", { id: "sync-state", "data-enabled": String(Boolean(sync.enabled)) },
    "Automatic Sync: ", sync.enabled ? badge("ok", "On") : badge("muted", "Off")));
  if (sync.enabled) {
    const facts = h("dl", { class: "facts" });
    if (sync.webhook_ids) facts.append(h("dt", {}, "Webhooks"), h("dd", {}, String(sync.webhook_ids.length)));
    if (sync.events) facts.append(h("dt", {}, "Events"), h("dd", {}, sync.events.join(", ")));
    if (sync.enabled_at) facts.append(h("dt", {}, "Enabled"), h("dd", {}, fmtTime(sync.enabled_at)));
    if (sync.checked_at) facts.append(h("dt", {}, "Last checked"), h("dd", {}, fmtTime(sync.checked_at)));
    box.append(facts);
  }
  const problem = sync.problem || sync.error || sync.status_reason;
  if (problem) box.append(notice("warn", h("p", {}, typeof problem === "string" ? problem : JSON.stringify(problem))));
}

async function onSyncClick() {
  const button = $("#sync-button");
  const enable = button.dataset.action !== "disable";
  button.disabled = true;
  const box = $("#sync-box");
  try {
    await api(enable ? "POST" : "DELETE", `${tenantPath()}/ironclad/automatic-sync`);
    toast(enable ? "Automatic Sync enabled: Ironclad will notify Contracts AI of changes." : "Automatic Sync disabled.");
    await loadConnection();
  } catch (err) {
    if (err.status === 401) return;
    renderSync();
    box.append(errorNotice(err, enable ? "Could not enable Automatic Sync." : "Could not disable Automatic Sync."));
  }
}

// --- import, progress and runs

function renderImportAvailability() {
  const c = state.connection || { status: "disconnected" };
  const ok = c.status === "connected";
  $("#import-button").disabled = !ok || Boolean(state.tracking);
  $("#import-reason").textContent = ok
    ? (state.tracking ? "An import is running; its progress is shown below." : "")
    : (c.status === "needs_reauth" ? "Reconnect to Ironclad to import." : "Connect to Ironclad to import.");
}

async function onImport(event) {
  event.preventDefault();
  const input = $("#max-contracts");
  const raw = input.value.trim();
  const body = {};
  if (raw) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      input.setAttribute("aria-invalid", "true");
      $("#max-contracts-error").textContent = "Enter a whole number of at least 1, or leave it empty for all.";
      input.focus();
      return;
    }
    body.max_contracts = n;
  }
  input.setAttribute("aria-invalid", "false");
  $("#max-contracts-error").textContent = "";
  $("#import-button").disabled = true;
  try {
    const answer = await api("POST", `${tenantPath()}/ironclad/imports`, body);
    toast("Import started.");
    trackRun(answer.run_id);
    loadAudit(true);
    loadRuns();
  } catch (err) {
    if (err.status === 401) return;
    const box = $("#import-progress");
    box.hidden = false;
    clear($("#import-progress-text")).append(errorNotice(err, "The import did not start."));
    renderImportAvailability();
  }
}

let pollTimer = null;
export function stopTracking() {
  clearTimeout(pollTimer);
  pollTimer = null;
  state.tracking = null;
}

function trackRun(runId) {
  stopTracking();
  state.tracking = runId;
  const box = $("#import-progress");
  box.hidden = false;
  box.dataset.state = "running";
  const bar = $("#import-bar");
  bar.removeAttribute("value");
  $("#import-progress-text").textContent = "Queued…";
  renderImportAvailability();
  let ticks = 0;
  const tick = async () => {
    if (state.tracking !== runId) return;
    let run;
    try {
      run = await api("GET", `${tenantPath()}/ironclad/runs/${encodeURIComponent(runId)}`);
    } catch (err) {
      if (err.status === 401 || state.tracking !== runId) return;
      $("#import-progress-text").textContent = `Could not read progress: ${err.message} Retrying…`;
      pollTimer = setTimeout(tick, 2000);
      return;
    }
    if (state.tracking !== runId) return;
    showProgress(run);
    ticks += 1;
    if (TERMINAL.has(run.status)) {
      state.tracking = null;
      renderImportAvailability();
      await loadRuns();
      state.loaded.contracts = false;
      return;
    }
    if (ticks % 5 === 0) loadRuns();
    pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

const RUN_WORDS = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  partially_succeeded: "Partly succeeded",
  failed: "Failed",
};

function showProgress(run) {
  const bar = $("#import-bar");
  const text = $("#import-progress-text");
  const box = $("#import-progress");
  const fetched = run.progress ? run.progress.fetched : run.fetched;
  const total = run.progress ? run.progress.total : run.total;
  if (TERMINAL.has(run.status)) {
    bar.max = Math.max(total || fetched || 1, 1);
    bar.value = bar.max;
    box.dataset.state = "done";
    const counts = `${run.fetched} fetched, ${run.created} created, ${run.updated} updated, ${run.unchanged} unchanged, `
      + `${run.skipped_stale} stale, ${run.failed} failed, ${run.documents_downloaded} documents downloaded.`;
    text.textContent = `Done — ${RUN_WORDS[run.status] || run.status}: ${counts}${run.error ? ` ${run.error}` : ""}`;
    return;
  }
  if (total === null || total === undefined) {
    bar.removeAttribute("value");
    text.textContent = `${RUN_WORDS[run.status] || run.status}: ${fetched} contracts so far…`;
  } else {
    bar.max = Math.max(total, 1);
    bar.value = Math.min(fetched, bar.max);
    text.textContent = `${RUN_WORDS[run.status] || run.status}: ${fetched} of ${total} contracts`
      + (total ? ` (${Math.round((100 * fetched) / Math.max(total, 1))} %)` : "");
  }
}

function runStatusBadge(status) {
  const kind = { succeeded: "ok", partially_succeeded: "warn", failed: "err", running: "info", queued: "muted" }[status] || "muted";
  return badge(kind, RUN_WORDS[status] || status);
}

export function describeError(e) {
  if (typeof e === "string") return e;
  const who = e.record_id || e.ironclad_id || e.id;
  const what = e.message || e.error || e.reason || JSON.stringify(e);
  return [who ? `Record ${who}` : null, e.code ? `(${e.code})` : null, what].filter(Boolean).join(" ");
}

async function loadRuns() {
  let answer;
  try {
    answer = await api("GET", `${tenantPath()}/ironclad/runs?limit=20`);
  } catch (err) {
    if (err.status === 401) return;
    set({ runs: { items: [], error: err } });
    return;
  }
  const items = answer.items || [];
  set({ runs: { items, error: null } });
  // Opening the page while an import runs picks its progress up.
  const active = items.find((r) => r.kind === "import" && !TERMINAL.has(r.status));
  if (active && !state.tracking) trackRun(active.run_id);
}

function renderRuns({ runs }) {
  const body = clear($("#runs-table tbody"));
  if (runs.error) {
    body.append(h("tr", {}, h("td", { colspan: 12 }, errorNotice(runs.error, "Could not load the runs."))));
    return;
  }
  const items = runs.items;
  if (!items.length) {
    body.append(h("tr", {}, h("td", { colspan: 12, class: "hint" }, "No runs yet. Import contracts to start one.")));
  }
  for (const run of items) {
    const errors = run.errors || [];
    const errorCell = h("td", {});
    if (run.error) errorCell.append(h("p", { class: "field-error" }, run.error));
    if (errors.length) {
      errorCell.append(h("details", {},
        h("summary", {}, `${errors.length}${errors.length >= 20 ? "+" : ""} error${errors.length === 1 ? "" : "s"}`),
        h("ul", { class: "error-list" }, errors.map((e) => h("li", {}, describeError(e))))));
    }
    if (!run.error && !errors.length) errorCell.append("—");
    const n = (k) => h("td", { class: "num" }, String(run[k] ?? 0));
    body.append(h("tr", { "data-run-id": run.run_id, "data-status": run.status },
      h("td", {}, fmtTime(run.started_at || run.created_at)),
      h("td", {}, run.kind),
      h("td", {}, runStatusBadge(run.status)),
      n("fetched"), n("created"), n("updated"), n("unchanged"), n("skipped_stale"), n("failed"), n("deleted"),
      n("documents_downloaded"),
      errorCell));
  }
}

// --- disconnect

function onDisconnectClick() {
  const dialog = $("#disconnect-dialog");
  dialog.returnValue = "";
  dialog.showModal();
}

async function onDisconnectClose() {
  if ($("#disconnect-dialog").returnValue !== "confirm") {
    $("#disconnect-button").focus();
    return;
  }
  try {
    const answer = await api("DELETE", `${tenantPath()}/ironclad/connection`);
    stopTracking();
    const left = answer.webhooks_left_in_ironclad || [];
    toast(answer.message || "Ironclad disconnected. Imported contracts stay available.");
    clear($("#connect-result")).append(notice("info",
      h("p", { id: "disconnect-message" }, answer.message || "Ironclad disconnected. Imported contracts and their documents stay available."),
      left.length ? h("p", {}, `${left.length} webhook(s) could not be removed from Ironclad; remove them in Company Settings → API if they remain.`) : null));
    await load();
  } catch (err) {
    if (err.status === 401) return;
    clear($("#connect-result")).append(errorNotice(err, "Could not disconnect."));
  }
  $("#disconnect-button").focus();
}

