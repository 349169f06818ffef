// One rendered view of a monitor: wires the model's shared frame store and reduction to the
// scatter panels, toolbar, timeline, charts and alert list, and keeps the root element's testing
// attributes current. What is shown is decided here; how it is drawn lives in the view modules.
import type { ModelState } from "../model-state.ts";
import { sendToKernel } from "../model-state.ts";
import type { WidgetModel } from "../model.ts";
import type { Reduced } from "../reduction/client.ts";
import type { Frame } from "../transport/frame.ts";
import type { ImageFormat, ReduceMethod } from "../contract.ts";
import { classColor, groupColor, type ColorBy } from "./palette.ts";
import { ScatterView, type Panel, type PanelStyle } from "./scatter.ts";
import { Toolbar, type Toggle } from "./toolbar.ts";
import { Timeline, type TimelineMark } from "./timeline.ts";
import { Legend } from "./legend.ts";
import { MetricCharts } from "./charts.ts";
import { AlertList } from "./alert-list.ts";
import { DrawQueue } from "./draw-queue.ts";
import { Analyses } from "./analyses.ts";
import { captureNotes } from "./capture-notes.ts";
import { className } from "./scatter-traces.ts";

type Drawing = { panels: Panel[]; style: PanelStyle; trails: number };

export class MonitorView {
  private readonly root: HTMLElement;
  private readonly toolbar: Toolbar;
  private readonly timeline: Timeline;
  private readonly status: HTMLDivElement;
  private readonly errorBar: HTMLDivElement;
  private readonly problems: HTMLUListElement;
  private readonly scatter: ScatterView;
  private readonly legend: Legend;
  private readonly charts: MetricCharts;
  private readonly alertList: AlertList;
  private readonly analyses: Analyses;
  private readonly queue: DrawQueue<Drawing>;
  private layer = "";
  private method: ReduceMethod;
  private colorBy: ColorBy = "label";
  private follow = true;
  private pinned: Frame | null = null;
  private readonly toggles: Record<Toggle, boolean> = { allLayers: false, regions: false, movers: false };
  private selection: number[];
  private progress = "";
  /** What was handed to the plot last (the testing hooks report it, not what is still queued). */
  private onScreen: Drawing | null = null;
  private renderQueued = false;
  private disposed = false;

  constructor(
    private readonly model: WidgetModel,
    private readonly state: ModelState,
    parent: HTMLElement,
    signal: AbortSignal,
  ) {
    this.root = div(parent, "sentrycam-root");
    this.method = model.get("reducer") === "pca" ? "pca" : "umap";
    this.selection = [...(model.get("selection") ?? [])];
    this.toolbar = new Toolbar(this.root, {
      layer: (name) => this.selectLayer(name),
      method: (m) => this.selectMethod(m),
      colorBy: (c) => {
        this.colorBy = c;
        this.render();
      },
      toggle: (which, on) => {
        this.toggles[which] = on;
        this.render();
      },
      clearSelection: () => this.select([]),
      exportImage: (format) => void this.scatter.download(format, `sentrycam-${this.layer}-step${this.current()?.step ?? 0}`),
    }, signal);
    this.timeline = new Timeline(this.root, {
      scrub: (i) => this.scrub(i),
      follow: (on) => this.setFollow(on),
      advance: () => this.advance(),
    }, signal);
    this.status = div(this.root, "sentrycam-status");
    this.errorBar = div(this.root, "sentrycam-error");
    this.problems = document.createElement("ul");
    this.problems.className = "sentrycam-problems";
    this.root.appendChild(this.problems);
    const notices = div(this.root, "sentrycam-notices");
    const body = div(this.root, "sentrycam-body");
    const main = div(body, "sentrycam-main");
    this.scatter = new ScatterView(main, {
      click: (panel, row, add) => this.pick(panel, [row], add),
      select: (rows) => {
        const ids = [...rows].flatMap(([panel, list]) => list.map((r) => this.scatter.panels[panel]?.frame.ids[r] ?? -1));
        this.select([...new Set(ids.filter((id) => id >= 0))]);
      },
    });
    this.legend = new Legend(main);
    const side = div(body, "sentrycam-side");
    this.charts = new MetricCharts(side);
    this.alertList = new AlertList(side, notices, () => this.updateAttributes());
    this.analyses = new Analyses(state.reduction, () => this.render(), (m) => this.showError(m));
    this.queue = new DrawQueue(
      (d) => this.drawNow(d),
      () => this.scatter.interrupt(),
      (err) => this.showError(`drawing failed: ${err.message}`),
    );
    const unsubscribe = [
      state.store.subscribe((ev) => (ev.kind === "frame" ? this.onFrame(ev.frame) : this.showError(ev.message))),
      state.reduction.subscribe({
        result: (r) => this.onResult(r),
        progress: (layer, fraction, stage) => {
          if (layer === this.layer) this.setProgress(`${stage} ${Math.round(fraction * 100)}%`);
        },
        error: (layer, seq, message) => this.showError(`reducing frame ${seq} of ${layer} failed: ${message}`),
      }),
    ];
    const onReducer = () => this.selectMethod(model.get("reducer") === "pca" ? "pca" : "umap");
    const onSelection = () => this.select([...(model.get("selection") ?? [])], false);
    model.on("change:reducer", onReducer);
    model.on("change:selection", onSelection);
    const onSnapshot = (id: number, format: ImageFormat) => void this.answerSnapshot(id, format);
    const onAlerts = (fresh: typeof state.alerts) => {
      this.alertList.render(state.alerts, fresh);
      this.updateSide();
    };
    const onNotice = () => this.showProblems();
    const onTasks = () => this.updateSide();
    state.snapshotHandlers.add(onSnapshot);
    state.alertListeners.add(onAlerts);
    state.noticeListeners.add(onNotice);
    state.taskListeners.add(onTasks);
    signal.addEventListener("abort", () => {
      for (const u of unsubscribe) u();
      model.off("change:reducer", onReducer);
      model.off("change:selection", onSelection);
      state.snapshotHandlers.delete(onSnapshot);
      state.alertListeners.delete(onAlerts);
      state.noticeListeners.delete(onNotice);
      state.taskListeners.delete(onTasks);
      this.disposed = true;
      this.queue.clear();
      this.charts.dispose();
      this.alertList.dispose();
      this.scatter.dispose();
      this.root.remove();
    });
    for (const e of state.store.errors) this.showError(e);
    this.showProblems();
    this.alertList.render(state.alerts, []);
    const declared = model.get("layers") ?? [];
    const layers = this.layerNames();
    this.layer = declared.find((l) => layers.includes(l)) ?? layers[0] ?? declared[0] ?? "";
    this.toolbar.setMethod(this.method);
    this.toolbar.setLayers(layers.length ? layers : declared, this.layer);
    this.render();
    this.updateSide();
  }

  /** The root element (carries the testing hooks). */
  get element(): HTMLElement {
    return this.root;
  }

  private layerNames(): string[] {
    const declared = this.model.get("layers") ?? [];
    const seen = this.state.store.layers();
    return [...declared.filter((l) => seen.includes(l)), ...seen.filter((l) => !declared.includes(l))];
  }

  /** The frame of the selected layer to show: the newest while following, else the pinned one. */
  private current(): Frame | undefined {
    return this.follow ? this.state.store.latest(this.layer) : (this.pinned ?? undefined);
  }

  private onFrame(frame: Frame): void {
    if (this.layer === "") this.layer = frame.layer;
    this.toolbar.setLayers(this.layerNames(), this.layer);
    // A replay of many frames renders once, after the message: only the newest is reduced.
    if (this.follow && (frame.layer === this.layer || this.toggles.allLayers)) this.render();
    this.updateSide();
    this.updateAttributes();
  }

  private onResult(r: Reduced): void {
    if (r.method !== this.method) return;
    if (!this.state.reduction.isBusy(this.layer)) this.progress = "";
    const shown = this.onScreen?.panels.some((p) => p.frame.layer === r.layer) ?? false;
    if (r.layer === this.layer || shown || this.toggles.allLayers) this.render();
  }

  /** Work out the panels once the current message or event is handled, then queue the drawing. */
  private render(): void {
    if (this.renderQueued || this.disposed) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      if (!this.disposed) this.compose();
    });
  }

  private compose(): void {
    const main = this.current();
    this.updateTimeline();
    if (main === undefined) return this.updateStatus();
    const frames = this.toggles.allLayers ? this.layerNames().map((l) => (l === this.layer ? main : frameAtStep(this.state.store.frames(l), main.step))) : [main];
    const reduction = this.state.reduction;
    const panels: Panel[] = [];
    let trails = 0;
    for (const frame of frames) {
      if (frame === undefined) continue;
      const result = reduction.resultOf(frame, this.method);
      if (result === undefined) continue;
      const extras = this.analyses.extras(frame, result, this.state.store.frames(frame.layer), this.method, this.selection, this.toggles);
      trails += extras.trailCount;
      panels.push({
        frame, xy: result.xy, method: result.method,
        title: `${frame.layer} · step ${frame.step}`,
        regions: extras.regions, trails: extras.trails, selectedRows: extras.selectedRows, moverRows: extras.moverRows,
      });
    }
    if (!panels.some((p) => p.frame.seq === main.seq)) {
      this.setProgress(`reducing step ${main.step}…`);
      return;
    }
    const style: PanelStyle = { colorBy: this.colorBy, classNames: this.model.get("class_names") ?? [], markWrong: this.toggles.regions };
    this.queue.push({ panels, style, trails });
    this.updateLegend(main, style);
    this.updateStatus();
  }

  private async drawNow(d: Drawing): Promise<void> {
    if (this.disposed) return;
    const shown = this.scatter.show(d.panels, d.style);
    this.onScreen = d;
    this.updateAttributes();
    await shown;
    this.updateSide();
  }

  private selectLayer(name: string): void {
    this.layer = name;
    this.pinned = null;
    this.follow = true;
    this.render();
    this.updateSide();
  }

  private selectMethod(m: ReduceMethod): void {
    if (m === this.method) return;
    this.method = m;
    this.toolbar.setMethod(m);
    if (this.model.get("reducer") !== m) {
      this.model.set("reducer", m);
      this.model.save_changes();
    }
    this.render();
  }

  private setFollow(on: boolean): void {
    this.follow = on;
    this.pinned = on ? null : (this.current() ?? null);
    this.render();
  }

  private scrub(index: number): void {
    const frames = this.state.store.frames(this.layer);
    const frame = frames[index];
    if (frame === undefined) return;
    this.follow = index === frames.length - 1;
    this.pinned = this.follow ? null : frame;
    this.render();
  }

  /** One step of play: the next frame; false at the newest (then it is followed live). */
  private advance(): boolean {
    const frames = this.state.store.frames(this.layer);
    const at = this.follow ? frames.length - 1 : frames.findIndex((f) => f.seq === this.pinned?.seq);
    const next = at < 0 || at >= frames.length - 1 ? 0 : at + 1;
    if (this.follow && frames.length > 1) {
      this.scrub(0); // play from the start when following: replaying the history is what is asked
      return true;
    }
    this.scrub(next);
    return next < frames.length - 1;
  }

  /** Points picked in a panel: replace the selection, or add to it (toggling) with `add`. */
  private pick(panel: number, rows: number[], add: boolean): void {
    const frame = this.scatter.panels[panel]?.frame;
    if (frame === undefined) return;
    const ids = rows.map((r) => frame.ids[r]);
    if (!add) return this.select(ids);
    const set = new Set(this.selection);
    for (const id of ids) {
      if (set.has(id)) set.delete(id);
      else set.add(id);
    }
    this.select([...set]);
  }

  /** The selected sample ids; written to the model (cam.selection) unless they came from it. */
  private select(ids: number[], save = true): void {
    this.selection = ids;
    this.toolbar.setSelectionCount(ids.length);
    if (save) {
      this.model.set("selection", ids);
      this.model.save_changes();
    }
    this.render();
    this.updateAttributes();
  }

  private setProgress(text: string): void {
    this.progress = text;
    this.updateStatus();
  }

  private updateTimeline(): void {
    const frames = this.state.store.frames(this.layer);
    const current = this.follow ? frames.length - 1 : frames.findIndex((f) => f.seq === this.pinned?.seq);
    this.timeline.setPosition(current, frames.length, this.follow);
    const marks: TimelineMark[] = [
      ...this.state.tasks.map((t) => ({ step: t.step, kind: "task" as const, text: t.name })),
      ...this.state.alerts
        .filter((a) => a.layer === this.layer || a.layer === null || a.layer === undefined)
        .map((a) => ({ step: a.step, kind: (a.severity === "critical" ? "critical" : a.severity === "warning" ? "warning" : "info") as TimelineMark["kind"], text: `step ${a.step}: ${a.metric}` })),
    ];
    this.timeline.setMarks(marks, frames.map((f) => f.step));
  }

  /** Charts, timeline marks and attributes: after frames, alerts or tasks change. */
  private updateSide(): void {
    this.charts.update(this.state.store.frames(this.layer), this.state.alerts, this.state.tasks, this.layer, this.current()?.step ?? null);
    this.updateTimeline();
    this.updateAttributes();
  }

  /** Group colours when points are coloured by group; class colours for labels, predictions and regions. */
  private updateLegend(frame: Frame, style: PanelStyle): void {
    const codes = (...columns: (Int32Array | null)[]) =>
      [...new Set(columns.flatMap((c) => (c === null ? [] : Array.from(c))))].filter((v) => v >= 0).sort((a, b) => a - b);
    const classes = this.colorBy === "label" || this.colorBy === "pred" || this.toggles.regions;
    this.legend.show([
      {
        title: this.toggles.regions && this.colorBy !== "label" && this.colorBy !== "pred" ? "regions" : "class",
        entries: classes ? codes(frame.labels, frame.preds).map((v) => ({ color: classColor(v), text: className(v, style.classNames) })) : [],
      },
      {
        title: "group",
        entries: this.colorBy === "group" ? codes(frame.groups).map((v) => ({ color: groupColor(v), text: frame.groupNames[v] ?? String(v) })) : [],
      },
    ]);
  }

  private updateStatus(): void {
    const store = this.state.store;
    const frames = store.frames(this.layer);
    const parts: string[] = [];
    const main = this.onScreen?.panels.find((p) => p.frame.layer === this.layer);
    if (main !== undefined) {
      const { frame } = main;
      const result = this.state.reduction.cache.peek(frame.layer, this.method, frame.seq);
      parts.push(`step ${frame.step}`, `frame ${frames.findIndex((f) => f.seq === frame.seq) + 1}/${frames.length}`, `${frame.n.toLocaleString()} points`);
      if (result !== undefined) {
        parts.push(`${result.method.toUpperCase()} ${result.cold ? "cold fit" : "warm"} ${Math.round(result.ms)} ms`);
        if (result.excluded > 0) parts.push(`${result.excluded} non-finite row(s) excluded`);
        parts.push(...result.notes);
      }
      if (frame.nonFinite > 0) parts.push(`${frame.nonFinite} non-finite value(s)`);
      parts.push(...captureNotes(frame));
    } else {
      parts.push(store.received === 0 ? "waiting for the first frame…" : `${store.received} frame(s) received`);
    }
    if (this.selection.length > 0) parts.push(`${this.selection.length} selected`);
    if (this.progress) parts.push(this.progress);
    this.status.textContent = parts.join(" · ");
    this.status.title = this.state.notices[this.state.notices.length - 1] ?? "";
  }

  private updateAttributes(): void {
    const r = this.root.dataset;
    const shown = this.onScreen;
    const main = shown?.panels.find((p) => p.frame.layer === this.layer)?.frame ?? shown?.panels[0]?.frame;
    r.frames = String(this.state.store.received);
    r.step = main ? String(main.step) : "";
    r.every = String(main?.every ?? "");
    r.points = String(shown?.panels.reduce((s, p) => s + p.frame.n, 0) ?? 0);
    r.layer = this.layer;
    r.alerts = String(this.state.alerts.length);
    r.reducer = this.method;
    r.errors = String(this.state.store.errors.length);
    r.worker = this.state.reduction.inWorker ? "1" : "0";
    r.evidence = String(this.alertList.openCharts);
    r.tasks = String(this.state.tasks.length);
    r.groups = String(main?.groups ? new Set(Array.from(main.groups).filter((g) => g >= 0)).size : 0);
    r.selected = String(this.selection.length);
    r.trails = String(shown?.trails ?? 0);
    r.regions = shown?.panels.some((p) => p.regions !== null) ? "1" : "0";
    r.panels = String(shown?.panels.length ?? 0);
    r.movers = String(shown?.panels.reduce((s, p) => s + (p.moverRows?.length ?? 0), 0) ?? 0);
  }

  /** The kernel's latest problems (each also a SentrycamWarning in the notebook). */
  private showProblems(): void {
    const recent = this.state.notices.slice(-3);
    this.problems.replaceChildren(
      ...recent.map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }),
    );
  }

  private showError(message: string): void {
    const line = document.createElement("div");
    line.textContent = message;
    this.errorBar.appendChild(line);
    while (this.errorBar.childElementCount > 5) this.errorBar.firstElementChild?.remove();
    this.updateAttributes();
  }

  private async answerSnapshot(id: number, format: ImageFormat): Promise<void> {
    try {
      const url = await this.scatter.image(format);
      const body = url.slice(url.indexOf(",") + 1);
      const bytes = format === "svg" ? new TextEncoder().encode(decodeURIComponent(body)) : base64Bytes(body);
      sendToKernel(this.model, { type: "snapshot", id, ok: true, format }, [bytes.buffer as ArrayBuffer]);
    } catch (err) {
      sendToKernel(this.model, { type: "snapshot", id, ok: false, error: (err as Error).message });
    }
  }
}

/** The frame of `frames` at `step`, else the newest before it (layers captured together share steps). */
function frameAtStep(frames: readonly Frame[], step: number): Frame | undefined {
  let best: Frame | undefined;
  for (const f of frames) if (f.step <= step) best = f;
  return best;
}

function div(parent: HTMLElement, cls: string): HTMLDivElement {
  const d = document.createElement("div");
  d.className = cls;
  parent.appendChild(d);
  return d;
}

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
