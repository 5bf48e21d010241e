// Hand-drawn SVG charts: an area chart of changes per minute and bars of on-hand stock per
// warehouse. Sizes are in viewBox units; the SVG scales to its container.
import { formatClock, formatNumber, t } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";

// Phones draw into a narrower viewBox, so the labels stay readable when the chart is scaled
// down to the screen.
function narrow() {
  return window.matchMedia("(max-width: 768px)").matches;
}

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least max.
function niceMax(max) {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

// points: [{at, changes}]; an area chart with a labelled y axis and first/middle/last times.
export function areaChart(points, label) {
  const W = narrow() ? 360 : 600;
  const H = narrow() ? 200 : 220;
  const L = 44;
  const R = 12;
  const T = 14;
  const B = 28;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label });
  svg.append(s("title", {}, label));
  const max = niceMax(Math.max(0, ...points.map((p) => p.changes)));
  const x = (i) => L + (points.length <= 1 ? 0 : (i * (W - L - R)) / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const f of [0, 0.5, 1]) {
    const v = max * f;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, formatNumber(v)));
  }
  if (points.length) {
    const line = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.changes).toFixed(1)}`).join("");
    svg.append(s("path", { d: `${line}L${x(points.length - 1)},${y(0)}L${x(0)},${y(0)}Z`, class: "area" }));
    svg.append(s("path", { d: line, class: "line" }));
    const ticks = [...new Set([0, Math.floor((points.length - 1) / 2), points.length - 1])];
    for (const i of ticks) {
      const anchor = i === 0 ? "start" : i === points.length - 1 ? "end" : "middle";
      svg.append(s("text", { x: x(i), y: H - 8, "text-anchor": anchor, class: "axis" }, formatClock(points[i].at)));
    }
    const last = points[points.length - 1];
    svg.append(s("circle", { cx: x(points.length - 1), cy: y(last.changes), r: 4, class: "dot" }));
  }
  return svg;
}

// rows: [{warehouse, on_hand, skus}]; horizontal bars with the value at the end.
export function barChart(rows, label) {
  const W = narrow() ? 360 : 600;
  const rowH = 34;
  const L = narrow() ? 72 : 110;
  const R = narrow() ? 96 : 110;
  const H = Math.max(1, rows.length) * rowH + 8;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label });
  svg.append(s("title", {}, label));
  const max = Math.max(1, ...rows.map((r) => r.on_hand));
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const w = Math.max(2, ((W - L - R) * Math.max(0, r.on_hand)) / max);
    svg.append(s("text", { x: L - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "axis label" }, r.warehouse));
    svg.append(s("rect", { x: L, y: y + 6, width: w, height: rowH - 12, rx: 4, class: "bar" }));
    svg.append(
      s("text", { x: L + w + 8, y: y + rowH / 2 + 4, class: "axis value" }, t("chart.units", { n: formatNumber(r.on_hand) })),
    );
  });
  return svg;
}
