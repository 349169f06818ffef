import Plotly from "./plotly.ts";
import type { Frame } from "../transport/frame.ts";
import { bounds, interpolate } from "./glide.ts";
import { pointColors, type ColorBy } from "./palette.ts";

const GLIDE_MS = 450;

/** The 2-D point cloud of one frame: one scattergl trace, plus a marker trace for non-finite rows. */
export class ScatterView {
  readonly el: HTMLDivElement;
  private shown: { frame: Frame; xy: Float32Array } | null = null;
  private animation = 0;
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

  /** Show `frame` at positions `xy` (interleaved, NaN for excluded rows), gliding when possible. */
  async show(frame: Frame, xy: Float32Array, colorBy: ColorBy, title: string): Promise<void> {
    const previous = this.shown;
    this.shown = { frame, xy };
    cancelAnimationFrame(this.animation);
    const glide = previous !== null && previous.xy.length === xy.length && previous.frame.layer === frame.layer;
    const range = bounds(...(glide ? [previous.xy, xy] : [xy]));
    const start = glide ? previous.xy : xy;
    await this.ready;
    this.ready = Plotly.react(this.el, this.traces(frame, start, colorBy), this.layout(range, title), {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"],
    });
    await this.ready;
    if (glide) await this.glide(previous.xy, xy);
  }

  private glide(from: Float32Array, to: Float32Array): Promise<void> {
    return new Promise((resolve) => {
      const t0 = performance.now();
      const tick = () => {
        const t = (performance.now() - t0) / GLIDE_MS;
        const [xs, ys] = interpolate(from, to, t);
        // Each restyle may take a while under software WebGL: time, not frame count, drives t.
        void Plotly.restyle(this.el, { x: [xs], y: [ys] }, [0]).then(() => {
          if (t < 1 && this.shown?.xy === to) this.animation = requestAnimationFrame(tick);
          else resolve();
        });
      };
      this.animation = requestAnimationFrame(tick);
    });
  }

  private traces(frame: Frame, xy: Float32Array, colorBy: ColorBy): object[] {
    const n = frame.n;
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    const bad: number[] = [];
    for (let i = 0; i < n; i++) {
      xs[i] = xy[2 * i];
      ys[i] = xy[2 * i + 1];
      if (!Number.isFinite(xs[i]) || !Number.isFinite(ys[i])) bad.push(i);
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

  private layout(range: ReturnType<typeof bounds>, title: string): object {
    return {
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
    cancelAnimationFrame(this.animation);
    Plotly.purge(this.el);
    this.el.remove();
  }
}

function classText(values: Int32Array | null, i: number): string {
  const v = values?.[i] ?? -1;
  return v < 0 ? "–" : String(v);
}
