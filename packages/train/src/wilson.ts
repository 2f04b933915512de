/**
 * Wilson score interval of a binomial proportion k/n (95% by default). Lives in train, the lower of
 * the two packages that need it; @parts/evaluate's wilsonInterval calls it.
 */
export function wilson95(k: number, n: number, z = 1.959963984540054): { low: number; high: number } {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n) {
    throw new RangeError(`wilson95: need integers 0 <= k <= n (got k=${k}, n=${n})`);
  }
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}
