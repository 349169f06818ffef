// One rendered view of a monitor: wires the shared frame store to the reducer, the scatter plot,
// the toolbar and the status line, and keeps the root element's testing attributes current.
import type { AnyModel } from "@anywidget/types";
import type { ModelState } from "../model-state.ts";
import { ReductionClient, type Reduced } from "../reduction.ts";
import type { ReduceMethod } from "../reduce/protocol.ts";
import type { Frame } from "../transport/frame.ts";
import type { ColorBy } from "./palette.ts";
import { ScatterView } from "./scatter.ts";
import { Toolbar } from "./toolbar.ts";
import { ResultCache } from "./result-cache.ts";
import { MetricCharts } from "./charts.ts";
import { AlertList } from "./alert-list.ts";
import { captureNotes } from "./capture-notes.ts";

export class MonitorView {
  private readonly root: HTMLElement;
  private readonly toolbar: Toolbar;
  private readonly status: HTMLDivElement;
  private readonly errorBar: HTMLDivElement;
  private readonly scatter: ScatterView;
  private readonly charts: MetricCharts;
  private readonly alertList: AlertList;
  private readonly client: ReductionClient;
  private readonly cache = new ResultCache(400);
  private layer = "";
  private method: ReduceMethod;
  private colorBy: ColorBy = "label";
  private follow = true;
  private pinned: Frame | null = null;
  private shown: { frame: Frame; result: Reduced } | null = null;
  private progress = "";
  /** The one draw waiting while another runs: newer results replace it (latest wins). */
  private nextDraw: { frame: Frame; result: Reduced } | null = null;
  private drawing = false;
  /** The frame handed to the plot last (data-step reports it, not a result still queued). */
  private onScreen: Frame | null = null;
  private disposed = false;
  private latestRequested = false;
  private readonly problems: HTMLUListElement;

  constructor(
    private readonly model: AnyModel,
    private readonly state: ModelState,
    parent: HTMLElement,
    private readonly signal: AbortSignal,
  ) {
    this.root = document.createElement("div");
    this.root.className = "sentrycam-root";
    parent.appendChild(this.root);
    this.method = model.get("reducer") === "pca" ? "pca" : "umap";
    this.toolbar = new Toolbar(this.root, {
      layer: (name) => this.selectLayer(name),
      method: (m) => this.selectMethod(m),
      colorBy: (c) => {
        this.colorBy = c;
        this.redraw();
      },
      scrub: (i) => this.scrub(i),
      follow: (on) => this.setFollow(on),
      exportImage: (format) => void this.scatter.download(format, `sentrycam-${this.layer}-step${this.shown?.frame.step ?? 0}`),
    }, signal);
    this.status = div(this.root, "sentrycam-status");
    this.errorBar = div(this.root, "sentrycam-error");
    const notices = div(this.root, "sentrycam-notices");
    this.problems = document.createElement("ul");
    this.problems.className = "sentrycam-problems";
    this.root.insertBefore(this.problems, notices);
    const body = div(this.root, "sentrycam-body");
    this.scatter = new ScatterView(div(body, "sentrycam-main"));
    const side = div(body, "sentrycam-side");
    this.charts = new MetricCharts(side);
    this.alertList = new AlertList(side, notices, () => this.updateAttributes());
    this.client = new ReductionClient({
      result: (r) => this.onResult(r),
      progress: (layer, fraction, stage) => {
        if (layer === this.layer) this.setProgress(`${stage} ${Math.round(fraction * 100)}%`);
      },
      error: (layer, seq, message) => this.showError(`reducing frame ${seq} of ${layer} failed: ${message}`),
    });
    const unsubscribe = state.store.subscribe((ev) => {
      if (ev.kind === "frame") this.onFrame(ev.frame);
      else this.showError(ev.message);
    });
    const onReducer = () => this.selectMethod(model.get("reducer") === "pca" ? "pca" : "umap");
    model.on("change:reducer", onReducer);
    const onSnapshot = (id: number, format: "png" | "svg") => void this.answerSnapshot(id, format);
    state.snapshotHandlers.add(onSnapshot);
    const onAlerts = (fresh: typeof state.alerts) => {
      this.alertList.render(state.alerts, fresh);
      this.updateCharts();
      this.updateAttributes();
    };
    state.alertListeners.add(onAlerts);
    const onNotice = () => this.showProblems();
    state.noticeListeners.add(onNotice);
    signal.addEventListener("abort", () => {
      unsubscribe();
      model.off("change:reducer", onReducer);
      state.snapshotHandlers.delete(onSnapshot);
      state.alertListeners.delete(onAlerts);
      state.noticeListeners.delete(onNotice);
      this.disposed = true;
      this.charts.dispose();
      this.alertList.dispose();
      this.client.close();
      this.scatter.dispose();
      this.root.remove();
    });
    for (const e of state.store.errors) this.showError(e);
    this.showProblems();
    this.alertList.render(state.alerts, []);
    this.pickInitialLayer();
    this.updateAttributes();
  }

  /** The root element (carries the testing hooks). */
  get element(): HTMLElement {
    return this.root;
  }

  private pickInitialLayer(): void {
    const declared = (this.model.get("layers") as string[] | undefined) ?? [];
    const layers = this.layerNames();
    this.layer = declared.find((l) => layers.includes(l)) ?? layers[0] ?? declared[0] ?? "";
    this.toolbar.setLayers(layers.length ? layers : declared, this.layer);
    this.toolbar.setMethod(this.method);
    const latest = this.state.store.latest(this.layer);
    if (latest !== undefined) this.client.request(latest, this.method);
  }

  private layerNames(): string[] {
    const declared = (this.model.get("layers") as string[] | undefined) ?? [];
    const seen = this.state.store.layers();
    return [...declared.filter((l) => seen.includes(l)), ...seen.filter((l) => !declared.includes(l))];
  }

  private onFrame(frame: Frame): void {
    if (this.layer === "") this.layer = frame.layer;
    this.toolbar.setLayers(this.layerNames(), this.layer);
    if (frame.layer === this.layer && this.follow) this.requestLatestSoon();
    this.updateTimeline();
    this.updateAttributes();
    this.updateStatus();
    if (frame.layer === this.layer) this.updateCharts();
  }

  /**
   * Ask for the layer's latest frame once the current message is processed: a replay of many
   * frames then reduces only the newest (warm from whatever came before), not each in turn.
   */
  private requestLatestSoon(): void {
    if (this.latestRequested) return;
    this.latestRequested = true;
    queueMicrotask(() => {
      this.latestRequested = false;
      const latest = this.state.store.latest(this.layer);
      if (latest !== undefined && this.follow && !this.disposed) this.client.request(latest, this.method);
    });
  }

  private updateCharts(): void {
    this.charts.update(this.state.store.frames(this.layer), this.state.alerts, this.layer, this.shown?.frame.step ?? null);
  }

  private onResult(r: Reduced): void {
    this.cache.put(r);
    if (r.layer !== this.layer || r.method !== this.method) return;
    const frames = this.state.store.frames(this.layer);
    const frame = frames.find((f) => f.seq === r.seq);
    if (frame === undefined) return;
    const wanted = this.follow ? frames[frames.length - 1] : this.pinned;
    // While following, any newer result than the one shown is worth drawing (frames coalesce).
    const better = this.follow ? (this.shown === null || this.shown.frame.layer !== this.layer || r.seq >= this.shown.frame.seq || this.shown.result.method !== r.method) : wanted?.seq === r.seq;
    if (!this.client.isBusy(this.layer)) this.progress = "";
    if (better) this.draw(frame, r);
    else this.updateStatus();
  }

  private draw(frame: Frame, result: Reduced): void {
    this.shown = { frame, result };
    this.nextDraw = { frame, result };
    if (this.drawing) this.scatter.interrupt(); // newer positions: glide there from here
    else void this.pumpDraws();
    this.updateStatus();
  }

  /** Draw what is waiting, one at a time; a result that arrives meanwhile replaces the wait. */
  private async pumpDraws(): Promise<void> {
    this.drawing = true;
    while (this.nextDraw !== null && !this.disposed) {
      const { frame, result } = this.nextDraw;
      this.nextDraw = null;
      const title = `${frame.layer} · step ${frame.step}`;
      const shown = this.scatter.show(frame, result.xy, this.colorBy, title, result.method);
      this.onScreen = frame;
      this.updateAttributes(); // data-step: the frame now on screen (gliding into place)
      try {
        await shown;
      } catch (err) {
        this.showError(`drawing failed: ${(err as Error).message}`);
      }
      this.updateTimeline();
      this.updateCharts();
    }
    this.drawing = false;
  }

  private redraw(): void {
    if (this.shown !== null) this.draw(this.shown.frame, this.shown.result);
  }

  private selectLayer(name: string): void {
    this.layer = name;
    this.shown = null;
    this.pinned = null;
    this.follow = true;
    this.showLatest();
    this.updateCharts();
  }

  private selectMethod(m: ReduceMethod): void {
    if (m === this.method) return;
    this.method = m;
    this.toolbar.setMethod(m);
    if (this.model.get("reducer") !== m) {
      this.model.set("reducer", m);
      this.model.save_changes();
    }
    const target = this.follow ? this.state.store.latest(this.layer) : this.pinned;
    if (target) this.showFrame(target);
  }

  private setFollow(on: boolean): void {
    this.follow = on;
    if (on) {
      this.pinned = null;
      this.showLatest();
    } else {
      this.pinned = this.shown?.frame ?? null;
    }
    this.updateTimeline();
  }

  private scrub(index: number): void {
    const frames = this.state.store.frames(this.layer);
    const frame = frames[index];
    if (frame === undefined) return;
    this.follow = index === frames.length - 1;
    this.pinned = this.follow ? null : frame;
    this.showFrame(frame);
    this.updateTimeline();
  }

  private showLatest(): void {
    const latest = this.state.store.latest(this.layer);
    if (latest !== undefined) this.showFrame(latest);
    this.updateTimeline();
    this.updateAttributes();
  }

  /** Draw `frame` from the cache, or ask for it to be reduced (a skipped frame is reduced on demand). */
  private showFrame(frame: Frame): void {
    const cached = this.cache.get(frame.layer, this.method, frame.seq);
    if (cached !== undefined) this.draw(frame, cached);
    else {
      this.client.request(frame, this.method);
      this.setProgress(`reducing step ${frame.step}…`);
    }
  }

  private setProgress(text: string): void {
    this.progress = text;
    this.updateStatus();
  }

  private updateTimeline(): void {
    const frames = this.state.store.frames(this.layer);
    const current = this.follow ? frames.length - 1 : frames.findIndex((f) => f.seq === this.pinned?.seq);
    this.toolbar.setTimeline(current, frames.length, this.follow);
  }

  private updateStatus(): void {
    const store = this.state.store;
    const frames = store.frames(this.layer);
    const parts: string[] = [];
    if (this.shown !== null) {
      const { frame, result } = this.shown;
      const index = frames.findIndex((f) => f.seq === frame.seq) + 1;
      parts.push(`step ${frame.step}`, `frame ${index}/${frames.length}`, `${frame.n.toLocaleString()} points`);
      parts.push(`${result.method.toUpperCase()} ${result.cold ? "cold fit" : "warm"} ${Math.round(result.ms)} ms`);
      if (result.excluded > 0) parts.push(`${result.excluded} non-finite row(s) excluded`);
      if (frame.nonFinite > 0) parts.push(`${frame.nonFinite} non-finite value(s)`);
      parts.push(...captureNotes(frame));
      parts.push(...result.notes);
    } else {
      parts.push(store.received === 0 ? "waiting for the first frame…" : `${store.received} frame(s) received`);
    }
    if (this.progress) parts.push(this.progress);
    const notice = this.state.notices[this.state.notices.length - 1];
    this.status.textContent = parts.join(" · ");
    this.status.title = notice ?? "";
  }

  private updateAttributes(): void {
    const r = this.root;
    r.dataset.frames = String(this.state.store.received);
    r.dataset.step = this.onScreen ? String(this.onScreen.step) : "";
    r.dataset.every = String(this.onScreen?.every ?? "");
    r.dataset.points = String(this.scatter.points);
    r.dataset.layer = this.layer;
    r.dataset.alerts = String(this.state.alerts.length);
    r.dataset.reducer = this.method;
    r.dataset.errors = String(this.state.store.errors.length);
    r.dataset.worker = this.client.inWorker ? "1" : "0";
    r.dataset.evidence = String(this.alertList.openCharts);
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

  private async answerSnapshot(id: number, format: "png" | "svg"): Promise<void> {
    try {
      const url = await this.scatter.image(format);
      const bytes = format === "svg" ? new TextEncoder().encode(decodeURIComponent(url.slice(url.indexOf(",") + 1))) : base64Bytes(url.slice(url.indexOf(",") + 1));
      this.model.send({ type: "snapshot", id, ok: true, format }, undefined, [bytes.buffer as ArrayBuffer]);
    } catch (err) {
      this.model.send({ type: "snapshot", id, ok: false, error: (err as Error).message });
    }
  }
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
