// Protects the retry schedule: exponential from RETRY_BASE_MS, capped at
// RETRY_MAX_MS, with full jitter (anywhere from zero to the ceiling).

import { expect, test } from 'bun:test'
import { retryCeiling, retryDelay } from '../../src/outbox/backoff.ts'

const policy = { retryBaseMs: 30_000, retryMaxMs: 3_600_000 }

test('the ceiling doubles per attempt from the base and stops at the cap', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => retryCeiling(attempt, policy))).toEqual([
    30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000,
  ])
  expect(retryCeiling(500, policy)).toBe(3_600_000) // 2^499 must not become Infinity or NaN
})

test('full jitter: the delay spans zero to the ceiling', () => {
  expect(retryDelay(3, policy, () => 0)).toBe(0)
  expect(retryDelay(3, policy, () => 0.5)).toBe(60_000)
  expect(retryDelay(3, policy, () => 0.999999)).toBe(119_999)
  const delays = Array.from({ length: 2000 }, () => retryDelay(4, policy))
  expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
  expect(Math.max(...delays)).toBeLessThan(240_000)
  // Spread out, not bunched: the lowest and highest quarter both occur.
  expect(delays.some((d) => d < 60_000)).toBe(true)
  expect(delays.some((d) => d > 180_000)).toBe(true)
})
