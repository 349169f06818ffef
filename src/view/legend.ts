/** The colour key under the scatter: one swatch per class (with its name) or per group shown. */
import { PALETTE } from "./palette.ts";

export interface LegendEntry {
  /** Index into PALETTE (class label or group code). */
  code: number;
  text: string;
}

export class Legend {
  readonly el: HTMLDivElement;
  private last = "";

  constructor(parent: HTMLElement) {
    this.el = document.createElement("div");
    this.el.className = "sentrycam-legend";
    parent.appendChild(this.el);
  }

  show(title: string, entries: LegendEntry[]): void {
    const key = title + entries.map((e) => `${e.code}:${e.text}`).join("|");
    if (key === this.last) return;
    this.last = key;
    const head = document.createElement("span");
    head.className = "sentrycam-legend-title";
    head.textContent = entries.length ? title : "";
    this.el.replaceChildren(
      head,
      ...entries.map((e) => {
        const item = document.createElement("span");
        item.className = "sentrycam-legend-item";
        const swatch = document.createElement("i");
        swatch.style.background = PALETTE[e.code % PALETTE.length];
        item.append(swatch, document.createTextNode(e.text));
        return item;
      }),
    );
  }
}
