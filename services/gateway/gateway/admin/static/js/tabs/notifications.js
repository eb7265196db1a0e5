// The Notifications card of the Ironclad tab: where this workspace's signed webhooks go, which events,
// on or off; the signing secret shown once, when a save makes it; the recent delivery attempts.
// The event types come from the OpenAPI document. A gateway without the API answers 404: the card says so.

import { api, apiDocument, tenantPath } from "../api.js";
import { $, badge, clear, copyText, errorNotice, fmtTime, h, notice } from "../dom.js";
import { canChange } from "../session.js";
import { set, state, subscribe } from "../store.js";

const SETTINGS_PATH = "/api/v1/tenants/{tenant}/notifications";

// Words for the event types the API lists; a type not named here shows as itself.
const EVENT_WORDS = {
  "sync.succeeded": "A sync succeeded",
  "sync.failed": "A sync failed or partly failed",
  "contracts.changed": "Contracts changed",
  "connection.needs_reauth": "Ironclad rejects the credentials",
  "connection.webhook_disabled": "Ironclad disabled the webhook",
  "health.changed": "Health changed",
};
const DELIVERY_BADGES = { delivered: ["ok", "Delivered"], pending: ["warn", "Will retry"], failed: ["err", "Given up"] };

const blank = { phase: "idle", settings: null, events: [], error: null, secret: null, result: null, deliveries: { items: [], cursor: null, error: null } };

export function reset() {
  // The secret goes with the workspace: it is never kept beyond the moment it is shown.
  set({ notifications: blank });
}

export function init() {
  subscribe(["notifications"], render);
  $("#notifications-refresh").addEventListener("click", load);
  $("#notifications-form").addEventListener("submit", onSave);
  $("#notifications-secret-copy").addEventListener("click", () => copyText(state.notifications.secret, "Copied the signing secret."));
  $("#notifications-secret-hide").addEventListener("click", () => {
    update({ secret: null });
    $("#notifications-url").focus();
  });
  $("#deliveries-more").addEventListener("click", () => loadDeliveries(false));
}

function update(patch) {
  set({ notifications: { ...state.notifications, ...patch } });
}

// The event types a PUT accepts, from the document: the request body's `events` items (an enum).
function eventTypesOf(document) {
  const components = (document.components || {}).schemas || {};
  const resolve = (schema) => (schema && schema.$ref ? components[schema.$ref.split("/").pop()] || {} : schema || {});
  const put = ((document.paths || {})[SETTINGS_PATH] || {}).put || {};
  const content = ((put.requestBody || {}).content || {})["application/json"] || {};
  const events = (resolve(content.schema).properties || {}).events || {};
  return resolve(events.items).enum || [];
}

export async function load() {
  const tenant = state.tenant;
  let settings;
  try {
    settings = await api("GET", `${tenantPath()}/notifications`);
  } catch (err) {
    if (err.status === 401 || tenant !== state.tenant) return;
    update({ phase: err.status === 404 ? "unavailable" : "error", error: err });
    return;
  }
  let events = [];
  try {
    events = eventTypesOf(await apiDocument());
  } catch (err) {
    events = [];
  }
  if (tenant !== state.tenant) return;
  // Events the workspace has that the document does not list still show, so a save keeps them.
  events = [...new Set([...events, ...(settings.events || [])])];
  update({ phase: "ready", settings, events, error: null });
  fillForm();
  await loadDeliveries(true);
}

async function loadDeliveries(fromStart) {
  const current = state.notifications.deliveries;
  const params = new URLSearchParams({ limit: "10" });
  if (!fromStart && current.cursor) params.set("cursor", current.cursor);
  try {
    const page = await api("GET", `${tenantPath()}/notifications/deliveries?${params}`);
    const items = fromStart ? page.items || [] : current.items.concat(page.items || []);
    update({ deliveries: { items, cursor: page.next_cursor || null, error: null } });
  } catch (err) {
    if (err.status === 401) return;
    update({ deliveries: { ...current, error: err } });
  }
}

// The form shows the stored settings when they arrive (not on every render: that would undo typing).
function fillForm() {
  const { settings, events } = state.notifications;
  $("#notifications-url").value = settings.source === "tenant" ? settings.url || "" : "";
  $("#notifications-enabled").checked = settings.source === "none" ? true : Boolean(settings.enabled);
  $("#notifications-rotate").checked = false;
  // With no secret yet, the first save makes one anyway.
  $("#notifications-rotate").closest("label").hidden = !settings.secret_created_at;
  const chosen = new Set(settings.source === "none" ? events : settings.events || []);
  clear($("#notifications-events")).append(...events.map((type) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: type, checked: chosen.has(type), "data-event": type }),
    " ", EVENT_WORDS[type] || type, " ", h("code", {}, type))));
  $("#notifications-url-error").textContent = "";
  $("#notifications-url").setAttribute("aria-invalid", "false");
  $("#notifications-events-error").textContent = "";
}

function checkForm() {
  const url = $("#notifications-url").value.trim();
  const events = [...document.querySelectorAll("#notifications-events input:checked")].map((input) => input.value);
  let urlError = "";
  if (!url) urlError = "Enter the address notifications are sent to.";
  else if (!/^https?:\/\/\S+$/.test(url)) urlError = "Enter a web address starting with https://.";
  $("#notifications-url-error").textContent = urlError;
  $("#notifications-url").setAttribute("aria-invalid", urlError ? "true" : "false");
  $("#notifications-events-error").textContent = events.length ? "" : "Choose at least one event.";
  if (urlError) $("#notifications-url").focus();
  else if (!events.length) $("#notifications-events input").focus();
  return urlError || !events.length ? null : { url, events };
}

async function onSave(event) {
  event.preventDefault();
  const body = checkForm();
  update({ result: null });
  if (!body) return;
  body.enabled = $("#notifications-enabled").checked;
  body.rotate_secret = $("#notifications-rotate").checked;
  const button = $("#notifications-save");
  button.disabled = true;
  try {
    const { secret, signing_key_rotated: rotated, ...settings } = await api("PUT", `${tenantPath()}/notifications`, body);
    update({ settings, secret: secret || null, result: { kind: "ok", text: rotated ? "Saved, with a new signing secret." : "Saved." } });
    fillForm();
    if (secret) $("#notifications-secret-copy").focus();
  } catch (err) {
    if (err.status === 401) return;
    // A refused target's sentence is the answer's message; a body the API's validation refused
    // (VALIDATION_FAILED: "The request body is invalid: url.") names the field, whose own message is said.
    const fields = (err.details && err.details.fields) || [];
    const urlFields = fields.filter((f) => String(f.field) === "url");
    if (err.code === "NOTIFICATION_TARGET_REFUSED" || urlFields.length) {
      const said = err.code === "NOTIFICATION_TARGET_REFUSED" ? err.message : urlFields.map((f) => f.message).join("; ");
      $("#notifications-url-error").textContent = said;
      $("#notifications-url").setAttribute("aria-invalid", "true");
      $("#notifications-url").focus();
    }
    update({ result: { kind: "err", error: err } });
  } finally {
    button.disabled = false;
  }
}

function render({ notifications: n }) {
  const box = clear($("#notifications-box"));
  const ready = n.phase === "ready";
  $("#notifications-form").hidden = !ready || !canChange();
  $("#deliveries").hidden = !ready;
  $("#notifications-secret").hidden = !n.secret;
  $("#notifications-secret-value").textContent = n.secret || "";
  const result = clear($("#notifications-result"));
  if (n.result) {
    result.append(n.result.kind === "ok" ? notice("ok", h("p", { id: "notifications-saved" }, n.result.text))
      : errorNotice(n.result.error, "Nothing was saved."));
  }
  if (n.phase === "unavailable") {
    box.append(h("p", { class: "hint", id: "notifications-unavailable" }, "Notifications are not available on this gateway."));
    return;
  }
  if (n.phase === "error") {
    box.append(errorNotice(n.error, "Could not load the notification settings."));
    return;
  }
  if (!ready) return;
  const s = n.settings;
  const where = { tenant: "This workspace's own endpoint", default: "The operator's default endpoint", none: "Nowhere yet" }[s.source] || s.source;
  box.append(h("dl", { class: "facts", id: "notifications-facts", "data-source": s.source },
    h("dt", {}, "Sent to"), h("dd", {}, where, s.url ? [" ", h("code", {}, s.url)] : null),
    h("dt", {}, "Deliveries"), h("dd", { id: "notifications-state" }, s.enabled ? badge("ok", "On") : badge("muted", "Off")),
    h("dt", {}, "Events"), h("dd", {}, (s.events || []).join(", ") || "none"),
    h("dt", {}, "Last delivered"), h("dd", {}, fmtTime(s.last_success_at)),
    h("dt", {}, "Signing secret"), h("dd", {}, s.secret_created_at ? `made ${fmtTime(s.secret_created_at)}` : "none yet (the first save makes one)")));
  if (s.disabled_at) {
    box.append(notice("warn", h("p", {}, `Deliveries were switched off ${fmtTime(s.disabled_at)}`,
      s.disabled_reason ? `: ${s.disabled_reason}` : ".", " Save with “Deliver notifications” ticked to turn them on again.")));
  } else if (s.failing_since) {
    box.append(notice("warn", h("p", {}, `The endpoint has been failing since ${fmtTime(s.failing_since)}; deliveries are retried.`)));
  }
  renderDeliveries(n.deliveries);
}

function renderDeliveries(deliveries) {
  const body = clear($("#deliveries-table tbody"));
  if (deliveries.error) body.append(h("tr", {}, h("td", { colspan: 6 }, errorNotice(deliveries.error, "Could not load the deliveries."))));
  else if (!deliveries.items.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "hint" }, "No notification sent yet.")));
  for (const d of deliveries.items) {
    const [kind, word] = DELIVERY_BADGES[d.status] || ["muted", d.status];
    body.append(h("tr", { "data-status": d.status, "data-type": d.type },
      h("td", {}, fmtTime(d.at)),
      h("td", {}, h("code", {}, d.type)),
      h("td", { class: "num" }, String(d.attempt)),
      h("td", {}, badge(kind, word)),
      h("td", {}, d.status_code ? `HTTP ${d.status_code}` : "", d.status_code && d.error ? " · " : "", d.error || "",
        d.duration_ms !== null && d.duration_ms !== undefined ? h("span", { class: "hint" }, ` (${Math.round(d.duration_ms)} ms)`) : null),
      h("td", {}, d.next_retry_at ? fmtTime(d.next_retry_at) : "—")));
  }
  $("#deliveries-more").hidden = !deliveries.cursor;
}
