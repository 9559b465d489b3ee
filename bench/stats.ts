// The benches' two statistics, in one place: every figure they print is a median over runs or a percentile of
// one run's sorted samples.

/** The p-th percentile (0..1) of an ascending array, by nearest rank; 0 for an empty one. */
export const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** The median of `xs` (any order; the mean of the middle two for an even count); 0 for none. */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
