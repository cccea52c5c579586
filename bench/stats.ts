// Percentiles that cannot flatter: anything that never finished counts as
// infinitely late, so losing messages never improves a p99.

export interface LatencySummary {
  /** What was expected to finish, and what did. */
  count: number
  finished: number
  p50: number | null
  p95: number | null
  p99: number | null
  max: number | null
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** null for a percentile that falls on a sample that never finished. */
export function summarize(samples: readonly number[], expected: number): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b)
  const finished = sorted.length
  while (sorted.length < expected) sorted.push(Number.POSITIVE_INFINITY)
  const pick = (p: number) => {
    const value = percentile(sorted, p)
    return value === null || !Number.isFinite(value) ? null : value
  }
  return { count: expected, finished, p50: pick(50), p95: pick(95), p99: pick(99), max: pick(100) }
}
