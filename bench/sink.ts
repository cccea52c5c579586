// The benchmark's SMTP sink, run as its own process (`bun bench/sink.ts`):
// accepts everything and keeps, per message, when it was accepted, the RCPT
// TO address and the Message-ID. It does not parse MIME: a benchmark sink
// that spends its CPU on mailparser would lower every SMTP figure and hide
// the difference between Belfry and bare nodemailer.
//
// The runner talks to it over a small HTTP control port:
//   GET  /stats?domain=d   {count, duplicates, first, last} (all, or only RCPT TO …@d;
//                          a domain's duplicates only with &duplicates, which costs a pass)
//   GET  /records?domain=d [[rcpt, acceptedAt, messageId], …]
// Duplicates are Message-IDs seen more than once: the same email sent twice.
//
// STARTTLS is off because smtp-server's built-in certificate has expired
// (a client that sees it offered would try it and fail); AUTH is optional.

import { SMTPServer } from 'smtp-server'
import { exitWithParent, now } from './processes.ts'

interface Received {
  rcpt: string
  at: number
  messageId: string
}

interface Tally {
  count: number
  first: number
  last: number
  records: Received[]
}

const byDomain = new Map<string, Tally>()
const all: Tally = { count: 0, first: 0, last: 0, records: [] }
const seenIds = new Map<string, number>()
let duplicates = 0

function tally(domain: string): Tally {
  let entry = byDomain.get(domain)
  if (!entry) byDomain.set(domain, (entry = { count: 0, first: 0, last: 0, records: [] }))
  return entry
}

function add(entry: Tally, record: Received) {
  entry.count += 1
  if (entry.count === 1) entry.first = record.at
  entry.last = record.at
  entry.records.push(record)
}

function record(rcpts: string[], messageId: string) {
  const at = now()
  const copies = (seenIds.get(messageId) ?? 0) + 1
  seenIds.set(messageId, copies)
  if (copies > 1 && messageId) duplicates += 1
  for (const rcpt of rcpts) {
    const entry: Received = { rcpt, at, messageId }
    add(all, entry)
    add(tally(rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase()), entry)
  }
}

const HEADER_END = Buffer.from('\r\n\r\n')

/** The Message-ID header from the raw header block, unfolded; '' when there is none. */
function messageIdOf(head: string): string {
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ')
  return /^message-id:\s*(\S+)/im.exec(unfolded)?.[1] ?? ''
}

const server = new SMTPServer({
  name: 'sink.bench.test',
  banner: 'belfry bench sink',
  logger: false,
  disableReverseLookup: true,
  disabledCommands: ['STARTTLS'],
  authOptional: true,
  allowInsecureAuth: true,
  onAuth(auth, _session, callback) {
    callback(null, { user: auth.username ?? 'bench' })
  },
  onData(stream, session, callback) {
    // Keep bytes only until the header block has ended; the body is read and dropped.
    let head: Buffer | null = Buffer.alloc(0)
    let id = ''
    stream.on('data', (chunk: Buffer) => {
      if (head === null) return
      head = Buffer.concat([head, chunk])
      const end = head.indexOf(HEADER_END)
      if (end >= 0) {
        id = messageIdOf(head.subarray(0, end).toString('latin1'))
        head = null
      }
    })
    stream.on('end', () => {
      if (head !== null) id = messageIdOf(head.toString('latin1'))
      record(
        session.envelope.rcptTo.map((r) => r.address),
        id,
      )
      callback(null, 'accepted')
    })
  },
})
server.on('error', () => {})

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
const smtpPort = (server.server.address() as { port: number }).port

const pick = (url: URL) => {
  const domain = url.searchParams.get('domain')
  return domain ? (byDomain.get(domain.toLowerCase()) ?? { count: 0, first: 0, last: 0, records: [] }) : all
}

const control = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(request) {
    const url = new URL(request.url)
    if (url.pathname === '/stats') {
      const entry = pick(url)
      const domain = url.searchParams.get('domain')
      // Duplicates within one domain are counted from its own records, so one phase's figure is its own.
      let domainDuplicates = duplicates
      if (domain && url.searchParams.has('duplicates')) {
        const ids = new Set<string>()
        domainDuplicates = 0
        for (const r of entry.records) {
          if (!r.messageId) continue
          if (ids.has(r.messageId)) domainDuplicates += 1
          else ids.add(r.messageId)
        }
      }
      return Response.json({ count: entry.count, duplicates: domainDuplicates, first: entry.first, last: entry.last })
    }
    if (url.pathname === '/records') {
      return Response.json(pick(url).records.map((r) => [r.rcpt, r.at, r.messageId]))
    }
    return new Response('not found', { status: 404 })
  },
})

exitWithParent()
process.on('SIGTERM', () => {
  control.stop(true)
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 500).unref()
})
console.log(JSON.stringify({ ready: true, smtpPort, controlPort: control.port }))
