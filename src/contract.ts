/**
 * The constants the kernel and the views share, written once for TypeScript. Python's twin is
 * python/sentrycam/protocol.py (and metrics.METRIC_KEYS); tests/python/test_contract.py checks that
 * the two agree, so change both together.
 */

/** Bumped whenever a message changes shape; sent in `hello` so the kernel can spot a stale bundle. */
export const PROTOCOL_VERSION = 2;
/** The package version; equal to package.json's and the Python package's `__version__`. */
export const VERSION = "0.1.0";

export const REDUCERS = ["umap", "pca"] as const;
export type ReduceMethod = (typeof REDUCERS)[number];
/** `value` when it names a reducer, else the default (the first). */
export const asReducer = (value: unknown): ReduceMethod => (REDUCERS as readonly unknown[]).includes(value) ? (value as ReduceMethod) : REDUCERS[0];

export const IMAGE_FORMATS = ["png", "svg"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const NOTICE_LEVELS = ["warning", "info"] as const;
export type NoticeLevel = (typeof NOTICE_LEVELS)[number];

/** Frames a monitor holds (Python's `max_frames` default); a view keeps as many per layer. */
export const DEFAULT_MAX_FRAMES = 1000;
/** Bytes of frames a view keeps in memory before dropping the oldest (each layer keeps its latest). */
export const VIEW_MAX_BYTES = 768 * 1024 * 1024;

/** The kernel's per-layer geometry metrics (python/sentrycam/metrics.py METRIC_KEYS), in its order. */
export const METRIC_NAMES = [
  "n_valid", "nonfinite_frac", "norm_mean", "norm_max", "dead_frac", "dormant_frac", "eff_rank",
  "n_classes", "intra_var", "inter_dist", "fisher", "nc1", "cka_prev", "cka_ref", "knn_jaccard_prev",
  "change_prev",
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Neighbours in the kernel's knn_jaccard_prev (python/sentrycam/metrics.py KNN_K). */
export const KNN_K = 10;

/** Per-group metrics, sent as `${metric}@${group}` (python/sentrycam/groups.py). */
export const GROUP_METRICS = ["separation", "intra_var", "accuracy", "cka_task_end"] as const;
export type GroupMetric = (typeof GROUP_METRICS)[number];
export const GROUP_SEPARATOR = "@";

/** The metric charts beside the scatter, top to bottom below the scalars; keys are METRIC_NAMES. */
export const CHART_PANELS: readonly { title: string; keys: readonly MetricName[]; names?: readonly string[] }[] = [
  { title: "class separation: Fisher ratio", keys: ["fisher"] },
  { title: "effective rank (RankMe)", keys: ["eff_rank"] },
  { title: "vs previous frame", keys: ["cka_prev", "knn_jaccard_prev"], names: ["CKA", `kNN Jaccard@${KNN_K}`] },
  { title: "unit fraction", keys: ["dead_frac", "dormant_frac"], names: ["dead", "dormant"] },
];
/** Per-group panels (shown when frames carry groups), one line per group. */
export const GROUP_PANELS: readonly { title: string; metric: GroupMetric }[] = [
  { title: "accuracy per group", metric: "accuracy" },
  { title: "class separation per group", metric: "separation" },
  { title: "CKA to end of its task, per group", metric: "cka_task_end" },
];

/**
 * The browser event a monitor dispatches on `window` for each new warning or critical alert, for
 * anything on the page to hear (the JupyterLab extension in labextension/ shows a notification).
 * A plain DOM event: no kernel round trip (the kernel is busy while training runs), and nothing
 * happens when nobody listens (Notebook 7 without the extension, VS Code, marimo, a page).
 */
export const ALERT_EVENT = "sentrycam:alert";
/** Severities worth interrupting someone for. */
export const NOTIFY_SEVERITIES: readonly Severity[] = ["warning", "critical"];

/** The `detail` of an ALERT_EVENT. */
export interface AlertEventDetail {
  /** The monitor (its views' root elements carry it as data-uid). */
  uid: string;
  /** The notebook's path where the host tells it (JupyterLab), else null. */
  path: string | null;
  alerts: { step: number; layer: string | null; metric: string; message: string; severity: string }[];
}
