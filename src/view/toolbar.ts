/** Toolbar controls: layer, reducer, colouring, the analysis toggles and the export buttons. */
import type { ColorBy } from "./palette.ts";
import { IMAGE_FORMATS, REDUCER_LABELS, REDUCERS, type ImageFormat, type ReduceMethod } from "../contract.ts";

/** The on/off analyses: every layer side by side, decision regions, samples that moved most. */
export type Toggle = "allLayers" | "regions" | "movers";

export interface ToolbarHandlers {
  layer(name: string): void;
  method(m: ReduceMethod): void;
  colorBy(c: ColorBy): void;
  toggle(which: Toggle, on: boolean): void;
  clearSelection(): void;
  exportImage(format: ImageFormat): void;
}

const TOGGLES: [Toggle, string, string][] = [
  ["allLayers", "all layers", "Every watched layer side by side at the same step"],
  ["regions", "regions", "Background: the class predicted in each region of the map (wrong predictions marked ×)"],
  ["movers", "movers", "Ring the samples whose neighbourhoods (full-dimensional) changed most over the last frames"],
];

export class Toolbar {
  readonly el: HTMLDivElement;
  private readonly layerSelect: HTMLSelectElement;
  private readonly methodSelect: HTMLSelectElement;
  private readonly colorSelect: HTMLSelectElement;
  private readonly boxes = new Map<Toggle, HTMLInputElement>();
  private readonly clearButton: HTMLButtonElement;

  constructor(parent: HTMLElement, handlers: ToolbarHandlers, signal: AbortSignal) {
    this.el = el("div", "sentrycam-toolbar");
    parent.appendChild(this.el);
    this.layerSelect = select(this.el, "layer", "Layer", [], (v) => handlers.layer(v), signal);
    this.methodSelect = select(this.el, "reducer", "Reducer", REDUCERS.map((r) => [r, REDUCER_LABELS[r]]), (v) => handlers.method(v as ReduceMethod), signal);
    this.colorSelect = select(
      this.el,
      "color",
      "Colour",
      [["label", "by label"], ["pred", "by prediction"], ["correct", "correct / wrong"], ["group", "by group"]],
      (v) => handlers.colorBy(v as ColorBy),
      signal,
    );
    for (const [which, text, title] of TOGGLES) {
      const label = el("label", `sentrycam-toggle sentrycam-toggle-${which}`);
      label.title = title;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.addEventListener("change", () => handlers.toggle(which, box.checked), { signal });
      label.append(box, document.createTextNode(` ${text}`));
      this.el.appendChild(label);
      this.boxes.set(which, box);
    }
    this.clearButton = el("button", "sentrycam-clear-selection");
    this.clearButton.textContent = "clear selection";
    this.clearButton.title = "Forget the selected points (click a point, or drag a box or lasso, to select)";
    this.clearButton.hidden = true;
    this.clearButton.addEventListener("click", () => handlers.clearSelection(), { signal });
    this.el.appendChild(this.clearButton);
    for (const format of IMAGE_FORMATS) {
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

  /** Offer "by group" only when the shown frame has groups. */
  setGroups(has: boolean): void {
    const option = [...this.colorSelect.options].find((o) => o.value === "group");
    if (option !== undefined && option.hidden === has) {
      option.hidden = !has;
      option.disabled = !has;
    }
  }

  setColorBy(c: ColorBy): void {
    this.colorSelect.value = c;
  }

  setSelectionCount(count: number): void {
    this.clearButton.hidden = count === 0;
    this.clearButton.textContent = `clear selection (${count})`;
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
