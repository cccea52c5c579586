// Scenario 3: Postgres stops in the middle of a run and comes back. The
// suite starts a private server for it (initdb and pg_ctl from the
// installed PostgreSQL, as the `postgres` OS user, its own port and a temp
// data directory) — stopping the shared server would break everyone else.
//
// One ROLE=all Belfry process takes a steady trickle of events and sends
// into the benchmark's SMTP sink. While the server is down, ingest must
// answer 503 (an LMS retries that) and store nothing; once it is back the
// process must take events and send again without being restarted, and
// every event it ever accepted must end as a sent email. Events refused
// during the outage are posted again afterwards, as an LMS would.

import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSink } from '../../bench/drivers.ts'
import { eventBody } from '../../bench/loadgen.ts'
import { freePort } from '../../bench/processes.ts'
import { bareId, check, createDatabase, log, pendingTeardowns, signed, startBelfry, type ChaosDatabase } from './common.ts'

const SCENARIO = 'Postgres restart'
const DOMAIN = 'pgrestart.chaos.test'
const RATE = 40
const BEFORE_MS = 4000
// Longer than the driver's connect timeout (10 s) and its reconnect backoff,
// so a request that waited for a connection instead of failing would show.
const DOWN_MS = 15_000
// An LMS's webhook client times out in seconds: while the database is away
// the answer is an immediate 503, so every request is answered within this.
const ANSWER_LIMIT_MS = 2000
// Once the server is back, how soon Belfry must take events again by itself.
const RECOVERY_LIMIT_MS = 5000
const AFTER_MS = 6000
const DRAIN_LIMIT_MS = 60_000

function postgresBin(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : []
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  if (!newest) throw new Error(`no PostgreSQL server binaries under ${root}/*/bin`)
  return join(root, newest, 'bin')
}

async function run(cmd: string[]): Promise<string> {
  const proc = Bun.spawn({ cmd, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited ${code}\n${out}${err}`)
  return out
}

interface PrivatePostgres {
  url: string
  stop(): Promise<void>
  start(): Promise<void>
  /** Stops it for good and removes its data directory. */
  destroy(): Promise<void>
}

async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin()
  const uid = Number((await run(['id', '-u', 'postgres'])).trim())
  const gid = Number((await run(['id', '-g', 'postgres'])).trim())
  const home = mkdtempSync(join(tmpdir(), 'belfry-chaos-pg-'))
  chownSync(home, uid, gid)
  const data = join(home, 'data')
  const port = await freePort()
  const as = (args: string[]) => run(['runuser', '-u', 'postgres', '--', ...args])
  await as([join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  // The socket goes into our own directory: the shared server's socket directory is not ours to touch.
  const options = `-p ${port} -k ${home} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`
  const start = () => as([join(bin, 'pg_ctl'), '-D', data, '-o', options, '-l', join(home, 'server.log'), '-w', '-t', '30', 'start']).then(() => {})
  const stop = () => as([join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']).then(() => {})
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy() {
      if (existsSync(join(data, 'postmaster.pid'))) {
        await as([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      }
      rmSync(home, { recursive: true, force: true })
    },
  }
}

interface Posted {
  seq: number
  webhookId: string
  body: string
  /** Every answer this event got, in order: a status, or the error when there was no answer. */
  answers: string[]
  /** Epoch ms of the first request and of its answer (or its giving up). */
  sentAt: number
  answeredAt: number
  phase: 'before' | 'down' | 'after'
}

export async function postgresRestart(tmp: string): Promise<void> {
  const server = await startPrivatePostgres()
  const teardown = () => server.destroy()
  pendingTeardowns.add(teardown)
  let db: ChaosDatabase | null = null
  try {
    db = await createDatabase('pg', server.url)
    await scenario(server, db, tmp)
  } finally {
    await db?.sql.end({ timeout: 5 }).catch(() => {})
    pendingTeardowns.delete(teardown)
    await server.destroy()
  }
}

async function scenario(server: PrivatePostgres, db: ChaosDatabase, tmp: string): Promise<void> {
  const sink = await startSink()
  const belfry = await startBelfry('belfry (pg restart)', 'all', db.url, tmp, {
    MAIL_TRANSPORT: 'smtp',
    SMTP_URL: sink.smtpUrl,
    LEASE_MS: '3000',
  })
  const posted: Posted[] = []
  let phase: Posted['phase'] = 'before'
  const post = async (event: Posted) => {
    const first = event.answers.length === 0
    if (first) event.sentAt = Date.now()
    try {
      const res = await fetch(`${belfry.base}/v1/events`, {
        method: 'POST',
        headers: signed(event.webhookId, event.body),
        body: event.body,
        signal: AbortSignal.timeout(40_000),
      })
      await res.arrayBuffer()
      event.answers.push(String(res.status))
    } catch (error) {
      event.answers.push((error as Error).name === 'TimeoutError' ? 'timeout' : 'no answer')
    }
    if (first) event.answeredAt = Date.now()
  }
  const inflight = new Set<Promise<void>>()
  let seq = 0
  let stopPosting = false
  const poster = (async () => {
    while (!stopPosting) {
      const event: Posted = { seq, webhookId: `chaos_pg_${process.pid}_${seq}`, body: eventBody(seq, DOMAIN), answers: [], sentAt: 0, answeredAt: 0, phase }
      seq += 1
      posted.push(event)
      const p = post(event)
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
      await Bun.sleep(1000 / RATE)
    }
  })()

  await Bun.sleep(BEFORE_MS)
  log('  stopping Postgres (pg_ctl stop -m fast)')
  await server.stop()
  const downAt = Date.now()
  phase = 'down'
  // The first answers after the stop can be from requests already past their insert; judge the outage's own requests.
  await Bun.sleep(1000)
  // Given until shortly before the server comes back, so its answer (or silence) is the outage's.
  const readyProbe = (async () => {
    const t0 = Date.now()
    try {
      const res = await fetch(`${belfry.base}/readyz`, { signal: AbortSignal.timeout(DOWN_MS - 2000) })
      return { status: String(res.status), ms: Date.now() - t0 }
    } catch (error) {
      return { status: (error as Error).name, ms: Date.now() - t0 }
    }
  })()
  await Bun.sleep(1000)
  const ready = await readyProbe
  const readyDuringOutage = ready.status
  await Bun.sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)))
  phase = 'after'
  log('  starting Postgres again')
  const upAt = Date.now()
  await server.start()
  // pg_ctl -w returns once the server takes connections: recovery counts from here.
  const serverBackAt = Date.now()
  await Bun.sleep(AFTER_MS)
  stopPosting = true
  await poster
  await Promise.all(inflight)

  const alive = belfry.child.proc.exitCode === null && belfry.child.proc.signalCode === null
  if (!alive) log(`  Belfry exited (${belfry.child.proc.exitCode ?? belfry.child.proc.signalCode}); its last output:\n${belfry.child.tail()}`)
  // Answered while the server was down: the LMS must be told to retry (503), not kept waiting or told 2xx.
  const duringOutage = posted.filter((e) => e.answeredAt >= downAt && e.answeredAt < upAt)
  const downAnswers: Record<string, number> = {}
  for (const e of duringOutage) downAnswers[e.answers[0]!] = (downAnswers[e.answers[0]!] ?? 0) + 1
  log(`  answers given while Postgres was down: ${JSON.stringify(downAnswers)}; /readyz then: ${readyDuringOutage}`)
  check(SCENARIO, 'POST /v1/events answered while Postgres is down: 503', (downAnswers['503'] ?? 0) === duringOutage.length && duringOutage.length > 0, `${downAnswers['503'] ?? 0} / ${duringOutage.length} ${JSON.stringify(downAnswers)}`, duringOutage.length)
  check(SCENARIO, `GET /readyz while Postgres is down: 503 within ${ANSWER_LIMIT_MS / 1000} s`, readyDuringOutage === '503' && ready.ms <= ANSWER_LIMIT_MS, `${readyDuringOutage} after ${(ready.ms / 1000).toFixed(1)} s`, 503)
  const waits = duringOutage.map((e) => e.answeredAt - e.sentAt).sort((a, b) => a - b)
  const pct = (q: number) => waits.length ? `${(waits[Math.min(waits.length - 1, Math.floor(q * waits.length))]! / 1000).toFixed(1)} s` : 'n/a'
  log(`  time to the 503s: min ${pct(0)}, p50 ${pct(0.5)}, max ${pct(1)}`)
  const slow = posted.filter((e) => e.answeredAt - e.sentAt > ANSWER_LIMIT_MS)
  const slowest = Math.max(0, ...posted.map((e) => e.answeredAt - e.sentAt))
  const postedDown = posted.filter((e) => e.phase === 'down')
  const heldThenAccepted = postedDown.filter((e) => e.answers[0] === '202' && e.answeredAt >= upAt).length
  log(`  posted while down: ${postedDown.length}; answered 202 after the restart: ${heldThenAccepted}; slowest answer ${slowest} ms`)
  // DESIGN.md: ingest answers 503 while the database is down. Holding the request until the server is back is not that.
  const postedDown503 = postedDown.filter((e) => e.answers[0] === '503').length
  check(SCENARIO, 'requests posted while Postgres is down answered 503, not held', postedDown503 === postedDown.length, `${postedDown503} / ${postedDown.length} (${heldThenAccepted} held, then 202)`, postedDown.length)
  check(SCENARIO, `requests answered (within ${ANSWER_LIMIT_MS / 1000} s)`, slow.length === 0, `${posted.length - slow.length} / ${posted.length}, slowest ${(slowest / 1000).toFixed(1)} s`, posted.length)
  check(SCENARIO, 'Belfry process still running after the outage', alive, alive ? 'running' : `exited ${belfry.child.proc.exitCode ?? belfry.child.proc.signalCode}`, 'running')

  const afterOk = posted.filter((e) => e.phase === 'after' && e.answers[0] === '202')
  const afterAnswers: Record<string, number> = {}
  for (const e of posted.filter((e) => e.phase === 'after')) afterAnswers[e.answers[0]!] = (afterAnswers[e.answers[0]!] ?? 0) + 1
  log(`  events posted after the restart: ${JSON.stringify(afterAnswers)}`)
  if (afterOk.length === 0) log(`  Belfry's last output:\n${belfry.child.tail()}`)
  const firstAccepted = Math.min(...afterOk.map((e) => e.answeredAt))
  const recoveryMs = afterOk.length ? firstAccepted - serverBackAt : Infinity
  check(SCENARIO, `events accepted again within ${RECOVERY_LIMIT_MS / 1000} s of the restart, no process restart`, recoveryMs <= RECOVERY_LIMIT_MS, afterOk.length ? `${afterOk.length}, first after ${(recoveryMs / 1000).toFixed(1)} s` : 0, `≤ ${RECOVERY_LIMIT_MS / 1000} s`)

  // The LMS retries what was not accepted, with the same webhook-id and body.
  const retried = posted.filter((e) => !['202', '200'].includes(e.answers[0]!))
  for (const event of retried) await post(event)
  const retriedOk = retried.filter((e) => ['202', '200'].includes(e.answers.at(-1)!)).length
  check(SCENARIO, 'events refused during the outage, accepted when sent again', retriedOk === retried.length, `${retriedOk} / ${retried.length}`, retried.length)

  const accepted = posted.filter((e) => e.answers.some((a) => a === '202' || a === '200'))
  const deadline = Date.now() + DRAIN_LIMIT_MS
  let rows: { to_address: string; state: string; message_id_header: string; webhook_id: string | null }[] = []
  for (;;) {
    rows = await db.sql`
      select m.to_address, m.state::text, m.message_id_header, e.webhook_id
      from messages m left join events e on e.id = m.event_id where m.to_address like ${`%@${DOMAIN}`}`
    if ((rows.length >= accepted.length && rows.every((r) => r.state === 'sent')) || Date.now() > deadline) break
    await Bun.sleep(250)
  }
  const stored = new Set(rows.map((r) => r.webhook_id))
  const kept = accepted.filter((e) => stored.has(e.webhookId)).length
  check(SCENARIO, 'accepted events stored with their message', kept === accepted.length, `${kept} / ${accepted.length}`, accepted.length)
  const [events] = await db.sql<{ n: number }[]>`select count(*)::int as n from events where webhook_id like ${`chaos_pg_${process.pid}_%`}`
  check(SCENARIO, 'events stored = events accepted (a 503 stored nothing)', events?.n === accepted.length, events?.n ?? 0, accepted.length)
  const sent = rows.filter((r) => r.state === 'sent').length
  check(SCENARIO, 'messages sent by the same worker after the restart', sent === rows.length && rows.length === accepted.length, `${sent} / ${rows.length}`, accepted.length)
  const arrivals = new Set((await sink.records(DOMAIN)).map(([, , id]) => bareId(id)))
  const reached = rows.filter((r) => arrivals.has(bareId(r.message_id_header))).length
  check(SCENARIO, "sent messages whose Message-ID reached the sink", reached === rows.length, `${reached} / ${rows.length}`, rows.length)

  await belfry.child.stop(3000)
  await sink.child.stop(3000)
}
