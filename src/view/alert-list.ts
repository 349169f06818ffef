// The alert list (newest first), a notice that appears when a new alert arrives, and the evidence
// of one alert: clicking an alert (or Enter/Space on it) opens a small chart of what its rule
// compared under it; clicking again closes it. The open chart survives the list's re-renders.
import type { Alert } from "../transport/messages.ts";
import { GROUP_SEPARATOR } from "../registry.ts";
import { evidenceCaption, evidenceGeometry } from "./charts/evidence-geometry.ts";
import { renderEvidence } from "./charts/evidence-chart.ts";

const NOTICE_MS = 8000;
const MAX_ITEMS = 200;
let panels = 0; // numbers the panels' ids (aria-controls)

export class AlertList {
  readonly list: HTMLUListElement;
  readonly notice: HTMLDivElement;
  private hideTimer: ReturnType<typeof setTimeout> | null = null;
  /** The alert whose evidence is open (see `key`), and its panel (kept across re-renders). */
  private openKey: string | null = null;
  private panel: HTMLLIElement | null = null;

  /** `onToggle` runs after an evidence panel opens or closes. */
  constructor(parent: HTMLElement, noticeParent: HTMLElement, private readonly onToggle: () => void = () => {}) {
    this.notice = document.createElement("div");
    this.notice.className = "sentrycam-notice";
    this.notice.hidden = true;
    this.notice.setAttribute("role", "status");
    noticeParent.appendChild(this.notice);
    this.list = document.createElement("ul");
    this.list.className = "sentrycam-alerts";
    parent.appendChild(this.list);
  }

  /** Evidence charts open now (0 or 1: the `data-evidence` testing hook). */
  get openCharts(): number {
    return this.panel === null ? 0 : 1;
  }

  /** Show every alert; `fresh` ones also raise the notice. */
  render(all: readonly Alert[], fresh: readonly Alert[]): void {
    const focused = this.list.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.key : undefined;
    const items: HTMLLIElement[] = [];
    let placed = false; // the open panel, under its alert's new item
    for (const a of [...all].reverse().slice(0, MAX_ITEMS)) {
      const li = this.item(a);
      items.push(li);
      if (!placed && this.panel !== null && li.dataset.key === this.openKey) {
        li.setAttribute("aria-expanded", "true");
        li.setAttribute("aria-controls", this.panel.id);
        items.push(this.panel);
        placed = true;
      }
    }
    const wasOpen = this.panel !== null;
    if (wasOpen && !placed) this.close(); // its alert fell off the list
    this.list.replaceChildren(...items);
    if (focused !== undefined) items.find((li) => li.dataset.key === focused)?.focus({ preventScroll: true });
    if (wasOpen && this.panel === null) this.onToggle();
    if (fresh.length > 0) {
      const worst = fresh.find((a) => a.severity === "critical") ?? fresh[fresh.length - 1];
      this.notice.textContent = `⚠ ${fresh.length === 1 ? "New alert" : `${fresh.length} new alerts`} — step ${worst.step}, ${alertSource(worst)}: ${worst.message}`;
      this.notice.hidden = false;
      if (this.hideTimer !== null) clearTimeout(this.hideTimer);
      this.hideTimer = setTimeout(() => (this.notice.hidden = true), NOTICE_MS);
    }
  }

  private item(a: Alert): HTMLLIElement {
    const li = document.createElement("li");
    li.className = `sentrycam-alert ${a.severity}`;
    li.textContent = `step ${a.step} · ${alertSource(a)} · ${a.metric}: ${a.message}${incidentText(a)}`;
    li.dataset.key = key(a);
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    li.setAttribute("aria-expanded", "false");
    li.title = "show the evidence";
    li.addEventListener("click", () => this.toggle(li, a));
    li.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      ev.preventDefault(); // Space would scroll the page
      this.toggle(li, a);
    });
    return li;
  }

  /** Open `a`'s evidence under `li`, or close it when it is the one open. */
  private toggle(li: HTMLLIElement, a: Alert): void {
    const k = key(a);
    const same = this.openKey === k;
    this.close();
    if (!same) {
      this.openKey = k;
      this.panel = panel(a);
      this.panel.id = `sentrycam-evidence-${++panels}`;
      li.setAttribute("aria-controls", this.panel.id);
      li.setAttribute("aria-expanded", "true");
      li.after(this.panel);
      this.list.classList.add("sentrycam-alerts-open");
      this.panel.scrollIntoView?.({ block: "nearest" });
    }
    this.onToggle();
  }

  private close(): void {
    this.panel?.remove();
    this.panel = null;
    this.openKey = null;
    this.list.classList.remove("sentrycam-alerts-open");
    for (const li of this.list.querySelectorAll("li[aria-expanded='true']")) li.setAttribute("aria-expanded", "false");
  }

  dispose(): void {
    if (this.hideTimer !== null) clearTimeout(this.hideTimer);
  }
}

/** One alert's identity in the list: step, layer, metric and rule. */
function key(a: Alert): string {
  return `${a.step}|${a.layer ?? ""}|${a.metric}|${a.rule ?? ""}`;
}

/** The evidence panel of `a`: the chart and a one-line caption. */
function panel(a: Alert): HTMLLIElement {
  const g = evidenceGeometry(a.evidence, a.step);
  const caption = evidenceCaption(a.evidence, a.step);
  const li = document.createElement("li");
  li.className = "sentrycam-evidence";
  li.setAttribute("role", "region");
  li.setAttribute("aria-label", `evidence for the alert at step ${a.step} on ${a.metric}`);
  li.dataset.points = String(g?.points ?? 0);
  li.dataset.kind = g === null ? "none" : g.kind;
  li.append(renderEvidence(g, `${a.metric} ${caption}`));
  const p = document.createElement("div");
  p.className = "sentrycam-evidence-caption";
  p.textContent = caption;
  li.append(p);
  return li;
}

/** Where an alert comes from: its layer, the model (a per-group accuracy) or the run's scalars. */
/** What joined an alert's incident: " (with 3 more: layer4 eff_rank at 260, …)", or "". */
export function incidentText(a: Alert): string {
  const inc = a.evidence !== undefined && "incident" in a.evidence ? a.evidence.incident : undefined;
  if (inc === undefined || inc.joined === 0) return "";
  const shown = inc.also.slice(0, 3).map((m) => `${m.layer ?? "scalars"} ${m.metric} at ${m.step}`);
  const more = inc.joined > shown.length ? `, and ${inc.joined - shown.length} more` : "";
  return ` (one incident with ${inc.joined} more: ${shown.join(", ")}${more})`;
}

function alertSource(a: Alert): string {
  if (a.layer !== null && a.layer !== undefined) return a.layer;
  return a.metric.includes(GROUP_SEPARATOR) ? "model" : "scalars";
}
