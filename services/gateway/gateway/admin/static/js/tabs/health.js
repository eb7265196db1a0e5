// The Health tab: the workspace's sync health in words (healthy / degraded / failing / disconnected) with
// its reasons, the last success and the next due times, then charts of the last 7 days of runs.
// Both endpoints may be missing on an older gateway: a 404 says so instead of an error.

import { api, tenantPath } from "../api.js";
import { chartFigure, dayLabel } from "../charts.js";
import { $, badge, clear, errorNotice, fmtTime, h, notice } from "../dom.js";
import { isPlatform } from "../session.js";
import { set, state, subscribe } from "../store.js";
import { showTenant } from "./dead-letters.js";

const DAYS = 7;

const STATUS_WORDS = {
  healthy: ["ok", "Healthy", "Sync is working; nothing needs attention."],
  degraded: ["warn", "Degraded", "Sync works, with the problems below."],
  failing: ["err", "Failing", "Sync is not working; the reasons are below."],
  disconnected: ["muted", "Disconnected", "This workspace is not connected to Ironclad."],
};

// A heading per reason code (the API's sentence follows it); an unknown code shows as itself.
const REASON_TITLES = {
  needs_reauth: "Credentials rejected",
  missing_scopes: "Missing scopes",
  webhook_disabled: "Webhook disabled",
  runs_failing: "Runs failing",
  run_stalled: "A run is stalled",
  rate_limited: "Rate-limited by Ironclad",
  dead_letters: "Dead-lettered messages",
};

const NEXT_DUE = [
  ["reconcile", "Next reconciliation"],
  ["delta", "Next incremental pass"],
  ["webhook_health", "Next webhook check"],
];

const RUN_STATUSES = [
  ["succeeded", "Succeeded"],
  ["partially_succeeded", "Partly succeeded"],
  ["failed", "Failed"],
  ["running", "Running"],
  ["queued", "Queued"],
];
const OUTCOMES = [
  ["created", "Created"],
  ["updated", "Updated"],
  ["unchanged", "Unchanged"],
  ["deleted", "Deleted"],
  ["failed", "Failed"],
  ["skipped_stale", "Skipped (stale)"],
];

const idle = { phase: "idle", data: null, error: null };

export function reset() {
  set({ health: idle, runStats: idle });
}

export function init() {
  subscribe(["health"], renderHealth);
  subscribe(["runStats"], renderCharts);
  $("#health-refresh").addEventListener("click", load);
}

export async function load() {
  set({ health: { ...state.health, phase: "loading" }, runStats: { ...state.runStats, phase: "loading" } });
  await Promise.all([
    fetchInto("health", `${tenantPath()}/ironclad/health`),
    fetchInto("runStats", `${tenantPath()}/ironclad/runs/stats?days=${DAYS}&bucket=day`),
  ]);
}

async function fetchInto(key, path) {
  const tenant = state.tenant;
  try {
    const data = await api("GET", path);
    if (tenant === state.tenant) set({ [key]: { phase: "ready", data, error: null } });
  } catch (err) {
    if (err.status === 401 || tenant !== state.tenant) return;
    // An older gateway has no such endpoint: not an error of this workspace.
    set({ [key]: { phase: err.status === 404 ? "unavailable" : "error", data: null, error: err } });
  }
}

// "in 5 min", "3 h ago": beside the exact time, so a reader need not do the sum.
function relative(iso) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((then - Date.now()) / 1000);
  const size = Math.abs(seconds);
  // Real times are often this fresh (a reason found by the run that just ended): not "in 0 s".
  if (size < 2) return "just now";
  const [value, unit] = size < 90 ? [size, "s"] : size < 5400 ? [Math.round(size / 60), "min"]
    : size < 129600 ? [Math.round(size / 3600), "h"] : [Math.round(size / 86400), "d"];
  return seconds >= 0 ? `in ${value} ${unit}` : `${value} ${unit} ago`;
}

function when(iso, empty) {
  if (!iso) return empty;
  return [h("time", { datetime: iso }, fmtTime(iso)), h("span", { class: "hint" }, ` (${relative(iso)})`)];
}

function renderHealth({ health }) {
  const box = clear($("#health-box"));
  if (health.phase === "loading" && !health.data) box.append(h("p", { class: "hint" }, "Loading…"));
  if (health.phase === "unavailable") {
    box.append(notice("info", h("p", { id: "health-unavailable" }, "Health is not available on this gateway.")));
    return;
  }
  if (health.phase === "error") {
    box.append(errorNotice(health.error, "Could not load the health."));
    return;
  }
  const data = health.data;
  if (!data) return;
  const [kind, word, sentence] = STATUS_WORDS[data.status] || ["muted", data.status, ""];
  box.append(
    h("p", { id: "health-status", class: "health-status", "data-status": data.status }, "Status: ", badge(kind, word)),
    sentence ? h("p", { id: "health-sentence" }, sentence) : null);
  const reasons = data.reasons || [];
  if (reasons.length) {
    box.append(h("h3", { id: "health-reasons-heading" }, reasons.length === 1 ? "Reason" : `Reasons (${reasons.length})`),
      h("ul", { id: "health-reasons", class: "reasons", "aria-labelledby": "health-reasons-heading" },
        reasons.map((r) => h("li", { "data-code": r.code },
          h("strong", {}, REASON_TITLES[r.code] || r.code), ": ", r.message,
          // The operator (platform key) can act on them: the operator view, on this workspace.
          r.code === "dead_letters" && isPlatform()
            ? [" ", h("button", { type: "button", class: "btn-link", id: "health-show-dead-letters", onclick: () => showTenant(state.tenant) },
              "Show them")]
            : null,
          h("span", { class: "reason-meta" }, r.since ? ["Since ", ...when(r.since, "")] : null,
            r.since ? " · " : null, "code ", h("code", {}, r.code))))));
  }
  const next = data.next || {};
  box.append(h("dl", { class: "facts", id: "health-facts" },
    h("dt", {}, "Last success"), h("dd", { id: "health-last-success" }, when(data.last_success_at, "Never")),
    NEXT_DUE.flatMap(([key, label]) => [
      h("dt", {}, label), h("dd", { "data-next": key }, when(next[key], "Not planned")),
    ])));
}

function sum(values) {
  return values.reduce((a, b) => a + (b || 0), 0);
}

function runsChart(days, buckets) {
  const byStatus = (status) => buckets.map((b) => sum(Object.values(b.runs || {}).map((kind) => kind[status] || 0)));
  const series = RUN_STATUSES.map(([status, label]) => ({ label, values: byStatus(status) }))
    .filter((s, i) => i < 3 || sum(s.values) > 0); // running/queued only when there were any
  const total = sum(series.flatMap((s) => s.values));
  const parts = series.filter((s) => sum(s.values) > 0).map((s) => `${sum(s.values)} ${s.label.toLowerCase()}`);
  return {
    id: "runs", title: "Runs by status", unit: "runs", kind: "bars", days, series,
    summary: `Runs by status per day: ${total} run${total === 1 ? "" : "s"} in ${days.length} days${parts.length ? ` (${parts.join(", ")})` : ""}.`,
  };
}

function recordsChart(days, buckets) {
  const series = OUTCOMES.map(([key, label]) => ({ label, values: buckets.map((b) => (b.records || {})[key] || 0) }));
  const parts = series.map((s) => `${sum(s.values)} ${s.label.toLowerCase()}`);
  return {
    id: "records", title: "Records by outcome", unit: "records", kind: "lines", days, series,
    scale: "asinh", note: "The scale grows by tens (0, 1, 10, 100…), so that small counts stay visible.",
    summary: `Records by outcome per day, in ${days.length} days: ${parts.join(", ")}.`,
  };
}

function durationChart(days, buckets) {
  const pick = (key) => buckets.map((b) => {
    const v = (b.duration_seconds || {})[key];
    return v === null || v === undefined ? null : Math.round(v * 10) / 10;
  });
  const series = [{ label: "Average", values: pick("avg") }, { label: "Longest", values: pick("max") }];
  const longest = Math.max(0, ...series[1].values.filter((v) => v !== null));
  const at = series[1].values.indexOf(longest);
  return {
    id: "durations", title: "Run durations", unit: "seconds", kind: "lines", days, series,
    format: (v) => `${v} s`,
    summary: longest > 0
      ? `Run durations per day, average and longest: the longest run took ${longest} s, on ${dayLabel(days[at])}.`
      : "Run durations per day: no finished runs.",
  };
}

function ironcladChart(days, buckets) {
  const series = [
    { label: "Requests", values: buckets.map((b) => (b.ironclad || {}).requests || 0) },
    { label: "Rate-limited (429)", values: buckets.map((b) => (b.ironclad || {}).rate_limited || 0) },
  ];
  return {
    id: "ironclad", title: "Ironclad requests and 429s", unit: "requests", kind: "lines", days, series,
    summary: `Requests to Ironclad per day: ${sum(series[0].values)} in ${days.length} days, `
      + `${sum(series[1].values)} of them answered 429 (rate-limited).`,
  };
}

// The charts drawn last, destroyed before the next render (uPlot and the resize watch hold listeners).
let plots = [];

function renderCharts({ runStats }) {
  for (const plot of plots) plot.destroy();
  plots = [];
  const box = clear($("#health-charts"));
  if (runStats.phase === "loading" && !runStats.data) box.append(h("p", { class: "hint" }, "Loading…"));
  if (runStats.phase === "unavailable") {
    box.append(notice("info", h("p", { id: "stats-unavailable" }, "Run statistics are not available on this gateway.")));
    return;
  }
  if (runStats.phase === "error") {
    box.append(errorNotice(runStats.error, "Could not load the run statistics."));
    return;
  }
  const buckets = (runStats.data || {}).buckets;
  if (!buckets) return;
  if (!buckets.length) {
    box.append(h("p", { class: "hint" }, "No runs in the last 7 days."));
    return;
  }
  const days = buckets.map((b) => b.start);
  const charts = [runsChart, recordsChart, durationChart, ironcladChart].map((make) => chartFigure(make(days, buckets)));
  box.append(...charts.map((c) => c.figure));
  plots = charts.map((c) => c.draw());
}
