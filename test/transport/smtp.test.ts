// Protects: SMTP delivery to a real server carries the message intact (the
// same one the file transport writes), and every way a server or the network
// can fail comes back as the right TransportError — deferrals and outages
// retried, rejections dead-lettered — with the server's own words kept and
// the SMTP password never shown.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { simpleParser } from 'mailparser'
import { createFileTransport } from '../../src/transport/file.ts'
import { createSmtpTransport, type SmtpTransportOptions } from '../../src/transport/smtp.ts'
import { TransportError, type Transport } from '../../src/transport/types.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { rawHeader, sampleMail } from './sample-mail.ts'

const PASSWORD = 's3cr3t p@ss:w/rd%'

let sink: SmtpSink
const open: Transport[] = []

function transport(options: Partial<SmtpTransportOptions> = {}): Transport {
  const created = createSmtpTransport({ url: sink.url, concurrency: 2, ...options })
  open.push(created)
  return created
}

function urlWithCredentials(base: string, user: string, pass: string): string {
  const url = new URL(base)
  url.username = user
  url.password = encodeURIComponent(pass)
  return url.toString()
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

beforeAll(async () => {
  sink = await startSmtpSink()
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()))
  sink.reset()
})

afterAll(async () => {
  await sink.close()
})

describe('smtp transport: delivery', () => {
  test('delivers the message intact, to the right envelope, and reports the 250', async () => {
    const mail = sampleMail()

    const result = await transport().send(mail)

    expect(result.code).toBe('250')
    expect(result.response).toStartWith('250 ')
    expect(sink.messages).toHaveLength(1)
    const [received] = sink.messages
    expect(received!.envelope).toEqual({ from: 'notify@belfry.test', to: ['zoe@example.com'] })
    const { parsed } = received!
    expect(parsed.messageId).toBe(mail.messageId)
    expect(parsed.subject).toBe(mail.subject)
    expect(parsed.text).toBe(mail.text)
    expect(parsed.html).toBe(mail.html)
    expect(parsed.from?.value).toEqual([{ address: 'notify@belfry.test', name: 'Belfry Academy' }])
    expect(parsed.to).toMatchObject({ value: [{ address: 'zoe@example.com', name: 'Zoë Martín' }] })
    expect(rawHeader(parsed.headerLines, 'List-Unsubscribe')).toBe(mail.headers!['List-Unsubscribe']!)
    expect(rawHeader(parsed.headerLines, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' })
  })

  test('sends the same message the file transport writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'belfry-smtp-vs-file-'))
    try {
      const mail = sampleMail()
      const written = await createFileTransport({ dir }).send(mail)
      await transport().send(mail)

      const fromFile = await simpleParser(await readFile(written.response))
      const fromSmtp = sink.messages[0]!.parsed
      const headers = (p: typeof fromFile) => p.headerLines.filter((h) => h.key !== 'date' && h.key !== 'content-type')
      expect(headers(fromSmtp)).toEqual(headers(fromFile))
      expect([fromSmtp.text, fromSmtp.html]).toEqual([fromFile.text, fromFile.html])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('logs in with the credentials from the URL', async () => {
    const authSink = await startSmtpSink({ auth: { user: 'belfry', pass: PASSWORD } })
    try {
      const result = await transport({ url: urlWithCredentials(authSink.url, 'belfry', PASSWORD) }).send(sampleMail())
      expect(result.code).toBe('250')
      expect(authSink.messages).toHaveLength(1)
    } finally {
      await authSink.close()
    }
  })

  test('reuses pooled connections instead of opening one per message', async () => {
    const smtp = transport({ concurrency: 3 })
    const mails = Array.from({ length: 12 }, () => sampleMail())

    await Promise.all(mails.map((mail) => smtp.send(mail)))

    expect(sink.messages.map((m) => m.parsed.messageId).sort()).toEqual(mails.map((m) => m.messageId).sort())
    expect(sink.connections).toBeLessThanOrEqual(3)
  })
})

describe('smtp transport: failures', () => {
  test('a 4xx deferral is transient, keeps the code and the server text, and the retry goes through', async () => {
    sink.failNext(1, 451, '4.3.0 try later')
    const smtp = transport()

    const error = await failure(smtp.send(sampleMail()))

    expect(error.kind).toBe('transient')
    expect(error.code).toBe('451')
    expect(error.message).toContain('451 4.3.0 try later')
    expect(sink.rejected).toBe(1)
    expect((await smtp.send(sampleMail())).code).toBe('250')
    expect(sink.messages).toHaveLength(1)
  })

  test('a 5xx rejection of the recipient is permanent, with the code and text kept', async () => {
    sink.failAlways(550, '5.1.1 no such user', { at: 'rcpt' })

    const error = await failure(transport().send(sampleMail()))

    expect(error.kind).toBe('permanent')
    expect(error.code).toBe('550')
    expect(error.message).toContain('550 5.1.1 no such user')
    expect(sink.messages).toHaveLength(0)
  })

  test('a 5xx rejection of the message after DATA is permanent', async () => {
    sink.failNext(1, 554, '5.7.1 message refused as spam')

    const error = await failure(transport().send(sampleMail()))

    expect(error).toMatchObject({ kind: 'permanent', code: '554' })
    expect(error.message).toContain('5.7.1 message refused as spam')
  })

  test('421 (server closing the session) is transient', async () => {
    sink.failNext(1, 421, '4.7.0 too busy, come back later', { at: 'mail' })

    const error = await failure(transport().send(sampleMail()))

    expect(error).toMatchObject({ kind: 'transient', code: '421' })
  })

  test('503 (bad sequence of commands) is transient: it is about the session, not the message', async () => {
    sink.failNext(1, 503, '5.5.1 bad sequence of commands', { at: 'mail' })

    const error = await failure(transport().send(sampleMail()))

    expect(error).toMatchObject({ kind: 'transient', code: '503' })
  })

  test('a refused connection is transient and reported quickly', async () => {
    const port = await closedPort()
    const started = Date.now()

    const error = await failure(transport({ url: `smtp://127.0.0.1:${port}` }).send(sampleMail()))

    expect(error.kind).toBe('transient')
    expect(error.code).toBe('ECONNREFUSED')
    expect(Date.now() - started).toBeLessThan(3000)
  })

  test('a server that stops answering times out as a transient failure', async () => {
    sink.hangNext(1)
    const started = Date.now()

    const error = await failure(transport({ socketTimeoutMs: 300 }).send(sampleMail()))

    expect(error).toMatchObject({ kind: 'transient', code: 'ETIMEDOUT' })
    expect(error.message).toContain('did not answer within 300 ms')
    expect(Date.now() - started).toBeLessThan(3000)
    expect(sink.hung).toBe(1)
  })

  test('the whole send has a deadline of its own, below the lease', async () => {
    sink.hangNext(1)
    const started = Date.now()

    const error = await failure(transport({ sendTimeoutMs: 300 }).send(sampleMail()))

    expect(error).toMatchObject({ kind: 'transient', code: 'ETIMEDOUT' })
    expect(error.message).toContain('within 300 ms')
    expect(Date.now() - started).toBeLessThan(3000)
  })
})

describe('smtp transport: the password stays secret', () => {
  function expectNoPassword(error: TransportError) {
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD)]) {
      expect(error.message).not.toContain(form)
      expect(String(error.stack)).not.toContain(form)
      expect(inspect(error)).not.toContain(form)
      expect(JSON.stringify(error)).not.toContain(form)
    }
  }

  test('not in a failed login', async () => {
    const authSink = await startSmtpSink({ auth: { user: 'belfry', pass: 'the right one' } })
    try {
      const error = await failure(
        transport({ url: urlWithCredentials(authSink.url, 'belfry', PASSWORD) }).send(sampleMail()),
      )
      // A login failure is the operator's to fix: retry rather than dead-letter every message.
      expect(error).toMatchObject({ kind: 'transient', code: '535' })
      expectNoPassword(error)
    } finally {
      await authSink.close()
    }
  })

  test('not in a connection failure', async () => {
    const port = await closedPort()
    const error = await failure(
      transport({ url: urlWithCredentials(`smtp://127.0.0.1:${port}`, 'belfry', PASSWORD) }).send(sampleMail()),
    )
    expectNoPassword(error)
  })

  test('not even when the server echoes it back', async () => {
    sink.failNext(1, 554, `5.7.0 unexpected credentials ${PASSWORD} / ${encodeURIComponent(PASSWORD)}`, { at: 'mail' })
    const error = await failure(
      transport({ url: urlWithCredentials(sink.url, 'belfry', PASSWORD) }).send(sampleMail()),
    )
    expect(error.message).toContain('5.7.0 unexpected credentials ***')
    expectNoPassword(error)
  })

  test('not in a rejected configuration', () => {
    const url = `smtp://belfry:${encodeURIComponent(PASSWORD)}@[not a host`
    let message = ''
    try {
      createSmtpTransport({ url, concurrency: 1 })
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toContain('SMTP_URL')
    expect(message).not.toContain(encodeURIComponent(PASSWORD))
    expect(message).not.toContain(PASSWORD)
  })
})
