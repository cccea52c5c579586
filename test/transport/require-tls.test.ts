// SMTP_REQUIRE_TLS=true: a message goes out only over a connection the
// server upgraded with STARTTLS. Against a server that offers no STARTTLS
// nothing is sent and the failure says why; against one that does (with a
// certificate this test makes, since smtp-server's built-in one expired),
// the message arrives over TLS.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SMTPServer } from 'smtp-server'
import { createSmtpTransport } from '../../src/transport/smtp.ts'
import { TransportError, type OutgoingMail } from '../../src/transport/types.ts'

interface Received {
  to: string
  secure: boolean
}

let dir: string
let key: Buffer
let cert: Buffer
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'belfry-tls-'))
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' })
  key = readFileSync(join(dir, 'key.pem'))
  cert = readFileSync(join(dir, 'cert.pem'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A real SMTP server, with or without STARTTLS, recording whether each message came over TLS. */
async function server(withTls: boolean) {
  const received: Received[] = []
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: withTls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    ...(withTls ? { key, cert } : {}),
    logger: false,
    onData(stream, session, callback) {
      stream.on('data', () => {})
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo[0]?.address ?? '', secure: session.secure })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))
  const port = (smtp.server.address() as AddressInfo).port
  return { received, port, close: () => new Promise<void>((resolve) => smtp.close(() => resolve())) }
}

const mail: OutgoingMail = {
  messageId: '<tls-1@belfry.test>',
  from: 'Belfry <notify@belfry.test>',
  to: { address: 'ada@learner.test' },
  subject: 'Over TLS only',
  html: '<p>hello</p>',
  text: 'hello\n',
}

describe('SMTP_REQUIRE_TLS=true', () => {
  test('a server without STARTTLS: refused before any message is sent, and the error says TLS', async () => {
    const plain = await server(false)
    const transport = createSmtpTransport({ url: `smtp://127.0.0.1:${plain.port}`, concurrency: 1, requireTLS: true })
    try {
      const error = await transport.send(mail).then(
        () => null,
        (failure: unknown) => failure,
      )
      expect(error).toBeInstanceOf(TransportError)
      // Transient: a server's TLS setup is not this message's fault, and every other message would hit it too.
      expect((error as TransportError).kind).toBe('transient')
      expect((error as TransportError).code).toBe('ETLS')
      expect((error as TransportError).message).toContain('could not be upgraded to TLS')
      expect(plain.received).toEqual([])
    } finally {
      await transport.close()
      await plain.close()
    }
  })

  test('a server with STARTTLS: the message arrives over the upgraded connection', async () => {
    const tls = await server(true)
    // The certificate is this test's own, not from a CA the process trusts: trust it for this URL only.
    const transport = createSmtpTransport({
      url: `smtp://127.0.0.1:${tls.port}?tls.rejectUnauthorized=false`,
      concurrency: 1,
      requireTLS: true,
    })
    try {
      const result = await transport.send(mail)
      expect(result.code).toBe('250')
      expect(tls.received).toEqual([{ to: 'ada@learner.test', secure: true }])
    } finally {
      await transport.close()
      await tls.close()
    }
  })
})
