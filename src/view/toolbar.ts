/** Toolbar controls: layer, reducer, colouring, timeline scrubber, follow-latest and export buttons. */
import type { ColorBy } from "./palette.ts";
import type { ReduceMethod } from "../reduce/protocol.ts";

export interface ToolbarHandlers {
  layer(name: string): void;
  method(m: ReduceMethod): void;
  colorBy(c: ColorBy): void;
  scrub(index: number): void;
  follow(on: boolean): void;
  exportImage(format: "png" | "svg"): void;
}

export class Toolbar {
  readonly el: HTMLDivElement;
  private readonly layerSelect: HTMLSelectElement;
  private readonly methodSelect: HTMLSelectElement;
  private readonly colorSelect: HTMLSelectElement;
  private readonly slider: HTMLInputElement;
  private readonly followBox: HTMLInputElement;

  constructor(parent: HTMLElement, handlers: ToolbarHandlers, signal: AbortSignal) {
    this.el = el("div", "sentrycam-toolbar");
    parent.appendChild(this.el);
    this.layerSelect = select(this.el, "layer", "Layer", [], (v) => handlers.layer(v), signal);
    this.methodSelect = select(this.el, "reducer", "Reducer", [["umap", "UMAP"], ["pca", "PCA"]], (v) => handlers.method(v as ReduceMethod), signal);
    this.colorSelect = select(
      this.el,
      "color",
      "Colour",
      [["label", "by label"], ["pred", "by prediction"], ["correct", "correct / wrong"]],
      (v) => handlers.colorBy(v as ColorBy),
      signal,
    );
    const scrub = el("label", "sentrycam-scrub");
    scrub.title = "Scrub through the frames of this layer";
    this.slider = document.createElement("input");
    this.slider.type = "range";
    this.slider.min = "0";
    this.slider.max = "0";
    this.slider.value = "0";
    this.slider.className = "sentrycam-slider";
    this.slider.setAttribute("aria-label", "frame");
    this.slider.addEventListener("input", () => handlers.scrub(Number(this.slider.value)), { signal });
    scrub.appendChild(this.slider);
    this.el.appendChild(scrub);
    const follow = el("label", "sentrycam-follow");
    this.followBox = document.createElement("input");
    this.followBox.type = "checkbox";
    this.followBox.checked = true;
    this.followBox.addEventListener("change", () => handlers.follow(this.followBox.checked), { signal });
    follow.append(this.followBox, document.createTextNode(" live"));
    this.el.appendChild(follow);
    for (const format of ["png", "svg"] as const) {
      const b = el("button", `sentrycam-export sentrycam-export-${format}`);
      b.textContent = format.toUpperCase();
      b.title = `Save the current view as ${format.toUpperCase()}`;
      b.addEventListener("click", () => handlers.exportImage(format), { signal });
      this.el.appendChild(b);
    }
  }

  setLayers(layers: string[], current: string): void {
    const have = [...this.layerSelect.options].map((o) => o.value);
    if (have.join("\u0000") !== layers.join("\u0000")) {
      this.layerSelect.replaceChildren(...layers.map((l) => option(l, l)));
    }
    this.layerSelect.value = current;
  }

  setMethod(m: ReduceMethod): void {
    this.methodSelect.value = m;
  }

  setColorBy(c: ColorBy): void {
    this.colorSelect.value = c;
  }

  /** Timeline position: `index` of `count` frames; `follow` ticks "live". */
  setTimeline(index: number, count: number, follow: boolean): void {
    this.slider.max = String(Math.max(0, count - 1));
    this.slider.value = String(Math.max(0, index));
    this.followBox.checked = follow;
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = cls;
  return e;
}

function option(value: string, text: string): HTMLOptionElement {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function select(
  parent: HTMLElement,
  name: string,
  label: string,
  options: [string, string][],
  onChange: (v: string) => void,
  signal: AbortSignal,
): HTMLSelectElement {
  const wrap = el("label", `sentrycam-field sentrycam-field-${name}`);
  wrap.append(document.createTextNode(`${label} `));
  const s = el("select", `sentrycam-select-${name}`);
  s.replaceChildren(...options.map(([v, t]) => option(v, t)));
  s.addEventListener("change", () => onChange(s.value), { signal });
  wrap.appendChild(s);
  parent.appendChild(wrap);
  return s;
}
