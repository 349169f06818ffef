/**
 * The metric registry, python/sentrycam/contract/registry.json: every metric, per-group metric,
 * chart panel and severity written once, for both languages (Python reads the same file). This
 * module derives the lists the views use from it; nothing here is written twice.
 */
import registry from "../python/sentrycam/contract/registry.json" with { type: "json" };

/** A metric as the registry declares it (the fields the views use). */
interface MetricEntry {
  name: string;
  /** The chart panel's title, or null when it is not charted. */
  panel: string | null;
  /** Its line's name in that panel, when the panel has several (`{knn_k}` stands for KNN_K). */
  line?: string;
}

interface GroupMetricEntry {
  name: string;
  panel: string | null;
}

interface Registry {
  severities: string[];
  notify_from: string;
  knn_k: number;
  panels: string[];
  metrics: MetricEntry[];
  group_metrics: GroupMetricEntry[];
  group_panels: string[];
  group_separator: string;
}

const REGISTRY: Registry = registry;

/** The kernel's per-layer geometry metrics, in its order. */
export const METRIC_NAMES: readonly string[] = REGISTRY.metrics.map((m) => m.name);

/** Neighbours in the kernel's knn_jaccard_prev. */
export const KNN_K: number = REGISTRY.knn_k;

/** Per-group metrics, sent as `${metric}${GROUP_SEPARATOR}${group}`. */
export const GROUP_METRICS: readonly string[] = REGISTRY.group_metrics.map((m) => m.name);
export const GROUP_SEPARATOR: string = REGISTRY.group_separator;

/** Alert severities, least severe first. */
export const SEVERITIES: readonly string[] = REGISTRY.severities;
/** Severities worth interrupting someone for: `notify_from` and those above it. */
export const NOTIFY_SEVERITIES: readonly string[] = SEVERITIES.slice(SEVERITIES.indexOf(REGISTRY.notify_from));

/** A metric chart: its title, the metrics drawn in it and, when it draws several, their lines' names. */
export interface ChartPanelSpec {
  title: string;
  keys: readonly string[];
  names?: readonly string[];
}

/** The metric charts beside the scatter, top to bottom below the scalars; keys are METRIC_NAMES. */
export const CHART_PANELS: readonly ChartPanelSpec[] = REGISTRY.panels.map((title) => {
  const drawn = REGISTRY.metrics.filter((m) => m.panel === title);
  const keys = drawn.map((m) => m.name);
  if (!drawn.some((m) => m.line !== undefined)) return { title, keys };
  return { title, keys, names: drawn.map((m) => (m.line ?? m.name).replaceAll("{knn_k}", String(KNN_K))) };
});

/** Per-group panels (shown when frames carry groups), one line per group. */
export const GROUP_PANELS: readonly { title: string; metric: string }[] = REGISTRY.group_panels.flatMap((title) =>
  REGISTRY.group_metrics.filter((m) => m.panel === title).map((m) => ({ title, metric: m.name })),
);
