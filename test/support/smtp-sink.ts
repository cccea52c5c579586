// A real SMTP server for tests, in this process, on 127.0.0.1 and a free port.
// Every message it accepts is parsed with mailparser and kept, and each test
// can program how it answers: a reply code for the next N messages or for
// all of them, a rejection for one recipient, or no answer at all (to drive
// client timeouts).
//
//   const sink = await startSmtpSink()
//   const app = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
//   sink.failNext(2, 451, '4.3.0 try later')      // two deferrals, then accept
//   ... post an event ...
//   const [message] = await sink.waitFor(1)       // resolves once one is accepted
//   expect(message!.parsed.subject).toBe('Welcome')
//   expect(message!.envelope.to).toEqual(['zoe@example.com'])
//   expect(sink.rejected).toBe(2)
//   await sink.close()
//
// A message is in `messages` before the client gets its 250, so once a send
// has resolved there is nothing to wait for. Each new connection costs about
// 100 ms (smtp-server's fixed early-talker delay); a pooled client pays it once.
//
// STARTTLS is off: smtp-server's built-in certificate has expired, and a
// client that sees STARTTLS offered would try it and fail. AUTH is off too
// unless `auth` is given, so an smtp:// URL with or without credentials works.

import type { AddressInfo, Socket } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerSession,
} from 'smtp-server'

export interface ReceivedMessage {
  /** What the client said in MAIL FROM and RCPT TO (not the headers). */
  envelope: { from: string; to: string[] }
  parsed: ParsedMail
  /** The message exactly as received after DATA (CRLF line ends, dot-unstuffed). */
  raw: string
  receivedAt: Date
}

/** Where in the SMTP transaction a programmed answer is given. */
export type SmtpStage = 'mail' | 'rcpt' | 'data'

export interface SmtpSinkOptions {
  /** Listen on this port (a server coming back where it was); a free one when absent. */
  port?: number
  /** Require AUTH (PLAIN or LOGIN, allowed without TLS) with exactly these credentials; a mismatch gets 535. */
  auth?: { user: string; pass: string }
  /** Runs after a message is kept and before its 250 is sent: whatever it does happens between the send and the client's reply. */
  beforeAccept?: (message: ReceivedMessage) => void | Promise<void>
}

export interface FailOptions {
  /** The command that gets the error reply. Default `data`: after the whole message was sent. */
  at?: SmtpStage
}

export interface SmtpSink {
  /** `smtp://127.0.0.1:<port>`, without credentials. */
  readonly url: string
  readonly port: number
  /** Accepted messages, oldest first. */
  readonly messages: readonly ReceivedMessage[]
  /** Transactions answered with a programmed error code. */
  readonly rejected: number
  /** Transactions left without an answer by hangNext/hangAlways. */
  readonly hung: number
  /** TCP connections accepted so far (pooling shows as fewer connections than messages). */
  readonly connections: number
  /** Answer `code text` to the next `count` messages, then go back to what was programmed before. */
  failNext(count: number, code: number, text: string, options?: FailOptions): void
  /** Answer `code text` to every message until `acceptAll()` or `reset()`. */
  failAlways(code: number, text: string, options?: FailOptions): void
  /** Answer `code text` to RCPT TO for this address (any case), other recipients are unaffected. */
  failRecipient(address: string, code: number, text: string): void
  /** Never answer the next `count` messages (default at DATA), so the client's timeout has to fire. */
  hangNext(count?: number, options?: FailOptions): void
  /** Never answer any message. */
  hangAlways(options?: FailOptions): void
  /** Forget every programmed answer: accept everything from now on. Keeps messages and counters. */
  acceptAll(): void
  /** acceptAll(), and forget the messages and counters too. */
  reset(): void
  /** Resolves with `messages` once at least `count` have been accepted; rejects after `timeoutMs` (default 5000). */
  waitFor(count: number, timeoutMs?: number): Promise<readonly ReceivedMessage[]>
  /** Stops listening and drops every open connection at once, hung ones included. */
  close(): Promise<void>
}

type Answer = { kind: 'accept' } | { kind: 'fail'; at: SmtpStage; code: number; text: string } | { kind: 'hang'; at: SmtpStage }

interface Rule {
  answer: Answer
  /** How many more transactions it applies to; Infinity for the *Always rules. */
  remaining: number
}

interface Waiter {
  count: number
  resolve(messages: readonly ReceivedMessage[]): void
}

const ACCEPT: Answer = { kind: 'accept' }

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: ReceivedMessage[] = []
  const waiters = new Set<Waiter>()
  const sockets = new Set<Socket>()
  // Rules apply first to last; a *Next rule is used up before the ones behind it.
  let rules: Rule[] = []
  let recipientRules = new Map<string, { code: number; text: string }>()
  let rejected = 0
  let hung = 0
  let connections = 0
  // One answer per mail transaction, chosen at MAIL FROM, so failNext counts messages, not commands.
  const answers = new WeakMap<SMTPServerSession, Answer>()

  function nextAnswer(): Answer {
    const rule = rules[0]
    if (!rule) return ACCEPT
    rule.remaining -= 1
    if (rule.remaining <= 0) rules.shift()
    return rule.answer
  }

  function smtpError(code: number, text: string): Error & { responseCode: number } {
    return Object.assign(new Error(text), { responseCode: code })
  }

  /** Applies the transaction's answer at `stage`: true when the command was handled (failed or left hanging). */
  function intercept(stage: SmtpStage, session: SMTPServerSession, callback: (err?: Error | null) => void): boolean {
    const answer = answers.get(session) ?? ACCEPT
    if (answer.kind === 'accept' || answer.at !== stage) return false
    if (answer.kind === 'hang') {
      hung += 1
      return true
    }
    rejected += 1
    callback(smtpError(answer.code, answer.text))
    return true
  }

  function settleWaiters() {
    for (const waiter of waiters) {
      if (messages.length >= waiter.count) {
        waiters.delete(waiter)
        waiter.resolve(messages)
      }
    }
  }

  const server = new SMTPServer({
    name: 'sink.belfry.test',
    banner: 'belfry test sink',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.auth,
    allowInsecureAuth: true,

    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username })
      } else {
        callback(smtpError(535, '5.7.8 authentication failed'))
      }
    },

    onMailFrom(_address: SMTPServerAddress, session, callback) {
      answers.set(session, nextAnswer())
      if (!intercept('mail', session, callback)) callback()
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      const forAddress = recipientRules.get(address.address.toLowerCase())
      if (forAddress) {
        rejected += 1
        callback(smtpError(forAddress.code, forAddress.text))
        return
      }
      if (!intercept('rcpt', session, callback)) callback()
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        if (intercept('data', session, callback)) return
        const raw = Buffer.concat(chunks)
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
        }
        simpleParser(raw).then(
          (parsed) => {
            const message = { envelope, parsed, raw: raw.toString('utf8'), receivedAt: new Date() }
            messages.push(message)
            void Promise.resolve(options.beforeAccept?.(message)).finally(() => {
              callback(null, `2.0.0 accepted as ${messages.length}`)
              settleWaiters()
            })
          },
          (error: Error) => callback(smtpError(554, `5.6.0 sink could not parse the message: ${error.message}`)),
        )
      })
    },
  })

  server.server.on('connection', (socket: Socket) => {
    connections += 1
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  // Errors on a client connection (a client that disconnects mid-command) are the client's story, not the sink's.
  server.on('error', () => {})

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject)
      resolve()
    })
  })
  const port = (server.server.address() as AddressInfo).port

  function addRule(answer: Answer, remaining: number) {
    if (!(remaining > 0)) throw new Error(`smtp sink: count must be above zero, got ${remaining}`)
    rules.push({ answer, remaining })
  }

  function checkCode(code: number) {
    if (!Number.isInteger(code) || code < 400 || code > 599) {
      throw new Error(`smtp sink: expected a 4xx or 5xx reply code, got ${code}`)
    }
  }

  function failAnswer(code: number, text: string, at: SmtpStage | undefined): Answer {
    checkCode(code)
    return { kind: 'fail', at: at ?? 'data', code, text }
  }

  function acceptAll() {
    rules = []
    recipientRules = new Map()
  }

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    get messages() {
      return messages
    },
    get rejected() {
      return rejected
    },
    get hung() {
      return hung
    },
    get connections() {
      return connections
    },
    failNext(count, code, text, failOptions = {}) {
      addRule(failAnswer(code, text, failOptions.at), count)
    },
    failAlways(code, text, failOptions = {}) {
      addRule(failAnswer(code, text, failOptions.at), Infinity)
    },
    failRecipient(address, code, text) {
      checkCode(code)
      recipientRules.set(address.toLowerCase(), { code, text })
    },
    hangNext(count = 1, failOptions = {}) {
      addRule({ kind: 'hang', at: failOptions.at ?? 'data' }, count)
    },
    hangAlways(failOptions = {}) {
      addRule({ kind: 'hang', at: failOptions.at ?? 'data' }, Infinity)
    },
    acceptAll,
    reset() {
      acceptAll()
      messages.length = 0
      rejected = 0
      hung = 0
      connections = 0
    },
    waitFor(count, timeoutMs = 5000) {
      if (messages.length >= count) return Promise.resolve(messages)
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          count,
          resolve(received) {
            clearTimeout(timer)
            resolve(received)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(
            new Error(
              `smtp sink: waited ${timeoutMs} ms for ${count} message(s), got ${messages.length} ` +
                `(rejected ${rejected}, hung ${hung})`,
            ),
          )
        }, timeoutMs)
        waiters.add(waiter)
      })
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve())
        // smtp-server would wait up to 30 s for clients to leave; tests have no time for that.
        for (const socket of sockets) socket.destroy()
      })
    },
  }
}
