// Page-side instruments of bench/browser.ts, run inside JupyterLab's page with page.evaluate:
// a long-task observer and a MutationObserver on every sentrycam root's data-step and data-frames.
// Times are Date.now() (the kernel stamps its sends with time.time(), same machine).

export interface Drawn {
  step: string;
  /** When data-step changed (the view handed the frame to Plotly). */
  attr: number;
  /** The next animation frame after that: the drawing's synchronous work is done. */
  painted: number;
  /** The status line at that moment (names the worker's time for the frame drawn). */
  status: string;
  /** Which kernels the worker ran (data-kernels: simd or js). */
  kernels: string;
}

export interface PageLog {
  longtasks: { start: number; dur: number }[];
  drawn: Drawn[];
  /** data-frames as it grew, with when. */
  received: { frames: number; t: number }[];
}

/** Installs the observers once per page (idempotent); read them back with `readLog`. */
export function installObservers(): void {
  const w = window as unknown as { __bench?: PageLog };
  if (w.__bench) return;
  const log: PageLog = { longtasks: [], drawn: [], received: [] };
  w.__bench = log;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) log.longtasks.push({ start: performance.timeOrigin + e.startTime, dur: e.duration });
  }).observe({ type: "longtask", buffered: false });
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target as HTMLElement;
      if (!el.classList?.contains("sentrycam-root")) continue;
      if (r.attributeName === "data-step") {
        const step = el.dataset.step ?? "";
        if (step === r.oldValue || step === "") continue;
        const attr = Date.now();
        const status = el.querySelector(".sentrycam-status")?.textContent ?? "";
        const kernels = el.dataset.kernels ?? "";
        requestAnimationFrame(() => log.drawn.push({ step, attr, painted: Date.now(), status, kernels }));
      } else if (r.attributeName === "data-frames") {
        const frames = Number(el.dataset.frames ?? 0);
        if (String(frames) !== r.oldValue) log.received.push({ frames, t: Date.now() });
      }
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-step", "data-frames"], attributeOldValue: true });
}

export function readLog(): PageLog {
  return (window as unknown as { __bench: PageLog }).__bench;
}

/** Forget what was logged so far (a new case starts). */
export function resetLog(): void {
  const log = (window as unknown as { __bench: PageLog }).__bench;
  log.longtasks.length = 0;
  log.drawn.length = 0;
  log.received.length = 0;
}
