// An SMTP server that misbehaves on purpose, in the chaos runner's own
// process. The recipient's local part names the fault (`t451-0@…` answers
// 451 to its first two tries, then accepts); each address keeps its own
// count of tries, so every message's story is independent of the others.
//
// Faults are given at the stage a real server gives them: refusals about
// the mailbox at RCPT TO, content and policy refusals after DATA. A "drop"
// cuts the TCP connection once the whole message has arrived, without a
// reply; a "stall" reads the whole message and never answers, so only the
// client's own timeout ends the try.

import { SMTPServer, type SMTPServerSession } from 'smtp-server'

export type Fault =
  | { stage: 'rcpt' | 'data'; reply: number; text: string; times: number }
  | { stage: 'data'; drop: true; times: number }
  | { stage: 'data'; stall: true; times: number }

export interface Arrival {
  rcpt: string
  messageId: string
  /** What the server did with this copy. */
  outcome: 'accepted' | 'refused' | 'dropped' | 'stalled'
  at: number
}

export interface FaultSink {
  port: number
  arrivals: Arrival[]
  /** RCPT TO commands seen per address: one per try. */
  tries: Map<string, number>
  close(): Promise<void>
}

const HEADER_END = '\r\n\r\n'

function messageIdOf(raw: string): string {
  const end = raw.indexOf(HEADER_END)
  const head = (end >= 0 ? raw.slice(0, end) : raw).replace(/\r\n[ \t]+/g, ' ')
  return /^message-id:\s*(\S+)/im.exec(head)?.[1] ?? ''
}

const smtpError = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code })

export async function startFaultSink(faults: Record<string, Fault>): Promise<FaultSink> {
  const arrivals: Arrival[] = []
  const tries = new Map<string, number>()
  // Replies held back by a stall, released when the sink closes so no handler is left dangling.
  const stalled: (() => void)[] = []
  const faultFor = (address: string): Fault | undefined => faults[address.slice(0, address.indexOf('-'))]
  /** The fault this try gets, or none once the address has had its `times`. */
  const active = (address: string): Fault | undefined => {
    const fault = faultFor(address)
    return fault && (tries.get(address) ?? 0) <= fault.times ? fault : undefined
  }

  const server: SMTPServer = new SMTPServer({
    name: 'faults.chaos.test',
    logger: false,
    disableReverseLookup: true,
    // smtp-server's built-in certificate has expired; a client offered STARTTLS would fail on it.
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    // The fault texts carry their own enhanced status codes, as real servers write them.
    hideENHANCEDSTATUSCODES: true,
    onRcptTo(address, _session, callback) {
      const rcpt = address.address.toLowerCase()
      tries.set(rcpt, (tries.get(rcpt) ?? 0) + 1)
      const fault = active(rcpt)
      if (fault && fault.stage === 'rcpt' && 'reply' in fault) {
        arrivals.push({ rcpt, messageId: '', outcome: 'refused', at: Date.now() })
        return callback(smtpError(fault.reply, fault.text))
      }
      callback()
    },
    onData(stream, session: SMTPServerSession, callback) {
      let raw = ''
      stream.setEncoding('latin1')
      stream.on('data', (chunk: string) => {
        if (raw.length < 65_536) raw += chunk
      })
      stream.on('end', () => {
        const rcpt = session.envelope.rcptTo[0]?.address.toLowerCase() ?? ''
        const messageId = messageIdOf(raw)
        const fault = active(rcpt)
        const at = Date.now()
        if (fault && fault.stage === 'data') {
          if ('drop' in fault) {
            arrivals.push({ rcpt, messageId, outcome: 'dropped', at })
            for (const connection of connectionsOf(server)) {
              if (connection.session === session || connection.id === session.id) connection._socket?.destroy()
            }
            return
          }
          if ('stall' in fault) {
            arrivals.push({ rcpt, messageId, outcome: 'stalled', at })
            stalled.push(() => callback(smtpError(451, '4.3.0 stalled reply released at shutdown')))
            return
          }
          arrivals.push({ rcpt, messageId, outcome: 'refused', at })
          return callback(smtpError(fault.reply, fault.text))
        }
        arrivals.push({ rcpt, messageId, outcome: 'accepted', at })
        callback(null, 'queued')
      })
    },
  })
  server.on('error', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.server.address() as { port: number }).port
  return {
    port,
    arrivals,
    tries,
    async close() {
      for (const release of stalled.splice(0)) {
        try {
          release()
        } catch {}
      }
      for (const connection of connectionsOf(server)) connection._socket?.destroy()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        setTimeout(resolve, 1000).unref()
      })
    },
  }
}

interface OpenConnection {
  id?: string
  session?: SMTPServerSession
  _socket?: { destroy(): void }
}

/** smtp-server keeps its open connections in a Set it does not type; cutting one mid-transaction needs its socket. */
function connectionsOf(server: SMTPServer): OpenConnection[] {
  const open = (server as unknown as { connections?: Set<OpenConnection> }).connections
  return open ? [...open] : []
}
