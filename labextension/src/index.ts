/**
 * sentrycam-alerts: a JupyterLab notification for every new warning or critical alert of any
 * sentrycam monitor on the page, whichever notebook it is in and whether or not it is visible.
 * The monitors tell the page with a DOM event (ALERT_EVENT on `window`): no kernel round trip,
 * and the widget works the same without this extension. The notification's action activates the
 * notebook and scrolls to the monitor. Alerts close together from one monitor update one
 * notification; an alert already notified (a page reload replays every alert) is not told again.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { Notification } from "@jupyterlab/apputils";
import { INotebookTracker, type NotebookPanel } from "@jupyterlab/notebook";
import { ALERT_EVENT, type AlertEventDetail } from "../../src/contract.ts";
import { alertKey, notificationText, Told } from "./told.ts";

/** Alerts of one monitor within this long share one notification (updated with a count). */
const MERGE_WINDOW_MS = 60_000;

const plugin: JupyterFrontEndPlugin<void> = {
  id: "sentrycam-alerts:plugin",
  description: "Notifies sentrycam alerts from any open notebook.",
  autoStart: true,
  optional: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker | null) => {
    const told = new Told(globalThis.localStorage);
    const open = new Map<string, { id: string; count: number; at: number }>();
    window.addEventListener(ALERT_EVENT, (event) => {
      const detail = (event as CustomEvent<AlertEventDetail>).detail;
      const fresh = detail.alerts.filter((a) => told.first(alertKey(detail.uid, a)));
      if (fresh.length === 0) return;
      const worst = fresh.find((a) => a.severity === "critical") ?? fresh[0];
      const type = worst.severity === "critical" ? "error" : "warning";
      const actions = [{ label: "Show monitor", caption: "Open the notebook at this monitor", callback: () => void reveal(app, tracker, detail) }];
      const now = Date.now();
      const last = open.get(detail.uid);
      if (last !== undefined && now - last.at < MERGE_WINDOW_MS) {
        last.count += fresh.length;
        last.at = now;
        const updated = Notification.update({ id: last.id, message: notificationText(worst, detail.path, last.count - 1), type, actions, autoClose: false });
        if (updated) return;
      }
      const id = Notification.emit(notificationText(worst, detail.path, fresh.length - 1), type, { autoClose: false, actions });
      open.set(detail.uid, { id, count: fresh.length, at: now });
    });
  },
};

/** Bring the monitor into view: activate its notebook, scroll to its output. */
async function reveal(app: JupyterFrontEnd, tracker: INotebookTracker | null, detail: AlertEventDetail): Promise<void> {
  const selector = `.sentrycam-root[data-uid="${CSS.escape(detail.uid)}"]`;
  let panel: NotebookPanel | null = null;
  tracker?.forEach((p) => {
    if (panel === null && (p.node.querySelector(selector) !== null || (detail.path !== null && p.context.path === detail.path))) panel = p;
  });
  const found = panel as NotebookPanel | null;
  if (found === null) return;
  app.shell.activateById(found.id);
  const cell = found.content.widgets.find((c) => c.node.querySelector(selector) !== null);
  if (cell !== undefined) await found.content.scrollToCell(cell, "start");
  found.node.querySelector(selector)?.scrollIntoView({ block: "start" });
}

export default plugin;
