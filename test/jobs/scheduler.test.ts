// Protects how scheduled jobs run: once across every process on one
// database (a second process SKIPS while one runs, it does not queue behind
// it), never overlapping themselves within a process, and stop() waiting for
// a run in progress. On Postgres the two "processes" are two connection
// pools; on PGlite, one embedded session shared by two schedulers.

import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Database } from '../../src/db/client.ts'
import { createLogger, silentLogger } from '../../src/log.ts'
import { JobScheduler, type JobDefinition } from '../../src/jobs/scheduler.ts'
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.ts'

// Each test boots a service (or two) on a fresh database: more than bun's 5 s default on a slow machine.
setDefaultTimeout(30_000)

let testDb: TestDatabase
let other: Database
const schedulers: JobScheduler[] = []
beforeEach(async () => {
  testDb = await createTestDatabase()
  other = onPostgres ? await testDb.openAnother() : testDb.database
})
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.stop()))
  await testDb.drop()
})

function scheduler(database: Database, jobs: JobDefinition[], log = silentLogger) {
  const s = new JobScheduler(database, log, jobs)
  schedulers.push(s)
  return s
}

/** A promise and the function that settles it. */
function latch() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

const KEY = 0x7e570001

describe('once across processes', () => {
  test('triggered in two processes at once, the body runs in one; the other skips without waiting', async () => {
    const gate = latch()
    let runs = 0
    const job = (): JobDefinition => ({
      name: 'work',
      pattern: '0 0 1 1 *',
      lockKey: KEY,
      async run() {
        runs++
        await gate.opened
      },
    })
    const a = scheduler(testDb.database, [job()])
    const b = scheduler(other, [job()])
    const first = a.trigger('work')
    const second = b.trigger('work')
    // Whichever got the lock holds it until the gate opens; the other has already given up.
    const skipped = await Promise.race([first, second])
    expect(skipped).toBe('skipped')
    expect(runs).toBe(1)
    gate.open()
    expect((await Promise.all([first, second])).sort()).toEqual(['ran', 'skipped'])
    expect(runs).toBe(1)

    // The lock is released afterwards: the next trigger runs.
    expect(await b.trigger('work')).toBe('ran')
    expect(runs).toBe(2)
  })

  test('while another session holds the job lock, a trigger skips at once', async () => {
    let runs = 0
    const s = scheduler(testDb.database, [{ name: 'work', pattern: '0 0 1 1 *', lockKey: KEY, run: async () => void runs++ }])
    const held = await other.tryAdvisoryLock(KEY, async () => {
      const started = Date.now()
      expect(await s.trigger('work')).toBe('skipped')
      return Date.now() - started
    })
    expect(held).toMatchObject({ acquired: true })
    expect((held as { value: number }).value).toBeLessThan(1000)
    expect(runs).toBe(0)
    expect(await s.trigger('work')).toBe('ran')
    expect(runs).toBe(1)
  })

  test('a body that throws is logged, reported as failed, and releases the lock', async () => {
    const lines: string[] = []
    const log = createLogger('error', {}, (line) => lines.push(line))
    let calls = 0
    const s = scheduler(
      testDb.database,
      [
        {
          name: 'flaky',
          pattern: '0 0 1 1 *',
          lockKey: KEY,
          async run() {
            if (++calls === 1) throw new Error('boom')
          },
        },
      ],
      log,
    )
    expect(await s.trigger('flaky')).toBe('failed')
    expect(lines.join('\n')).toContain('job failed')
    expect(lines.join('\n')).toContain('boom')
    expect(await s.trigger('flaky')).toBe('ran')
  })
})

describe('within one process', () => {
  test('ticks of a slow job never overlap (croner protect); after stop() no tick fires', async () => {
    let active = 0
    let most = 0
    let runs = 0
    const s = scheduler(testDb.database, [
      {
        name: 'slow',
        pattern: '* * * * * *', // every second
        lockKey: KEY,
        async run() {
          runs++
          active++
          most = Math.max(most, active)
          await Bun.sleep(1500)
          active--
        },
      },
    ])
    s.start()
    await Bun.sleep(3500)
    expect(runs).toBeGreaterThanOrEqual(1)
    expect(runs).toBeLessThanOrEqual(2) // a 1.5 s body fits at most twice in 3.5 s when runs never overlap
    expect(most).toBe(1)
    await s.stop()
    expect(active).toBe(0)
    const after = runs
    await Bun.sleep(1200)
    expect(runs).toBe(after)
  })

  test('stop() waits for the run in progress; afterwards a trigger is refused', async () => {
    const gate = latch()
    let finished = false
    const s = scheduler(testDb.database, [
      {
        name: 'work',
        pattern: '0 0 1 1 *',
        lockKey: KEY,
        async run() {
          await gate.opened
          finished = true
        },
      },
    ])
    s.start()
    const run = s.trigger('work')
    let stopped = false
    const stopping = s.stop().then(() => (stopped = true))
    await Bun.sleep(100)
    expect(stopped).toBe(false)
    gate.open()
    await stopping
    expect(finished).toBe(true)
    expect(await run).toBe('ran')
    expect(await s.trigger('work')).toBe('skipped')
  })

  test('an unknown job name is an error', async () => {
    const s = scheduler(testDb.database, [])
    await expect(s.trigger('nope')).rejects.toThrow('unknown job "nope"')
  })
})
