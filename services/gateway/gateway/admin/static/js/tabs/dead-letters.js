// The operator view (platform key only): messages that failed their delivery limit, in every workspace,
// counted per queue and listed with Replay and Discard (Discard asks first: it cannot be undone).
// A gateway without the dead-letter API answers 404: the view says so.

import { api } from "../api.js";
import { $, clear, errorNotice, fmtTime, h, notice, toast } from "../dom.js";
import { openTab } from "../navigation.js";
import { isPlatform } from "../session.js";
import { set, state, subscribe } from "../store.js";

const PAGE = 50;
const empty = { phase: "idle", queues: [], items: [], nextCursor: null, queue: "", tenant: "", error: null, busy: null, result: null };

export function reset() {
  set({ deadLetters: { ...empty, queue: state.deadLetters.queue, tenant: state.deadLetters.tenant } });
}

export function init() {
  subscribe(["deadLetters"], render);
  $("#dead-letters-refresh").addEventListener("click", () => {
    update({ result: null });
    load();
  });
  $("#dead-letters-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const tenant = $("#dead-letters-tenant").value.trim();
    update({ queue: $("#dead-letters-queue").value, tenant, result: null });
    load();
  });
  $("#dead-letters-more").addEventListener("click", () => load(true));
  $("#discard-dialog").addEventListener("close", onDiscardClose);
}

/** Open the operator view on one workspace's dead letters (from its Health tab). */
export function showTenant(tenant) {
  update({ tenant, queue: "", result: null });
  openTab("tab-dead-letters");
}

function update(patch) {
  set({ deadLetters: { ...state.deadLetters, ...patch } });
}

export async function load(more = false) {
  if (!isPlatform()) return;
  const dl = state.deadLetters;
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (dl.queue) params.set("queue", dl.queue);
  if (dl.tenant) params.set("tenant", dl.tenant);
  if (more && dl.nextCursor) params.set("cursor", dl.nextCursor);
  update({ phase: "loading" }); // the last replay's or discard's outcome stays shown
  try {
    const page = await api("GET", `/api/v1/dead-letters?${params}`);
    update({
      phase: "ready",
      queues: page.queues || [],
      items: more ? dl.items.concat(page.items || []) : page.items || [],
      nextCursor: page.next_cursor || null,
      error: null,
    });
  } catch (err) {
    if (err.status === 401) return;
    update({ phase: err.status === 404 ? "unavailable" : "error", error: err });
  }
}

// "3 h 5 min": the age of a message, to the unit that matters.
function age(seconds) {
  if (typeof seconds !== "number") return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${Math.round(seconds / 86400)} d`;
}

// Real reasons can be long (a validation error lists every field): the start in the row, the whole
// under "Full reason" (and in the discard confirmation).
const REASON_SHOWN = 140;

function reasonCell(reason) {
  if (!reason) return "—";
  if (reason.length <= REASON_SHOWN) return reason;
  return [h("span", { class: "reason-start" }, `${reason.slice(0, REASON_SHOWN).trimEnd()}…`),
    h("details", { class: "reason-full" }, h("summary", {}, "Full reason"), h("p", {}, reason))];
}

function describe(item) {
  return `${item.message_type || "message"} of ${item.tenant || "no workspace"} on ${item.queue}`;
}

async function act(item, action) {
  update({ busy: item.id, result: null });
  try {
    await api("POST", `/api/v1/dead-letters/${encodeURIComponent(item.id)}/${action}`);
    const done = action === "replay" ? "Replayed" : "Discarded";
    toast(`${done}: ${describe(item)}.`);
    update({ busy: null, result: { kind: "ok", text: `${done} ${describe(item)}.` } });
    await load();
  } catch (err) {
    if (err.status === 401) return;
    update({ busy: null, result: { kind: "err", error: err, lead: `Could not ${action} ${describe(item)}.` } });
  }
}

let discarding = null;

function askDiscard(item) {
  discarding = item;
  const dialog = $("#discard-dialog");
  $("#discard-dialog-text").textContent = `The ${describe(item)} (dead-lettered ${fmtTime(item.dead_lettered_at)}: `
    + `${item.reason || "no reason given"}) is deleted for good; it cannot be replayed afterwards.`;
  dialog.returnValue = "";
  dialog.showModal();
}

async function onDiscardClose() {
  const item = discarding;
  discarding = null;
  if (!item) return;
  if ($("#discard-dialog").returnValue === "confirm") await act(item, "discard");
  const row = document.querySelector(`#dead-letters-table tr[data-id="${CSS.escape(item.id)}"] [data-role=discard]`);
  (row || $("#dead-letters-refresh")).focus(); // back where the operator was, or the list's start
}

function renderQueueChoice(dl) {
  const select = $("#dead-letters-queue");
  const names = [...new Set([...dl.queues.map((q) => q.queue), dl.queue].filter(Boolean))];
  clear(select).append(h("option", { value: "" }, "All queues"),
    ...names.map((name) => h("option", { value: name, selected: name === dl.queue }, name)));
  $("#dead-letters-tenant").value = dl.tenant;
}

function render({ deadLetters: dl }) {
  const result = clear($("#dead-letters-result"));
  const queues = clear($("#dead-letter-queues tbody"));
  const body = clear($("#dead-letters-table tbody"));
  $("#dead-letters-more").hidden = true;
  if (dl.phase === "unavailable") {
    result.append(notice("info", h("p", { id: "dead-letters-unavailable" }, "Dead letters are not available on this gateway.")));
    return;
  }
  if (dl.phase === "error") result.append(errorNotice(dl.error, "Could not load the dead letters."));
  if (dl.result) {
    result.append(dl.result.kind === "ok" ? notice("ok", h("p", { id: "dead-letters-done" }, dl.result.text))
      : errorNotice(dl.result.error, dl.result.lead));
  }
  renderQueueChoice(dl);
  if (dl.phase === "loading" && !dl.items.length) body.append(h("tr", {}, h("td", { colspan: 8, class: "hint" }, "Loading…")));
  if (!dl.queues.length && dl.phase === "ready") queues.append(h("tr", {}, h("td", { colspan: 2, class: "hint" }, "No queue holds a dead letter.")));
  for (const q of dl.queues) {
    queues.append(h("tr", { "data-queue": q.queue }, h("td", {}, h("code", {}, q.queue)), h("td", { class: "num" }, String(q.count))));
  }
  if (!dl.items.length && dl.phase === "ready") {
    body.append(h("tr", {}, h("td", { colspan: 8, class: "hint" }, "No dead letters. Nothing is waiting for an operator.")));
  }
  for (const item of dl.items) {
    const busy = dl.busy === item.id;
    body.append(h("tr", { "data-id": item.id, "data-queue": item.queue },
      h("td", {}, fmtTime(item.dead_lettered_at)),
      h("td", {}, h("code", {}, item.queue)),
      h("td", {}, item.tenant ? h("code", {}, item.tenant) : "—"),
      h("td", {}, item.message_type || "—"),
      h("td", { class: "reason" }, reasonCell(item.reason)),
      h("td", { class: "num" }, age(item.age_seconds)),
      h("td", { class: "num" }, String(item.deaths ?? "—")),
      h("td", {}, h("div", { class: "actions" },
        h("button", {
          type: "button", class: "btn btn-small", "data-role": "replay", disabled: busy,
          "aria-label": `Replay ${describe(item)}`, onclick: () => act(item, "replay"),
        }, "Replay"),
        h("button", {
          type: "button", class: "btn btn-small btn-danger", "data-role": "discard", disabled: busy,
          "aria-label": `Discard ${describe(item)}`, onclick: () => askDiscard(item),
        }, "Discard")))));
  }
  $("#dead-letters-more").hidden = !dl.nextCursor;
}
