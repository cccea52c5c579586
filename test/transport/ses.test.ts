// Protects: the SES transport sends raw MIME through the real AWS SDK, so the
// message SES receives carries our own Message-ID, List-Unsubscribe,
// List-Unsubscribe-Post and X-Belfry-Message headers (real SES then swaps in
// its own Message-ID, which no local server can show); every SES error comes
// back as the right TransportError with the SES error name as its code; and
// MAIL_TRANSPORT=ses carries a learner email from a signed event to SES.
//
// Two real servers stand in for SES. The aws-ses-v2-local emulator (in this
// process) accepts the send and stores the email — but from a raw message it
// keeps only sender, recipients, subject and bodies, never the headers, and
// stores its own id instead of our Message-ID. So the headers are checked on
// the wire: a small HTTP server records the exact request the SDK sent
// (optionally passing it on to the emulator) and parses the raw MIME in it.
// The same server answers SES's error shape for the failure tests.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { simpleParser, type ParsedMail } from 'mailparser'
import startEmulator from 'aws-ses-v2-local'
import { deliveryAttempts, messages } from '../../src/db/schema/index.ts'
import { createFileTransport } from '../../src/transport/file.ts'
import { createSesTransport, type SesTransportOptions } from '../../src/transport/ses.ts'
import { TransportError, type OutgoingMail, type Transport } from '../../src/transport/types.ts'
import { eventually } from '../support/outbox.ts'
import { startTestService } from '../support/service.ts'
import { sesError, startSesStandIn as startStandIn, type Answer, type Recorded, type SesStandIn as StandIn } from '../support/ses-stand-in.ts'
import { rawHeader, sampleMail } from './sample-mail.ts'

// What the emulator keeps of one email (GET /store).
interface StoredEmail {
  messageId: string
  from: string
  destination: { to: string[]; cc: string[]; bcc: string[] }
  subject: string
  body: { html?: string; text?: string }
  headers?: { name: string; value: string }[]
  at: number
}

const ACCESS_KEY = 'AKIDBELFRYTEST'
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, session: process.env.AWS_SESSION_TOKEN }

let emulator: Server
let emulatorUrl: string
let standIn: StandIn
const open: Transport[] = []

function transport(options: Partial<SesTransportOptions> = {}): Transport {
  const created = createSesTransport({ region: 'us-east-1', endpoint: standIn.url, ...options })
  open.push(created)
  return created
}

/** Passes a recorded request on to the emulator and hands back its answer. */
async function viaEmulator(request: Recorded): Promise<Answer> {
  const headers = Object.fromEntries(
    Object.entries(request.headers).filter(([name]) => !['host', 'content-length', 'connection'].includes(name)),
  ) as Record<string, string>
  const response = await fetch(`${emulatorUrl}${request.path}`, { method: request.method, headers, body: JSON.stringify(request.body) })
  return { status: response.status, headers: { 'content-type': 'application/json' }, body: await response.text() }
}

async function rawOf(request: Recorded): Promise<ParsedMail> {
  const data = request.body.Content?.Raw?.Data
  expect(data).toBeString()
  return simpleParser(Buffer.from(data!, 'base64'))
}

async function storedEmails(): Promise<StoredEmail[]> {
  const response = await fetch(`${emulatorUrl}/store`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { emails: StoredEmail[] }).emails
}

async function failure(promise: Promise<unknown>): Promise<TransportError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the send to fail')
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TransportError)
  return error as TransportError
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The sample learner email plus an X-Belfry-Message id, the header issue #6 wants on every message. */
function belfryMail(): OutgoingMail & { headers: Record<string, string> } {
  const mail = sampleMail()
  return { ...mail, headers: { ...mail.headers, 'X-Belfry-Message': '6f1c0c52-2b4e-4d4e-9a53-0d7c1f2b9e10' } }
}

beforeAll(async () => {
  // The SDK's default chain finds these first; nothing here may reach real AWS credentials.
  process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY
  process.env.AWS_SECRET_ACCESS_KEY = 'belfry-test-secret'
  delete process.env.AWS_SESSION_TOKEN
  emulator = await startEmulator({ host: '127.0.0.1', port: 0 })
  emulatorUrl = `http://127.0.0.1:${(emulator.address() as AddressInfo).port}`
  standIn = await startStandIn()
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()))
  standIn.requests.length = 0
  standIn.answer = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"MessageId":"stand-in-1"}' })
  await fetch(`${emulatorUrl}/clear-store`, { method: 'POST' })
})

afterAll(async () => {
  await standIn.close()
  emulator.closeAllConnections()
  await new Promise<void>((resolve) => emulator.close(() => resolve()))
  for (const [name, value] of [
    ['AWS_ACCESS_KEY_ID', savedEnv.id],
    ['AWS_SECRET_ACCESS_KEY', savedEnv.secret],
    ['AWS_SESSION_TOKEN', savedEnv.session],
  ] as const) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

describe('ses transport: against the aws-ses-v2-local emulator', () => {
  test('a learner email sent as raw MIME arrives with sender, recipient, subject and both bodies', async () => {
    const mail = belfryMail()

    const result = await transport({ endpoint: emulatorUrl }).send(mail)

    const emails = await storedEmails()
    expect(emails).toHaveLength(1)
    const [stored] = emails
    expect(result).toEqual({ code: '200', response: `MessageId ${stored!.messageId}`, providerMessageId: stored!.messageId })
    expect(stored!.from).toBe('"Belfry Academy" <notify@belfry.test>')
    expect(stored!.destination.to).toEqual(['"Zoë Martín" <zoe@example.com>'])
    expect(stored!.subject).toBe(mail.subject)
    expect(stored!.body.text).toBe(mail.text)
    expect(stored!.body.html).toBe(mail.html)
  })

  test('the emulator keeps none of a raw message\'s headers (why the headers are checked on the wire)', async () => {
    // If this starts failing, the emulator has learnt to keep them: assert the headers from its store instead.
    await transport({ endpoint: emulatorUrl }).send(belfryMail())

    const [stored] = await storedEmails()
    expect(stored!.headers).toBeUndefined()
    expect(stored!.messageId).toMatch(/^ses-\d+$/)
  })
})

describe('ses transport: the request SES receives', () => {
  test('raw MIME with our Message-ID, unsubscribe headers and X-Belfry-Message exactly as given', async () => {
    const mail = belfryMail()

    const result = await transport({ configurationSet: 'belfry-events' }).send(mail)

    expect(result).toEqual({ code: '200', response: 'MessageId stand-in-1', providerMessageId: 'stand-in-1' })
    expect(standIn.requests).toHaveLength(1)
    const [request] = standIn.requests
    expect([request!.method, request!.path]).toEqual(['POST', '/v2/email/outbound-emails'])
    // Signed with the credentials the default chain found in the environment.
    expect(String(request!.headers.authorization)).toStartWith(`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/`)
    expect(String(request!.headers.authorization)).toContain('/us-east-1/ses/aws4_request')
    expect(request!.body.Destination).toEqual({ ToAddresses: ['zoe@example.com'] })
    expect(request!.body.ConfigurationSetName).toBe('belfry-events')

    const raw = Buffer.from(request!.body.Content!.Raw!.Data!, 'base64').toString('utf8')
    expect(raw).toContain(`\r\nMessage-ID: ${mail.messageId}\r\n`)
    const parsed = await rawOf(request!)
    expect(parsed.messageId).toBe(mail.messageId)
    expect(rawHeader(parsed.headerLines, 'List-Unsubscribe')).toBe(mail.headers['List-Unsubscribe'])
    expect(rawHeader(parsed.headerLines, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
    expect(rawHeader(parsed.headerLines, 'X-Belfry-Message')).toBe(mail.headers['X-Belfry-Message'])
    expect(parsed.subject).toBe(mail.subject)
    expect(parsed.text).toBe(mail.text)
    expect(parsed.html).toBe(mail.html)
    expect(parsed.to).toMatchObject({ value: [{ address: 'zoe@example.com', name: 'Zoë Martín' }] })
  })

  test('the raw MIME is the message the file transport writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'belfry-ses-vs-file-'))
    try {
      const mail = belfryMail()
      const written = await createFileTransport({ dir }).send(mail)
      await transport().send(mail)

      const fromFile = await simpleParser(await readFile(written.response))
      const fromSes = await rawOf(standIn.requests[0]!)
      const headers = (p: ParsedMail) => p.headerLines.filter((h) => h.key !== 'date' && h.key !== 'content-type')
      expect(headers(fromSes)).toEqual(headers(fromFile))
      expect([fromSes.text, fromSes.html]).toEqual([fromFile.text, fromFile.html])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('no configuration set is named unless one is configured', async () => {
    await transport().send(belfryMail())

    expect(standIn.requests[0]!.body).not.toHaveProperty('ConfigurationSetName')
  })

  test('a header with a line break is refused as permanent before anything is sent', async () => {
    const mail = sampleMail({ headers: { 'X-Belfry-Message': 'x\r\nBcc: victim@example.com' } })

    const error = await failure(transport().send(mail))

    expect([error.kind, error.code]).toEqual(['permanent', 'EHEADER'])
    expect(standIn.requests).toHaveLength(0)
  })
})

describe('ses transport: failures', () => {
  const cases: [string, Answer, 'transient' | 'permanent', string][] = [
    ['429 TooManyRequestsException', sesError(429, 'TooManyRequestsException', 'Too many requests.'), 'transient', 'TooManyRequestsException'],
    ['400 LimitExceededException', sesError(400, 'LimitExceededException', 'Maximum sending rate exceeded.'), 'transient', 'LimitExceededException'],
    ['400 MessageRejected', sesError(400, 'MessageRejected', 'Email address is not verified.'), 'permanent', 'MessageRejected'],
    [
      '400 MailFromDomainNotVerifiedException',
      sesError(400, 'MailFromDomainNotVerifiedException', 'MAIL FROM domain is not verified.'),
      'permanent',
      'MailFromDomainNotVerifiedException',
    ],
    ['400 BadRequestException', sesError(400, 'BadRequestException', 'Raw message is malformed.'), 'permanent', 'BadRequestException'],
    ['404 NotFoundException', sesError(404, 'NotFoundException', 'Configuration set does not exist.'), 'permanent', 'NotFoundException'],
    ['400 SendingPausedException', sesError(400, 'SendingPausedException', 'Sending is paused for this account.'), 'transient', 'SendingPausedException'],
    ['400 AccountSuspendedException', sesError(400, 'AccountSuspendedException', 'Account is suspended.'), 'transient', 'AccountSuspendedException'],
    ['500 without an error type', { status: 500, headers: { 'content-type': 'application/json' }, body: '{}' }, 'transient', '500'],
    ['503 InternalFailure', sesError(503, 'InternalFailure', 'Service unavailable.'), 'transient', 'InternalFailure'],
    ['403 for a bad signature', sesError(403, 'InvalidSignatureException', 'The request signature does not match.'), 'transient', 'InvalidSignatureException'],
  ]

  for (const [what, answer, kind, code] of cases) {
    test(`${what} → ${kind}, code ${code}, in one request`, async () => {
      standIn.answer = () => answer

      const error = await failure(transport().send(belfryMail()))

      expect([error.kind, error.code]).toEqual([kind, code])
      expect(error.message).toContain(String(answer.status))
      if (answer.body && JSON.parse(answer.body).message) expect(error.message).toContain(JSON.parse(answer.body).message)
      // The outbox retries and records each attempt; the SDK must not retry inside one.
      expect(standIn.requests).toHaveLength(1)
    })
  }

  test('the error type in the JSON body alone is read too', async () => {
    standIn.answer = () => ({
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ __type: 'com.amazonaws.sesv2#MessageRejected', message: 'Rejected.' }),
    })

    const error = await failure(transport().send(belfryMail()))

    expect([error.kind, error.code]).toEqual(['permanent', 'MessageRejected'])
  })

  test('after a throttling answer the next send goes through', async () => {
    let calls = 0
    standIn.answer = () => (++calls === 1 ? sesError(429, 'TooManyRequestsException', 'Too many requests.') : { status: 200, body: '{"MessageId":"m-2"}' })
    const ses = transport()

    expect((await failure(ses.send(belfryMail()))).kind).toBe('transient')
    expect(await ses.send(belfryMail())).toEqual({ code: '200', response: 'MessageId m-2', providerMessageId: 'm-2' })
  })

  test('a refused connection is transient, with the network code', async () => {
    const error = await failure(transport({ endpoint: `http://127.0.0.1:${await closedPort()}` }).send(belfryMail()))

    expect([error.kind, error.code]).toEqual(['transient', 'ECONNREFUSED'])
  })

  test('an endpoint that never answers is transient once the send timeout passes', async () => {
    standIn.answer = () => 'hang'
    const started = Date.now()

    const error = await failure(transport({ sendTimeoutMs: 300 }).send(belfryMail()))

    expect([error.kind, error.code]).toEqual(['transient', 'ETIMEDOUT'])
    expect(Date.now() - started).toBeLessThan(5000)
  })
})

describe('MAIL_TRANSPORT=ses end to end', () => {
  test('a signed event becomes an email in the emulator, sent with the outbox row\'s Message-ID and our unsubscribe headers', async () => {
    // Recorded on its way to the emulator, which keeps no headers of its own.
    standIn.answer = viaEmulator
    const t = await startTestService({ MAIL_TRANSPORT: 'ses', SES_REGION: 'us-east-1', SES_ENDPOINT: standIn.url })
    try {
      const ada = { id: 'u-ada', email: 'ada@learner.test', name: 'Ada Lovelace' }
      const course = { id: 'c-42', title: 'Algebra', url: 'https://lms.test/courses/42' }
      const response = await t.post('enrollment.created', { user: ada, course, enrollment: { id: 'e-1' } })
      expect(response.status).toBe(202)
      const { event_id } = (await response.json()) as { event_id: string }

      const db = t.service.database.db
      const row = await eventually(async () => {
        const [sent] = await db.select().from(messages).where(eq(messages.eventId, event_id))
        return sent?.state === 'sent' ? sent : undefined
      }, 10_000, 'the message to be sent')

      const emails = await storedEmails()
      expect(emails).toHaveLength(1)
      const [stored] = emails
      expect(stored!.destination.to).toEqual(['"Ada Lovelace" <ada@learner.test>'])
      expect(stored!.subject).toBe("You're enrolled in Algebra")
      expect(stored!.body.text).toContain(course.url)

      expect(standIn.requests).toHaveLength(1)
      const parsed = await rawOf(standIn.requests[0]!)
      expect(parsed.messageId).toBe(row.messageIdHeader)
      expect(rawHeader(parsed.headerLines, 'List-Unsubscribe')).toMatch(/^<http:\/\/belfry\.test\/u\/[^>]+>$/)
      expect(rawHeader(parsed.headerLines, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
      expect(parsed.subject).toBe(stored!.subject)

      const attempts = await db.select().from(deliveryAttempts).where(eq(deliveryAttempts.messageId, row.id))
      expect(attempts.map((a) => [a.transport, a.outcome, a.code, a.response])).toEqual([
        ['ses', 'sent', '200', `MessageId ${stored!.messageId}`],
      ])
    } finally {
      await t.stop()
    }
  })
})
