// Contracts AI admin page: plain ES module, no build step, no third-party code.
// All data is put into the page with textContent / DOM nodes, never as HTML.

const TOKEN_KEY = "contracts-ai-admin-token";
const TENANT_TOKEN_KEY = "contracts-ai-tenant-token";
const TENANT_KEY = "contracts-ai-admin-tenant";
const TENANT_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const TERMINAL = new Set(["succeeded", "partially_succeeded", "failed"]);
const POLL_MS = 400;

// A tenant token comes in the fragment (/admin/#token=…), which browsers never send to a server. It is
// taken out of the address bar first thing, so it stays in no history entry, bookmark or shared screen.
const LINK_TOKEN = takeTokenFromAddress();

function takeTokenFromAddress() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (!token) return null;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  return token;
}

const state = {
  token: null,
  // Set when signed in with a tenant token: {sub, role, tenant, exp} as the token says (the gateway checks it).
  session: null,
  tenant: "demo",
  connection: null,
  scopes: [],
  tracking: null, // run id whose progress is shown
  loaded: { mapping: false, contracts: false },
  fields: [],
  targets: [],
  suggestions: [],
  mapping: null,
  rows: [],
  ruleErrors: new Map(),
  // Each transform kind's parameters, from the API's own document (the models the server validates with).
  transformSchemas: {},
  contracts: { items: [], cursor: null, q: "" },
};

// ---------------------------------------------------------------- helpers

const $ = (selector, root = document) => root.querySelector(selector);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "value") el.value = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function fmtBytes(n) {
  if (typeof n !== "number") return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function fmtValue(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.map(fmtValue).join(", ");
  if (typeof v === "object") {
    if ("amount" in v && "currency" in v) return `${v.currency} ${v.amount}`;
    if (v.raw) return String(v.raw);
    return JSON.stringify(v);
  }
  return String(v);
}

let toastTimer = null;
function toast(message) {
  const el = $("#toast");
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.textContent = ""; }, 6000);
}

function notice(kind, ...content) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "err" ? "alert" : null }, ...content);
}

function badge(kind, text, attrs = {}) {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, text);
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

const PLAIN_STATUS = {
  400: "The request was not accepted.",
  404: "Not found.",
  409: "This cannot be done in the current state.",
  413: "The request is too large.",
  422: "Some values are not valid.",
  429: "Too many requests; wait a moment and try again.",
  500: "The gateway hit an unexpected error. Try again; if it persists, check the gateway logs.",
  502: "Ironclad could not be reached or answered with an error. Try again later.",
  503: "A service the gateway needs is unavailable right now. Try again shortly.",
};

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "NETWORK", "Could not reach the gateway. Check your network connection and that the gateway is running.", {});
  }
  if (response.status === 401) {
    authFailed();
    throw new ApiError(401, "UNAUTHORIZED", "The token was not accepted.", {});
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(
      response.status,
      err.code || `HTTP_${response.status}`,
      err.message || PLAIN_STATUS[response.status] || `The gateway answered ${response.status}.`,
      err.details,
    );
  }
  return data;
}

const tenantPath = () => `/api/v1/tenants/${encodeURIComponent(state.tenant)}`;

function errorNotice(err, lead) {
  const parts = [h("p", {}, lead ? `${lead} ` : "", err.message)];
  if (err.details && err.details.ironclad) {
    parts.push(h("p", { class: "code" }, `Ironclad's answer: ${err.details.ironclad}`));
  }
  if (err.code) parts.push(h("p", { class: "code" }, `Code: ${err.code}`));
  return notice("err", ...parts);
}

// ---------------------------------------------------------------- token and tenant

const canChange = () => !state.session || state.session.role === "admin";

function authFailed() {
  if (state.session) {
    endTenantSession("Your sign-in has expired or is no longer valid. Open this page again from Contracts AI.");
  } else {
    forgetToken("The admin token was not accepted. Enter it again.");
  }
}

function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent([...atob(part)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch (exc) {
    return null;
  }
}

async function startTenantSession(token) {
  const claims = tokenClaims(token);
  document.body.classList.add("tenant-mode");
  $("#tenant-form").hidden = true;
  $("#token-section").hidden = true;
  if (!claims || !TENANT_RE.test(String(claims.tenant || "")) || !["admin", "viewer"].includes(claims.role)) {
    endTenantSession("This link holds no valid sign-in. Open this page again from Contracts AI.");
    return;
  }
  state.session = { sub: String(claims.sub || ""), role: claims.role, tenant: claims.tenant, exp: claims.exp };
  state.token = token;
  state.tenant = claims.tenant;
  document.body.classList.toggle("viewer", claims.role === "viewer");
  try {
    state.scopes = await api("GET", "/api/v1/ironclad/scopes");
  } catch (err) {
    if (err.status !== 401) endTenantSession(err.message);
    return;
  }
  sessionStorage.setItem(TENANT_TOKEN_KEY, token);
  const who = $("#signed-in");
  clear(who).append(
    "Signed in as ", h("strong", { id: "signed-in-user" }, state.session.sub), " · ",
    h("span", { class: "role", id: "signed-in-role" }, claims.role === "admin" ? "Admin" : "Viewer (read only)"),
    " · workspace ", h("code", { id: "signed-in-tenant" }, state.tenant));
  who.hidden = false;
  $("#forget-token").textContent = "Sign out";
  $("#forget-token").hidden = false;
  $("#session-ended").hidden = true;
  $("#app").hidden = false;
  resetTenantData();
  await loadIronclad();
  const wanted = location.hash.replace("#", "");
  if (["ironclad", "mapping", "contracts"].includes(wanted)) selectTab(`tab-${wanted}`, false);
}

function endTenantSession(message) {
  state.token = null;
  sessionStorage.removeItem(TENANT_TOKEN_KEY);
  stopTracking();
  $("#app").hidden = true;
  $("#signed-in").hidden = true;
  $("#forget-token").hidden = true;
  $("#session-ended-text").textContent = message;
  $("#session-ended").hidden = false;
}

function forgetToken(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopTracking();
  $("#app").hidden = true;
  $("#forget-token").hidden = true;
  $("#token-section").hidden = false;
  $("#token-error").textContent = message || "";
  $("#token-input").setAttribute("aria-invalid", message ? "true" : "false");
  $("#token-input").value = "";
  $("#token-input").focus();
}

async function startWithToken(token) {
  state.token = token;
  try {
    state.scopes = await api("GET", "/api/v1/ironclad/scopes");
  } catch (err) {
    if (err.status !== 401) {
      $("#token-error").textContent = err.message;
      $("#token-section").hidden = false;
    }
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#token-section").hidden = true;
  $("#app").hidden = false;
  $("#forget-token").hidden = false;
  resetTenantData();
  await loadIronclad();
  const wanted = location.hash.replace("#", "");
  if (["ironclad", "mapping", "contracts"].includes(wanted)) selectTab(`tab-${wanted}`, false);
}

function initialTenant() {
  const fromUrl = new URLSearchParams(location.search).get("tenant");
  if (fromUrl && TENANT_RE.test(fromUrl)) return fromUrl;
  const stored = sessionStorage.getItem(TENANT_KEY);
  return stored && TENANT_RE.test(stored) ? stored : "demo";
}

function resetTenantData() {
  stopTracking();
  state.connection = null;
  state.loaded = { mapping: false, contracts: false };
  state.contracts = { items: [], cursor: null, q: "" };
  $("#contracts-q").value = "";
  $("#connect-result").textContent = "";
  $("#import-progress").hidden = true;
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
  state.tenant = value;
  sessionStorage.setItem(TENANT_KEY, value);
  const url = new URL(location.href);
  url.searchParams.set("tenant", value);
  history.replaceState(null, "", url);
  if (!state.token) return;
  resetTenantData();
  await loadIronclad();
  const current = document.querySelector('[role="tab"][aria-selected="true"]');
  if (current) await loadTab(current.id);
  toast(`Workspace “${value}” opened.`);
}

// ---------------------------------------------------------------- tabs

function selectTab(id, focus = true) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === id;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  history.replaceState(null, "", `${location.pathname}${location.search}#${id.replace("tab-", "")}`);
  loadTab(id);
}

async function loadTab(id) {
  if (id === "tab-ironclad") await loadIronclad();
  if (id === "tab-mapping" && !state.loaded.mapping) await loadMapping();
  if (id === "tab-contracts") await loadContracts(true);
}

function onTabKey(event) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
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

// ---------------------------------------------------------------- Ironclad tab

async function loadIronclad() {
  await Promise.all([loadConnection(), loadRuns(), loadAudit(true)]);
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

const audit = { items: [], cursor: null };

async function loadAudit(reset) {
  const params = new URLSearchParams({ limit: "20" });
  if (!reset && audit.cursor) params.set("cursor", audit.cursor);
  let page;
  try {
    page = await api("GET", `${tenantPath()}/audit?${params}`);
  } catch (err) {
    if (err.status === 401) return;
    clear($("#audit-table tbody")).append(h("tr", {}, h("td", { colspan: 4 }, errorNotice(err, "Could not load the activity."))));
    return;
  }
  audit.items = reset ? page.items : audit.items.concat(page.items);
  audit.cursor = page.next_cursor;
  renderAudit();
}

function auditDetails(details) {
  return Object.entries(details || {})
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${Array.isArray(v) ? v.join(", ") || "none" : typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" · ");
}

function renderAudit() {
  const body = clear($("#audit-table tbody"));
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
  try {
    state.connection = await api("GET", `${tenantPath()}/ironclad/connection`);
  } catch (err) {
    clear($("#status-box")).append(errorNotice(err, "Could not load the connection."));
    return;
  }
  renderConnection();
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
  // The change that led here (connect, sync, import, disconnect) is in the trail now.
  if (state.loaded.audit) loadAudit(true);
  state.loaded.audit = true;
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

async function copyText(text, message) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
    } else {
      const area = h("textarea", { "aria-hidden": "true", style: "position:fixed;left:-9999px" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(message);
  } catch (exc) {
    toast("Could not copy automatically; select the text and copy it.");
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
    await loadIronclad();
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
function stopTracking() {
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

function describeError(e) {
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
    clear($("#runs-table tbody")).append(h("tr", {}, h("td", { colspan: 12 }, errorNotice(err, "Could not load the runs."))));
    return;
  }
  const body = clear($("#runs-table tbody"));
  const items = answer.items || [];
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
  const active = items.find((r) => r.kind === "import" && !TERMINAL.has(r.status));
  if (active && !state.tracking) trackRun(active.run_id);
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
    await loadIronclad();
  } catch (err) {
    if (err.status === 401) return;
    clear($("#connect-result")).append(errorNotice(err, "Could not disconnect."));
  }
  $("#disconnect-button").focus();
}

// ---------------------------------------------------------------- Field Mapping tab

const TRANSFORMS = [
  ["", "None (type's own conversion)"],
  ["date", "Date"],
  ["datetime", "Date and time"],
  ["number", "Number"],
  ["money", "Money"],
  ["duration", "Duration"],
  ["enum_map", "Map values"],
  ["boolean", "Yes / no"],
  ["email", "Email"],
  ["join", "Join list into text"],
  ["split", "Split text into list"],
  ["trim", "Trim spaces"],
  ["case", "Change case"],
  ["address", "Address"],
  ["identity", "As is"],
  ["__custom", "Custom JSON (chain)"],
];
// Parameters prefilled when a kind is picked (its required ones, and the usual choice).
const PREFILLED_ARGS = {
  money: { currency: "USD" },
  enum_map: { values: { Active: "active" }, fallback: "error" },
  case: { mode: "upper" },
};
const CUSTOM_PLACEHOLDER = '[{"kind": "trim"}, {"kind": "case", "mode": "title"}]';
const KNOWN_KINDS = new Set(TRANSFORMS.map((t) => t[0]).filter((k) => k && k !== "__custom"));

// The transform models' schemas by kind, read from the OpenAPI document's components.
function transformSchemasOf(document) {
  const out = {};
  for (const schema of Object.values((document.components || {}).schemas || {})) {
    const kind = ((schema.properties || {}).kind || {}).const;
    if (kind && KNOWN_KINDS.has(kind)) out[kind] = schema;
  }
  return out;
}

// `anyOf: [X, {type: "null"}]` (an optional parameter) as X.
function unwrapOptional(spec) {
  if (!spec.anyOf) return spec;
  const real = spec.anyOf.find((s) => s.type !== "null") || {};
  return { ...spec, ...real, anyOf: undefined };
}

function paramNames(kind) {
  const schema = state.transformSchemas[kind];
  return schema ? Object.keys(schema.properties || {}).filter((name) => name !== "kind") : [];
}

function ruleToRow(rule) {
  const row = { source: rule.source || "", target: rule.target || "", kind: "", args: {}, chain: "", def: "" };
  const t = rule.transform;
  if (typeof t === "string" && KNOWN_KINDS.has(t)) row.kind = t;
  else if (t && typeof t === "object" && !Array.isArray(t) && KNOWN_KINDS.has(t.kind)) {
    row.kind = t.kind;
    const { kind, ...rest } = t;
    row.args = rest;
  } else if (t !== undefined && t !== null) {
    row.kind = "__custom";
    row.chain = JSON.stringify(t);
  }
  if (rule.default !== undefined && rule.default !== null) {
    row.def = typeof rule.default === "string" ? rule.default : JSON.stringify(rule.default);
  }
  return row;
}

function rowToRule(row) {
  const problems = [];
  const rule = { source: row.source.trim(), target: row.target.trim() };
  if (!rule.source) problems.push("Choose an Ironclad field.");
  if (!rule.target) problems.push("Choose a Contracts AI field.");
  if (row.kind === "__custom") {
    try {
      rule.transform = JSON.parse(row.chain.trim());
    } catch (exc) {
      problems.push("The custom transform is not valid JSON.");
    }
  } else if (row.kind) {
    const args = {};
    for (const [name, value] of Object.entries(row.args || {})) {
      if (value !== undefined && value !== null && value !== "") args[name] = value;
    }
    const required = (state.transformSchemas[row.kind] || {}).required || [];
    for (const name of required) {
      if (name !== "kind" && !(name in args)) problems.push(`The transform needs its ${name.replace(/_/g, " ")}.`);
    }
    rule.transform = { kind: row.kind, ...args };
  }
  const def = row.def.trim();
  if (def) {
    try {
      rule.default = JSON.parse(def);
    } catch (exc) {
      rule.default = def;
    }
  }
  return { rule, problems };
}

function collectRules() {
  const rules = [];
  const local = new Map();
  state.rows.forEach((row, index) => {
    const { rule, problems } = rowToRule(row);
    rules.push(rule);
    if (problems.length) local.set(index, problems);
  });
  return { rules, local };
}

async function loadMapping() {
  const info = $("#mapping-info");
  info.textContent = "Loading…";
  clear($("#mapping-result"));
  const [fields, targets, mapping, suggestions, document] = await Promise.allSettled([
    api("GET", `${tenantPath()}/ironclad/fields`),
    api("GET", `${tenantPath()}/contract-fields`),
    api("GET", `${tenantPath()}/field-mapping`),
    api("GET", `${tenantPath()}/field-mapping/suggestions`),
    api("GET", "/api/v1/openapi.json"),
  ]);
  state.transformSchemas = document.status === "fulfilled" ? transformSchemasOf(document.value) : {};
  if (mapping.status === "rejected" || targets.status === "rejected") {
    const err = mapping.status === "rejected" ? mapping.reason : targets.reason;
    info.textContent = "";
    clear($("#mapping-result")).append(errorNotice(err, "Could not load the mapping."));
    return;
  }
  state.fields = fields.status === "fulfilled" ? fields.value.fields || [] : [];
  state.targets = targets.value;
  state.suggestions = suggestions.status === "fulfilled" ? suggestions.value.items || [] : [];
  state.mapping = mapping.value;
  state.rows = (mapping.value.rules || []).map(ruleToRow);
  state.ruleErrors = new Map();
  state.loaded.mapping = true;
  renderMappingInfo();
  if (fields.status === "rejected" && fields.reason.status !== 401) {
    clear($("#mapping-result")).append(notice("warn", h("p", {},
      "Ironclad's fields are not available (", fields.reason.message, ") You can still edit rules by their source names.")));
  }
  renderRules();
}

function renderMappingInfo() {
  const m = state.mapping;
  const info = clear($("#mapping-info"));
  if (!m) return;
  if (m.version === 0) info.append(badge("info", "Suggested"), " Default rules, not saved yet. Review them and save.");
  else if (m.suggested) info.append(badge("info", "Suggested"), ` Version ${m.version}, suggested from your Ironclad schema at connect. Review and save to make it yours.`);
  else info.append(`Version ${m.version}, saved ${fmtTime(m.created_at)}.`);
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

// {suggested: true, reason} for a rule exactly as suggested, {suggested: false, reason} for one changed since.
function suggestionFor(row) {
  const s = state.suggestions.find((x) => x.rule.source === row.source && x.rule.target === row.target);
  if (s) {
    const same = canonical(rowToRule(row).rule) === canonical(s.rule);
    return { suggested: same, reason: s.reason || "Suggested from your Ironclad schema." };
  }
  if (state.mapping && state.mapping.suggested && !row.edited && !row.added) {
    return { suggested: true, reason: "Suggested from your Ironclad schema." };
  }
  return null;
}

function sourceOptions(current) {
  const options = [h("option", { value: "" }, "— choose —")];
  const attrs = state.fields.filter((f) => f.is_attribute);
  const props = state.fields.filter((f) => !f.is_attribute);
  const option = (f) => h("option", { value: f.name, selected: f.name === current }, `${f.display_name} · ${f.ironclad_type}`);
  if (attrs.length) options.push(h("optgroup", { label: "Record attributes" }, attrs.map(option)));
  if (props.length) options.push(h("optgroup", { label: "Properties" }, props.map(option)));
  if (current && !state.fields.some((f) => f.name === current)) {
    options.push(h("option", { value: current, selected: true }, `${current} (not in the Ironclad schema)`));
  }
  return options;
}

function targetOptions(current) {
  const options = [h("option", { value: "" }, "— choose —")];
  for (const t of state.targets) {
    options.push(h("option", { value: t.name, selected: t.name === current }, `${t.name} · ${t.type}${t.custom ? " (custom)" : ""}`));
  }
  if (current && !state.targets.some((t) => t.name === current)) {
    options.push(h("option", { value: current, selected: true }, `${current} (unknown field)`));
  }
  return options;
}

function renderRules() {
  const body = clear($("#rules-table tbody"));
  if (!state.rows.length) {
    body.append(h("tr", {}, h("td", { colspan: 8, class: "hint" }, "No rules. Add a rule, or add the suggested ones.")));
  }
  state.rows.forEach((row, index) => {
    const n = index + 1;
    const errId = `rule-${index}-errors`;
    const errors = state.ruleErrors.get(index) || [];
    const invalid = errors.length ? "true" : "false";
    const src = state.fields.find((f) => f.name === row.source);
    const tgt = state.targets.find((t) => t.name === row.target);
    const reason = suggestionFor(row);
    const touched = () => { row.edited = true; };
    const kindSelect = h("select", {
      "aria-label": `Transform of rule ${n}`, "aria-invalid": invalid, "aria-describedby": errId, "data-role": "kind",
      onchange: (e) => {
        row.kind = e.target.value;
        row.args = { ...(PREFILLED_ARGS[row.kind] || {}) };
        row.chain = row.kind === "__custom" ? '[{"kind": "trim"}]' : "";
        touched();
        renderRules();
        $(`#rules-table tbody tr[data-index="${index}"] [data-role="kind"]`).focus();
      },
    }, TRANSFORMS.map(([k, label]) => h("option", { value: k, selected: k === row.kind }, label)));
    body.append(h("tr", { class: "rule-row", "data-index": index, "data-source": row.source, "data-target": row.target },
      h("td", {}, String(n)),
      h("td", {},
        h("select", {
          "aria-label": `Ironclad field of rule ${n}`, "aria-invalid": invalid, "aria-describedby": errId, "data-role": "source",
          onchange: (e) => { row.source = e.target.value; touched(); renderRules(); },
        }, sourceOptions(row.source)),
        h("span", { class: "rule-meta" }, h("code", {}, row.source || ""), src ? ` · ${src.ironclad_type}` : ""),
        reason && reason.suggested
          ? h("span", { class: "rule-meta" }, badge("info", "Suggested", { "data-role": "suggested" }), " ", reason.reason)
          : null,
        reason && !reason.suggested ? h("span", { class: "rule-meta" }, "Changed from the suggestion: ", reason.reason) : null),
      h("td", { class: "arrow", "aria-hidden": "true" }, "→"),
      h("td", {},
        h("select", {
          "aria-label": `Contracts AI field of rule ${n}`, "aria-invalid": invalid, "aria-describedby": errId, "data-role": "target",
          onchange: (e) => { row.target = e.target.value; touched(); renderRules(); },
        }, targetOptions(row.target)),
        tgt ? h("span", { class: "rule-meta" }, tgt.description) : null),
      h("td", {}, kindSelect),
      h("td", {}, transformParams(row, n, { invalid, errId, touched })),
      h("td", {},
        h("input", {
          "aria-label": `Default of rule ${n}`, "aria-invalid": invalid, "aria-describedby": errId, "data-role": "default",
          value: row.def, placeholder: "none",
          oninput: (e) => { row.def = e.target.value; touched(); },
        })),
      h("td", {},
        h("button", {
          type: "button", class: "btn btn-small", "aria-label": `Remove rule ${n}`, "data-change": "",
          onclick: () => {
            state.rows.splice(index, 1);
            state.ruleErrors = new Map();
            renderRules();
            const next = $("#rules-table tbody [data-role='source']") || $("#mapping-add");
            next.focus();
          },
        }, "Remove")),
    ));
    if (!canChange()) {
      for (const control of body.querySelectorAll(`tr[data-index="${index}"] select, tr[data-index="${index}"] input, tr[data-index="${index}"] textarea`)) control.disabled = true;
    }
    body.append(h("tr", { class: "rule-errors" },
      h("td", { colspan: 8, id: errId },
        errors.length ? h("ul", { class: "rule-error-list", "data-role": "rule-errors" }, errors.map((m) => h("li", {}, m))) : null)));
  });
}

// One typed input per parameter of the row's transform, described by the transform's own schema:
// a pick-list for a choice, a checkbox for yes/no, a number field, a comma-separated list, "from = to"
// lines for a value map, else a text field with the schema's limits.
function transformParams(row, n, { invalid, errId, touched }) {
  if (row.kind === "__custom") {
    return h("textarea", {
      "aria-label": `Transform chain of rule ${n} (JSON)`, "aria-invalid": invalid, "aria-describedby": errId,
      "data-role": "params", rows: 2, placeholder: CUSTOM_PLACEHOLDER, value: row.chain, spellcheck: "false",
      oninput: (e) => { row.chain = e.target.value; touched(); },
    });
  }
  const names = paramNames(row.kind);
  if (!row.kind || !names.length) return h("span", { class: "hint" }, "—");
  const schema = state.transformSchemas[row.kind];
  const set = (name, value) => { row.args = { ...row.args, [name]: value }; touched(); };
  return h("div", { class: "params", "data-role": "params" }, names.map((name) => {
    const spec = unwrapOptional(schema.properties[name]);
    const label = `${spec.title || name} of rule ${n}`;
    const common = {
      "aria-label": label, "aria-invalid": invalid, "aria-describedby": errId, "data-param": name,
      title: spec.description || "",
    };
    const value = row.args[name];
    let control;
    if (spec.enum) {
      const required = (schema.required || []).includes(name);
      control = h("select", { ...common, onchange: (e) => set(name, e.target.value || undefined) },
        required ? null : h("option", { value: "" }, spec.default !== undefined && spec.default !== null ? `default (${spec.default})` : "default"),
        spec.enum.map((choice) => h("option", { value: choice, selected: choice === value }, choice)));
    } else if (spec.type === "boolean") {
      control = h("input", { ...common, type: "checkbox", checked: value === true, onchange: (e) => set(name, e.target.checked) });
    } else if (spec.type === "integer" || spec.type === "number") {
      control = h("input", {
        ...common, type: "number", value: value ?? "", step: spec.type === "integer" ? "1" : "any",
        oninput: (e) => set(name, e.target.value === "" ? undefined : Number(e.target.value)),
      });
    } else if (spec.type === "array") {
      control = h("input", {
        ...common, value: (value || []).join(", "), placeholder: "comma-separated",
        oninput: (e) => set(name, e.target.value.split(",").map((x) => x.trim()).filter(Boolean)),
      });
    } else if (spec.type === "object") {
      const lines = Object.entries(value || {}).map(([from, to]) => `${from} = ${to}`).join("\n");
      control = h("textarea", {
        ...common, rows: 2, value: lines, placeholder: "Ironclad value = Contracts AI value, one per line",
        oninput: (e) => {
          const map = {};
          for (const line of e.target.value.split("\n")) {
            const at = line.indexOf("=");
            if (at > 0) map[line.slice(0, at).trim()] = line.slice(at + 1).trim();
          }
          set(name, map);
        },
      });
    } else {
      control = h("input", {
        ...common, value: value ?? "", maxlength: spec.maxLength || null,
        placeholder: spec.default !== undefined && spec.default !== null ? String(spec.default) : "",
        oninput: (e) => set(name, e.target.value === "" ? undefined : e.target.value),
      });
    }
    return h("label", { class: "param" }, h("span", { class: "param-name" }, (spec.title || name)), control);
  }));
}

function showRuleErrors(local, serverProblems) {
  const errors = new Map(local);
  for (const p of serverProblems || []) {
    const list = errors.get(p.index) || [];
    list.push(p.message + (p.code ? ` (${p.code})` : ""));
    errors.set(p.index, list);
  }
  state.ruleErrors = errors;
  renderRules();
  const first = Math.min(...errors.keys());
  if (Number.isFinite(first)) {
    const el = $(`#rules-table tbody tr[data-index="${first}"] select`);
    if (el) el.focus();
  }
}

function serverRuleProblems(err) {
  if (err.code === "INVALID_MAPPING") return err.details.rules || [];
  if (err.code === "VALIDATION_FAILED") {
    return (err.details.fields || []).map((f) => {
      const m = /^rules\.(\d+)(?:\.(.*))?$/.exec(String(f.field));
      return m ? { index: Number(m[1]), message: `${m[2] || "rule"}: ${f.message}` } : null;
    }).filter(Boolean);
  }
  return [];
}

async function onPreview() {
  const { rules, local } = collectRules();
  const result = clear($("#mapping-result"));
  const box = clear($("#preview-box"));
  if (local.size) {
    showRuleErrors(local, []);
    result.append(notice("err", h("p", {}, "Fix the rules marked below, then preview again.")));
    return;
  }
  const sampleSize = Math.min(Math.max(parseInt($("#sample-size").value, 10) || 5, 1), 50);
  box.append(h("p", { class: "hint" }, "Previewing…"));
  try {
    const answer = await api("POST", `${tenantPath()}/field-mapping/preview`, { rules, sample_size: sampleSize });
    showRuleErrors(new Map(), []);
    renderPreview(answer.items || [], rules);
  } catch (err) {
    clear(box);
    if (err.status === 401) return;
    const problems = serverRuleProblems(err);
    showRuleErrors(new Map(), problems);
    result.append(errorNotice(err, problems.length ? "The rules have problems, shown beside each rule." : "Preview failed."));
  }
}

function renderPreview(items, rules) {
  // One table: a row per Contracts AI field, a column per sample contract; errors in their cell.
  const box = clear($("#preview-box"));
  if (!items.length) {
    box.append(h("p", {}, "No imported contracts to preview yet. Import some on the Ironclad tab first."));
    return;
  }
  const targets = [...new Set([...rules.map((r) => r.target), ...items.flatMap((i) => (i.errors || []).map((e) => e.target))])];
  const errorCount = items.reduce((n, i) => n + (i.errors || []).length, 0);
  box.append(h("p", { id: "preview-summary" }, `${items.length} sample contract${items.length === 1 ? "" : "s"}, `
    + `${errorCount} field error${errorCount === 1 ? "" : "s"}.`));
  const head = h("tr", {}, h("th", { scope: "col" }, "Contracts AI field"),
    items.map((item) => h("th", { scope: "col", "data-record-id": item.record_id || "" },
      item.name || "(no name)", h("span", { class: "rule-meta" }, item.ironclad_id || item.record_id || ""))));
  const tbody = h("tbody");
  for (const target of targets) {
    tbody.append(h("tr", { "data-field": target },
      h("th", { scope: "row" }, target),
      items.map((item) => {
        const errs = (item.errors || []).filter((e) => e.target === target);
        if (errs.length) {
          return h("td", { class: "has-error" }, errs.map((e) => h("div", {}, "Error: ", e.message, e.sample ? ` (value: ${e.sample})` : "")));
        }
        return h("td", { class: "field-value" }, fmtValue(item.fields ? item.fields[target] : undefined));
      })));
  }
  box.append(h("div", { class: "table-wrap" }, h("table", { class: "preview" },
    h("caption", { class: "visually-hidden" }, "What the rules make of each sample contract"),
    h("thead", {}, head), tbody)));
}

async function onSave() {
  const { rules, local } = collectRules();
  const result = clear($("#mapping-result"));
  if (local.size) {
    showRuleErrors(local, []);
    result.append(notice("err", h("p", {}, "Fix the rules marked below, then save again. Nothing was saved.")));
    return;
  }
  const button = $("#mapping-save");
  button.disabled = true;
  try {
    const answer = await api("PUT", `${tenantPath()}/field-mapping`, { rules });
    state.mapping = answer;
    state.rows = (answer.rules || []).map(ruleToRow);
    showRuleErrors(new Map(), []);
    renderMappingInfo();
    result.append(notice("ok", h("p", { id: "mapping-saved" }, `Mapping saved as version ${answer.version}.`,
      answer.remap_run_id ? " Imported contracts are being re-mapped in the background." : "")));
    state.loaded.contracts = false;
    loadAudit(true);
  } catch (err) {
    if (err.status === 401) return;
    const problems = serverRuleProblems(err);
    showRuleErrors(new Map(), problems);
    result.append(errorNotice(err, problems.length ? "Nothing was saved; the problems are shown beside each rule." : "Nothing was saved."));
  } finally {
    button.disabled = false;
  }
}

function onAddRule() {
  state.rows.push({ source: "", target: "", kind: "", args: {}, chain: "", def: "", added: true });
  renderRules();
  const selects = document.querySelectorAll("#rules-table tbody [data-role='source']");
  selects[selects.length - 1].focus();
}

function onAddSuggested() {
  const have = new Set(state.rows.map((r) => r.target));
  let added = 0;
  for (const s of state.suggestions) {
    if (have.has(s.rule.target)) continue;
    state.rows.push({ ...ruleToRow(s.rule), added: true });
    have.add(s.rule.target);
    added += 1;
  }
  renderRules();
  toast(added ? `Added ${added} suggested rule${added === 1 ? "" : "s"}.` : "Every suggested field already has a rule.");
}

// ---------------------------------------------------------------- Contracts tab

async function loadContracts(reset) {
  const c = state.contracts;
  if (reset) {
    c.items = [];
    c.cursor = null;
  }
  const params = new URLSearchParams({ limit: "50" });
  if (c.q) params.set("q", c.q);
  if (!reset && c.cursor) params.set("cursor", c.cursor);
  const info = $("#contracts-info");
  try {
    const answer = await api("GET", `${tenantPath()}/contracts?${params}`);
    c.items = reset ? answer.items : c.items.concat(answer.items);
    c.cursor = answer.next_cursor;
    state.loaded.contracts = true;
  } catch (err) {
    if (err.status === 401) return;
    clear(info).append(errorNotice(err, "Could not load the contracts."));
    return;
  }
  renderContracts();
}

function renderContracts() {
  const c = state.contracts;
  const info = clear($("#contracts-info"));
  info.append(`Showing ${c.items.length} contract${c.items.length === 1 ? "" : "s"}`,
    c.q ? ` matching “${c.q}”` : "", c.cursor ? " (more available)." : ".");
  const body = clear($("#contracts-table tbody"));
  if (!c.items.length) {
    body.append(h("tr", {}, h("td", { colspan: 7, class: "hint" },
      c.q ? "No contract matches this search." : "No contracts imported yet. Import them on the Ironclad tab.")));
  }
  for (const item of c.items) {
    const ic = item.ironclad || {};
    const fields = item.fields || {};
    const names = Object.keys(fields);
    const errors = [...(item.field_errors || []), ...(item.document_failures || [])];
    body.append(h("tr", { class: item.deleted ? "deleted" : null, "data-contract-id": item.contract_id },
      h("td", {}, ic.name || "(no name)", item.deleted ? [" ", badge("muted", "Deleted in Ironclad")] : null),
      h("td", {}, h("code", {}, ic.ironcladId || ic.id || "")),
      h("td", {}, ic.type || "—"),
      h("td", {}, fmtTime(ic.lastUpdated)),
      h("td", {}, names.length
        ? h("details", {}, h("summary", {}, `${names.length} field${names.length === 1 ? "" : "s"}`),
          h("dl", { class: "facts" }, names.flatMap((n) => [h("dt", {}, n), h("dd", { class: "field-value" }, fmtValue(fields[n]))])))
        : "—"),
      h("td", {}, errors.length
        ? h("details", {}, h("summary", {}, badge("err", `${errors.length} error${errors.length === 1 ? "" : "s"}`)),
          h("ul", { class: "error-list" }, errors.map((e) => h("li", {}, e.target ? `${e.target}: ${e.message}` : describeError(e)))))
        : "—"),
      h("td", {}, (item.attachments || []).length
        ? h("ul", { class: "doc-list" }, item.attachments.map((a) => h("li", {},
          h("button", {
            type: "button", class: "btn-link", "data-role": "document",
            "aria-label": `Open document ${a.filename} of ${ic.name || item.contract_id}`,
            onclick: () => openDocument(item.contract_id, a),
          }, a.filename), " ", h("span", { class: "hint" }, fmtBytes(a.size)))))
        : "—"),
    ));
  }
  $("#contracts-more").hidden = !c.cursor;
}

async function openDocument(contractId, attachment) {
  // A plain link cannot carry the bearer header: fetch the bytes, then open them from a blob URL.
  const popup = window.open("", "_blank");
  try {
    const response = await fetch(
      `${tenantPath()}/contracts/${encodeURIComponent(contractId)}/attachments/${encodeURIComponent(attachment.key)}`,
      { headers: { Authorization: `Bearer ${state.token}` } },
    );
    if (response.status === 401) {
      if (popup) popup.close();
      authFailed();
      return;
    }
    if (!response.ok) throw new Error(`the gateway answered ${response.status}`);
    const blob = new Blob([await response.blob()], { type: attachment.content_type || "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    if (popup && !popup.closed) popup.location.href = url;
    else {
      const a = h("a", { href: url, download: attachment.filename });
      document.body.append(a);
      a.click();
      a.remove();
    }
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (exc) {
    if (popup) popup.close();
    toast(`Could not open ${attachment.filename}: ${exc.message}`);
  }
}

// ---------------------------------------------------------------- wiring

function init() {
  state.tenant = initialTenant();
  $("#tenant-input").value = state.tenant;
  $("#tenant-form").addEventListener("submit", onTenantSubmit);
  $("#forget-token").addEventListener("click", () => (state.session ? endTenantSession("You are signed out.") : forgetToken("")));
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
  $("#mapping-reload").addEventListener("click", loadMapping);
  $("#mapping-add").addEventListener("click", onAddRule);
  $("#mapping-add-suggested").addEventListener("click", onAddSuggested);
  $("#mapping-preview").addEventListener("click", onPreview);
  $("#mapping-save").addEventListener("click", onSave);
  $("#contracts-search").addEventListener("submit", (event) => {
    event.preventDefault();
    state.contracts.q = $("#contracts-q").value.trim();
    loadContracts(true);
  });
  $("#contracts-more").addEventListener("click", () => loadContracts(false));
  $("#refresh-audit").addEventListener("click", () => loadAudit(true));
  $("#audit-more").addEventListener("click", () => loadAudit(false));

  const tenantToken = LINK_TOKEN || sessionStorage.getItem(TENANT_TOKEN_KEY);
  if (tenantToken) {
    startTenantSession(tenantToken);
    return;
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) startWithToken(token);
  else forgetToken("");
}

init();
