/**
 * The protocol constants the kernel and the views share, written once for TypeScript. Python's twin
 * is python/sentrycam/protocol.py; tests/python/test_contract.py checks that the two agree (through
 * scripts/ts-contract.ts), so change both together. The metrics, chart panels and severities are not
 * here: both languages read them from python/sentrycam/contract/registry.json (src/registry.ts), and
 * the JupyterLab extension, which imports ALERT_EVENT from here, needs none of them.
 */

/** Bumped whenever a message changes shape; sent in `hello` so the kernel can spot a stale bundle. */
export const PROTOCOL_VERSION = 2;
/** The package version; equal to package.json's and the Python package's `__version__`. */
export const VERSION = "0.1.0";

export const REDUCERS = ["umap", "tsne", "pca"] as const;
export type ReduceMethod = (typeof REDUCERS)[number];
/** How the view names each reducer. */
export const REDUCER_LABELS: Record<ReduceMethod, string> = { umap: "UMAP", tsne: "t-SNE", pca: "PCA" };
/** `value` when it names a reducer, else the default (the first). */
export const asReducer = (value: unknown): ReduceMethod => (REDUCERS as readonly unknown[]).includes(value) ? (value as ReduceMethod) : REDUCERS[0];

export const IMAGE_FORMATS = ["png", "svg"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const NOTICE_LEVELS = ["warning", "info"] as const;
export type NoticeLevel = (typeof NOTICE_LEVELS)[number];

/** Frames a monitor holds (Python's `max_frames` default); a view keeps as many per layer. */
export const DEFAULT_MAX_FRAMES = 1000;
/** Bytes of frames a view keeps in memory before dropping the oldest (each layer keeps its latest). */
export const VIEW_MAX_BYTES = 768 * 1024 * 1024;

/**
 * The browser event a monitor dispatches on `window` for each new warning or critical alert, for
 * anything on the page to hear (the JupyterLab extension in labextension/ shows a notification).
 * A plain DOM event: no kernel round trip (the kernel is busy while training runs), and nothing
 * happens when nobody listens (Notebook 7 without the extension, VS Code, marimo, a page).
 */
export const ALERT_EVENT = "sentrycam:alert";
/** The `detail` of an ALERT_EVENT. */
export interface AlertEventDetail {
  /** The monitor (its views' root elements carry it as data-uid). */
  uid: string;
  /** The notebook's path where the host tells it (JupyterLab), else null. */
  path: string | null;
  alerts: { step: number; layer: string | null; metric: string; message: string; severity: string }[];
}
