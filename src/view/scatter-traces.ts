// Pieces of the scatter figure that are pure data: the panel grid, hover rows, the regions
// heatmap, the rings of selected samples and movers, and the symbols marking wrong predictions.
import type { Frame } from "../transport/frame.ts";
import type { Regions } from "../analysis/regions.ts";
import { MOVER_COLOR, PALETTE, SELECTED_COLOR } from "./palette.ts";

/** [x0, x1, y0, y1] paper domains of `count` panels in a near-square grid, row by row from the top. */
export function panelGrid(count: number): [number, number, number, number][] {
  const cols = Math.max(1, Math.ceil(Math.sqrt(count)));
  const rows = Math.max(1, Math.ceil(count / cols));
  const gapX = cols > 1 ? 0.04 : 0, gapY = rows > 1 ? 0.08 : 0;
  const w = (1 - gapX * (cols - 1)) / cols, h = (1 - gapY * (rows - 1)) / rows;
  const out: [number, number, number, number][] = [];
  for (let i = 0; i < count; i++) {
    const c = i % cols, r = Math.floor(i / cols);
    const x0 = c * (w + gapX), top = 1 - r * (h + gapY);
    out.push([x0, x0 + w, top - h, top - (rows > 1 ? 0.04 : 0)]);
  }
  return out;
}

/** A class as shown: its name when given, else its number; "–" when missing. */
export function className(value: number, names: readonly string[]): string {
  if (value < 0) return "–";
  return names[value] ?? String(value);
}

/** Per point: id, label, prediction and group as hover text. */
export function hoverRows(frame: Frame, classNames: readonly string[]): [number, string, string, string][] {
  const out = new Array<[number, string, string, string]>(frame.n);
  for (let i = 0; i < frame.n; i++) {
    const g = frame.groups?.[i] ?? -1;
    out[i] = [
      frame.ids[i],
      className(frame.labels?.[i] ?? -1, classNames),
      className(frame.preds?.[i] ?? -1, classNames),
      g < 0 ? "–" : frame.groupNames[g] ?? String(g),
    ];
  }
  return out;
}

/** Marks for wrong predictions (the research system's pictures): a larger "x" where the
 * prediction differs from the label, a plain dot elsewhere. */
export function wrongMarks(frame: Frame, size: number): { symbol: string[] | string; size: number[] | number } {
  if (frame.labels === null || frame.preds === null) return { symbol: "circle", size };
  const symbol = new Array<string>(frame.n);
  const sizes = new Array<number>(frame.n);
  for (let i = 0; i < frame.n; i++) {
    const l = frame.labels[i], p = frame.preds[i];
    const wrong = l >= 0 && p >= 0 && l !== p;
    symbol[i] = wrong ? "x" : "circle";
    sizes[i] = wrong ? size + 4 : size;
  }
  return { symbol, size: sizes };
}

/** Share of a cell's votes its class must win to be drawn. */
export const MIN_REGION_CONFIDENCE = 0.5;

/** The decision-region background: a heatmap of the class predicted per cell, faint. */
export function regionTrace(regions: Regions | null, axes: { xaxis: string; yaxis: string }): object {
  if (regions === null) return { type: "heatmap", ...axes, z: [[null]], visible: false, showscale: false, hoverinfo: "skip" };
  const { grid, classes, confidence } = regions;
  const colours = PALETTE.length;
  const z: (number | null)[][] = [];
  for (let r = 0; r < grid; r++) {
    const row: (number | null)[] = [];
    for (let c = 0; c < grid; c++) {
      const k = classes[r * grid + c];
      // A contested cell (no class won most of the votes) is left blank: the border shows as a gap.
      row.push(k < 0 || confidence[r * grid + c] < MIN_REGION_CONFIDENCE ? null : (k % colours) + 0.5);
    }
    z.push(row);
  }
  // One flat band per palette colour: z = class + 0.5 falls inside its own band.
  const colorscale: [number, string][] = [];
  PALETTE.forEach((colour, i) => {
    colorscale.push([i / colours, colour], [(i + 1) / colours, colour]);
  });
  return {
    type: "heatmap", ...axes, z, x0: regions.x0 + regions.dx / 2, dx: regions.dx, y0: regions.y0 + regions.dy / 2, dy: regions.dy,
    zmin: 0, zmax: colours, colorscale, showscale: false, opacity: 0.22, hoverinfo: "skip", zsmooth: false,
  };
}

interface Ringed {
  frame: Frame;
  xy: Float32Array;
  selectedRows: Int32Array;
  moverRows: Int32Array | null;
}

/** The rows the ring trace draws, in its order: the selected samples, then the movers. */
export function ringRows(p: Ringed): number[] {
  return [...p.selectedRows, ...(p.moverRows ?? [])];
}

/** Rings: selected samples (dark) and movers (MOVER_COLOR, a colour no class has), at their target positions. */
export function ringTrace(p: Ringed, axes: { xaxis: string; yaxis: string }): object {
  const rows = ringRows(p);
  const colours = [...Array.from(p.selectedRows, () => SELECTED_COLOR), ...Array.from(p.moverRows ?? [], () => MOVER_COLOR)];
  return {
    type: "scattergl", mode: "markers", ...axes,
    x: rows.map((r) => p.xy[2 * r]), y: rows.map((r) => p.xy[2 * r + 1]),
    customdata: rows.map((r) => p.frame.ids[r]),
    hovertemplate: "id %{customdata}<extra></extra>",
    marker: { symbol: "circle-open", size: 9, color: colours, line: { width: 1.2 } },
    showlegend: false,
    visible: rows.length > 0,
  };
}
