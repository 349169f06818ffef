/**
 * The timeline under the toolbar: a slider over the shown layer's frames, marks for task
 * boundaries (named) and alerts (by severity) at the frames of their steps, and play/pause, which
 * steps through the history and stops at the newest frame.
 */

/** Time per frame while playing: long enough for a glide (450 ms) to land. */
export const PLAY_INTERVAL_MS = 600;

export interface TimelineMark {
  step: number;
  kind: "task" | "warning" | "critical" | "info";
  text: string;
}

export interface TimelineHandlers {
  scrub(index: number): void;
  follow(on: boolean): void;
  /** Called on each tick while playing; returns false at the end (playing stops). */
  advance(): boolean;
}

export class Timeline {
  readonly el: HTMLDivElement;
  private readonly slider: HTMLInputElement;
  private readonly marks: HTMLDivElement;
  private readonly followBox: HTMLInputElement;
  private readonly playButton: HTMLButtonElement;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The marks drawn now (as setMarks was given them): the same again rebuilds nothing. */
  private marksKey = "";

  constructor(parent: HTMLElement, private readonly handlers: TimelineHandlers, signal: AbortSignal) {
    this.el = document.createElement("div");
    this.el.className = "sentrycam-timeline";
    parent.appendChild(this.el);
    this.playButton = document.createElement("button");
    this.playButton.className = "sentrycam-play";
    this.playButton.title = "Play through the history / pause";
    this.setIcon("play");
    this.playButton.addEventListener("click", () => (this.playing ? this.pause() : this.play()), { signal });
    const track = document.createElement("div");
    track.className = "sentrycam-track";
    this.slider = document.createElement("input");
    this.slider.type = "range";
    this.slider.min = "0";
    this.slider.max = "0";
    this.slider.value = "0";
    this.slider.className = "sentrycam-slider";
    this.slider.title = "Scrub through the frames of this layer";
    this.slider.setAttribute("aria-label", "frame");
    this.slider.addEventListener("input", () => {
      this.pause();
      handlers.scrub(Number(this.slider.value));
    }, { signal });
    this.marks = document.createElement("div");
    this.marks.className = "sentrycam-marks";
    track.append(this.slider, this.marks);
    const follow = document.createElement("label");
    follow.className = "sentrycam-follow";
    this.followBox = document.createElement("input");
    this.followBox.type = "checkbox";
    this.followBox.checked = true;
    this.followBox.addEventListener("change", () => {
      this.pause();
      handlers.follow(this.followBox.checked);
    }, { signal });
    follow.append(this.followBox, document.createTextNode(" live"));
    this.el.append(this.playButton, track, follow);
    signal.addEventListener("abort", () => this.pause());
  }

  get playing(): boolean {
    return this.timer !== null;
  }

  play(): void {
    if (this.timer !== null) return;
    this.setIcon("pause");
    this.el.dataset.playing = "1";
    this.timer = setInterval(() => {
      if (!this.handlers.advance()) this.pause();
    }, PLAY_INTERVAL_MS);
  }

  pause(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.setIcon("play");
    this.el.dataset.playing = "0";
  }

  /** The button's icon, drawn with CSS (style/widget.css): the ⏸ and ▶ glyphs are missing from
   *  the fonts of a stock Chromium, where they drew as empty boxes. */
  private setIcon(icon: "play" | "pause"): void {
    this.playButton.dataset.icon = icon;
    this.playButton.setAttribute("aria-label", icon === "play" ? "Play" : "Pause");
    if (!this.playButton.firstElementChild) {
      const glyph = document.createElement("span");
      glyph.className = "sentrycam-icon";
      glyph.setAttribute("aria-hidden", "true");
      this.playButton.appendChild(glyph);
    }
  }

  /** Position: `index` of `count` frames; `follow` ticks "live". */
  setPosition(index: number, count: number, follow: boolean): void {
    this.slider.max = String(Math.max(0, count - 1));
    this.slider.value = String(Math.max(0, index));
    this.followBox.checked = follow;
  }

  /** Marks at the frames of their steps (`steps`: the steps of the slider's frames, in order). */
  setMarks(marks: readonly TimelineMark[], steps: readonly number[]): void {
    const last = Math.max(1, steps.length - 1);
    const key = JSON.stringify(marks.map((m) => [m.step, m.kind, m.text, frameAt(steps, m.step), last]));
    if (key === this.marksKey) return;
    this.marksKey = key;
    this.marks.replaceChildren(
      ...marks.map((m) => {
        const tick = document.createElement("span");
        tick.className = `sentrycam-mark sentrycam-mark-${m.kind}`;
        tick.dataset.step = String(m.step);
        tick.style.left = `${(100 * frameAt(steps, m.step)) / last}%`;
        tick.title = m.text;
        if (m.kind === "task") tick.textContent = m.text;
        return tick;
      }),
    );
  }
}

/** Index of the first frame at or after `step` (the last frame when none is). */
export function frameAt(steps: readonly number[], step: number): number {
  for (let i = 0; i < steps.length; i++) if (steps[i] >= step) return i;
  return Math.max(0, steps.length - 1);
}
