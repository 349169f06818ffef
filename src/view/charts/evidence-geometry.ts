// Pure geometry of an alert's evidence chart (no DOM; tested in Node): scales from the data
// extent, the value line, the reference band, the threshold, the window span and the alert's
// point, in the pixel coordinates of a small SVG. evidence-chart.ts draws it.
import type { Evidence } from "../../transport/messages.ts";

/** The chart's size in SVG user units (it scales to the panel's width). */
export const CHART_WIDTH = 300;
export const CHART_HEIGHT = 120;
/** Room for the labels: the y values on the left, the steps below. */
export const MARGIN = { left: 44, right: 10, top: 8, bottom: 18 } as const;
/** Share of the y extent added above and below it. */
export const Y_PAD = 0.08;
/** When every level is the same value v, the y extent is v ± FLAT_PAD·|v| (± 1 when v is 0). */
export const FLAT_PAD = 0.1;

export interface Pt {
  x: number;
  y: number;
}

/** A linear map from `domain` (data) to `range` (pixels). */
export interface Scale {
  domain: [number, number];
  range: [number, number];
}

export interface EvidenceGeometry {
  width: number;
  height: number;
  /** The plot area inside the margins. */
  plot: { left: number; top: number; right: number; bottom: number };
  x: Scale;
  y: Scale;
  /** Runs of consecutive finite values (a null breaks the line). */
  lines: Pt[][];
  /** One dot per finite value. */
  dots: (Pt & { step: number; value: number })[];
  /** Pixel y of the reference, of reference ± spread (y0 above y1), of the threshold. */
  reference: number | null;
  band: { y0: number; y1: number } | null;
  threshold: number | null;
  /** The reference window's span in pixel x, clipped to the plot. */
  window: { x0: number; x1: number } | null;
  /** The alert's step; y is null when its value is not finite (or not in the history). */
  alert: { x: number; y: number | null } | null;
  xTicks: (Pt & { label: string })[];
  yTicks: (Pt & { label: string })[];
  kind: string;
  /** Finite values drawn (the `data-points` testing hook). */
  points: number;
}

/** `raw` as Evidence when it carries a history to draw; null otherwise (missing, `{}`, malformed). */
export function parseEvidence(raw: unknown): Evidence | null {
  if (typeof raw !== "object" || raw === null) return null;
  const o = raw as Record<string, unknown>;
  if (!Array.isArray(o.steps) || !Array.isArray(o.values)) return null;
  const steps: number[] = [];
  const values: (number | null)[] = [];
  const n = Math.min(o.steps.length, o.values.length);
  for (let i = 0; i < n; i++) {
    const s: unknown = o.steps[i];
    const v: unknown = o.values[i];
    if (typeof s !== "number" || !Number.isFinite(s)) continue;
    steps.push(s);
    values.push(finite(v));
  }
  if (steps.length === 0) return null;
  const w = o.window;
  const window: [number, number] | null =
    Array.isArray(w) && w.length === 2 && finite(w[0]) !== null && finite(w[1]) !== null ? [w[0] as number, w[1] as number] : null;
  return {
    steps,
    values,
    reference: finite(o.reference),
    spread: finite(o.spread),
    threshold: finite(o.threshold),
    window,
    direction: o.direction === -1 ? -1 : 1,
    kind: typeof o.kind === "string" ? o.kind : "",
    ...(o.per_step === true ? { per_step: true } : {}),
  };
}

/** The chart of `raw` (an alert's evidence) at `alertStep` (default: the last step); null when there is nothing to draw. */
export function evidenceGeometry(raw: unknown, alertStep?: number): EvidenceGeometry | null {
  const ev = parseEvidence(raw);
  if (ev === null) return null;
  const plot = { left: MARGIN.left, top: MARGIN.top, right: CHART_WIDTH - MARGIN.right, bottom: CHART_HEIGHT - MARGIN.bottom };
  const step = alertStep ?? ev.steps[ev.steps.length - 1];
  const at = ev.steps.lastIndexOf(step);
  const atValue = at >= 0 ? ev.values[at] : null;
  const { reference: ref, spread, threshold } = levels(ev, step);
  const xs = [...ev.steps, step, ...(ev.window ?? [])];
  const x: Scale = { domain: widen(Math.min(...xs), Math.max(...xs), 1), range: [plot.left, plot.right] };
  const ys = ev.values.filter((v): v is number => v !== null);
  if (ref !== null) {
    ys.push(ref);
    if (spread !== null && spread > 0) ys.push(ref - spread, ref + spread);
  }
  if (threshold !== null) ys.push(threshold);
  const lo = ys.length ? Math.min(...ys) : 0;
  const hi = ys.length ? Math.max(...ys) : 1;
  const pad = Number.isFinite(hi - lo) ? (hi - lo) * Y_PAD : 0;
  const y: Scale = { domain: hi > lo ? [lo - pad, hi + pad] : widen(lo, hi, lo === 0 ? 1 : FLAT_PAD * Math.abs(lo)), range: [plot.bottom, plot.top] };
  const px = (s: number) => map(x, s);
  const py = (v: number) => map(y, v);

  const lines: Pt[][] = [];
  const dots: EvidenceGeometry["dots"] = [];
  let run: Pt[] = [];
  ev.values.forEach((v, i) => {
    if (v === null) {
      if (run.length) lines.push(run);
      run = [];
      return;
    }
    const p = { x: px(ev.steps[i]), y: py(v) };
    run.push(p);
    dots.push({ ...p, step: ev.steps[i], value: v });
  });
  if (run.length) lines.push(run);

  const band = ref !== null && spread !== null && spread > 0 ? { y0: py(ref + spread), y1: py(ref - spread) } : null;
  const clip = (s: number) => Math.min(plot.right, Math.max(plot.left, px(s)));
  const xTicks = [...new Set([ev.steps[0], step])].map((s) => ({ x: px(s), y: plot.bottom, label: String(s) }));
  const yTicks = [...new Set([lo, hi])].map((v) => ({ x: plot.left, y: py(v), label: formatLevel(v) }));
  return {
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    plot,
    x,
    y,
    lines,
    dots,
    reference: ref === null ? null : py(ref),
    band,
    threshold: threshold === null ? null : py(threshold),
    window: ev.window === null ? null : { x0: clip(ev.window[0]), x1: clip(ev.window[1]) },
    alert: { x: px(step), y: atValue === null ? null : py(atValue) },
    xTicks,
    yTicks,
    kind: ev.kind,
    points: dots.length,
  };
}

/** One line under the chart, e.g. "jump · reference 1.23 ± 0.05 · threshold 1.63 · window steps 100–300". */
export function evidenceCaption(raw: unknown, alertStep?: number): string {
  const ev = parseEvidence(raw);
  if (ev === null) return "no evidence recorded";
  const parts: string[] = [];
  if (ev.kind) parts.push(ev.kind);
  const { reference, spread, threshold, valueNonFinite } = levels(ev, alertStep ?? ev.steps[ev.steps.length - 1]);
  if (valueNonFinite) parts.push("the value itself is not finite");
  if (reference !== null) parts.push(`reference ${formatLevel(reference)}${spread !== null && spread > 0 ? ` ± ${formatLevel(spread)}` : ""}`);
  if (threshold !== null) parts.push(`threshold ${formatLevel(threshold)}`);
  if (ev.window !== null) parts.push(`window steps ${ev.window[0]}–${ev.window[1]}`);
  if (ev.per_step) parts.push("values are the change per step");
  return parts.join(" · ");
}

/**
 * The levels to draw. A "nonfinite" alert whose own value is not finite (a NaN loss) crossed no
 * level: the rule's reference and threshold (0, on a count of non-finite values) are not on the
 * metric's scale, so none is drawn.
 */
function levels(ev: Evidence, step: number): { reference: number | null; spread: number | null; threshold: number | null; valueNonFinite: boolean } {
  const at = ev.steps.lastIndexOf(step);
  const valueNonFinite = ev.kind === "nonfinite" && (at < 0 || ev.values[at] === null);
  if (valueNonFinite) return { reference: null, spread: null, threshold: null, valueNonFinite };
  return { reference: ev.reference, spread: ev.spread, threshold: ev.threshold, valueNonFinite };
}

/** A level in three significant digits (exponent notation for very large or small ones). */
export function formatLevel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

/** Where `v` lands on `s`. */
export function map(s: Scale, v: number): number {
  const [d0, d1] = s.domain;
  const [r0, r1] = s.range;
  return r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

function widen(lo: number, hi: number, by: number): [number, number] {
  if (hi > lo) return [lo, hi];
  const d = by > 0 && lo - by < hi + by ? by : Math.max(1, Math.abs(lo));
  return [lo - d, hi + d];
}

function finite(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
