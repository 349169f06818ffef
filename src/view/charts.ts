// Metric charts: one Plotly figure of SVG `scatter` traces in stacked subplots sharing the step axis
// (one figure, no WebGL: pages allow only a handful of WebGL contexts), with alert markers.
import Plotly from "./plotly.ts";
import type { Frame } from "../transport/frame.ts";
import type { Alert } from "../transport/messages.ts";
import { alertsFor, metricSeries, scalarKeys } from "../metrics/series.ts";
import { PALETTE } from "./palette.ts";

/** The panels, top to bottom: scalars first, then metric groups that warn early. */
const PANELS: { title: string; keys: string[] }[] = [
  { title: "class separation: Fisher ratio", keys: ["fisher"] },
  { title: "effective rank (RankMe)", keys: ["eff_rank"] },
  { title: "vs previous frame: <span style='color:#4e79a7'>CKA</span> · <span style='color:#f28e2b'>kNN Jaccard@10</span>", keys: ["cka_prev", "knn_jaccard_prev"] },
  { title: "<span style='color:#4e79a7'>dead</span> · <span style='color:#f28e2b'>dormant</span> unit fraction", keys: ["dead_frac", "dormant_frac"] },
];
const MIN_INTERVAL_MS = 400;
/** First and second series of a metric panel (the panel title names them in this order). */
const SECOND_COLORS = ["#4e79a7", "#f28e2b"];

export class MetricCharts {
  readonly el: HTMLDivElement;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = 0;
  private pending: (() => object[][]) | null = null;
  private disposed = false;

  constructor(parent: HTMLElement) {
    this.el = document.createElement("div");
    this.el.className = "sentrycam-charts";
    parent.appendChild(this.el);
  }

  /** Redraw for `frames` of one layer; calls closer together than 400 ms are merged. */
  update(frames: readonly Frame[], alerts: readonly Alert[], layer: string, shownStep: number | null): void {
    this.pending = () => [this.traces(frames), [this.layout(alertsFor(alerts, layer), shownStep, frames)]];
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
    this.last = performance.now();
    const [data, [layout]] = make();
    void Plotly.react(this.el, data, layout, { displaylogo: false, responsive: true, displayModeBar: false });
  }

  private traces(frames: readonly Frame[]): object[] {
    const traces: object[] = [];
    const scalars = metricSeries(frames, scalarKeys(frames), "scalars");
    scalars.forEach((s, i) => traces.push(line(s.steps, s.values, s.key, 1, PALETTE[i % PALETTE.length])));
    PANELS.forEach((panel, p) => {
      metricSeries(frames, panel.keys, "metrics").forEach((s, i) =>
        traces.push(line(s.steps, s.values, s.key, p + 2, SECOND_COLORS[i])),
      );
    });
    return traces;
  }

  private layout(alerts: Alert[], shownStep: number | null, frames: readonly Frame[]): object {
    const rows = PANELS.length + 1;
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
    const titles = [scalarNames.length ? scalarNames.join(" · ") : "scalars (pass loss=… to cam.step)", ...PANELS.map((p) => p.title)];
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

function line(x: number[], y: (number | null)[], name: string, row: number, color: string): object {
  const suffix = row === 1 ? "" : String(row);
  return { type: "scatter", mode: "lines+markers", x, y, name, xaxis: `x${suffix}`, yaxis: `y${suffix}`, line: { width: 1.5, color }, marker: { size: 3 }, connectgaps: false };
}
