/** Median milliseconds of `reps` calls of `fn`, after `warmups` untimed calls (JIT, caches). */
export function medianMs(reps: number, fn: () => unknown, warmups = 0): number {
  for (let w = 0; w < warmups; w++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
