// What the view says in words and marks, as pure functions of what it shows: the status line,
// the timeline's marks and the legend's sections.
import type { Frame } from "../transport/frame.ts";
import type { Alert, TaskBoundary } from "../transport/messages.ts";
import type { Reduced } from "../reduction/client.ts";
import { REDUCER_LABELS } from "../contract.ts";
import { alertsFor } from "./charts/series.ts";
import { captureNotes } from "./capture-notes.ts";
import { classColor, CORRECT_COLOR, groupColor, MISSING_COLOR, MOVER_COLOR, SELECTED_COLOR, WRONG_COLOR, type ColorBy } from "./palette.ts";
import { className } from "./scatter-traces.ts";
import type { TimelineMark } from "./timeline.ts";
import type { LegendEntry } from "./legend.ts";

/** The status line's parts for `frame` (shown) of `frames`, reduced as `result`. */
export function statusParts(frame: Frame, frames: readonly Frame[], result: Reduced | undefined): string[] {
  const parts = [`step ${frame.step}`, `frame ${frames.findIndex((f) => f.seq === frame.seq) + 1}/${frames.length}`, `${frame.n.toLocaleString()} points`];
  if (result !== undefined) {
    parts.push(`${REDUCER_LABELS[result.method]} ${result.cold ? "cold fit" : "warm"} ${Math.round(result.ms)} ms`);
    const faith = result.faithfulness;
    if (faith !== null) {
      parts.push(`trustworthiness ${faith.trust.toFixed(2)}` + (Number.isFinite(faith.global) ? `, ${faith.globalOf === "classes" ? "class" : "landmark"} distances kept ρ=${faith.global.toFixed(2)}` : ""));
    }
    if (result.excluded > 0) parts.push(`${result.excluded} non-finite row(s) excluded`);
    parts.push(...result.notes);
  }
  if (frame.nonFinite > 0) parts.push(`${frame.nonFinite} non-finite value(s)`);
  parts.push(...captureNotes(frame));
  return parts;
}

/** Task boundaries (named) and the alerts of `layer` and of the run, as timeline marks. */
export function timelineMarks(tasks: readonly TaskBoundary[], alerts: readonly Alert[], layer: string): TimelineMark[] {
  const kind = (severity: string): TimelineMark["kind"] => (severity === "critical" || severity === "warning" ? severity : "info");
  return [
    ...tasks.map((t) => ({ step: t.step, kind: "task" as const, text: t.name })),
    ...alertsFor(alerts, layer).map((a) => ({ step: a.step, kind: kind(a.severity), text: `step ${a.step}: ${a.metric}` })),
  ];
}

/** Rings drawn over the points: how many selected samples and movers. */
export interface Rings {
  selected: number;
  movers: number;
}

/** The legend: class colours (for labels, predictions and the regions), group colours when
 *  grouped, correct / wrong when coloured so, and the rings (selected samples, movers) drawn. */
export function legendSections(
  frame: Frame,
  colorBy: ColorBy,
  regions: boolean,
  classNames: readonly string[],
  rings: Rings = { selected: 0, movers: 0 },
): { title: string; entries: LegendEntry[] }[] {
  const codes = (...columns: (Int32Array | null)[]) =>
    [...new Set(columns.flatMap((c) => (c === null ? [] : Array.from(c))))].filter((v) => v >= 0).sort((a, b) => a - b);
  const byClass = colorBy === "label" || colorBy === "pred";
  const judged: LegendEntry[] = [];
  if (colorBy === "correct") {
    let right = 0;
    let wrong = 0;
    let unknown = 0;
    for (let i = 0; i < frame.n; i++) {
      const l = frame.labels?.[i] ?? -1;
      const p = frame.preds?.[i] ?? -1;
      if (l < 0 || p < 0) unknown++;
      else if (l === p) right++;
      else wrong++;
    }
    judged.push({ color: CORRECT_COLOR, text: `correct (${right})` }, { color: WRONG_COLOR, text: `wrong (${wrong})` });
    if (unknown > 0) judged.push({ color: MISSING_COLOR, text: `no ${frame.labels === null ? "label" : "prediction"} (${unknown})` });
  }
  const ringed: LegendEntry[] = [];
  if (rings.selected > 0) ringed.push({ color: SELECTED_COLOR, text: `selected (${rings.selected})` });
  if (rings.movers > 0) ringed.push({ color: MOVER_COLOR, text: `movers (${rings.movers})` });
  return [
    {
      title: regions && !byClass ? "regions" : "class",
      entries: byClass || regions ? codes(frame.labels, frame.preds).map((v) => ({ color: classColor(v), text: className(v, classNames) })) : [],
    },
    {
      title: "group",
      entries: colorBy === "group" ? codes(frame.groups).map((v) => ({ color: groupColor(v), text: frame.groupNames[v] ?? String(v) })) : [],
    },
    { title: "prediction", entries: judged },
    { title: "rings", entries: ringed },
  ];
}

/** Whether `frame` puts any sample in a group ("by group" is offered only then). */
export const hasGroups = (frame: Frame): boolean => frame.groups !== null && frame.groups.some((g) => g >= 0);

/** The testing hooks that describe what is drawn (the root element's data-* attributes). */
export function drawnHooks(panels: readonly { frame: Frame; regions: unknown; moverRows: Int32Array | null }[], layer: string, trails: number): Record<string, string> {
  const main = panels.find((p) => p.frame.layer === layer)?.frame ?? panels[0]?.frame;
  return {
    step: main ? String(main.step) : "",
    every: String(main?.every ?? ""),
    points: String(panels.reduce((s, p) => s + p.frame.n, 0)),
    groups: String(main?.groups ? new Set(Array.from(main.groups).filter((g) => g >= 0)).size : 0),
    trails: String(trails),
    regions: panels.some((p) => p.regions !== null) ? "1" : "0",
    panels: String(panels.length),
    movers: String(panels.reduce((s, p) => s + (p.moverRows?.length ?? 0), 0)),
  };
}

/** The testing hooks that describe the main panel's layout: how it was fitted and how faithful it is. */
export function fitHooks(result: Reduced | undefined): Record<string, string> {
  const faith = result?.faithfulness ?? null;
  return {
    fit: result === undefined ? "" : result.cold ? "cold" : "warm",
    trust: faith === null ? "" : faith.trust.toFixed(4),
    globalRho: faith === null || !Number.isFinite(faith.global) ? "" : faith.global.toFixed(4),
    kernels: result?.kernels ?? "",
  };
}
