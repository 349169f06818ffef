/** The colour key under the scatter: one swatch per class (with its name) or per group shown. */
export interface LegendEntry {
  color: string;
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

  /** Sections of swatches, each with its title (empty sections are left out). */
  show(sections: { title: string; entries: LegendEntry[] }[]): void {
    const shown = sections.filter((s) => s.entries.length > 0);
    const key = JSON.stringify(shown);
    if (key === this.last) return;
    this.last = key;
    this.el.replaceChildren(
      ...shown.flatMap(({ title, entries }) => {
        const head = document.createElement("span");
        head.className = "sentrycam-legend-title";
        head.textContent = title;
        return [
          head,
          ...entries.map((e) => {
            const item = document.createElement("span");
            item.className = "sentrycam-legend-item";
            const swatch = document.createElement("i");
            swatch.style.background = e.color;
            item.append(swatch, document.createTextNode(e.text));
            return item;
          }),
        ];
      }),
    );
  }
}
