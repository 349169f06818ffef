// The alert list (newest first) and a notice that appears when a new alert arrives.
import type { Alert } from "../transport/messages.ts";

const NOTICE_MS = 8000;

export class AlertList {
  readonly list: HTMLUListElement;
  readonly notice: HTMLDivElement;
  private hideTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(parent: HTMLElement, noticeParent: HTMLElement) {
    this.notice = document.createElement("div");
    this.notice.className = "sentrycam-notice";
    this.notice.hidden = true;
    this.notice.setAttribute("role", "status");
    noticeParent.appendChild(this.notice);
    this.list = document.createElement("ul");
    this.list.className = "sentrycam-alerts";
    parent.appendChild(this.list);
  }

  /** Show every alert; `fresh` ones also raise the notice. */
  render(all: readonly Alert[], fresh: readonly Alert[]): void {
    const items = [...all].reverse().slice(0, 200).map((a) => {
      const li = document.createElement("li");
      li.className = a.severity;
      li.textContent = `step ${a.step} · ${a.layer ?? "scalars"} · ${a.metric}: ${a.message}`;
      return li;
    });
    this.list.replaceChildren(...items);
    if (fresh.length > 0) {
      const worst = fresh.find((a) => a.severity === "critical") ?? fresh[fresh.length - 1];
      this.notice.textContent = `⚠ ${fresh.length === 1 ? "New alert" : `${fresh.length} new alerts`} — step ${worst.step}, ${worst.layer ?? "scalars"}: ${worst.message}`;
      this.notice.hidden = false;
      if (this.hideTimer !== null) clearTimeout(this.hideTimer);
      this.hideTimer = setTimeout(() => (this.notice.hidden = true), NOTICE_MS);
    }
  }

  dispose(): void {
    if (this.hideTimer !== null) clearTimeout(this.hideTimer);
  }
}
