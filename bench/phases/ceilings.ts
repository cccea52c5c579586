// The ceilings, measured in the same run on the same database and sink as
// Belfry: the bare claim loop, a bare Elysia insert endpoint, and bare
// nodemailer with the message Belfry sends.

import { drizzle } from 'drizzle-orm/postgres-js'
import type { Db } from '../../src/db/client.ts'
import { WEBHOOK_SECRET } from '../belfry.ts'
import { bareClaimLoop } from '../claim-loop.ts'
import type { BenchDatabase } from '../db.ts'
import { runLoadgen, type Sink } from '../drivers.ts'
import { freePort, spawnChild, untilExitOr, waitForHttp } from '../processes.ts'
import { FLAT_CONNECTIONS, N, perSecond, requireAll, runTag, sizes, SMTP_CONNECTIONS, takeSeq } from '../settings.ts'

export async function claimLoopCeiling(db: BenchDatabase) {
  const result = await bareClaimLoop(drizzle(db.sql) as unknown as Db, sizes.claimRows)
  return { rows: result.rows, ms: result.ms, perSecond: perSecond(result.rows, result.ms) }
}

export async function bareIngestCeiling(db: BenchDatabase, tmp: string) {
  const port = await freePort()
  const child = spawnChild('bare elysia insert', ['bun', 'bench/bare-ingest.ts', db.url, String(port)])
  await waitForHttp(child, `http://127.0.0.1:${port}/readyz`)
  const result = await untilExitOr(
    child,
    runLoadgen(
      {
        url: `http://127.0.0.1:${port}/v1/events`,
        secret: WEBHOOK_SECRET,
        mode: 'flat',
        count: N,
        connections: FLAT_CONNECTIONS,
        warmup: sizes.warmup,
        seqStart: takeSeq(N + sizes.warmup),
        domain: 'bare.bench.test',
        runTag,
      },
      tmp,
    ),
  )
  requireAll('bare insert', result, N)
  return { requests: N, perSecond: result.okPerSecond }
}

export async function smtpCeiling(sink: Sink, raw = false) {
  const domain = raw ? 'raw-baseline.bench.test' : 'baseline.bench.test'
  const child = spawnChild('nodemailer baseline', [
    'bun',
    'bench/smtp-baseline.ts',
    JSON.stringify({
      smtpUrl: sink.smtpUrl,
      count: N,
      connections: SMTP_CONNECTIONS,
      domain,
      mailFrom: 'Belfry Bench <bench@belfry.test>',
      warmup: sizes.warmup,
      raw,
    }),
  ])
  const result = await untilExitOr(
    child,
    child.waitForJson<{ sent: number; failed: number; firstError?: string; perSecond: number; bytes: number }>((m) => m.done === true, 180_000),
  )
  if (result.failed > 0) throw new Error(`nodemailer: ${result.failed} sends failed: ${result.firstError}`)
  const arrived = await sink.waitFor(domain, N + sizes.warmup, 10_000)
  if (!arrived.complete) throw new Error(`the sink got ${arrived.count} of ${N + sizes.warmup} baseline messages`)
  return { messages: N, connections: SMTP_CONNECTIONS, perSecond: result.perSecond, htmlAndTextBytes: result.bytes }
}

