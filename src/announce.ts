// Tells the page about new warning and critical alerts: one ALERT_EVENT on `window` per batch.
import { ALERT_EVENT, type AlertEventDetail } from "./contract.ts";
import { NOTIFY_SEVERITIES } from "./registry.ts";
import type { Alert } from "./transport/messages.ts";
import type { WidgetModel } from "./model.ts";

/** Where a monitor's alerts come from: its uid and, in JupyterLab, its notebook's path. */
export interface Origin {
  uid: string;
  path: string | null;
}

/** The origin of `model`: JupyterLab's widget manager knows the notebook it serves. */
export function originOf(model: WidgetModel): Origin {
  const manager = model.widget_manager as unknown as { context?: { path?: unknown } } | null | undefined;
  const path = manager?.context?.path;
  return { uid: model.get("_uid"), path: typeof path === "string" ? path : null };
}

/** Dispatch the warning and critical ones among `fresh` (nothing when there are none). */
export function announce(origin: Origin, fresh: readonly Alert[]): void {
  const alerts = fresh
    .filter((a) => NOTIFY_SEVERITIES.includes(a.severity))
    .map((a) => ({ step: a.step, layer: a.layer ?? null, metric: a.metric, message: a.message, severity: a.severity }));
  if (alerts.length === 0 || typeof window === "undefined" || typeof CustomEvent === "undefined") return;
  const detail: AlertEventDetail = { ...origin, alerts };
  window.dispatchEvent(new CustomEvent(ALERT_EVENT, { detail }));
}
