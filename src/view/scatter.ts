import Plotly from "./plotly.ts";
import type { Frame } from "../transport/frame.ts";
import { bounds, interpolate } from "./glide.ts";
import { pointColors, type ColorBy } from "./palette.ts";

const GLIDE_MS = 450;

/** The 2-D point cloud of one frame: one scattergl trace, plus a marker trace for non-finite rows. */
export class ScatterView {
  readonly el: HTMLDivElement;
  /** The frame shown (or being glided to), its target positions and the reducer that made them. */
  private shown: { frame: Frame; xy: Float32Array; method: string } | null = null;
  /** Positions on screen now: the target, or where a running glide has got to. */
  private onScreen: Float32Array | null = null;
  private glideToken = 0;
  private animation = 0;
  private disposed = false;
  private ready: Promise<unknown> = Promise.resolve();

  constructor(parent: HTMLElement) {
    this.el = document.createElement("div");
    this.el.className = "sentrycam-scatter";
    parent.appendChild(this.el);
  }

  /** Number of points currently drawn. */
  get points(): number {
    return this.shown?.frame.n ?? 0;
  }

  /**
   * Show `frame` at positions `xy` (interleaved, NaN for excluded rows). Points glide from where
   * they are on screen when the layer, point count and reducer are unchanged; a newer call
   * interrupts a running glide and continues from the interpolated positions.
   */
  async show(frame: Frame, xy: Float32Array, colorBy: ColorBy, title: string, method: string): Promise<void> {
    if (this.disposed) return;
    const token = ++this.glideToken;
    cancelAnimationFrame(this.animation);
    const previous = this.shown;
    const from = this.onScreen;
    const glide =
      previous !== null && from !== null && from.length === xy.length &&
      previous.frame.layer === frame.layer && previous.method === method && !sameValues(from, xy);
    this.shown = { frame, xy, method };
    const start = glide ? from : xy;
    const range = bounds(...(glide ? [from, xy] : [xy]));
    await this.ready;
    if (this.disposed || token !== this.glideToken) return;
    const bad = nonFiniteRows(xy); // rows without a position at the target: listed apart
    this.ready = Plotly.react(this.el, this.traces(frame, start, bad, colorBy), this.layout(range, title, bad.length, frame.n), {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"],
    });
    await this.ready;
    this.onScreen = start;
    if (glide && !this.disposed && token === this.glideToken) await this.glide(start, xy, token);
    else if (token === this.glideToken) this.onScreen = xy;
  }

  /** Stop a running glide where it is (the next `show` continues from there). */
  interrupt(): void {
    this.glideToken++;
  }

  private glide(from: Float32Array, to: Float32Array, token: number): Promise<void> {
    // rAF stops in hidden tabs: a timer keeps the glide (and whatever waits for it) moving.
    const schedule = (f: () => void) => (document.hidden ? (setTimeout(f, 50), 0) : requestAnimationFrame(f));
    return new Promise((resolve) => {
      const t0 = performance.now();
      const tick = () => {
        if (this.disposed || token !== this.glideToken) return resolve();
        const t = Math.min(1, (performance.now() - t0) / GLIDE_MS);
        const [xs, ys] = interpolate(from, to, t);
        // Each restyle may take a while under software WebGL: time, not frame count, drives t.
        void Plotly.restyle(this.el, { x: [xs], y: [ys] }, [0]).then(() => {
          if (token !== this.glideToken) return resolve();
          this.onScreen = t >= 1 ? to : interleave(xs, ys);
          if (t < 1 && !this.disposed) this.animation = schedule(tick);
          else resolve();
        });
      };
      this.animation = schedule(tick);
    });
  }

  /** Traces drawn at `xy` (a glide's start); `bad` lists the target's non-finite rows. */
  private traces(frame: Frame, xy: Float32Array, bad: number[], colorBy: ColorBy): object[] {
    const n = frame.n;
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = xy[2 * i];
      ys[i] = xy[2 * i + 1];
    }
    const custom = new Array<[number, string, string]>(n);
    for (let i = 0; i < n; i++) {
      custom[i] = [frame.ids[i], classText(frame.labels, i), classText(frame.preds, i)];
    }
    const traces: object[] = [
      {
        type: "scattergl",
        mode: "markers",
        x: xs,
        y: ys,
        customdata: custom,
        hovertemplate: "id %{customdata[0]}<br>label %{customdata[1]}<br>pred %{customdata[2]}<extra></extra>",
        marker: { size: n > 20000 ? 2 : n > 5000 ? 3 : 5, color: pointColors(frame.labels, frame.preds, n, colorBy), opacity: 0.8 },
        showlegend: false,
      },
    ];
    // Rows with non-finite activations have no position: list them in a corner, marked as such.
    traces.push({
      type: "scatter",
      mode: "markers",
      x: bad.map(() => 0),
      y: bad.map((_, k) => k),
      xaxis: "x2",
      yaxis: "y2",
      customdata: bad.map((i) => frame.ids[i]),
      hovertemplate: "id %{customdata}: non-finite activations<extra></extra>",
      marker: { symbol: "x", color: "#d62728", size: 7 },
      showlegend: false,
      visible: bad.length > 0,
    });
    return traces;
  }

  private layout(range: ReturnType<typeof bounds>, title: string, bad: number, n: number): object {
    const note =
      bad === 0
        ? []
        : [{
            text: bad === n
              ? `all ${n} points have non-finite activations at this step (red ×)`
              : `${bad} point(s) with non-finite activations: red × at the right`,
            xref: "paper", yref: "paper", x: bad === n ? 0.5 : 0.97, y: bad === n ? 0.5 : 1.0,
            xanchor: bad === n ? "center" : "right", yanchor: bad === n ? "middle" : "bottom",
            showarrow: false, font: { size: bad === n ? 13 : 10, color: "#d62728" },
          }];
    return {
      annotations: note,
      margin: { l: 36, r: 12, t: 30, b: 28 },
      title: { text: title, font: { size: 13 }, x: 0.02 },
      xaxis: { range: range?.x, zeroline: false, showgrid: false, domain: [0, 0.97] },
      yaxis: { range: range?.y, zeroline: false, showgrid: false, scaleanchor: undefined },
      xaxis2: { domain: [0.975, 1], visible: false, fixedrange: true },
      yaxis2: { anchor: "x2", visible: false, fixedrange: true },
      hovermode: "closest",
      // Same revision on every update: a user's zoom or pan survives new frames; until then the
      // ranges above follow the data.
      uirevision: "keep",
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 11 },
    };
  }

  /** The plot as an image: a data URL (PNG) or SVG text. */
  async image(format: "png" | "svg"): Promise<string> {
    await this.ready;
    return Plotly.toImage(this.el, { format, width: this.el.clientWidth || 640, height: this.el.clientHeight || 480, scale: format === "png" ? 2 : 1 });
  }

  download(format: "png" | "svg", filename: string): Promise<string> {
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

function nonFiniteRows(xy: Float32Array): number[] {
  const bad: number[] = [];
  for (let i = 0; 2 * i + 1 < xy.length; i++) if (!Number.isFinite(xy[2 * i]) || !Number.isFinite(xy[2 * i + 1])) bad.push(i);
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

function classText(values: Int32Array | null, i: number): string {
  const v = values?.[i] ?? -1;
  return v < 0 ? "–" : String(v);
}
