// Scenario 2: the SMTP fault matrix. One Belfry process (ROLE=all) sends
// into the fault sink; each fault has its own recipients, and each message
// must end as DESIGN.md says:
//   4xx                      → retried with backoff, delivered once the server accepts
//   4xx for ever             → dead after MAX_ATTEMPTS (attempts_exhausted)
//   550 5.1.1                → dead (invalid_address), address suppressed
//   550 5.7.1                → dead (rejected), address not suppressed
//   dropped after DATA/stall → retried, delivered with the same Message-ID
// A small LEASE_MS makes the send timeout (two thirds of it) short enough
// for a stall to end within the run.

import { bareId, check, log, signed, startBelfry, type ChaosDatabase } from './common.ts'
import { startFaultSink, type Fault } from './fault-sink.ts'

const SCENARIO = 'SMTP faults'
const DOMAIN = 'faults.chaos.test'
const PER_CASE = 2
const MAX_ATTEMPTS = 4
const RETRY_BASE_MS = 200
const RETRY_MAX_MS = 2000
const LEASE_MS = 3000
const DRAIN_LIMIT_MS = 90_000
// A due retry waits for the worker's next poll (1 s) or wake-up; room for a busy 2-core machine on top.
const POLL_SLACK_MS = 3000

type Expect = 'delivered' | 'exhausted' | 'invalid_address' | 'rejected'

interface Case {
  label: string
  fault: Fault
  expect: Expect
  /** The attempt's code Belfry records for this fault (a reply code, or the network error's). */
  codes: RegExp
}

const FOREVER = Number.MAX_SAFE_INTEGER

const CASES: Record<string, Case> = {
  t421: { label: '421 ×2 at RCPT, then 250', fault: { stage: 'rcpt', reply: 421, text: '4.7.0 try again later, closing connection', times: 2 }, expect: 'delivered', codes: /^421$/ },
  t450: { label: '450 ×2 at RCPT, then 250', fault: { stage: 'rcpt', reply: 450, text: '4.2.1 mailbox busy', times: 2 }, expect: 'delivered', codes: /^450$/ },
  t451: { label: '451 ×2 after DATA, then 250', fault: { stage: 'data', reply: 451, text: '4.3.0 local error in processing', times: 2 }, expect: 'delivered', codes: /^451$/ },
  t452: { label: '452 ×2 at RCPT, then 250', fault: { stage: 'rcpt', reply: 452, text: '4.2.2 mailbox full', times: 2 }, expect: 'delivered', codes: /^452$/ },
  tnever: { label: '451 after DATA, every try', fault: { stage: 'data', reply: 451, text: '4.3.0 local error in processing', times: FOREVER }, expect: 'exhausted', codes: /^451$/ },
  p511: { label: '550 5.1.1 at RCPT', fault: { stage: 'rcpt', reply: 550, text: '5.1.1 no such user here', times: FOREVER }, expect: 'invalid_address', codes: /^550$/ },
  p571: { label: '550 5.7.1 after DATA', fault: { stage: 'data', reply: 550, text: '5.7.1 message refused by policy', times: FOREVER }, expect: 'rejected', codes: /^550$/ },
  drop: { label: 'connection dropped after DATA ×2, then 250', fault: { stage: 'data', drop: true, times: 2 }, expect: 'delivered', codes: /^E[A-Z]+$/ },
  stall: { label: 'no reply after DATA (stall) ×1, then 250', fault: { stage: 'data', stall: true, times: 1 }, expect: 'delivered', codes: /^E[A-Z]+$/ },
}

interface AttemptRow {
  attempt: number
  outcome: string
  code: string | null
  response: string | null
  started: number
  finished: number
}

export async function smtpFaults(db: ChaosDatabase, tmp: string): Promise<void> {
  const sink = await startFaultSink(Object.fromEntries(Object.entries(CASES).map(([name, c]) => [name, c.fault])))
  const belfry = await startBelfry('belfry (faults)', 'all', db.url, tmp, {
    MAIL_TRANSPORT: 'smtp',
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    RETRY_BASE_MS: String(RETRY_BASE_MS),
    RETRY_MAX_MS: String(RETRY_MAX_MS),
    LEASE_MS: String(LEASE_MS),
    WORKER_CONCURRENCY: '4',
  })
  try {
    const addresses: { name: string; address: string }[] = []
    for (const name of Object.keys(CASES)) {
      for (let i = 0; i < PER_CASE; i++) {
        const address = `${name}-${i}@${DOMAIN}`
        addresses.push({ name, address })
        const body = JSON.stringify({
          type: 'course.completed',
          data: {
            user: { id: `fault-${name}-${i}`, email: address, name: `Fault ${name} ${i}` },
            course: { id: 'chaos-1', title: 'Resilience 101' },
            completion: { completed_at: '2026-12-01T10:00:00Z' },
          },
        })
        const res = await fetch(`${belfry.base}/v1/events`, { method: 'POST', headers: signed(`chaos_fault_${process.pid}_${name}_${i}`, body), body })
        if (res.status !== 202) throw new Error(`event for ${address}: ${res.status} ${await res.text()}`)
      }
    }

    const deadline = Date.now() + DRAIN_LIMIT_MS
    let pending = addresses.length
    while (Date.now() < deadline) {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from messages where to_address like ${`%@${DOMAIN}`} and state not in ('sent', 'dead', 'skipped', 'cancelled')`
      pending = row?.n ?? 0
      if (pending === 0) break
      await Bun.sleep(250)
    }
    check(SCENARIO, 'messages in a final state', pending === 0, `${addresses.length - pending} / ${addresses.length}`, addresses.length)

    const suppressed = new Set((await db.sql<{ email: string }[]>`select email from suppressions`).map((r) => r.email.toLowerCase()))
    for (const [name, c] of Object.entries(CASES)) {
      const mine = addresses.filter((a) => a.name === name)
      let good = 0
      const why: string[] = []
      for (const { address } of mine) {
        const { problem, story } = await judge(db, sink.arrivals, suppressed, address, c)
        if (problem) why.push(`${address}: ${problem}`)
        else good += 1
        log(`    ${address}: ${story}`)
      }
      for (const line of why) log(`    ${line}`)
      check(SCENARIO, `${c.label} → ${describe(c.expect)}`, good === mine.length, `${good} / ${mine.length}`, mine.length)
    }
  } finally {
    await belfry.child.stop(3000)
    await sink.close()
  }
}

function describe(expect: Expect): string {
  switch (expect) {
    case 'delivered':
      return 'retried, delivered once, same Message-ID'
    case 'exhausted':
      return `dead after ${MAX_ATTEMPTS} attempts`
    case 'invalid_address':
      return 'dead invalid_address, suppressed'
    case 'rejected':
      return 'dead, not suppressed'
  }
}

/** What is wrong with how this message ended, or null when it ended as the contract says. */
async function judge(
  db: ChaosDatabase,
  arrivals: readonly { rcpt: string; messageId: string; outcome: string; at: number }[],
  suppressed: ReadonlySet<string>,
  address: string,
  c: Case,
): Promise<{ problem: string | null; story: string }> {
  const [message] = await db.sql<{ id: string; state: string; reason: string | null; attempts: number; message_id_header: string }[]>`
    select id, state::text, reason, attempts, message_id_header from messages where to_address = ${address}`
  if (!message) return { problem: 'no outbox row', story: '' }
  const attempts = await db.sql<AttemptRow[]>`
    select attempt, outcome, code, response,
           extract(epoch from started_at) * 1000 as started, extract(epoch from finished_at) * 1000 as finished
    from delivery_attempts where message_id = ${message.id} order by started_at, id`
  const tries = arrivals.filter((a) => a.rcpt === address).map((a) => a.outcome)
  const story = `${message.state}/${message.reason ?? '-'}, attempts ${attempts.map((a) => `${a.outcome}:${a.code ?? ''}`).join(',')}; sink saw ${tries.join(',')}`
  return { problem: verdict(message, attempts, arrivals, suppressed, address, c, story), story }
}

function verdict(
  message: { state: string; reason: string | null; message_id_header: string },
  attempts: readonly AttemptRow[],
  arrivals: readonly { rcpt: string; messageId: string; outcome: string }[],
  suppressed: ReadonlySet<string>,
  address: string,
  c: Case,
  story: string,
): string | null {
  const mine = arrivals.filter((a) => a.rcpt === address)
  const accepted = mine.filter((a) => a.outcome === 'accepted')
  const wanted = bareId(message.message_id_header)
  const withData = mine.filter((a) => a.messageId !== '')
  if (withData.some((a) => bareId(a.messageId) !== wanted)) return `a copy arrived with another Message-ID (${story})`
  const failures = attempts.filter((a) => a.outcome !== 'sent')
  if (failures.some((a) => !c.codes.test(a.code ?? ''))) return `an attempt recorded an unexpected code (${story})`
  const isSuppressed = suppressed.has(address.toLowerCase())

  switch (c.expect) {
    case 'delivered': {
      if (message.state !== 'sent') return `not sent (${story})`
      if (accepted.length !== 1) return `accepted ${accepted.length} times (${story})`
      if (failures.length < 1 || !failures.every((a) => a.outcome === 'transient')) return `no transient attempt before the success (${story})`
      if (attempts.at(-1)?.outcome !== 'sent') return `last attempt not the sent one (${story})`
      const gaps = backoffGaps(attempts)
      if (gaps) return gaps
      if (isSuppressed) return 'suppressed'
      return null
    }
    case 'exhausted': {
      if (message.state !== 'dead' || message.reason !== 'attempts_exhausted') return `not dead attempts_exhausted (${story})`
      if (attempts.length !== MAX_ATTEMPTS || !attempts.every((a) => a.outcome === 'transient')) return `not ${MAX_ATTEMPTS} transient attempts (${story})`
      if (accepted.length !== 0) return `accepted ${accepted.length} times`
      const gaps = backoffGaps(attempts)
      if (gaps) return gaps
      if (isSuppressed) return 'suppressed'
      return null
    }
    case 'invalid_address':
    case 'rejected': {
      if (message.state !== 'dead' || message.reason !== c.expect) return `not dead ${c.expect} (${story})`
      if (attempts.length !== 1 || attempts[0]!.outcome !== 'permanent') return `not one permanent attempt (${story})`
      if (accepted.length !== 0) return `accepted ${accepted.length} times`
      if (c.expect === 'invalid_address' && !isSuppressed) return 'address not on the suppression list'
      if (c.expect === 'rejected' && isSuppressed) return 'address suppressed'
      return null
    }
  }
}

/** Full jitter allows any wait from 0 up to the cap for that attempt; none may be longer (plus the worker's poll). */
function backoffGaps(attempts: readonly AttemptRow[]): string | null {
  for (let i = 1; i < attempts.length; i++) {
    const previous = attempts[i - 1]!
    const gap = Number(attempts[i]!.started) - Number(previous.finished)
    const cap = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (previous.attempt - 1)) + POLL_SLACK_MS
    if (gap < -50 || gap > cap) return `retry ${i} waited ${Math.round(gap)} ms, outside 0..${cap} ms`
  }
  return null
}
