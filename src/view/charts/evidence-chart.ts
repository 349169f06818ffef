// Draws an alert's evidence (evidence-geometry.ts computes the geometry) as a small inline SVG:
// plain SVG, no Plotly and no WebGL (a page allows only a few WebGL contexts).
import { CHART_HEIGHT, CHART_WIDTH, type EvidenceGeometry, type Pt } from "./evidence-geometry.ts";

const SVG_NS = "http://www.w3.org/2000/svg";
const LINE_COLOR = "#4e79a7";
const REFERENCE_COLOR = "#555";
const BAND_COLOR = "rgba(78, 121, 167, 0.16)";
const WINDOW_COLOR = "rgba(128, 128, 128, 0.12)";
const THRESHOLD_COLOR = "#d62728";
const DOT_RADIUS = 1.8;
const ALERT_RADIUS = 4;
const FONT_SIZE = 9;

/** An SVG element showing `g`; with `g` null, one that says there is no evidence. */
export function renderEvidence(g: EvidenceGeometry | null, label: string): SVGSVGElement {
  const svg = el("svg", { viewBox: `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`, role: "img", "aria-label": label, class: "sentrycam-evidence-chart" });
  if (g === null) {
    svg.append(text(CHART_WIDTH / 2, CHART_HEIGHT / 2, "no evidence recorded", "middle"));
    return svg;
  }
  const { left, top, right, bottom } = g.plot;
  if (g.window !== null) svg.append(el("rect", { x: g.window.x0, y: top, width: Math.max(g.window.x1 - g.window.x0, 1), height: bottom - top, fill: WINDOW_COLOR }));
  if (g.band !== null) svg.append(el("rect", { x: left, y: g.band.y0, width: right - left, height: Math.max(g.band.y1 - g.band.y0, 0.5), fill: BAND_COLOR }));
  svg.append(el("path", { d: `M${left},${top}V${bottom}H${right}`, fill: "none", stroke: "currentColor", "stroke-opacity": 0.35 }));
  if (g.reference !== null) svg.append(hline(left, right, g.reference, { stroke: REFERENCE_COLOR, "stroke-dasharray": "4 3", class: "ev-reference" }));
  if (g.threshold !== null) svg.append(hline(left, right, g.threshold, { stroke: THRESHOLD_COLOR, "stroke-width": 1.2, class: "ev-threshold" }));
  for (const run of g.lines) {
    svg.append(el("polyline", { points: run.map(xy).join(" "), fill: "none", stroke: LINE_COLOR, "stroke-width": 1.4, class: "ev-values" }));
  }
  for (const d of g.dots) {
    const dot = el("circle", { cx: r1(d.x), cy: r1(d.y), r: DOT_RADIUS, fill: LINE_COLOR });
    dot.append(el("title", {}, `step ${d.step}: ${d.value}`));
    svg.append(dot);
  }
  if (g.alert !== null) {
    svg.append(el("line", { x1: r1(g.alert.x), x2: r1(g.alert.x), y1: top, y2: bottom, stroke: THRESHOLD_COLOR, "stroke-opacity": 0.5, "stroke-dasharray": "2 2" }));
    const y = g.alert.y ?? top + ALERT_RADIUS; // a non-finite value: marked at the top
    svg.append(el("circle", { cx: r1(g.alert.x), cy: r1(y), r: ALERT_RADIUS, fill: "none", stroke: THRESHOLD_COLOR, "stroke-width": 1.5, class: "ev-alert" }));
  }
  for (const t of g.yTicks) svg.append(text(left - 3, t.y + FONT_SIZE / 3, t.label, "end"));
  for (const t of g.xTicks) svg.append(text(t.x, bottom + FONT_SIZE + 3, t.label, "middle"));
  return svg;
}

function hline(x0: number, x1: number, y: number, attrs: Record<string, string | number>): SVGElement {
  return el("line", { x1: x0, x2: x1, y1: r1(y), y2: r1(y), ...attrs });
}

function text(x: number, y: number, s: string, anchor: "start" | "middle" | "end"): SVGElement {
  return el("text", { x: r1(x), y: r1(y), "text-anchor": anchor, "font-size": FONT_SIZE, fill: "currentColor" }, s);
}

function xy(p: Pt): string {
  return `${r1(p.x)},${r1(p.y)}`;
}

/** One decimal: enough for a chart this size, and short markup. */
function r1(v: number): number {
  return Math.round(v * 10) / 10;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, content?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (content !== undefined) e.textContent = content;
  return e;
}
