// Which reduced frames a frame may warm-start from. A layout started from another frame keeps that
// frame's picture where the data do not pull hard enough: started from the trained layer, step 0
// shows ten clean clusters it does not have. So a frame starts only from a frame just before it in
// training order (the picture the run itself would have drawn, live), never from whichever frame
// was viewed last; without one it is fitted cold, and a cold fit depends on the frame alone.
import type { Frame } from "../transport/frame.ts";

/** How many frames back a warm start may come from when scrubbing (reducing is cheaper than a gap's drift)... */
export const MAX_WARM_GAP = 25;
/** ...and how many candidates the worker is offered (it may have dropped the state of one). */
export const WARM_CANDIDATES = 3;

/**
 * The seqs of reduced frames `frame` may start from, nearest first: frames of its layer before it
 * in training order, at most MAX_WARM_GAP frames back, except for the layer's newest frame (a
 * live view falls behind fast training by any number of frames and still starts from its last).
 */
export function warmSources(frame: Frame, history: readonly Frame[], isReduced: (f: Frame) => boolean): number[] {
  const at = history.findIndex((f) => f.seq === frame.seq);
  if (at < 0) return [];
  const newest = at === history.length - 1;
  const out: number[] = [];
  for (let i = at - 1; i >= 0 && out.length < WARM_CANDIDATES; i--) {
    if (!newest && at - i > MAX_WARM_GAP) break;
    const f = history[i];
    if (f.n === frame.n && f.d === frame.d && isReduced(f)) out.push(f.seq);
  }
  return out;
}
