// A small HTTP server in place of the SES v2 API: it records each request
// the real AWS SDK sends and answers as a test tells it, in SES's own shapes
// (success, or an error type in x-amzn-ErrorType with a JSON message).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Recorded {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: { Content?: { Raw?: { Data?: string } }; Destination?: { ToAddresses?: string[] }; ConfigurationSetName?: string }
}

export interface Answer {
  status: number
  headers?: Record<string, string>
  body?: string
}

export interface SesStandIn {
  url: string
  requests: Recorded[]
  /** How the next requests are answered; `hang` never answers. */
  answer: (request: Recorded) => Promise<Answer | 'hang'> | Answer | 'hang'
  close(): Promise<void>
}

export async function startSesStandIn(): Promise<SesStandIn> {
  const hanging = new Set<ServerResponse>()
  const standIn: SesStandIn = {
    url: '',
    requests: [],
    answer: () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"MessageId":"stand-in-1"}' }),
    async close() {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const recorded: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : {} }
    standIn.requests.push(recorded)
    const answer = await standIn.answer(recorded)
    if (answer === 'hang') {
      hanging.add(res)
      return
    }
    res.writeHead(answer.status, answer.headers ?? {})
    res.end(answer.body ?? '')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return standIn
}

/** SES v2's error shape: the type in x-amzn-ErrorType (with the suffix SES appends), the text in a JSON body. */
export function sesError(status: number, type: string, message: string): Answer {
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sailfish/`,
      'x-amzn-requestid': 'b2f1c3d4-0000-4000-8000-000000000000',
    },
    body: JSON.stringify({ message }),
  }
}

