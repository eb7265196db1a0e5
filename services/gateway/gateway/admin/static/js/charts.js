// Charts of per-day numbers, drawn with uPlot (vendored, see vendor/README.md) and readable without colour:
// each series differs by a fill pattern (bars) or a dash and a marker (lines) as well as by colour, has a
// legend entry drawn the same way, and each chart carries a one-sentence summary as its accessible name
// and its numbers as a table under "Show the numbers".

import uPlot from "../vendor/uPlot.esm.js";
import { h } from "./dom.js";

// Dark enough for 3:1 against white (non-text contrast), and told apart by more than hue anyway.
const COLOURS = ["#1f4fa3", "#b45309", "#a11d1d", "#0f766e", "#6d28d9", "#4a5360"];
// Bars: one fill pattern per series. Lines: one dash and one marker per series.
const PATTERNS = ["solid", "diagonal", "cross", "dots", "vertical", "horizontal"];
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [14, 6], [4, 4]];
const MARKERS = ["filled", "hollow", "filled", "hollow", "filled", "hollow"];
const DAY_SECONDS = 86400;

/** A day label for a bucket start (buckets are UTC days). */
export function dayLabel(iso) {
  return new Date(iso).toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" });
}

function patternFill(kind, colour) {
  if (kind === "solid") return colour;
  const tile = document.createElement("canvas");
  tile.width = 8;
  tile.height = 8;
  const g = tile.getContext("2d");
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, 8, 8);
  g.strokeStyle = colour;
  g.fillStyle = colour;
  g.lineWidth = 2;
  g.beginPath();
  if (kind === "diagonal") {
    g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6);
  } else if (kind === "cross") {
    g.moveTo(0, 0); g.lineTo(8, 8); g.moveTo(8, 0); g.lineTo(0, 8);
  } else if (kind === "vertical") {
    g.moveTo(4, 0); g.lineTo(4, 8);
  } else if (kind === "horizontal") {
    g.moveTo(0, 4); g.lineTo(8, 4);
  } else if (kind === "dots") {
    g.arc(4, 4, 2, 0, 2 * Math.PI);
    g.fill();
  }
  g.stroke();
  return g.createPattern(tile, "repeat");
}

// The legend's swatch: a small canvas drawn like the series (pattern, or dash and marker); decorative,
// since the legend's text names the series.
function swatch(style) {
  const canvas = h("canvas", { width: 30, height: 14, class: "swatch", "aria-hidden": "true" });
  const g = canvas.getContext("2d");
  g.strokeStyle = style.colour;
  if (style.pattern) {
    g.fillStyle = patternFill(style.pattern, style.colour);
    g.fillRect(1, 1, 28, 12);
    g.lineWidth = 1;
    g.strokeRect(1.5, 1.5, 27, 11);
  } else {
    g.lineWidth = 2;
    g.setLineDash(style.dash);
    g.beginPath();
    g.moveTo(1, 7);
    g.lineTo(29, 7);
    g.stroke();
    g.setLineDash([]);
    g.beginPath();
    g.arc(15, 7, 3.5, 0, 2 * Math.PI);
    g.fillStyle = style.marker === "filled" ? style.colour : "#ffffff";
    g.fill();
    g.stroke();
  }
  return canvas;
}

function styleOf(index, kind) {
  const colour = COLOURS[index % COLOURS.length];
  return kind === "bars"
    ? { colour, pattern: PATTERNS[index % PATTERNS.length] }
    : { colour, dash: DASHES[index % DASHES.length], marker: MARKERS[index % MARKERS.length] };
}

function uplotOptions(chart, styles, width) {
  const stacked = chart.kind === "bars";
  const bars = uPlot.paths.bars({ size: [0.6, 48] });
  return {
    width,
    height: 220,
    legend: { show: false }, // ours, drawn with the series' patterns, is in the figure
    cursor: { show: false }, // the numbers are in the table, for every reader
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    scales: {
      // Half a day either side, so the first and last bars are whole.
      x: { time: true, range: (u, min, max) => [min - DAY_SECONDS / 2, max + DAY_SECONDS / 2] },
      // "asinh": a scale like a logarithm's that keeps 0, for series of very different sizes (300
      // unchanged records beside 2 deleted ones would otherwise lie flat on the axis).
      y: chart.scale === "asinh"
        ? { distr: 4, asinh: 1, range: (u, min, max) => [0, Math.max(max, 1) * 1.5] }
        : { range: (u, min, max) => [0, Math.max(max, 1) * 1.1] },
    },
    axes: [
      { stroke: "#1b1f24", grid: { stroke: "#e1e5ea" }, ticks: { stroke: "#c9d0d8" }, incrs: [DAY_SECONDS] },
      {
        stroke: "#1b1f24", grid: { stroke: "#e1e5ea" }, ticks: { stroke: "#c9d0d8" }, label: chart.unit, size: 56,
        // On the asinh scale, a line at each power of ten only (uPlot's default adds every minor step).
        splits: chart.scale === "asinh" ? (u, axis, min, max) => [0, 1, 10, 100, 1000, 10000, 100000].filter((v) => v <= max) : undefined,
      },
    ],
    series: [
      {},
      // Stacked bars are drawn tallest (the running total of every series) first, so each lower part
      // is painted over it: the series are given to uPlot in reverse.
      ...(stacked ? [...chart.series.keys()].reverse() : [...chart.series.keys()]).map((i) => {
        const style = styles[i];
        return stacked
          ? { label: chart.series[i].label, stroke: style.colour, width: 1, fill: patternFill(style.pattern, style.colour), paths: bars, points: { show: false } }
          : {
            label: chart.series[i].label, stroke: style.colour, width: 2, dash: style.dash,
            points: { show: true, size: 8, width: 2, stroke: style.colour, fill: style.marker === "filled" ? style.colour : "#ffffff" },
          };
      }),
    ],
  };
}

function uplotData(chart) {
  const xs = chart.days.map((iso) => Math.floor(Date.parse(iso) / 1000));
  if (chart.kind !== "bars") return [xs, ...chart.series.map((s) => s.values)];
  // Running totals bottom-up, handed over top-down (see uplotOptions).
  const totals = [];
  let running = chart.days.map(() => 0);
  for (const s of chart.series) {
    running = running.map((v, d) => v + (s.values[d] || 0));
    totals.push(running);
  }
  // A day without any (an empty bucket) draws no bar at all, rather than a hairline on the axis.
  return [xs, ...totals.reverse().map((values) => values.map((v) => (v === 0 ? null : v)))];
}

function numbersTable(chart) {
  const format = chart.format || String;
  return h("details", { class: "chart-numbers" },
    h("summary", {}, "Show the numbers"),
    h("div", { class: "table-wrap" }, h("table", { "data-chart-table": chart.id },
      h("caption", { class: "visually-hidden" }, `${chart.title}, per day`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day (UTC)"),
        chart.series.map((s) => h("th", { scope: "col", class: "num" }, s.label)))),
      h("tbody", {}, chart.days.map((day, d) => h("tr", {},
        h("th", { scope: "row" }, dayLabel(day)),
        chart.series.map((s) => h("td", { class: "num" }, s.values[d] === null || s.values[d] === undefined ? "—" : format(s.values[d])))))))));
}

/**
 * A figure: title, legend, the chart (role img, named by `chart.summary`), and its numbers as a table.
 * chart = {id, title, unit, kind: "bars" (stacked) | "lines", days: [ISO], series: [{label, values}], summary,
 * format?, scale?: "asinh", note?}. Returns {figure, draw}: draw once the figure is in the page (the width
 * comes from the figure's box); draw returns a handle to `destroy()` before drawing anew.
 */
export function chartFigure(chart) {
  const styles = chart.series.map((_, i) => styleOf(i, chart.kind));
  const plotBox = h("div", { class: "chart-plot", role: "img", "aria-label": chart.summary, "data-chart": chart.id });
  const figure = h("figure", { class: "chart", id: `chart-${chart.id}` },
    h("figcaption", {}, h("h3", {}, chart.title)),
    h("ul", { class: "chart-legend", "aria-label": `Legend of ${chart.title}` },
      chart.series.map((s, i) => h("li", { "data-series": s.label }, swatch(styles[i]), " ", s.label))),
    chart.note ? h("p", { class: "hint" }, chart.note) : null,
    plotBox,
    h("p", { class: "hint chart-summary" }, chart.summary),
    numbersTable(chart));
  const widthNow = () => Math.max(Math.min(plotBox.clientWidth || 560, 720), 280);
  const draw = () => {
    const plot = new uPlot(uplotOptions(chart, styles, widthNow()), uplotData(chart), plotBox);
    // Follow the figure's width (a window resized, a grid of two columns becoming one).
    const watch = new ResizeObserver(() => {
      if (plot.width !== widthNow()) plot.setSize({ width: widthNow(), height: plot.height });
    });
    watch.observe(plotBox);
    return { destroy: () => { watch.disconnect(); plot.destroy(); } };
  };
  return { figure, draw };
}
