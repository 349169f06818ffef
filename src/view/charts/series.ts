// Pure functions turning frames into per-step series for the metric charts (tested in Node).
import type { Frame } from "../../transport/frame.ts";
import type { Alert, TaskBoundary } from "../../transport/messages.ts";
import { GROUP_SEPARATOR } from "../../registry.ts";

export interface Series {
  key: string;
  steps: number[];
  values: (number | null)[];
}

/** One series per key, over the frames of one layer, in step order; non-finite values are gaps. */
export function metricSeries(frames: readonly Frame[], keys: readonly string[], source: "metrics" | "scalars"): Series[] {
  const ordered = [...frames].sort((a, b) => a.step - b.step || a.seq - b.seq);
  return keys.map((key) => {
    const steps: number[] = [];
    const values: (number | null)[] = [];
    for (const f of ordered) {
      const v = f[source][key];
      if (v === undefined) continue;
      steps.push(f.step);
      values.push(Number.isFinite(v) ? v : null);
    }
    return { key, steps, values };
  });
}

/** Scalar names present in any frame, in first-seen order. */
export function scalarKeys(frames: readonly Frame[]): string[] {
  const seen = new Set<string>();
  for (const f of frames) for (const k of Object.keys(f.scalars)) seen.add(k);
  return [...seen];
}

/** Alerts that concern `layer`: its own, plus those on scalars (no layer). */
export function alertsFor(alerts: readonly Alert[], layer: string): Alert[] {
  return alerts.filter((a) => a.layer === layer || a.layer === null || a.layer === undefined);
}

/** The per-group keys of `metric` (`${metric}@${group}`) present in any frame, in first-seen order. */
export function groupKeys(frames: readonly Frame[], metric: string): { key: string; group: string }[] {
  const prefix = metric + GROUP_SEPARATOR;
  const seen = new Map<string, string>();
  for (const f of frames) {
    for (const k of Object.keys(f.metrics)) if (k.startsWith(prefix) && !seen.has(k)) seen.set(k, k.slice(prefix.length));
  }
  return [...seen].map(([key, group]) => ({ key, group }));
}

/** Everything the charts draw depends on, in a few numbers: the frames (seqs at both ends and how
 *  many), the layer's alerts (how many, and the newest), the task boundaries and the shown step. */
export function chartKey(frames: readonly Frame[], alerts: readonly Alert[], tasks: readonly TaskBoundary[], layer: string, shownStep: number | null): string {
  const mine = alertsFor(alerts, layer);
  const last = mine[mine.length - 1];
  return JSON.stringify([
    layer, frames.length, frames[0]?.seq ?? null, frames[frames.length - 1]?.seq ?? null,
    mine.length, last === undefined ? null : [last.step, last.severity, last.metric],
    tasks.map((t) => [t.step, t.name]), shownStep,
  ]);
}
