// The sending page's results while an announcement is live: each open page
// polls every second, and each read joins the opens and clicks of every
// email sent so far, so they are read at most every 10 s per announcement.

import { describe, expect, test } from 'bun:test'
import { RecentResults } from '../../src/announcements/routes.tsx'
import type { VariantOutcome } from '../../src/announcements/queries.ts'

const outcome = (sent: number): VariantOutcome[] => [
  { variant: null, sent, delivered: sent, bounced: 0, humanOpens: 0, machineOpens: 0, clicks: 0, complaints: 0, unsubscribes: 0 },
]

describe('results of a live announcement', () => {
  test('are read once per 10 s per announcement, whatever the number of polls', async () => {
    const reads: string[] = []
    const results = new RecentResults(async (id) => {
      reads.push(id)
      return outcome(reads.length)
    })
    const t0 = 1_000_000
    for (let s = 0; s < 10; s++) expect(await results.of('a', t0 + s * 1000)).toEqual(outcome(1))
    expect(await results.of('b', t0 + 5000)).toEqual(outcome(2))
    expect(await results.of('a', t0 + 10_000)).toEqual(outcome(3))
    expect(reads).toEqual(['a', 'b', 'a'])
  })

  test('a failed read is not kept: the next poll reads again', async () => {
    let fail = true
    const results = new RecentResults(async () => {
      if (fail) throw new Error('database away')
      return outcome(7)
    })
    await expect(results.of('a', 0)).rejects.toThrow('database away')
    fail = false
    expect(await results.of('a', 1000)).toEqual(outcome(7))
  })
})
