// Protects DESIGN.md's outbox promise with a real crash: a Belfry process
// that is SIGKILLed while an SMTP send is in flight leaves its row `sending`
// under a lease; a freshly started process takes the row over once the lease
// runs out and sends it, with the same Message-ID, recording the interrupted
// attempt. Both processes are real `bun src/main.ts` children talking HTTP,
// Postgres and SMTP; this test process watches the database through its own
// session.

import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Subprocess } from 'bun'
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.ts'
import { allMessages, attemptsOf, eventually } from '../support/outbox.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { signedRequest, TEST_SECRET } from '../support/webhooks.ts'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

const SMTP_USER = 'belfry'
// Characters that URL-encoding changes, so both spellings of the password can be looked for in the logs.
const SMTP_PASSWORD = 'crash-test p@ss:w/rd%9'
/** Everything a child's logs must never contain; also blanked out of our own failure messages. */
const SECRETS = [
  TEST_SECRET,
  TEST_SECRET.slice('whsec_'.length),
  SMTP_PASSWORD,
  encodeURIComponent(SMTP_PASSWORD),
]

function redact(text: string): string {
  let out = text
  for (const secret of SECRETS) out = out.split(secret).join('***')
  return out
}

interface Child {
  name: string
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  port: number
  /** stdout and stderr so far, interleaved by arrival. */
  output(): string
  /** Resolves once both pipes have closed (after the process is gone). */
  drained: Promise<void>
}

const children: Child[] = []
/** Children stopped on purpose: their exit is not a failure. */
const killed = new Set<Child>()
let sink: SmtpSink | undefined
let testDb: TestDatabase | undefined
let dataDir: string | undefined

/** Safety net when the test itself timed out before its `finally` ran. */
async function cleanUp(): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL')
    await Promise.race([child.proc.exited, Bun.sleep(5000)])
  }
  await sink?.close()
  sink = undefined
  await testDb?.drop()
  testDb = undefined
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  dataDir = undefined
}
afterAll(cleanUp, 20_000)

/** A port nobody listens on right now (the child binds it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  const decoder = new TextDecoder()
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    into.push(decoder.decode(value, { stream: true }))
  }
}

function logsOf(list: readonly Child[] = children): string {
  return list.map((c) => `--- ${c.name} (pid ${c.proc.pid}, port ${c.port}) ---\n${redact(c.output()) || '(no output)'}`).join('\n')
}

/** `eventually`, but a timeout or an early child exit fails with the children's logs attached. */
async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  try {
    return await eventually(
      async () => {
        const dead = children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null)
        const value = await check()
        if (value !== undefined && value !== false) return value
        // A child that was meant to be running has stopped: waiting longer will not help.
        if (dead && !killed.has(dead)) {
          throw new Error(`${dead.name} exited (code ${dead.proc.exitCode}, signal ${dead.proc.signalCode})`)
        }
        return undefined
      },
      timeoutMs,
      what,
    )
  } catch (error) {
    throw new Error(`${(error as Error).message} while waiting for ${what}\n${logsOf()}`)
  }
}
async function spawnBelfry(name: string, env: Record<string, string>): Promise<Child> {
  const port = await freePort()
  const chunks: string[] = []
  const proc = Bun.spawn([process.execPath, 'src/main.ts'], {
    cwd: repoRoot,
    // Only what the service needs: nothing from this process's environment leaks in (DATABASE_URL above all).
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      ...env,
      PORT: String(port),
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const drained = Promise.all([collect(proc.stdout, chunks), collect(proc.stderr, chunks)]).then(
    () => {},
    () => {},
  )
  const child: Child = { name, proc, port, output: () => chunks.join(''), drained }
  children.push(child)
  await waitUntil(
    `${name} to answer 200 on GET /readyz`,
    async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })
        return response.status === 200
      } catch {
        return false // not listening yet
      }
    },
    10_000,
  )
  return child
}

/** Stops the process with `signal` and waits, bounded, for it to be gone and its output read. */
async function stop(child: Child, signal: 'SIGKILL' | 'SIGTERM', timeoutMs: number): Promise<void> {
  if (signal === 'SIGKILL') killed.add(child)
  child.proc.kill(signal)
  const exited = await Promise.race([child.proc.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)])
  if (!exited) throw new Error(`${child.name} still running ${timeoutMs} ms after ${signal}\n${logsOf([child])}`)
  killed.add(child)
  await Promise.race([child.drained, Bun.sleep(2000)])
}

const resetEvent = {
  type: 'password_reset.requested',
  data: {
    user: { id: 'crash-1', email: 'crash-1@learner.test', name: 'Learner Crash' },
    reset: { url: 'https://lms.test/reset/crash-1', expires_at: '2030-01-01T00:00:00Z' },
  },
}

describe.skipIf(!onPostgres)(
  'a crash mid-send (real Postgres only: PGlite is one in-process session, which a second OS process cannot open)',
  () => {
    test('SIGKILL while the SMTP server holds the DATA reply: after a restart the message is sent once, same Message-ID', async () => {
      try {
        testDb = await createTestDatabase()
        const db = testDb.database.db
        dataDir = mkdtempSync(join(tmpdir(), 'belfry-crash-'))
        sink = await startSmtpSink({ auth: { user: SMTP_USER, pass: SMTP_PASSWORD } })
        // Every send of the first process hangs at DATA: it can never finish, and can never succeed.
        sink.hangAlways()

        const smtpUrl = new URL(sink.url)
        smtpUrl.username = SMTP_USER
        smtpUrl.password = encodeURIComponent(SMTP_PASSWORD)
        const env = {
          DATABASE_URL: testDb.url!,
          MAIL_TRANSPORT: 'smtp',
          SMTP_URL: smtpUrl.toString(),
          WEBHOOK_SECRET: TEST_SECRET,
          MAIL_FROM: 'Belfry Academy <notify@belfry.test>',
          DATA_DIR: dataDir,
          LOG_LEVEL: 'info',
        }

        // 1. The first process takes the event and starts sending. Its lease is what the
        // restart waits out, but it also bounds the hung send (the SMTP send timeout is
        // derived from LEASE_MS), and the kill must land before that send gives up:
        // 5 s leaves seconds of margin on a slow CI machine where 1 s would leave ~0.5 s.
        const first = await spawnBelfry('first', { ...env, LEASE_MS: '5000' })
        const posted = await fetch(
          signedRequest(JSON.stringify(resetEvent), { url: `http://127.0.0.1:${first.port}/v1/events` }),
        )
        expect(posted.status, logsOf()).toBe(202)

        const inFlight = await waitUntil(
          'the row to be sending and the SMTP server to hold its DATA',
          async () => {
            const [row] = await allMessages(db)
            return row?.state === 'sending' && sink!.hung >= 1 && row
          },
          6_000,
        )
        const messageIdHeader = inFlight.messageIdHeader
        expect(messageIdHeader).toMatch(/^<.+@belfry\.test>$/)

        // 2. kill -9 mid-send: no shutdown hook, no bookkeeping, the lease is all that is left.
        await stop(first, 'SIGKILL', 5_000)
        expect(first.proc.signalCode).toBe('SIGKILL')

        const afterKill = await allMessages(db)
        expect(afterKill).toHaveLength(1)
        const orphan = afterKill[0]!
        expect(orphan.state).toBe('sending')
        // The lease names the process that died (`host:pid:random`).
        expect(orphan.leaseOwner).toContain(`:${first.proc.pid}:`)
        expect(orphan.leaseUntil).not.toBeNull()
        expect(orphan.messageIdHeader).toBe(messageIdHeader)
        // One claim and no recorded attempt: the first process died inside its only send,
        // before its send timed out or its lease ran out.
        expect(orphan.attempts, logsOf()).toBe(1)
        expect(await attemptsOf(db, orphan.id)).toEqual([])
        expect(sink.hung).toBe(1)
        expect(sink.messages).toHaveLength(0)

        // 3. A genuine restart: a new process, the server answering again.
        sink.acceptAll()
        // LEASE_MS at its minimum; the takeover still waits for the first process's 5 s lease to end.
        const second = await spawnBelfry('second', { ...env, LEASE_MS: '1000' })
        const [received] = await sink.waitFor(1, 12_000).catch(async (error: Error) => {
          const [row] = await allMessages(db).catch(() => [])
          const where = row && { state: row.state, attempts: row.attempts, leaseOwner: row.leaseOwner, leaseUntil: row.leaseUntil }
          throw new Error(`${error.message}; the row: ${JSON.stringify(where)}\n${logsOf()}`)
        })
        const sent = await waitUntil(
          'the row to be sent',
          async () => {
            const [row] = await allMessages(db)
            return row?.state === 'sent' && row
          },
          5_000,
        )

        expect(sink.messages).toHaveLength(1)
        expect(received!.envelope.to).toEqual(['crash-1@learner.test'])
        expect(received!.parsed.messageId).toBe(messageIdHeader)
        expect(sent.id).toBe(orphan.id)
        expect(sent.attempts).toBe(2)
        expect(sent.leaseOwner).toBeNull()
        expect(sent.sentAt).not.toBeNull()
        const attempts = await attemptsOf(db, sent.id)
        expect(attempts.map((a) => [a.attempt, a.outcome, a.transport])).toEqual([
          [1, 'interrupted', 'smtp'],
          [2, 'sent', 'smtp'],
        ])
        expect(attempts[1]!.code).toBe('250')

        // 4. A graceful stop: SIGTERM, the worker drains, exit 0.
        await stop(second, 'SIGTERM', 8_000)
        expect(second.proc.signalCode, logsOf()).toBeNull()
        expect(second.proc.exitCode, logsOf()).toBe(0)
        expect(second.output()).toContain('"msg":"stopped"')

        // 5. Neither process wrote the webhook secret or the SMTP password anywhere.
        for (const child of [first, second]) {
          const output = child.output()
          expect(output).toContain('"msg":"worker started"') // the logs were captured at all
          for (const secret of SECRETS) {
            // Not expect(output).not.toContain(secret): its failure message would print the secret.
            expect(output.includes(secret), `${child.name}'s logs contain a secret`).toBe(false)
          }
        }
      } finally {
        await cleanUp()
      }
    }, 60_000) // every wait above is bounded, and together they stay under this
  },
)
