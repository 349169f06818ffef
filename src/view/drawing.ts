// When a drawing would change nothing on screen. A live view is asked to compose on every frame
// that arrives, while the worker is still reducing it; the panels it composes then are the ones on
// screen already (the newest reduced frame), and drawing them again re-plotted every point: a full
// Plotly.react and a WebGL read-back per frame, for nothing. Pure, so it is tested in Node.
import type { Panel, PanelStyle } from "./scatter.ts"; // types only: nothing of Plotly is loaded

/** True when drawing `b` would show exactly what `a` shows (same frames, positions, extras, style). */
export function sameDrawing(
  a: { panels: readonly Panel[]; style: PanelStyle } | null,
  b: { panels: readonly Panel[]; style: PanelStyle },
): boolean {
  if (a === null || a.panels.length !== b.panels.length) return false;
  if (a.style.colorBy !== b.style.colorBy || a.style.markWrong !== b.style.markWrong || !sameList(a.style.classNames, b.style.classNames)) return false;
  return a.panels.every((p, i) => samePanel(p, b.panels[i]));
}

function samePanel(p: Panel, q: Panel): boolean {
  // Positions, regions and movers come from caches (the same object for the same frame), so
  // identity is enough; rows and trails are rebuilt on each compose and compared by value.
  return (
    p.frame === q.frame && p.xy === q.xy && p.method === q.method && p.title === q.title && p.regions === q.regions &&
    sameArray(p.selectedRows, q.selectedRows) && sameOptional(p.moverRows, q.moverRows) &&
    sameOptional(p.trails?.x ?? null, q.trails?.x ?? null) && sameOptional(p.trails?.y ?? null, q.trails?.y ?? null)
  );
}

function sameOptional<T extends ArrayLike<number>>(a: T | null, b: T | null): boolean {
  return a === null || b === null ? a === b : sameArray(a, b);
}

function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
