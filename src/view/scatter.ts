/**
 * The 2-D point clouds: one Plotly figure with one subplot ("panel") per layer shown, so every
 * panel shares the figure's one WebGL context (pages allow only a handful). Each panel draws, in
 * order: the decision-region background (a heatmap image, no WebGL), the points (scattergl), the
 * selected samples' trails (one line trace) and the rings of selected samples and movers. Points
 * glide from where they are when the panels show the same layers, point counts and reducer.
 */
import Plotly from "./plotly.ts";
import type { Frame } from "../transport/frame.ts";
import type { Regions } from "../analysis/regions.ts";
import { bounds, interpolate } from "./glide.ts";
import { pointColors, type ColorBy } from "./palette.ts";
import { hoverRows, panelGrid, regionTrace, ringRows, ringTrace, wrongMarks } from "./scatter-traces.ts";
import type { ImageFormat } from "../contract.ts";

const GLIDE_MS = 450;
/**
 * Points glide only when the figure holds at most this many. A glide re-plots every point on each
 * animation frame (Plotly.restyle, then the browser reads the WebGL canvas back to composite it):
 * cheap for a few thousand points, but at 5,000 points under software WebGL each step took 50-100
 * ms, so a 450 ms glide was several long tasks per frame, competing with the reduction worker.
 * Larger clouds jump to their new positions (the warm start keeps them where they were).
 */
export const GLIDE_MAX_POINTS = 2000;
/** Traces per panel: regions, points, trails, rings. */
export const TRACES_PER_PANEL = 4;
const POINTS = 1;
const RINGS = 3;

export interface Panel {
  frame: Frame;
  /** Target positions, 2n interleaved, NaN for rows without a position. */
  xy: Float32Array;
  method: string;
  title: string;
  regions: Regions | null;
  trails: { x: Float64Array; y: Float64Array } | null;
  /** Rows to ring: selected samples, then movers. */
  selectedRows: Int32Array;
  moverRows: Int32Array | null;
}

export interface PanelStyle {
  colorBy: ColorBy;
  classNames: readonly string[];
  /** Mark wrong predictions with × (with the regions background). */
  markWrong: boolean;
}

export interface PickHandlers {
  /** A click on a point of panel `panel`, row `row`; `add` when Shift/Ctrl/⌘ was held. */
  click(panel: number, row: number, add: boolean): void;
  /** A box or lasso selection: rows per panel. */
  select(rows: Map<number, number[]>): void;
}

export class ScatterView {
  readonly el: HTMLDivElement;
  private shown: Panel[] = [];
  /** The panels the plot shows now (a click or a selection refers to these, not to `shown`). */
  private drawn: Panel[] = [];
  /** Positions on screen now, per panel: the target, or where a running glide has got to. */
  private onScreen: (Float32Array | null)[] = [];
  private glideToken = 0;
  private animation = 0;
  private disposed = false;
  private ready: Promise<unknown> = Promise.resolve();
  private listening = false;

  constructor(parent: HTMLElement, private readonly picks: PickHandlers) {
    this.el = document.createElement("div");
    this.el.className = "sentrycam-scatter";
    parent.appendChild(this.el);
  }

  /** The panels on the plot now. */
  get panels(): readonly Panel[] {
    return this.drawn;
  }

  /** Show `panels`; points glide when each panel keeps its layer, point count and reducer. */
  async show(panels: Panel[], style: PanelStyle): Promise<void> {
    if (this.disposed) return;
    const token = ++this.glideToken;
    cancelAnimationFrame(this.animation);
    const previous = this.shown;
    const from = this.onScreen;
    const glide =
      panels.reduce((sum, p) => sum + p.frame.n, 0) <= GLIDE_MAX_POINTS &&
      previous.length === panels.length &&
      panels.every((p, i) => {
        const q = previous[i], f = from[i];
        return f !== null && f !== undefined && f.length === p.xy.length && q.frame.layer === p.frame.layer && q.method === p.method;
      }) &&
      panels.some((p, i) => !sameValues(from[i] as Float32Array, p.xy));
    this.shown = panels;
    const starts = panels.map((p, i) => (glide ? (from[i] as Float32Array) : p.xy));
    await this.ready;
    if (this.disposed || token !== this.glideToken) return;
    const traces = panels.flatMap((p, i) => this.traces(p, i, starts[i], style));
    this.ready = Plotly.react(this.el, traces, this.layout(panels, starts), {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["toImage"],
    });
    await this.ready;
    this.drawn = panels;
    this.listen();
    this.onScreen = starts;
    if (glide && !this.disposed && token === this.glideToken) await this.glide(starts, panels.map((p) => p.xy), token);
    else if (token === this.glideToken) this.onScreen = panels.map((p) => p.xy);
  }

  /** Stop a running glide where it is (the next `show` continues from there). */
  interrupt(): void {
    this.glideToken++;
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    const plot = this.el as unknown as { on(event: string, fn: (ev: PlotlyEvent) => void): void };
    plot.on("plotly_click", (ev) => {
      // The nearest mark may be a point or the ring drawn over one (a selected sample, a mover).
      const p = ev.points?.find((pt) => pt.curveNumber % TRACES_PER_PANEL === POINTS || pt.curveNumber % TRACES_PER_PANEL === RINGS);
      if (p === undefined) return;
      const panel = Math.floor(p.curveNumber / TRACES_PER_PANEL);
      const shown = this.drawn[panel];
      const row = p.curveNumber % TRACES_PER_PANEL === POINTS ? p.pointNumber : shown === undefined ? undefined : ringRows(shown)[p.pointNumber];
      if (row === undefined) return;
      const e = ev.event;
      this.picks.click(panel, row, !!(e && (e.shiftKey || e.ctrlKey || e.metaKey)));
    });
    plot.on("plotly_selected", (ev) => {
      if (ev === undefined || ev === null) return;
      const rows = new Map<number, number[]>();
      for (const pt of ev.points ?? []) {
        if (pt.curveNumber % TRACES_PER_PANEL !== POINTS) continue;
        const panel = Math.floor(pt.curveNumber / TRACES_PER_PANEL);
        const list = rows.get(panel) ?? [];
        list.push(pt.pointNumber);
        rows.set(panel, list);
      }
      // Plotly also reports an empty selection when a redraw clears its box: keep the selection
      // (the toolbar's "clear selection" button clears it).
      if (rows.size === 0) return;
      this.picks.select(rows);
      // The rings show the selection; Plotly's outline would stay on top and catch the clicks
      // meant for the points inside it.
      void Plotly.relayout(this.el, { selections: [] });
    });
  }

  private glide(from: Float32Array[], to: Float32Array[], token: number): Promise<void> {
    // rAF stops in hidden tabs: a timer keeps the glide (and whatever waits for it) moving.
    const schedule = (f: () => void) => (document.hidden ? (setTimeout(f, 50), 0) : requestAnimationFrame(f));
    const indices = to.map((_, i) => i * TRACES_PER_PANEL + POINTS);
    return new Promise((resolve) => {
      const t0 = performance.now();
      const tick = () => {
        if (this.disposed || token !== this.glideToken) return resolve();
        const t = Math.min(1, (performance.now() - t0) / GLIDE_MS);
        const steps = to.map((target, i) => interpolate(from[i], target, t));
        // Each restyle may take a while under software WebGL: time, not frame count, drives t.
        void Plotly.restyle(this.el, { x: steps.map((s) => s[0]), y: steps.map((s) => s[1]) }, indices).then(() => {
          if (token !== this.glideToken) return resolve();
          this.onScreen = t >= 1 ? to : steps.map(([xs, ys]) => interleave(xs, ys));
          if (t < 1 && !this.disposed) this.animation = schedule(tick);
          else resolve();
        });
      };
      this.animation = schedule(tick);
    });
  }

  private traces(p: Panel, index: number, xy: Float32Array, style: PanelStyle): object[] {
    const { frame } = p;
    const n = frame.n;
    const axes = { xaxis: `x${index === 0 ? "" : index + 1}`, yaxis: `y${index === 0 ? "" : index + 1}` };
    const xs = new Float64Array(n), ys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = xy[2 * i];
      ys[i] = xy[2 * i + 1];
    }
    const colors = pointColors(frame.labels, frame.preds, n, style.colorBy, frame.groups);
    const size = n > 20000 ? 2 : n > 5000 ? 3 : 5;
    const rings = ringTrace(p, axes);
    return [
      regionTrace(p.regions, axes),
      {
        type: "scattergl", mode: "markers", x: xs, y: ys, ...axes,
        customdata: hoverRows(frame, style.classNames),
        hovertemplate: "id %{customdata[0]}<br>label %{customdata[1]}<br>pred %{customdata[2]}<br>group %{customdata[3]}<extra></extra>",
        marker: { color: colors, opacity: 0.8, ...(style.markWrong ? wrongMarks(frame, size) : { symbol: "circle", size }) },
        showlegend: false,
      },
      {
        type: "scattergl", mode: "lines", ...axes,
        x: p.trails?.x ?? [], y: p.trails?.y ?? [],
        line: { color: "rgba(40,40,40,0.35)", width: 1 }, hoverinfo: "skip", showlegend: false,
        visible: p.trails !== null,
      },
      rings,
    ];
  }

  private layout(panels: Panel[], starts: Float32Array[]): object {
    const grid = panelGrid(panels.length);
    const layout: Record<string, unknown> = {
      margin: { l: 36, r: 12, t: 30, b: 28 },
      hovermode: "closest",
      dragmode: "zoom",
      // Same revision on every update: a user's zoom or pan survives new frames.
      uirevision: `panels-${panels.map((p) => p.frame.layer).join("|")}`,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 11 },
      annotations: [] as object[],
      showlegend: false,
    };
    const annotations = layout.annotations as object[];
    panels.forEach((p, i) => {
      const [x0, x1, y0, y1] = grid[i];
      const suffix = i === 0 ? "" : String(i + 1);
      const range = bounds(...[starts[i], p.xy]);
      // type: no guessing from the values (Plotly scans them for dates on every draw).
      layout[`xaxis${suffix}`] = { type: "linear", domain: [x0, x1], range: range?.x, zeroline: false, showgrid: false, anchor: `y${suffix}`, showticklabels: panels.length === 1 };
      layout[`yaxis${suffix}`] = { type: "linear", domain: [y0, y1], range: range?.y, zeroline: false, showgrid: false, anchor: `x${suffix}`, showticklabels: panels.length === 1 };
      annotations.push({
        text: p.title, xref: "paper", yref: "paper", x: x0, y: y1, xanchor: "left", yanchor: "bottom",
        showarrow: false, font: { size: panels.length === 1 ? 13 : 11 },
      });
      const bad = nonFiniteRows(p.xy);
      if (bad > 0) {
        annotations.push({
          text: bad === p.frame.n ? `all ${bad} points have non-finite activations at this step` : `${bad} point(s) with non-finite activations (not drawn)`,
          xref: "paper", yref: "paper", x: (x0 + x1) / 2, y: (y0 + y1) / 2, xanchor: "center", yanchor: bad === p.frame.n ? "middle" : "bottom",
          showarrow: false, font: { size: 11, color: "#d62728" },
        });
      }
    });
    return layout;
  }

  /** The plot as an image: a data URL (PNG) or SVG text. */
  async image(format: ImageFormat): Promise<string> {
    await this.ready;
    return Plotly.toImage(this.el, { format, width: this.el.clientWidth || 640, height: this.el.clientHeight || 480, scale: format === "png" ? 2 : 1 });
  }

  download(format: ImageFormat, filename: string): Promise<string> {
    return Plotly.downloadImage(this.el, { format, filename });
  }

  dispose(): void {
    this.disposed = true;
    this.glideToken++;
    cancelAnimationFrame(this.animation);
    Plotly.purge(this.el);
    this.el.remove();
  }
}

interface PlotlyEvent {
  points?: { curveNumber: number; pointNumber: number }[];
  event?: MouseEvent;
}

function nonFiniteRows(xy: Float32Array): number {
  let bad = 0;
  for (let i = 0; 2 * i + 1 < xy.length; i++) if (!Number.isFinite(xy[2 * i]) || !Number.isFinite(xy[2 * i + 1])) bad++;
  return bad;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

function interleave(xs: Float64Array, ys: Float64Array): Float32Array {
  const out = new Float32Array(xs.length * 2);
  for (let i = 0; i < xs.length; i++) {
    out[2 * i] = xs[i];
    out[2 * i + 1] = ys[i];
  }
  return out;
}
