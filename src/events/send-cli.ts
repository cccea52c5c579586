// `npm run event -- <type> '<data JSON>'`: signs an event with WEBHOOK_SECRET
// the Standard Webhooks way and posts it to PUBLIC_URL/v1/events, printing
// the answer. For trying Belfry out and for checking an LMS integration's
// secret; it is the same signature an LMS must send.

import { randomUUID } from 'node:crypto'
import { ConfigError, loadConfig } from '../config.ts'
import { sign } from './signature.ts'

const [type, data] = process.argv.slice(2)
if (!type || !data) {
  process.stderr.write("usage: npm run event -- <type> '<data as JSON>'\n")
  process.exit(64)
}

try {
  const config = loadConfig()
  if (!config.webhookSecret) throw new ConfigError('WEBHOOK_SECRET', 'is needed to sign the event (the same value the service runs with)')
  const body = JSON.stringify({ type, data: JSON.parse(data) })
  const id = `msg_${randomUUID()}`
  const timestamp = Math.floor(Date.now() / 1000)
  const response = await fetch(`${config.publicUrl}/v1/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': sign(config.webhookSecret, id, timestamp, body),
    },
    body,
  })
  process.stdout.write(`${response.status} ${await response.text()}\n`)
  process.exit(response.ok ? 0 : 1)
} catch (error) {
  process.stderr.write(`belfry event: ${(error as Error).message}\n`)
  process.exit(1)
}
