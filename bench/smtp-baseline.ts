// The SMTP ceiling, a process of its own (`bun bench/smtp-baseline.ts '<json>'`):
// bare nodemailer, pooled the way Belfry's SMTP transport pools it
// (src/transport/smtp.ts: as many connections as messages in flight, one
// quiet requeue), sending the message Belfry would send — course_completed
// rendered once from the same template store with the same unsubscribe
// headers — to the same sink, one recipient per message. Whatever Belfry
// adds on top of this (claiming, the preference gate, rendering, recording)
// is the difference between the two figures.
//
// With `raw`, the bytes are built once beforehand (by Belfry's own builder,
// src/transport/mime.ts) and the pool only carries them: SMTP alone, the
// strictest ceiling for Belfry's delivery, which builds its bytes the same way.

import { fileURLToPath } from 'node:url'
import nodemailer from 'nodemailer'
import { TemplateStore } from '../src/render/templates.ts'
import { buildMessage } from '../src/transport/mime.ts'
import { exitWithParent, now } from './processes.ts'

interface BaselineConfig {
  smtpUrl: string
  count: number
  /** Connections, and messages in flight: Belfry's WORKER_CONCURRENCY in the SMTP phases. */
  connections: number
  domain: string
  mailFrom: string
  /** Send prebuilt bytes instead of letting nodemailer compose each message. */
  raw?: boolean
  /** Sends before the clock starts: opens the pool's connections (smtp-server delays each greeting ~100 ms). */
  warmup: number
}

exitWithParent()
const config = JSON.parse(process.argv[2] ?? '{}') as BaselineConfig
const templates = await TemplateStore.load(fileURLToPath(new URL('../templates', import.meta.url)))
const siteUrl = 'http://localhost:3000'
const token = 'x'.repeat(120)
const links = { preferences: `${siteUrl}/preferences/${token}`, unsubscribe: `${siteUrl}/u/${token}` }
const user = { id: 'bench-0', email: `learner-0@${config.domain}`, name: 'Learner 0' }
const rendered = templates.render('course_completed', {
  locale: 'en',
  variables: {
    user,
    course: { id: 'bench-101', title: 'Benchmarking 101', url: 'https://lms.bench.test/c/101' },
    completion: { completed_at: '2026-12-01T10:00:00Z', grade: 'A' },
  },
  context: { siteName: 'Belfry Bench', siteUrl, links },
})

const pool = nodemailer.createTransport({
  url: config.smtpUrl,
  pool: true,
  maxConnections: config.connections,
  maxRequeues: 1,
  logger: false,
  debug: false,
})

let sent = 0
let failed = 0
let firstError: string | undefined
const headers = { 'List-Unsubscribe': `<${links.unsubscribe}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
const prebuilt = buildMessage({
  messageId: '<baseline-raw@bench.test>',
  from: config.mailFrom,
  to: { name: 'Learner 0', address: `learner-0@${config.domain}` },
  subject: rendered.subject,
  text: rendered.text,
  html: rendered.html,
  headers,
})
const sendOne = async (seq: number) => {
  try {
    if (config.raw) {
      // One recipient per message still, so the sink counts arrivals per address as for every phase.
      await pool.sendMail({ envelope: { from: prebuilt.from, to: [`learner-${seq}@${config.domain}`] }, raw: prebuilt.raw })
      sent += 1
      return
    }
    await pool.sendMail({
      messageId: `<baseline-${seq}@bench.test>`,
      from: config.mailFrom,
      to: { name: `Learner ${seq}`, address: `learner-${seq}@${config.domain}` },
      subject: rendered.subject,
      text: rendered.text,
      html: rendered.html,
      headers,
    })
    sent += 1
  } catch (error) {
    failed += 1
    firstError ??= (error as Error).message
  }
}

const slots = async (from: number, to: number) => {
  let next = from
  await Promise.all(
    Array.from({ length: config.connections }, async () => {
      while (next < to) await sendOne(next++)
    }),
  )
}

await slots(0, config.warmup)
sent = 0
const startedAt = now()
await slots(config.warmup, config.warmup + config.count)
const endedAt = now()
pool.close()
console.log(
  JSON.stringify({
    done: true,
    sent,
    failed,
    ...(firstError ? { firstError } : {}),
    bytes: rendered.html.length + rendered.text.length,
    startedAt,
    endedAt,
    perSecond: (sent / (endedAt - startedAt)) * 1000,
  }),
)
process.exit(0)
