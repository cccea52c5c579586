// Scenario 1: worker processes SIGKILLed at random moments while 10,000
// signed events arrive. One ROLE=api process takes the events; two
// ROLE=worker processes deliver into the benchmark's SMTP sink (which keeps
// every arrival's Message-ID); a killed worker is started again after a
// moment. A short LEASE_MS makes the rows a dead worker held claimable again
// within seconds, so the run shows the takeover rather than waiting it out.
//
// What may legitimately arrive twice: a row that was mid-send when its
// worker died (the server may have accepted it before the process could
// record that). Such a row must be one the killed process held, must carry
// an `interrupted` attempt, and its second copy the same Message-ID.

import { startSink, runLoadgen } from '../../bench/drivers.ts'
import type { Child } from '../../bench/processes.ts'
import { bareId, check, log, startBelfry, WEBHOOK_SECRET, type Belfry, type ChaosDatabase } from './common.ts'

const SCENARIO = 'worker kills'
const DOMAIN = 'crash.chaos.test'
const EVENTS = Number(process.env.CHAOS_EVENTS ?? 10_000)
// Paced so that ingest and delivery overlap with the kills for most of the run.
const RATE = Number(process.env.CHAOS_RATE ?? 400)
const LEASE_MS = 3000
const MIN_KILLS = 3
const MAX_KILLS = 8
const DRAIN_LIMIT_MS = 120_000
const MIN_UPTIME_MS = 5000

const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo)

export async function workerKills(db: ChaosDatabase, tmp: string): Promise<void> {
  const sink = await startSink()
  const workerEnv = {
    MAIL_TRANSPORT: 'smtp',
    SMTP_URL: sink.smtpUrl,
    LEASE_MS: String(LEASE_MS),
    WORKER_CONCURRENCY: '10',
  }
  const api = await startBelfry('api', 'api', db.url, tmp, workerEnv)
  const workers: Belfry[] = []
  const startedAt: number[] = []
  const startWorker = (slot: number) =>
    startBelfry(`worker ${slot}`, 'worker', db.url, tmp, workerEnv).then((w) => {
      startedAt[slot] = Date.now()
      workers[slot] = w
    })
  await startWorker(0)
  await startWorker(1)

  // Rows each killed process still held as `sending`: the only ones allowed to arrive twice.
  const leasedAtKill = new Set<string>()
  const kills: { pid: number; leased: number }[] = []
  let stopKilling = false
  let killerError: string | null = null

  const killer = (async () => {
    while (!stopKilling && kills.length < MAX_KILLS) {
      await Bun.sleep(rand(2000, 4500))
      if (stopKilling) break
      // A worker still compiling its templates holds nothing; kill one that has been claiming for a while.
      const grown = [0, 1].filter((s) => Date.now() - startedAt[s]! >= MIN_UPTIME_MS)
      if (grown.length === 0) continue
      const slot = grown[Math.floor(Math.random() * grown.length)]!
      const victim = workers[slot]!.child
      victim.proc.kill('SIGKILL')
      await victim.exited
      const held = await db.sql<{ id: string }[]>`
        select id from messages where state = 'sending' and lease_owner like ${`%:${victim.pid}:%`}`
      for (const row of held) leasedAtKill.add(row.id)
      kills.push({ pid: victim.pid, leased: held.length })
      log(`  killed worker ${slot} (pid ${victim.pid}) holding ${held.length} rows`)
      await Bun.sleep(rand(200, 1500))
      await startWorker(slot)
    }
  })().catch((error: unknown) => {
    killerError = error instanceof Error ? error.message : String(error)
  })

  try {
    await measure()
  } finally {
    stopKilling = true
    await killer.catch(() => {})
  }

  async function measure(): Promise<void> {
    log(`  posting ${EVENTS} events at ${RATE}/s`)
    const load = await runLoadgen(
      { url: `${api.base}/v1/events`, secret: WEBHOOK_SECRET, mode: 'rate', rate: RATE, count: EVENTS, seqStart: 0, domain: DOMAIN, runTag: `chaos${process.pid}` },
      tmp,
      EVENTS * 5 + 60_000,
    )
    const acceptedSeqs = load.acks.flatMap((at, i) => (at === null ? [] : [i]))
    const status202 = load.statuses['202'] ?? 0
    log(`  ingest done: ${JSON.stringify(load.statuses)}, ${load.errors} errors`)

    // Drained: every learner row in a final state. Kills go on while it drains, up to MAX_KILLS.
    const deadline = Date.now() + DRAIN_LIMIT_MS
    let pending = -1
    for (;;) {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from messages
        where to_address like ${`%@${DOMAIN}`} and state not in ('sent', 'dead', 'skipped', 'cancelled', 'digested')`
      pending = row?.n ?? 0
      if ((pending === 0 && kills.length >= MIN_KILLS) || Date.now() > deadline) break
      await Bun.sleep(250)
    }
    stopKilling = true
    await killer
    // A worker restarted by the last kill may still claim a row the drain above saw as final only if one was left; wait once more.
    for (;;) {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from messages
        where to_address like ${`%@${DOMAIN}`} and state not in ('sent', 'dead', 'skipped', 'cancelled', 'digested')`
      pending = row?.n ?? 0
      if (pending === 0 || Date.now() > deadline) break
      await Bun.sleep(250)
    }
    await Bun.sleep(500)

    check(SCENARIO, 'events posted, answered 202', status202 === EVENTS, `${status202} / ${EVENTS}`, EVENTS)
    check(SCENARIO, 'workers SIGKILLed and restarted', kills.length >= MIN_KILLS && !killerError, killerError ? `${kills.length}, then: ${killerError}` : kills.length, `≥ ${MIN_KILLS}`)
    // A row can be held at more than one kill: taken over, then its new owner killed too.
    log(`  rows leased by a killed worker: ${leasedAtKill.size} distinct (${kills.reduce((n, k) => n + k.leased, 0)} over all kills)`)

    const rows = await db.sql<{ id: string; to_address: string; state: string; reason: string | null; message_id_header: string; webhook_id: string | null }[]>`
      select m.id, m.to_address, m.state::text, m.reason, m.message_id_header, e.webhook_id
      from messages m left join events e on e.id = m.event_id
      where m.to_address like ${`%@${DOMAIN}`}`
    const byAddress = new Map(rows.map((r) => [r.to_address, r]))
    const withMessage = acceptedSeqs.filter((seq) => byAddress.has(`learner-${seq}@${DOMAIN}`)).length
    check(SCENARIO, 'accepted events with their message', withMessage === acceptedSeqs.length, `${withMessage} / ${acceptedSeqs.length}`, acceptedSeqs.length)
    const [stored] = await db.sql<{ n: number }[]>`select count(*)::int as n from events where webhook_id like ${`bench_chaos${process.pid}_%`}`
    check(SCENARIO, 'events stored = events accepted', stored?.n === acceptedSeqs.length, stored?.n ?? 0, acceptedSeqs.length)

    const states: Record<string, number> = {}
    for (const r of rows) {
      const key = r.reason ? `${r.state}:${r.reason}` : r.state
      states[key] = (states[key] ?? 0) + 1
    }
    const finalOk = rows.filter((r) => r.state === 'sent' || ((r.state === 'dead' || r.state === 'skipped') && r.reason)).length
    check(SCENARIO, 'messages sent, or dead/skipped with a reason', finalOk === rows.length && pending === 0, `${finalOk} / ${rows.length} ${JSON.stringify(states)}`, rows.length)

    const arrivals = await sink.records(DOMAIN)
    const copies = new Map<string, { n: number; rcpts: Set<string> }>()
    for (const [rcpt, , messageId] of arrivals) {
      const id = bareId(messageId)
      const entry = copies.get(id) ?? { n: 0, rcpts: new Set<string>() }
      entry.n += 1
      entry.rcpts.add(rcpt)
      copies.set(id, entry)
    }
    const sent = rows.filter((r) => r.state === 'sent')
    const reached = sent.filter((r) => copies.has(bareId(r.message_id_header))).length
    check(SCENARIO, "sent messages whose Message-ID reached the sink", reached === sent.length, `${reached} / ${sent.length}`, sent.length)
    const byMessageId = new Map(rows.map((r) => [bareId(r.message_id_header), r]))
    const strangers = [...copies.keys()].filter((id) => !byMessageId.has(id)).length
    check(SCENARIO, 'sink arrivals that match no outbox row', strangers === 0, strangers, 0)

    const twice = [...copies.entries()].filter(([, c]) => c.n > 1)
    const extraCopies = twice.reduce((n, [, c]) => n + c.n - 1, 0)
    const interrupted = new Set(
      (
        await db.sql<{ message_id: string }[]>`
          select distinct a.message_id from delivery_attempts a join messages m on m.id = a.message_id
          where a.outcome = 'interrupted' and m.to_address like ${`%@${DOMAIN}`}`
      ).map((r) => r.message_id),
    )
    const explained = twice.filter(([id, c]) => {
      const row = byMessageId.get(id)
      return row !== undefined && leasedAtKill.has(row.id) && interrupted.has(row.id) && c.rcpts.size === 1 && c.rcpts.has(row.to_address)
    }).length
    log(`  Message-IDs received more than once: ${twice.length} (${extraCopies} extra copies); rows with an interrupted attempt: ${interrupted.size}`)
    check(SCENARIO, 'duplicates: held at a kill, interrupted attempt, same Message-ID and rcpt', explained === twice.length, `${explained} / ${twice.length} (${extraCopies} extra copies)`, twice.length)
    const heldNotInterrupted = [...leasedAtKill].filter((id) => !interrupted.has(id))
    if (heldNotInterrupted.length > 0) {
      const sample = await db.sql<{ id: string; state: string; attempts: number; story: string | null }[]>`
        select m.id, m.state::text, m.attempts,
               (select string_agg(a.attempt || ':' || a.outcome, ',' order by a.id) from delivery_attempts a where a.message_id = m.id) as story
        from messages m where m.id in ${db.sql(heldNotInterrupted.slice(0, 5))}`
      log(`  rows held at a kill without an interrupted attempt: ${heldNotInterrupted.length}, e.g. ${JSON.stringify(sample)}`)
    }
    const thrice = twice.filter(([, c]) => c.n > 2).slice(0, 3)
    for (const [id, c] of thrice) {
      const row = byMessageId.get(id)
      const story = row ? await db.sql`select attempt, outcome, code, started_at, finished_at from delivery_attempts where message_id = ${row.id} order by id` : []
      log(`  ${id} arrived ${c.n} times: ${JSON.stringify(story)}`)
    }
    const strayInterrupted = [...interrupted].filter((id) => !leasedAtKill.has(id)).length
    check(SCENARIO, 'interrupted attempts only on rows held at a kill', strayInterrupted === 0, `${interrupted.size} rows, ${strayInterrupted} not held at a kill`, '0 not held')

  }
  await Promise.all([api.child, ...workers.map((w) => w.child), sink.child].map((c: Child) => c.stop(3000)))
}
