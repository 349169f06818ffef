// Metric charts: one Plotly figure of SVG `scatter` traces in stacked subplots sharing the step axis
// (one figure, no WebGL: pages allow only a handful of WebGL contexts), with alert markers.
import Plotly from "../plotly.ts";
import type { Frame } from "../../transport/frame.ts";
import type { Alert, TaskBoundary } from "../../transport/messages.ts";
import { alertsFor, chartKey, groupKeys, metricSeries, scalarKeys } from "./series.ts";
import { PALETTE, groupColor } from "../palette.ts";
import { CHART_PANELS, GROUP_PANELS } from "../../registry.ts";

/** A chart panel: its title and the metric keys drawn in it (one colour each). */
interface ChartPanel {
  title: string;
  keys: string[];
  /** Legend text per key (group names for the per-group panels). */
  names?: string[];
  /** One line per group: each group's code, for its colour (the scatter's and the legend's). */
  codes?: number[];
}
const MIN_INTERVAL_MS = 400;
/** While the view is busy (a frame being reduced or drawn), a redraw waits this long between
 *  looks, and at most MAX_DEFER_MS in all: the charts' redraw (70-300 ms of the main thread) then
 *  neither delays the frame's drawing nor competes with the worker for the CPU. */
const DEFER_STEP_MS = 200;
const MAX_DEFER_MS = 5000;
/** Height per chart row, and the least height (the five fixed rows fit 360 px). */
const ROW_HEIGHT_PX = 72;
const MIN_HEIGHT_PX = 360;
/** First and second series of a metric panel (the panel title names them in this order). */
const SECOND_COLORS = ["#4e79a7", "#f28e2b"];

export class MetricCharts {
  readonly el: HTMLDivElement;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = 0;
  private pending: (() => { data: object[]; layout: object; rows: number }) | null = null;
  /** What the last update asked to draw (see chartKey): an update that changes nothing is dropped. */
  private key = "";
  private disposed = false;

  /** When the charts were first asked to redraw since they last did (for MAX_DEFER_MS). */
  private askedAt: number | null = null;

  /** `busy`: true while the view reduces or draws the frame it is about to show. */
  constructor(parent: HTMLElement, private readonly busy: () => boolean = () => false) {
    this.el = document.createElement("div");
    this.el.className = "sentrycam-charts";
    parent.appendChild(this.el);
  }

  /** Redraw for `frames` of one layer; calls closer together than 400 ms are merged. */
  update(frames: readonly Frame[], alerts: readonly Alert[], tasks: readonly TaskBoundary[], layer: string, shownStep: number | null): void {
    // The view asks on every frame, alert and drawing; redrawing the SVG subplots costs 70-190 ms
    // of the main thread, so only a change of what they show redraws them.
    const key = chartKey(frames, alerts, tasks, layer, shownStep);
    if (key === this.key) return;
    this.key = key;
    this.pending = () => {
      const panels = chartPanels(frames);
      return { data: this.traces(frames, panels), layout: this.layout(panels, alertsFor(alerts, layer), tasks, shownStep, frames), rows: panels.length + 1 };
    };
    this.askedAt ??= performance.now();
    const wait = Math.max(0, this.last + MIN_INTERVAL_MS - performance.now());
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = null;
    const make = this.pending;
    this.pending = null;
    if (make === null) return;
    if (!this.el.isConnected) {
      // A notebook may detach off-screen outputs: keep the update and try again later.
      this.pending = make;
      if (!this.disposed) this.timer = setTimeout(() => this.flush(), 1000);
      return;
    }
    if (this.busy() && performance.now() - (this.askedAt ?? 0) < MAX_DEFER_MS) {
      this.pending = make;
      if (!this.disposed) this.timer = setTimeout(() => this.flush(), DEFER_STEP_MS);
      return;
    }
    this.askedAt = null;
    this.last = performance.now();
    const { data, layout, rows } = make();
    // Room for every panel: the per-group panels come and go with the frames' groups.
    const height = Math.max(MIN_HEIGHT_PX, rows * ROW_HEIGHT_PX);
    this.el.style.height = `${height}px`;
    (layout as { height?: number }).height = height;
    void Plotly.react(this.el, data, layout, { displaylogo: false, responsive: true, displayModeBar: false });
  }

  private traces(frames: readonly Frame[], panels: ChartPanel[]): object[] {
    const traces: object[] = [];
    const scalars = metricSeries(frames, scalarKeys(frames), "scalars");
    scalars.forEach((s, i) => traces.push(line(s.steps, s.values, s.key, 1, PALETTE[i % PALETTE.length])));
    panels.forEach((panel, p) => {
      metricSeries(frames, panel.keys, "metrics").forEach((s, i) =>
        traces.push(line(s.steps, s.values, panel.names?.[i] ?? s.key, p + 2, seriesColor(panel, i))),
      );
    });
    return traces;
  }

  private layout(panels: ChartPanel[], alerts: Alert[], tasks: readonly TaskBoundary[], shownStep: number | null, frames: readonly Frame[]): object {
    const rows = panels.length + 1;
    const gap = 0.07;
    const h = (1 - gap * (rows - 1)) / rows;
    const layout: Record<string, unknown> = {
      margin: { l: 40, r: 8, t: 14, b: 22 },
      showlegend: false,
      font: { family: "system-ui, sans-serif", size: 9 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      hovermode: "x unified",
      annotations: [] as object[],
      shapes: [] as object[],
    };
    const scalarNames = scalarKeys(frames).map((k, i) => `<span style='color:${PALETTE[i % PALETTE.length]}'>${k}</span>`);
    const titles = [scalarNames.length ? scalarNames.join(" · ") : "scalars (pass loss=… to cam.step)", ...panels.map(panelTitle)];
    for (let r = 0; r < rows; r++) {
      const top = 1 - r * (h + gap);
      const suffix = r === 0 ? "" : String(r + 1);
      layout[`yaxis${suffix}`] = { domain: [top - h, top], zeroline: false, tickfont: { size: 8 }, nticks: 4 };
      layout[`xaxis${suffix}`] = { anchor: `y${suffix}`, matches: r === 0 ? undefined : "x", showticklabels: r === rows - 1, tickfont: { size: 8 } };
      (layout.annotations as object[]).push({
        text: titles[r], xref: "paper", yref: "paper", x: 0, y: top, xanchor: "left", yanchor: "bottom",
        showarrow: false, font: { size: 9, color: "#666" },
      });
    }
    const shapes = layout.shapes as object[];
    const steps = frames.map((f) => f.step);
    const seen = new Set<string>();
    for (const a of alerts) {
      const k = `${a.step}|${a.severity}`;
      if (seen.has(k)) continue;
      seen.add(k);
      shapes.push({
        type: "line", xref: "x", yref: "paper", x0: a.step, x1: a.step, y0: 0, y1: 1,
        line: { color: a.severity === "critical" ? "#d62728" : "#ff9f1c", width: 1.5, dash: "dot" },
      });
    }
    for (const t of tasks) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t.step, x1: t.step, y0: 0, y1: 1, line: { color: "#6a3d9a", width: 1.5, dash: "dash" } });
      (layout.annotations as object[]).push({
        text: t.name, xref: "x", yref: "paper", x: t.step, y: 1, xanchor: "left", yanchor: "top",
        showarrow: false, font: { size: 8, color: "#6a3d9a" },
      });
    }
    if (shownStep !== null && steps.length > 0) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: shownStep, x1: shownStep, y0: 0, y1: 1, line: { color: "#444", width: 1 } });
    }
    return layout;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    Plotly.purge(this.el);
    this.el.remove();
  }
}

/** The metric panels: the fixed ones, then one per group metric when the frames carry groups. */
function chartPanels(frames: readonly Frame[]): ChartPanel[] {
  const panels: ChartPanel[] = CHART_PANELS.map((p) => ({ title: p.title, keys: [...p.keys], names: p.names && [...p.names] }));
  for (const { title, metric } of GROUP_PANELS) {
    const groups = groupKeys(frames, metric);
    if (groups.length > 0) panels.push({ title, keys: groups.map((g) => g.key), names: groups.map((g) => g.group), codes: groups.map((g) => groupCode(frames, g.group)) });
  }
  return panels;
}

/** The code of group `name` in the newest frame that names it. */
function groupCode(frames: readonly Frame[], name: string): number {
  for (let i = frames.length - 1; i >= 0; i--) {
    const code = frames[i].groupNames.indexOf(name);
    if (code >= 0) return code;
  }
  return 0;
}

function seriesColor(panel: ChartPanel, i: number): string {
  if (panel.codes !== undefined) return groupColor(panel.codes[i]);
  return panel.keys.length <= SECOND_COLORS.length ? SECOND_COLORS[i] : PALETTE[i % PALETTE.length];
}

/** The title, with each series' name in its colour when the panel has several. */
function panelTitle(panel: ChartPanel): string {
  if (panel.keys.length < 2) return panel.title;
  const names = panel.keys.map((k, i) => `<span style='color:${seriesColor(panel, i)}'>${panel.names?.[i] ?? k}</span>`);
  return `${panel.title}: ${names.join(" · ")}`;
}

function line(x: number[], y: (number | null)[], name: string, row: number, color: string): object {
  const suffix = row === 1 ? "" : String(row);
  return { type: "scatter", mode: "lines+markers", x, y, name, xaxis: `x${suffix}`, yaxis: `y${suffix}`, line: { width: 1.5, color }, marker: { size: 3 }, connectgaps: false };
}
