// The Field Mapping tab: one row per rule (Ironclad field → Contracts AI field, a transform with typed
// parameters, a default), preview on sample contracts, save. The transforms and their parameters come from
// the API's OpenAPI document: the pydantic models the server validates with, never a copy kept here.

import { api, apiDocument, tenantPath } from "../api.js";
import { $, badge, clear, errorNotice, fmtTime, fmtValue, h, notice, toast } from "../dom.js";
import { canChange } from "../session.js";
import { set, state, subscribe } from "../store.js";
import { loadAudit } from "./ironclad.js";

// Choices of the Transform list that are not transforms: none (the target type's own conversion), and a
// chain written as JSON (a list of transforms, or anything the form does not offer).
const NO_TRANSFORM = ["", "None (type's own conversion)"];
const CUSTOM = ["__custom", "Custom JSON (chain)"];
// Parameters prefilled when a kind is picked (its required ones, and the usual choice).
const PREFILLED_ARGS = {
  money: { currency: "USD" },
  enum_map: { values: { Active: "active" }, fallback: "error" },
  case: { mode: "upper" },
};
const CUSTOM_PLACEHOLDER = '[{"kind": "trim"}, {"kind": "case", "mode": "title"}]';
const isKnownKind = (kind) => state.transformKinds.includes(kind);

// The transform kinds, in the API's order, and each one's model schema, from the OpenAPI document: the
// discriminated union of a mapping rule's `transform` maps each kind to its model's component.
export function transformsOf(document) {
  const components = (document.components || {}).schemas || {};
  const transform = (((components.MappingRule || {}).properties || {}).transform || {});
  const union = (transform.anyOf || []).find((choice) => choice.discriminator) || {};
  const refs = Object.values((union.discriminator || {}).mapping || {});
  const kinds = [];
  const schemas = {};
  // oneOf keeps the order the models are declared in (the mapping is sorted by name).
  for (const ref of (union.oneOf || []).map((choice) => choice.$ref).filter((r) => refs.includes(r))) {
    const schema = components[ref.split("/").pop()] || {};
    const kind = ((schema.properties || {}).kind || {}).const;
    if (!kind) continue;
    kinds.push(kind);
    schemas[kind] = schema;
  }
  return { kinds, schemas };
}

// A transform's name in the list: the model's own title (e.g. "Date"), else its kind.
const transformLabel = (kind) => (state.transformSchemas[kind] || {}).title || kind;
const transformChoices = () => [NO_TRANSFORM, ...state.transformKinds.map((k) => [k, transformLabel(k)]), CUSTOM];

export async function load() {
  if (!state.loaded.mapping) await loadMapping();
}

export function reset() {
  set({ rows: [], mapping: null, ruleErrors: new Map() });
}

export function init() {
  subscribe(["rows", "ruleErrors", "fields", "targets", "suggestions", "transformSchemas"], renderRules);
  subscribe(["mapping"], renderMappingInfo);
  $("#mapping-reload").addEventListener("click", loadMapping);
  $("#mapping-add").addEventListener("click", onAddRule);
  $("#mapping-add-suggested").addEventListener("click", onAddSuggested);
  $("#mapping-preview").addEventListener("click", onPreview);
  $("#mapping-save").addEventListener("click", onSave);
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
  if (typeof t === "string" && isKnownKind(t)) row.kind = t;
  else if (t && typeof t === "object" && !Array.isArray(t) && isKnownKind(t.kind)) {
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
    apiDocument(),
  ]);
  // Read before any rule becomes a row: a row knows its transform only if its kind is listed.
  const transforms = document.status === "fulfilled" ? transformsOf(document.value) : { kinds: [], schemas: {} };
  set({ transformKinds: transforms.kinds, transformSchemas: transforms.schemas });
  if (mapping.status === "rejected" || targets.status === "rejected") {
    const err = mapping.status === "rejected" ? mapping.reason : targets.reason;
    info.textContent = "";
    clear($("#mapping-result")).append(errorNotice(err, "Could not load the mapping."));
    return;
  }
  state.loaded.mapping = true;
  set({
    fields: fields.status === "fulfilled" ? fields.value.fields || [] : [],
    targets: targets.value,
    suggestions: suggestions.status === "fulfilled" ? suggestions.value.items || [] : [],
    mapping: mapping.value,
    rows: (mapping.value.rules || []).map(ruleToRow),
    ruleErrors: new Map(),
  });
  if (fields.status === "rejected" && fields.reason.status !== 401) {
    clear($("#mapping-result")).append(notice("warn", h("p", {},
      "Ironclad's fields are not available (", fields.reason.message, ") You can still edit rules by their source names.")));
  }
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

// Renders the rows (state.rows, edited in place by their controls) with their errors.
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
        set({ rows: state.rows });
        $(`#rules-table tbody tr[data-index="${index}"] [data-role="kind"]`).focus();
      },
    }, transformChoices().map(([k, label]) => h("option", { value: k, selected: k === row.kind }, label)));
    body.append(h("tr", { class: "rule-row", "data-index": index, "data-source": row.source, "data-target": row.target },
      h("td", {}, String(n)),
      h("td", {},
        h("select", {
          "aria-label": `Ironclad field of rule ${n}`, "aria-invalid": invalid, "aria-describedby": errId, "data-role": "source",
          onchange: (e) => { row.source = e.target.value; touched(); set({ rows: state.rows }); },
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
          onchange: (e) => { row.target = e.target.value; touched(); set({ rows: state.rows }); },
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
            set({ rows: state.rows, ruleErrors: new Map() });
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
  set({ ruleErrors: errors });
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
    set({ mapping: answer, rows: (answer.rules || []).map(ruleToRow) });
    showRuleErrors(new Map(), []);
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
  set({ rows: state.rows });
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
  set({ rows: state.rows });
  toast(added ? `Added ${added} suggested rule${added === 1 ? "" : "s"}.` : "Every suggested field already has a rule.");
}

