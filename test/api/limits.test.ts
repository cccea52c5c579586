// Protects the limits on /v1: request bodies (413 before the rest is read),
// rates per API key and per client address (429 with Retry-After), and that
// a client trickling a huge body holds up nobody else.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import { newKey } from '../../src/api/keys.ts'
import { insertApiKey } from '../../src/api/queries.ts'
import { loadConfig } from '../../src/config.ts'
import { TokenBuckets } from '../../src/limits/token-bucket.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { eventRequest, signedRequest } from '../support/webhooks.ts'

async function keyFor(t: TestService, name: string): Promise<string> {
  const made = newKey()
  await insertApiKey(t.service.database.db, { name, keyHash: made.hash, prefix: made.prefix, createdBy: null })
  return made.key
}

const get = (t: TestService, path: string, key?: string) =>
  t.send(new Request(`http://belfry.test${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} }))

describe('token buckets', () => {
  test('a burst of capacity, then one more per capacity/window, and a Retry-After that is honest', () => {
    let now = 0
    const buckets = new TokenBuckets({ capacity: 3, windowMs: 3000 }, () => now)
    expect([1, 2, 3].map(() => buckets.take('a').ok)).toEqual([true, true, true])
    const refused = buckets.take('a')
    expect(refused).toEqual({ ok: false, retryAfterSeconds: 1 })
    expect(buckets.take('b').ok).toBe(true)
    now = 1000
    expect(buckets.take('a').ok).toBe(true)
    expect(buckets.take('a').ok).toBe(false)
  })

  test('the map of keys stays bounded under a flood of addresses', () => {
    const buckets = new TokenBuckets({ capacity: 5, windowMs: 1000 }, () => 0, 100)
    for (let i = 0; i < 1000; i++) buckets.take(`10.0.${i >> 8}.${i & 255}`)
    expect((buckets as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(100)
  })

  test('RATE_LIMIT_* and MAX_REQUEST_BYTES are read and checked at start', () => {
    const config = loadConfig({ RATE_LIMIT_PER_KEY: '20/s', RATE_LIMIT_PER_ADDRESS: 'off', MAX_REQUEST_BYTES: '1048576' })
    expect(config.rateLimitPerKey).toEqual({ capacity: 20, windowMs: 1000 })
    expect(config.rateLimitPerAddress).toBeNull()
    expect(config.maxRequestBytes).toBe(1048576)
    expect(loadConfig({}).rateLimitPerKey).toEqual({ capacity: 600, windowMs: 60_000 })
    expect(() => loadConfig({ RATE_LIMIT_PER_KEY: 'lots' })).toThrow('RATE_LIMIT_PER_KEY')
    expect(() => loadConfig({ MAX_REQUEST_BYTES: '10' })).toThrow('MAX_REQUEST_BYTES')
  })
})

describe('per API key and body size', () => {
  let t: TestService
  beforeAll(async () => {
    t = await startTestService({ ROLE: 'api', RATE_LIMIT_PER_KEY: '3/min', RATE_LIMIT_PER_ADDRESS: 'off' }, { listen: true })
  }, 30_000)
  afterAll(() => t?.stop())

  test('a key over its rate gets 429 with Retry-After; another key is unaffected', async () => {
    const busy = await keyFor(t, 'busy')
    const calm = await keyFor(t, 'calm')
    for (let i = 0; i < 3; i++) expect((await get(t, '/v1/recipients/x', busy)).status).toBe(404)
    const refused = await get(t, '/v1/recipients/x', busy)
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await refused.json()).toMatchObject({ error: 'rate_limited' })
    expect((await get(t, '/v1/recipients/x', calm)).status).toBe(404)
  })

  test('management bodies over 64 KiB and events over 256 KiB: 413 with a JSON error', async () => {
    const key = await keyFor(t, 'big-bodies')
    const big = await t.send(
      new Request('http://belfry.test/v1/recipients/x/preferences', {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ muted_courses: Array.from({ length: 5000 }, (_, i) => `course-${i}-${'x'.repeat(10)}`) }),
      }),
    )
    expect(big.status).toBe(413)
    expect(await big.json()).toMatchObject({ error: 'payload_too_large' })
    const event = await t.send(eventRequest('user.updated', { user: { id: 'u', email: 'u@x.test', name: 'x'.repeat(300_000) } }))
    expect(event.status).toBe(413)
  })

  test('over HTTP, a declared body past MAX_REQUEST_BYTES (4 MiB by default) is refused by the server without being read', async () => {
    const started = performance.now()
    const answer = await rawRequest(t.service.port!, `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n{`)
    expect(answer).toMatch(/^HTTP\/1\.1 413/)
    expect(performance.now() - started).toBeLessThan(2000)
  })

  test('over HTTP, a body that declares its length is read whole up to 256 KiB; one byte more is 413', async () => {
    const url = `http://127.0.0.1:${t.service.port}/v1/events`
    const base = JSON.stringify({ type: 'user.updated', data: { user: { id: 'u-exact', email: 'exact@x.test' }, padding: '' } })
    const exact = base.replace('"padding":""', `"padding":"${'x'.repeat(256 * 1024 - base.length)}"`)
    const accepted = await fetch(signedRequest(exact, { url }))
    expect(accepted.headers.get('content-type')).toContain('application/json')
    expect(accepted.status).toBe(202)
    const over = await fetch(signedRequest(exact.replace('"padding":"x', '"padding":"xx'), { url }))
    expect(over.status).toBe(413)
    expect(await over.json()).toMatchObject({ error: 'payload_too_large' })
  })

  test('clients trickling bodies (declared, and chunked without a length) do not stall anyone else', async () => {
    const port = t.service.port!
    const open = async (head: string) => {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise((resolve) => socket.once('connect', resolve))
      socket.write(head)
      return socket
    }
    // Under the 256 KiB limit, so the route keeps reading it, a few bytes at a time.
    const declared = await open('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"type":')
    const chunked = await open('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
    const chunkedAnswer = new Promise<string>((resolve) => {
      let text = ''
      chunked.on('data', (data) => {
        text += data.toString('latin1')
        resolve(text)
      })
    })
    const trickle = setInterval(() => {
      if (!declared.destroyed) declared.write('"aaaaaaaaaa')
      // 32 KiB a tick: past 256 KiB within a few ticks, where the route stops reading and answers 413.
      if (!chunked.destroyed) chunked.write(`8000\r\n${'b'.repeat(0x8000)}\r\n`)
    }, 20)
    try {
      await Bun.sleep(100)
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        const health = await fetch(`http://127.0.0.1:${port}/healthz`)
        expect(health.status).toBe(200)
        const event = await fetch(eventRequest('user.updated', { user: { id: `u-${i}`, email: `u${i}@x.test` } }, { url: `http://127.0.0.1:${port}/v1/events` }))
        expect(event.status).toBe(202)
        expect(performance.now() - started).toBeLessThan(1500)
      }
      expect(await chunkedAnswer).toMatch(/^HTTP\/1\.1 413/)
    } finally {
      clearInterval(trickle)
      declared.destroy()
      chunked.destroy()
    }
  }, 20_000)
})

describe('per client address', () => {
  let t: TestService
  beforeAll(async () => {
    t = await startTestService({ ROLE: 'api', RATE_LIMIT_PER_ADDRESS: '5/min' })
  }, 30_000)
  afterAll(() => t?.stop())

  test('every /v1 route counts against the address, before signature or key checks; other routes do not', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await get(t, '/v1/recipients/x')).status)
    for (let i = 0; i < 2; i++) statuses.push((await t.post('user.updated', { user: { id: 'a', email: 'a@x.test' } }, { signature: 'v1,bad' })).status)
    expect(statuses).toEqual([401, 401, 401, 401, 401])
    const refused = await t.post('user.updated', { user: { id: 'a', email: 'a@x.test' } })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('12')
    expect((await get(t, '/v1/openapi.json')).status).toBe(429)
    expect((await get(t, '/healthz')).status).toBe(200)
    expect((await get(t, '/docs/api')).status).toBe(200)
  })
})

function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(head))
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
      if (answer.includes('\r\n\r\n')) {
        socket.destroy()
        resolve(answer)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
  })
}
