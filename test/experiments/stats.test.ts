// Protects the verdict of an A/B test: a clear difference is declared, a
// small one is not, a thin sample never is, and the numbers shown with it
// (rates, 95% intervals) are right.

import { describe, expect, test } from 'bun:test'
import { judge, probabilityBest, wilson } from '../../src/experiments/stats.ts'

describe('judge', () => {
  test('10% against 20% opens over 1,000 sends each: the second wins', () => {
    const verdict = judge([
      { name: 'a', trials: 1000, successes: 100 },
      { name: 'b', trials: 1000, successes: 200 },
    ])
    expect(verdict.winner).toBe('b')
    expect(verdict.variants[1]!.probabilityBest).toBeGreaterThan(0.999)
  })

  test('10% against 10.5% over 1,000 each: no winner', () => {
    const verdict = judge([
      { name: 'a', trials: 1000, successes: 100 },
      { name: 'b', trials: 1000, successes: 105 },
    ])
    expect(verdict.winner).toBeNull()
    const b = verdict.variants[1]!.probabilityBest
    expect(b).toBeGreaterThan(0.55)
    expect(b).toBeLessThan(0.75)
  })

  test('a big lead on a thin sample is not yet a win', () => {
    const verdict = judge([
      { name: 'a', trials: 40, successes: 2 },
      { name: 'b', trials: 40, successes: 20 },
    ])
    expect(verdict.variants[1]!.probabilityBest).toBeGreaterThan(0.99)
    expect(verdict.winner).toBeNull()
  })

  test('three variants: the chances add up to one, and the same counts give the same answer', () => {
    const counts = [
      { name: 'a', trials: 500, successes: 50 },
      { name: 'b', trials: 500, successes: 60 },
      { name: 'c', trials: 500, successes: 55 },
    ]
    const chances = probabilityBest(counts)
    expect(chances.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 10)
    expect(probabilityBest(counts)).toEqual(chances)
  })
})

describe('wilson', () => {
  test('matches the textbook interval, and stays inside 0–1 at the edges', () => {
    const [lo, hi] = wilson(100, 1000)
    expect(lo).toBeCloseTo(0.0829, 3)
    expect(hi).toBeCloseTo(0.1202, 3)
    expect(wilson(0, 20)[0]).toBe(0)
    expect(wilson(20, 20)[1]).toBe(1)
    expect(wilson(0, 0)).toEqual([0, 1])
  })
})
