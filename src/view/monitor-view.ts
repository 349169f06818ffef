// One rendered view of a monitor: wires the model's shared frame store and reduction to the
// scatter panels, toolbar, timeline, charts and alert list, and keeps the root element's testing
// attributes current. What is shown is decided here (which frame: the playhead); how it is drawn
// lives in the view modules.
import type { ModelState } from "../model-state.ts";
import { sendToKernel } from "../model-state.ts";
import type { WidgetModel } from "../model.ts";
import type { Reduced } from "../reduction/client.ts";
import type { Frame } from "../transport/frame.ts";
import { asReducer, type ImageFormat, type ReduceMethod } from "../contract.ts";
import type { ColorBy } from "./palette.ts";
import { ScatterView, type Panel, type PanelStyle } from "./scatter.ts";
import { Toolbar, type Toggle } from "./toolbar.ts";
import { Timeline } from "./timeline.ts";
import { Legend } from "./legend.ts";
import { MetricCharts } from "./charts/metric-charts.ts";
import { AlertList } from "./alert-list.ts";
import { DrawQueue } from "./draw-queue.ts";
import { Analyses } from "./analyses.ts";
import { sameDrawing } from "./drawing.ts";
import { drawnHooks, fitHooks, hasGroups, legendSections, statusParts, timelineMarks } from "./view-text.ts";
import { ProblemBar } from "./problem-bar.ts";
import { Playhead } from "./playhead.ts";
import { base64Bytes } from "../transport/base64.ts";

type Drawing = { panels: Panel[]; style: PanelStyle; trails: number };

/** How far back a panel looks for a reduced frame to show while its newest is being reduced. */
const MAX_FALLBACK_SCAN = 50;

export class MonitorView {
  private readonly root: HTMLElement;
  private readonly toolbar: Toolbar;
  private readonly timeline: Timeline;
  private readonly status: HTMLDivElement;
  private readonly bar: ProblemBar;
  private readonly scatter: ScatterView;
  private readonly legend: Legend;
  private readonly charts: MetricCharts;
  private readonly alertList: AlertList;
  private readonly analyses: Analyses;
  private readonly queue: DrawQueue<Drawing>;
  private readonly playhead: Playhead;
  private method: ReduceMethod;
  private colorBy: ColorBy = "label";
  private readonly toggles: Record<Toggle, boolean> = { allLayers: false, regions: false, movers: false };
  private selection: number[];
  private progress = "";
  /** What was handed to the plot last (the testing hooks report it, not what is still queued). */
  private onScreen: Drawing | null = null;
  /** What was queued last: a drawing equal to it is not drawn again. */
  private pushed: Drawing | null = null;
  private renderQueued = false;
  private disposed = false;

  constructor(
    private readonly model: WidgetModel,
    private readonly state: ModelState,
    parent: HTMLElement,
    signal: AbortSignal,
  ) {
    this.root = div(parent, "sentrycam-root");
    this.root.dataset.uid = model.get("_uid"); // the alert notifications find the monitor by it
    this.playhead = new Playhead(state.store);
    this.method = asReducer(model.get("reducer"));
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
      exportImage: (format) => void this.scatter.download(format, `sentrycam-${this.playhead.layer}-step${this.playhead.current()?.step ?? 0}`),
    }, signal);
    this.timeline = new Timeline(this.root, {
      scrub: (i) => this.scrub(i),
      follow: (on) => {
        this.playhead.setFollow(on);
        this.render();
      },
      advance: () => {
        const more = this.playhead.advance();
        this.render();
        return more;
      },
    }, signal);
    this.status = div(this.root, "sentrycam-status");
    this.bar = new ProblemBar(this.root);
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
    // The charts redraw once the frame being reduced or drawn is on screen (or 5 s later).
    this.charts = new MetricCharts(side, () => this.queue.busy || this.state.reduction.isBusy(this.playhead.layer));
    this.alertList = new AlertList(side, notices, () => this.updateAttributes());
    this.analyses = new Analyses(state.reduction, () => this.render(), (m) => this.showError(m));
    this.queue = new DrawQueue(
      (d) => this.drawNow(d),
      () => this.scatter.interrupt(),
      (err) => {
        this.pushed = null; // the next compose draws again
        this.showError(`drawing failed: ${err.message}`);
      },
    );
    const unsubscribe = [
      state.store.subscribe((ev) => (ev.kind === "frame" ? this.onFrame(ev.frame) : this.showError(ev.message))),
      state.reduction.subscribe({
        result: (r) => this.onResult(r),
        progress: (layer, fraction, stage) => {
          if (layer === this.playhead.layer) this.setProgress(`${stage} ${Math.round(fraction * 100)}%`);
        },
        error: (layer, seq, message) => {
          this.progress = "";
          this.showError(`reducing frame ${seq} of ${layer} failed: ${message}`);
        },
      }),
    ];
    const onReducer = () => this.selectMethod(asReducer(model.get("reducer")));
    const onSelection = () => this.select([...(model.get("selection") ?? [])], false);
    model.on("change:reducer", onReducer);
    model.on("change:selection", onSelection);
    const onSnapshot = (id: number, format: ImageFormat) => void this.answerSnapshot(id, format);
    const onAlerts = (fresh: typeof state.alerts) => {
      this.alertList.render(state.alerts, fresh);
      this.updateSide();
    };
    const onNotice = () => this.bar.showProblems(state.notices);
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
    this.bar.showProblems(state.notices);
    this.alertList.render(state.alerts, []);
    const declared = model.get("layers") ?? [];
    const layers = this.layerNames();
    this.playhead.layer = declared.find((l) => layers.includes(l)) ?? layers[0] ?? declared[0] ?? "";
    this.toolbar.setMethod(this.method);
    this.toolbar.setLayers(layers.length ? layers : declared, this.playhead.layer);
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

  private onFrame(frame: Frame): void {
    if (this.playhead.layer === "") this.playhead.layer = frame.layer;
    this.toolbar.setLayers(this.layerNames(), this.playhead.layer);
    // A replay of many frames renders once, after the message: only the newest is reduced.
    if (this.playhead.follow && (frame.layer === this.playhead.layer || this.toggles.allLayers)) this.render();
    this.updateSide();
    this.updateAttributes();
  }

  private onResult(r: Reduced): void {
    if (r.method !== this.method) return;
    if (!this.state.reduction.isBusy(this.playhead.layer)) this.progress = "";
    const shown = this.onScreen?.panels.some((p) => p.frame.layer === r.layer) ?? false;
    if (r.layer === this.playhead.layer || shown || this.toggles.allLayers) this.render();
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
    const main = this.playhead.current();
    const { layer } = this.playhead;
    this.updateTimeline();
    if (main === undefined) return this.updateStatus();
    const wanted = this.toggles.allLayers ? this.layerNames().map((l) => (l === layer ? main : atStep(this.state.store.frames(l), main.step))) : [main];
    const panels: Panel[] = [];
    let trails = 0;
    for (const frame of wanted) {
      if (frame === undefined) continue;
      // Asks for the frame when it is not reduced yet; meanwhile a panel shows its layer's newest
      // reduced frame up to that step (so a live view keeps moving however fast frames come), except
      // a frame scrubbed to, which is shown when it is ready.
      let shown = frame;
      let result = this.state.reduction.resultOf(frame, this.method);
      if (result === undefined && (frame !== main || this.playhead.follow)) {
        const older = this.newestReduced(frame);
        if (older !== undefined) [shown, result] = older;
      }
      if (result === undefined) continue;
      const extras = this.analyses.extras(shown, result, this.state.store.frames(shown.layer), this.method, this.selection, this.toggles);
      trails += extras.trailCount;
      panels.push({
        frame: shown, xy: result.xy, method: result.method, title: `${shown.layer} · step ${shown.step}`,
        regions: extras.regions, trails: extras.trails, selectedRows: extras.selectedRows, moverRows: extras.moverRows,
      });
    }
    const reduced = this.state.reduction.cache.peek(main.layer, this.method, main.seq) !== undefined;
    if (!reduced) this.setProgress(`reducing step ${main.step}…`);
    if (!panels.some((p) => p.frame.layer === layer)) return;
    const style: PanelStyle = { colorBy: this.colorBy, classNames: this.model.get("class_names") ?? [], markWrong: this.toggles.regions };
    // A frame that arrives while the worker reduces it composes the panels already on screen
    // (the newest reduced frame): those are not drawn again.
    const drawing: Drawing = { panels, style, trails };
    if (!sameDrawing(this.pushed, drawing)) {
      this.pushed = drawing;
      this.queue.push(drawing);
    }
    const first = panels.find((p) => p.frame.layer === layer) ?? panels[0];
    const grouped = hasGroups(first.frame);
    this.toolbar.setGroups(grouped);
    if (!grouped && this.colorBy === "group") {
      this.colorBy = "label"; // the groups' frames are gone (a replay of another run): fall back
      this.toolbar.setColorBy("label");
      return this.render();
    }
    const rings = { selected: first.selectedRows.length, movers: first.moverRows?.length ?? 0 };
    this.legend.show(legendSections(first.frame, this.colorBy, this.toggles.regions, style.classNames, rings));
    this.updateStatus();
  }

  /** The newest frame of `frame`'s layer at or before its step that is reduced already. */
  private newestReduced(frame: Frame): [Frame, Reduced] | undefined {
    const frames = this.state.store.frames(frame.layer);
    for (let i = frames.length - 1, looked = 0; i >= 0 && looked < MAX_FALLBACK_SCAN; i--) {
      if (frames[i].step > frame.step) continue;
      looked++;
      const r = this.state.reduction.cache.peek(frames[i].layer, this.method, frames[i].seq);
      if (r !== undefined) return [frames[i], r];
    }
    return undefined;
  }

  private async drawNow(d: Drawing): Promise<void> {
    if (this.disposed) return;
    const shown = this.scatter.show(d.panels, d.style);
    this.onScreen = d;
    this.updateStatus(); // the status line describes what is drawn, as the plot's title does
    this.updateAttributes();
    await shown;
    this.updateSide();
  }

  private selectLayer(name: string): void {
    this.playhead.selectLayer(name);
    this.progress = "";
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

  private scrub(index: number): void {
    if (this.playhead.scrub(index)) this.render();
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
    const frames = this.playhead.frames();
    this.timeline.setPosition(this.playhead.index(), frames.length, this.playhead.follow);
    const marks = timelineMarks(this.state.tasks, this.state.alerts, this.playhead.layer);
    this.timeline.setMarks(marks, frames.map((f) => f.step));
  }

  /** Charts, timeline marks and attributes: after frames, alerts or tasks change. */
  private updateSide(): void {
    this.charts.update(this.playhead.frames(), this.state.alerts, this.state.tasks, this.playhead.layer, this.playhead.current()?.step ?? null);
    this.updateTimeline();
    this.updateAttributes();
  }

  private updateStatus(): void {
    const store = this.state.store;
    const frames = this.playhead.frames();
    const parts: string[] = [];
    const main = this.onScreen?.panels.find((p) => p.frame.layer === this.playhead.layer);
    if (main !== undefined) {
      parts.push(...statusParts(main.frame, frames, this.state.reduction.cache.peek(main.frame.layer, this.method, main.frame.seq)));
      if (this.toggles.regions && main.frame.preds === null) parts.push("no predictions in this frame, so no decision regions (pass preds= to log, or a model with class outputs)");
    } else {
      parts.push(store.received === 0 ? "waiting for the first frame…" : `${store.received} frame(s) received`);
    }
    if (this.selection.length > 0) parts.push(`${this.selection.length} selected`);
    if (this.progress) parts.push(this.progress);
    this.status.textContent = parts.join(" · ");
    this.status.title = this.state.notices[this.state.notices.length - 1] ?? "";
  }

  private updateAttributes(): void {
    const main = this.onScreen?.panels.find((p) => p.frame.layer === this.playhead.layer);
    const fit = main === undefined ? undefined : this.state.reduction.cache.peek(main.frame.layer, main.method, main.frame.seq);
    Object.assign(this.root.dataset, drawnHooks(this.onScreen?.panels ?? [], this.playhead.layer, this.onScreen?.trails ?? 0), fitHooks(fit), {
      frames: String(this.state.store.received),
      layer: this.playhead.layer,
      alerts: String(this.state.alerts.length),
      reducer: this.method,
      errors: String(this.state.store.errors.length),
      worker: this.state.reduction.inWorker ? "1" : "0",
      evidence: String(this.alertList.openCharts),
      tasks: String(this.state.tasks.length),
      selected: String(this.selection.length),
    });
  }

  private showError(message: string): void {
    this.bar.showError(message);
    this.updateAttributes();
  }

  private async answerSnapshot(id: number, format: ImageFormat): Promise<void> {
    try {
      const url = await this.scatter.image(format);
      const body = url.slice(url.indexOf(",") + 1);
      const bytes = format === "svg" ? new TextEncoder().encode(decodeURIComponent(body)) : base64Bytes(body);
      sendToKernel(this.model, { type: "snapshot", id, ok: true, format }, [bytes.buffer]);
    } catch (err) {
      sendToKernel(this.model, { type: "snapshot", id, ok: false, error: (err as Error).message });
    }
  }
}

/** The frame of `frames` at `step`, else the newest before it (layers captured together share steps). */
function atStep(frames: readonly Frame[], step: number): Frame | undefined {
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
