// Which frame a view shows: its layer's newest while following live, else the frame pinned by
// scrubbing, pausing or playing. No DOM (tested in Node); the timeline is its control.
import type { Frame } from "../transport/frame.ts";
import type { FrameStore } from "../store.ts";

export class Playhead {
  /** The layer shown ("" until one is known). */
  layer = "";
  /** True while the newest frame is followed as it comes. */
  follow = true;
  private pinned: Frame | null = null;

  constructor(private readonly store: Pick<FrameStore, "frames" | "latest">) {}

  /** The shown layer's frames, oldest first. */
  frames(): readonly Frame[] {
    return this.store.frames(this.layer);
  }

  /** The frame to show: the newest while following, else the pinned one. */
  current(): Frame | undefined {
    return this.follow ? this.store.latest(this.layer) : (this.pinned ?? undefined);
  }

  /** Where the shown frame is among its layer's frames (−1 when the pinned one is gone). */
  index(): number {
    const frames = this.frames();
    return this.follow ? frames.length - 1 : frames.findIndex((f) => f.seq === this.pinned?.seq);
  }

  /** Show `layer`: following its newest frame when following, else pinned where the view was
   *  (its frame at or before the shown step; its first frame when all are later). */
  selectLayer(layer: string): void {
    const step = this.follow ? undefined : this.pinned?.step;
    this.layer = layer;
    const frames = this.frames();
    if (step === undefined || frames.length === 0) {
      this.pinned = null;
      this.follow = true;
      return;
    }
    let at = 0;
    for (let i = 0; i < frames.length && frames[i].step <= step; i++) at = i;
    this.pinned = frames[at];
    this.follow = false;
  }

  /** Follow the newest frame, or stay on the one shown now. */
  setFollow(on: boolean): void {
    this.pinned = on ? null : (this.current() ?? null);
    this.follow = on;
  }

  /** Show frame `index` of the layer (the newest is followed); false when there is no such frame. */
  scrub(index: number): boolean {
    const frames = this.frames();
    const frame = frames[index];
    if (frame === undefined) return false;
    this.follow = index === frames.length - 1;
    this.pinned = this.follow ? null : frame;
    return true;
  }

  /** One step of play: the next frame; false at the newest (then it is followed live). */
  advance(): boolean {
    const frames = this.frames();
    if (this.follow && frames.length > 1) {
      this.scrub(0); // play from the start when following: replaying the history is what is asked
      return true;
    }
    const at = this.index();
    const next = at < 0 || at >= frames.length - 1 ? 0 : at + 1;
    this.scrub(next);
    return next < frames.length - 1;
  }
}
