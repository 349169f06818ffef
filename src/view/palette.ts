/** Categorical colours for classes (Tableau 10, then 10 more), and how points get coloured. */
export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a",
  "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
];
export const MISSING_COLOR = "#9aa0a6";
// Marks that sit beside the class colours use colours no class has (a test checks): a green, red
// or orange ring that a class also wears says nothing.
export const CORRECT_COLOR = "#1a7f37";
export const WRONG_COLOR = "#a50026";
export const MOVER_COLOR = "#00b3c7";
export const SELECTED_COLOR = "rgba(20,20,20,0.7)";

/** The colour of class `code` (a label or a prediction). */
export const classColor = (code: number): string => PALETTE[code % PALETTE.length];
/** The colour of group `code`: taken from the palette's far end, so groups and classes differ. */
export const groupColor = (code: number): string => PALETTE[PALETTE.length - 1 - (code % PALETTE.length)];

export type ColorBy = "label" | "pred" | "correct" | "group";

/** One CSS colour per point for the chosen colouring; -1 (missing) gets a neutral grey. */
export function pointColors(
  labels: Int32Array | null,
  preds: Int32Array | null,
  n: number,
  by: ColorBy,
  groups: Int32Array | null = null,
): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    if (by === "correct") {
      const l = labels?.[i] ?? -1;
      const p = preds?.[i] ?? -1;
      out[i] = l < 0 || p < 0 ? MISSING_COLOR : l === p ? CORRECT_COLOR : WRONG_COLOR;
    } else {
      const c = (by === "label" ? labels : by === "pred" ? preds : groups)?.[i] ?? -1;
      out[i] = c < 0 ? MISSING_COLOR : by === "group" ? groupColor(c) : classColor(c);
    }
  }
  return out;
}
