/** Mean silhouette of labelled points in 2-D (exact, O(n²)): how cleanly a layout separates the classes. */
export function silhouette(xy: Float32Array, labels: Int32Array, n: number): number {
  const classes = [...new Set(Array.from(labels.subarray(0, n)).filter((l) => l >= 0))];
  if (classes.length < 2) return NaN;
  const slot = new Map(classes.map((c, i) => [c, i]));
  const sums = new Float64Array(classes.length);
  const sizes = new Float64Array(classes.length);
  for (let i = 0; i < n; i++) if (labels[i] >= 0) sizes[slot.get(labels[i]) as number]++;
  let total = 0, counted = 0;
  for (let i = 0; i < n; i++) {
    const own = slot.get(labels[i]);
    if (own === undefined || !Number.isFinite(xy[2 * i])) continue;
    sums.fill(0);
    for (let j = 0; j < n; j++) {
      const c = slot.get(labels[j]);
      if (c === undefined || j === i || !Number.isFinite(xy[2 * j])) continue;
      sums[c] += Math.hypot(xy[2 * i] - xy[2 * j], xy[2 * i + 1] - xy[2 * j + 1]);
    }
    if (sizes[own] < 2) continue;
    const a = sums[own] / (sizes[own] - 1);
    let b = Infinity;
    for (let c = 0; c < classes.length; c++) if (c !== own && sizes[c] > 0) b = Math.min(b, sums[c] / sizes[c]);
    total += (b - a) / Math.max(a, b);
    counted++;
  }
  return counted > 0 ? total / counted : NaN;
}
