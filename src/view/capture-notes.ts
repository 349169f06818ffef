// The status line's words for how the kernel captured a frame (pure: testable in Node).
import type { Frame } from "../transport/frame.ts";

/** How the kernel captured a frame, in words: cadence, pooling, projection. */
export function captureNotes(frame: Frame): string[] {
  const notes: string[] = [];
  if (frame.every !== null) notes.push(`every ${frame.every} steps`);
  if (frame.pool !== "none" && frame.shape.length > 2) {
    notes.push(`${frame.pool} of ${frame.shape.slice(1).join("×")}`);
  }
  if (frame.projectedFrom !== null) notes.push(`random projection ${frame.projectedFrom}→${frame.d}`);
  return notes;
}
