// The Contracts tab: the imported contracts with their mapped fields, errors and documents, searchable.

import { api, tenantPath, unauthorized } from "../api.js";
import { $, badge, clear, errorNotice, fmtBytes, fmtTime, fmtValue, h, toast } from "../dom.js";
import { set, state, subscribe } from "../store.js";
import { describeError } from "./ironclad.js";

export async function load() {
  await loadContracts(true);
}

export function reset() {
  $("#contracts-q").value = "";
  set({ contracts: { items: [], cursor: null, q: "" } });
}

export function init() {
  subscribe(["contracts"], renderContracts);
  $("#contracts-search").addEventListener("submit", (event) => {
    event.preventDefault();
    set({ contracts: { ...state.contracts, q: $("#contracts-q").value.trim() } });
    loadContracts(true);
  });
  $("#contracts-more").addEventListener("click", () => loadContracts(false));
}

async function loadContracts(fromStart) {
  const c = state.contracts;
  const params = new URLSearchParams({ limit: "50" });
  if (c.q) params.set("q", c.q);
  if (!fromStart && c.cursor) params.set("cursor", c.cursor);
  const info = $("#contracts-info");
  try {
    const answer = await api("GET", `${tenantPath()}/contracts?${params}`);
    state.loaded.contracts = true;
    set({ contracts: { q: c.q, items: fromStart ? answer.items : c.items.concat(answer.items), cursor: answer.next_cursor } });
  } catch (err) {
    if (err.status === 401) return;
    clear(info).append(errorNotice(err, "Could not load the contracts."));
  }
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
      unauthorized();
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

