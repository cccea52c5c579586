// Protects POST /v1/events against hostile input: thousands of properly
// signed bodies — valid events of every type mutated, random JSON, deep
// nesting, huge strings, invalid UTF-8, wrong types, prototype-pollution
// keys — must each get a 4xx with a clear JSON error (or, when the mutation
// left a valid event, a 2xx), never a 5xx; nothing a refusal touches is
// stored; and Object.prototype is never polluted. A second part sends
// hostile names, titles and URLs through the real SMTP sink: no CR/LF ever
// reaches a header, and HTML arrives escaped.
//
// The cases come from a seeded PRNG: a failure prints the seed, and
// FUZZ_SEED=<seed> replays the very same run (FUZZ_CASES changes the count).

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHmac, randomUUID } from 'node:crypto'
import { secretKey } from '../../src/events/signature.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { TEST_SECRET } from '../support/webhooks.ts'

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const CASES = Number(process.env.FUZZ_CASES ?? 5000)
/** Cases also sent over a real socket, so Bun's HTTP parsing sees the same bodies. */
const HTTP_SAMPLE = 150

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  }
}
type Rng = ReturnType<typeof prng>

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString()

function validEvents(n: number): Record<string, Record<string, unknown>> {
  const user = { id: `u-${n}`, email: `learner${n}@school.test`, name: 'Ada', locale: 'en-GB', timezone: 'Europe/London' }
  const course = { id: 42, title: 'Statistics', url: 'https://lms.test/c/42' }
  return {
    'user.registered': { user },
    'user.updated': { user },
    'user.deleted': { user: { id: `u-${n}` } },
    'enrollment.created': { user, course, enrollment: { id: `e-${n}`, paid: { amount: 49.5, currency: 'EUR' } } },
    'course.completed': { user, course, completion: { completed_at: inDays(-1), certificate_url: 'https://lms.test/cert', grade: 'A' } },
    'password_reset.requested': { user, reset: { url: 'https://lms.test/reset/abc', expires_at: inDays(1) } },
    'deadline.scheduled': {
      users: [user],
      course,
      item: { id: `a-${n}`, kind: 'assignment', title: 'Essay', url: 'https://lms.test/a/5', due_at: inDays(5) },
    },
    'deadline.cancelled': { item: { id: `a-${n}` }, users: [{ id: `u-${n}` }] },
    'session.scheduled': {
      users: [user],
      course,
      session: { id: `s-${n}`, title: 'Live Q&A', starts_at: inDays(3), join_url: 'https://meet.test/s' },
    },
    'assignment.submitted': {
      user,
      course,
      assignment: { id: `a-${n}`, title: 'Essay', url: 'https://lms.test/a/5' },
      submission: { id: `sub-${n}`, submitted_at: inDays(-0.1) },
    },
    'discussion.post_created': {
      course,
      thread: { id: 't-1', title: 'Week 1', url: 'https://lms.test/t/1' },
      post: { id: `p-${n}`, author: { id: 'u-0', name: 'Grace' }, excerpt: 'Hello all' },
      recipients: [user],
    },
    'system.error': { error: { source: 'lms', message: `Disk full ${n}`, severity: 'error', fingerprint: `fp-${n % 7}` } },
  }
}

const TYPES = Object.keys(validEvents(0))
const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Every path to a value inside `value` (objects and arrays included), as key lists. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const found: (string | number)[][] = [prefix]
  if (Array.isArray(value)) value.forEach((item, i) => found.push(...paths(item, [...prefix, i])))
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) found.push(...paths(v, [...prefix, k]))
  return found
}

function setAt(root: Json, path: (string | number)[], replacement: Json): Json {
  if (path.length === 0) return replacement
  let node = root as Record<string | number, Json>
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>
  node[path.at(-1)!] = replacement
  return root
}

function deleteAt(root: Json, path: (string | number)[]): void {
  let node = root as Record<string | number, Json>
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>
  const last = path.at(-1)!
  if (Array.isArray(node)) node.splice(Number(last), 1)
  else delete node[last]
}

const nasty = [
  'Ada\r\nBcc: victim@evil.test',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\u202eevil',
  '{{constructor.constructor}}',
  '${process.exit(1)}',
  "'; drop table events; --",
  'javascript:alert(1)',
  '',
  ' ',
  '%00%0d%0a',
  '\u2028\u2029',
  '🎓'.repeat(300),
]

function randomString(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(nasty)
  const length = rng.int(40)
  let s = ''
  for (let i = 0; i < length; i++) s += String.fromCharCode(rng.chance(0.8) ? 32 + rng.int(95) : rng.int(0xffff))
  return s
}

function randomJson(rng: Rng, depth = 0): Json {
  const kinds = depth > 3 ? 4 : 6
  switch (rng.int(kinds)) {
    case 0:
      return null
    case 1:
      return rng.chance(0.5)
    case 2:
      return rng.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MIN_VALUE, rng.int(1000)])
    case 3:
      return randomString(rng)
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1))
    default: {
      const object: Record<string, Json> = {}
      for (let i = rng.int(4); i > 0; i--) object[rng.chance(0.3) ? rng.pick(POLLUTION_KEYS) : randomString(rng)] = randomJson(rng, depth + 1)
      return object
    }
  }
}

/** A value of a JSON type no schema accepts where `current` is (ids and grades take strings and numbers alike). */
function wrongType(rng: Rng, current: Json): Json {
  if (Array.isArray(current)) return rng.pick<Json>([null, true, {}, 'users', 3])
  if (current !== null && typeof current === 'object') return rng.pick<Json>([null, false, [], [current], 'object', 7])
  return rng.pick<Json>([null, true, false, [], {}, [[1]], { id: 1 }])
}

const valueAt = (root: Json, path: (string | number)[]) => path.reduce<Json>((node, k) => (node as Record<string, Json>)[k]!, root)

function deepNest(depth: number, rng: Rng): string {
  return rng.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
}

interface Case {
  kind: string
  body: Uint8Array
  /** True when the mutation certainly left no valid event: anything but a 4xx is a failure. */
  mustReject: boolean
  /** A wrong signature: must be 401. */
  badSignature?: boolean
}

const encode = (s: string) => new TextEncoder().encode(s)

function makeCase(rng: Rng, n: number): Case {
  const type = rng.pick(TYPES)
  const event = { type, data: validEvents(n)[type]! } as unknown as Json
  const dataPaths = paths(event).filter((p) => p[0] === 'data' && p.length > 1)
  const mutation = rng.int(13)
  // Most otherwise-harmless mutations also get a wrong type somewhere: the
  // hostile part still goes through parsing and validation, but few cases
  // reach a storing transaction (the slow part), and those that do are enough.
  const spoiled = rng.chance(0.85)
  const spoil = () => {
    if (!spoiled) return
    const inside = paths(event).filter((p) => p[0] === 'data' && p.length > 1 && !p.some((k) => String(k).startsWith('__marker_')))
    const path = inside.length > 0 ? rng.pick(inside) : ['data']
    setAt(event, path, wrongType(rng, valueAt(event, path)))
  }
  switch (mutation) {
    case 0: {
      // A typed value becomes a type nothing accepts there.
      const path = rng.pick(dataPaths)
      setAt(event, path, wrongType(rng, valueAt(event, path)))
      return { kind: 'wrong-type', body: encode(JSON.stringify(event)), mustReject: true }
    }
    case 1: {
      // A value removed: required or optional, the answer may be either.
      deleteAt(event, rng.pick(dataPaths))
      spoil()
      return { kind: 'delete', body: encode(JSON.stringify(event)), mustReject: spoiled }
    }
    case 2: {
      // A string leaf replaced by a hostile one: NUL, lone surrogates, CR/LF, markup.
      const strings = dataPaths.filter((p) => typeof p.reduce<Json>((node, k) => (node as Record<string, Json>)[k]!, event) === 'string')
      setAt(event, rng.pick(strings), randomString(rng))
      spoil()
      return { kind: 'hostile-string', body: encode(JSON.stringify(event)), mustReject: spoiled }
    }
    case 3: {
      // A string over every maxLength: refused (422), or 413 past 256 KiB.
      const strings = dataPaths.filter((p) => typeof p.reduce<Json>((node, k) => (node as Record<string, Json>)[k]!, event) === 'string')
      setAt(event, rng.pick(strings), 'x'.repeat(rng.pick([4001, 70_000, 300_000])))
      return { kind: 'huge-string', body: encode(JSON.stringify(event)), mustReject: true }
    }
    case 4: {
      // Prototype-pollution keys as own keys anywhere in the body: extra keys are ignored, never merged.
      const objects = paths(event).filter((p) => {
        const node = p.reduce<Json>((at, k) => (at as Record<string, Json>)[k]!, event)
        return node !== null && typeof node === 'object' && !Array.isArray(node)
      })
      const key = rng.pick(POLLUTION_KEYS)
      const payload = `{"polluted":true,"isAdmin":true,"type":"user.deleted","toString":1}`
      const marker = `"__marker_${n}__"`
      setAt(event, [...rng.pick(objects), `__marker_${n}__`], 0)
      spoil()
      return { kind: `pollution-${key}`, body: encode(JSON.stringify(event).replace(`${marker}:0`, `"${key}":${payload}`)), mustReject: spoiled }
    }
    case 5: {
      // `data` itself only under a prototype key: no schema is met.
      const key = rng.pick(POLLUTION_KEYS)
      return { kind: `data-under-${key}`, body: encode(`{"type":"${type}","data":{"${key}":${JSON.stringify((event as { data: Json }).data)}}}`), mustReject: true }
    }
    case 6: {
      // A type that names an Object.prototype member.
      const name = rng.pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'])
      return { kind: 'prototype-type', body: encode(JSON.stringify({ ...(event as object), type: name })), mustReject: true }
    }
    case 7: {
      // Deep nesting, as a typed field (refused) or as an extra key (ignored by the schema, but it would be stored).
      const depth = rng.pick([100, 1000, 10_000, 60_000])
      const asExtra = rng.chance(0.5)
      const marker = `"__deep_${n}__"`
      if (asExtra) setAt(event, ['data', `__deep_${n}__`], 0)
      else setAt(event, rng.pick(dataPaths), `__deep_${n}__`)
      const body = JSON.stringify(event).replace(asExtra ? `${marker}:0` : marker, asExtra ? `"deep":${deepNest(depth, rng)}` : deepNest(depth, rng))
      return { kind: `deep-${asExtra ? 'extra' : 'field'}-${depth}`, body: encode(body), mustReject: !asExtra }
    }
    case 8: {
      // Invalid UTF-8 bytes spliced into a valid body.
      const bytes = encode(JSON.stringify(event))
      const bad = rng.pick([[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]])
      const at = 1 + rng.int(bytes.length - 2)
      const body = new Uint8Array(bytes.length + bad.length)
      body.set(bytes.subarray(0, at))
      body.set(bad, at)
      body.set(bytes.subarray(at), at + bad.length)
      return { kind: 'invalid-utf8', body, mustReject: true }
    }
    case 9: {
      // Something random in place of the whole body, or of `data`.
      if (rng.chance(0.5)) {
        const value = randomJson(rng)
        const isObject = value !== null && typeof value === 'object' && !Array.isArray(value)
        return { kind: 'random-body', body: encode(isObject ? JSON.stringify(value) : JSON.stringify(value) ?? 'null'), mustReject: true }
      }
      const data = randomJson(rng)
      return { kind: 'random-data', body: encode(JSON.stringify({ type, data })), mustReject: true }
    }
    case 10: {
      // Bytes that are not JSON at all, or JSON cut short.
      const text = JSON.stringify(event)
      const body = rng.chance(0.5)
        ? encode(text.slice(0, rng.int(text.length - 1)))
        : Uint8Array.from({ length: rng.int(200) }, () => rng.int(256))
      return { kind: 'not-json', body, mustReject: true }
    }
    case 11: {
      // The envelope wrong: unknown type, a bad occurred_at, a type of the wrong JSON type.
      const choice = rng.int(3)
      const body =
        choice === 0
          ? { ...(event as object), type: `${type}.x` }
          : choice === 1
            ? { ...(event as object), occurred_at: rng.pick(['yesterday', '2025-13-45T99:99:99Z', 5, null]) }
            : { ...(event as object), type: rng.pick<Json>([1, null, [type], { type }]) }
      return { kind: 'envelope', body: encode(JSON.stringify(body)), mustReject: true }
    }
    default: {
      // A valid body with a wrong signature: 401, whatever the body.
      return { kind: 'bad-signature', body: encode(JSON.stringify(event)), mustReject: true, badSignature: true }
    }
  }
}

const key = secretKey(TEST_SECRET)

function requestFor(c: Case, url = 'http://belfry.test/v1/events'): Request {
  const id = `fuzz_${randomUUID()}`
  const timestamp = Math.floor(Date.now() / 1000)
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(c.body).digest('base64')
  return new Request(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': c.badSignature ? `v1,${Buffer.from(mac, 'base64').reverse().toString('base64')}` : `v1,${mac}`,
    },
    body: c.body as Uint8Array<ArrayBuffer>,
  })
}

interface Tally {
  accepted: number
  messages: number
  statuses: Map<number, number>
  /** Time spent per kind of case, so a slow kind shows in the log. */
  ms: Map<string, number>
  failures: string[]
}

async function check(c: Case, index: number, response: Response, tally: Tally): Promise<void> {
  const fail = (why: string): void => {
    tally.failures.push(`case ${index} (${c.kind}, ${c.body.length} bytes): ${why}`)
  }
  tally.statuses.set(response.status, (tally.statuses.get(response.status) ?? 0) + 1)
  const text = await response.text()
  if (response.status >= 500) return fail(`answered ${response.status}: ${text.slice(0, 300)}`)
  if (c.badSignature && response.status !== 401) return fail(`bad signature answered ${response.status}`)
  if (response.status === 202) {
    if (c.mustReject) return fail(`accepted a body that cannot be valid: ${new TextDecoder().decode(c.body).slice(0, 300)}`)
    const body = JSON.parse(text) as { messages: number }
    tally.accepted += 1
    tally.messages += body.messages
    return
  }
  if (response.status < 400 || response.status >= 500) return fail(`unexpected status ${response.status}`)
  if (!(response.headers.get('content-type') ?? '').startsWith('application/json')) return fail(`4xx without a JSON content type`)
  let error: { error?: unknown; message?: unknown; details?: unknown }
  try {
    error = JSON.parse(text)
  } catch {
    return fail(`4xx body is not JSON: ${text.slice(0, 200)}`)
  }
  if (typeof error.error !== 'string' || typeof error.message !== 'string' || error.message.length === 0) {
    return fail(`4xx body without error and message: ${text.slice(0, 200)}`)
  }
  if (response.status === 422) {
    const details = error.details as { path?: unknown; message?: unknown }[] | undefined
    if (!Array.isArray(details) || details.length === 0 || details.some((d) => typeof d.path !== 'string' || typeof d.message !== 'string')) {
      return fail(`422 without details: ${text.slice(0, 200)}`)
    }
  }
  if ((Object.prototype as Record<string, unknown>).polluted !== undefined || ({} as Record<string, unknown>).isAdmin !== undefined) {
    return fail('Object.prototype was polluted')
  }
}

function report(tally: Tally) {
  if (tally.failures.length > 0) {
    console.error(`fuzz failed with FUZZ_SEED=${SEED} (FUZZ_CASES=${CASES}); first failures:\n${tally.failures.slice(0, 15).join('\n')}`)
  }
}

describe(`POST /v1/events under hostile input (FUZZ_SEED=${SEED})`, () => {
  let t: TestService
  beforeAll(async () => {
    // No worker: this part is about what ingest answers and stores.
    t = await startTestService({ ROLE: 'api', RATE_LIMIT_PER_ADDRESS: 'off' }, { listen: true })
  }, 30_000)
  afterAll(() => t?.stop())

  test(`${CASES} mutated and random signed bodies: 4xx with a JSON error or a valid accept, never a 5xx, nothing stored by a refusal`, async () => {
    const rng = prng(SEED)
    const before = await t.counts()
    const tally: Tally = { accepted: 0, messages: 0, statuses: new Map(), ms: new Map(), failures: [] }
    const base = `http://127.0.0.1:${t.service.port}/v1/events`
    for (let i = 0; i < CASES; i++) {
      const c = makeCase(rng, i)
      const started = performance.now()
      let response: Response
      try {
        response = i % Math.floor(CASES / HTTP_SAMPLE) === 0 ? await fetch(requestFor(c, base)) : await t.send(requestFor(c))
      } catch (error) {
        tally.failures.push(`case ${i} (${c.kind}): request threw ${String(error)}`)
        continue
      }
      await check(c, i, response, tally)
      const kind = c.kind.replace(/-\d+$/, '')
      tally.ms.set(kind, (tally.ms.get(kind) ?? 0) + performance.now() - started)
      if (tally.failures.length > 50) break
    }
    report(tally)
    expect(tally.failures).toEqual([])
    // The process still answers, and only accepted events added rows: each refusal stored nothing.
    expect((await fetch(`http://127.0.0.1:${t.service.port}/healthz`)).status).toBe(200)
    const after = await t.counts()
    expect(after.events).toBe(before.events + tally.accepted)
    expect(after.messages).toBe(before.messages + tally.messages)
    // Most cases must be refusals, or the mutations are too gentle to mean anything.
    expect(tally.accepted).toBeLessThan(CASES / 2)
    console.log(`fuzz seed ${SEED}: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(tally.statuses))}, ms per kind ${JSON.stringify(Object.fromEntries([...tally.ms].map(([k, v]) => [k, Math.round(v)])))}`)
  }, 120_000)
})

describe('hostile text reaching real emails', () => {
  let t: TestService
  let sink: SmtpSink
  beforeAll(async () => {
    sink = await startSmtpSink()
    t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, TRACKING: 'off' })
  }, 30_000)
  afterAll(async () => {
    await t?.stop()
    await sink?.close()
  })

  const injection = '\r\nBcc: victim@evil.test\r\nX-Injected: yes\r\n\r\n<b>body</b>'
  const markup = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  const hostile = (label: string) => `${label}${injection}${markup}`

  test('CR/LF in a URL is refused before anything is stored', async () => {
    const before = await t.counts()
    for (const url of ['https://lms.test/a\r\nBcc: x@evil.test', 'https://lms.test/%0d%0a\nX: y', 'javascript:alert(1)']) {
      const response = await t.post('password_reset.requested', {
        user: { id: 'u-url', email: 'url@school.test' },
        reset: { url, expires_at: inDays(1) },
      })
      expect(response.status).toBe(422)
    }
    expect(await t.counts()).toEqual(before)
  })

  test('names, titles, excerpts and messages with CR/LF and markup: no header gains a line, HTML parts carry them escaped', async () => {
    const user = { id: 'u-h', email: 'hostile@school.test', name: hostile('Ada'), locale: 'en', timezone: 'UTC' }
    const course = { id: 'c-h', title: hostile('Course'), url: 'https://lms.test/c?x=%0d%0a' }
    const posts: [string, unknown][] = [
      ['user.registered', { user }],
      ['enrollment.created', { user, course, enrollment: { id: 'e-h', paid: { amount: 1, currency: 'EUR' } } }],
      ['course.completed', { user, course, completion: { completed_at: inDays(-1), grade: 'A\r\nX-Injected: 1' } }],
      ['password_reset.requested', { user, reset: { url: 'https://lms.test/reset?a=1&b=2', expires_at: inDays(1) } }],
      ['assignment.submitted', { user, course, assignment: { id: 'a-h', title: hostile('Essay') }, submission: { id: 's-h', submitted_at: inDays(-0.1) } }],
      [
        'discussion.post_created',
        {
          course,
          thread: { id: 't-h', title: hostile('Thread'), url: 'https://lms.test/t' },
          post: { id: 'p-h', author: { id: 'u-other', name: hostile('Grace') }, excerpt: hostile('Excerpt') },
          recipients: [user],
        },
      ],
      ['system.error', { error: { source: hostile('LMS'), message: hostile('Boom'), severity: 'critical', fingerprint: hostile('fp') } }],
    ]
    let expected = 0
    for (const [type, data] of posts) {
      const response = await t.post(type, data)
      const answer = (await response.json()) as { messages: number }
      expect({ type, status: response.status, answer }).toMatchObject({ type, status: 202 })
      expected += answer.messages
    }
    expect(expected).toBeGreaterThanOrEqual(posts.length)
    const received = await sink.waitFor(expected, 20_000)
    for (const mail of received) {
      const headerBlock = mail.raw.split('\r\n\r\n')[0]!
      // Each header line is a header of ours or a folded continuation (leading whitespace).
      for (const line of headerBlock.split('\r\n')) {
        expect(line).not.toMatch(/^(bcc|x-injected)\s*:/i)
        expect(line).not.toMatch(/^<b>/)
      }
      expect(mail.parsed.headers.has('bcc')).toBe(false)
      expect(mail.parsed.headers.has('x-injected')).toBe(false)
      expect(mail.parsed.subject ?? '').not.toMatch(/[\r\n]/)
      for (const to of [mail.parsed.to].flat()) for (const address of to?.value ?? []) expect(address.name).not.toMatch(/[\r\n]/)
      expect(mail.envelope.to.every((to) => !to.includes('evil.test'))).toBe(true)
      const html = typeof mail.parsed.html === 'string' ? mail.parsed.html : ''
      expect(html).not.toContain('<script>alert(1)')
      expect(html).not.toContain('<img src=x onerror')
      expect(html).not.toContain('<b>body</b>')
    }
    // At least the welcome email shows the learner's name, escaped.
    const welcome = received.find((mail) => mail.envelope.to.includes('hostile@school.test') && typeof mail.parsed.html === 'string' && mail.parsed.html.includes('Ada'))
    expect(welcome).toBeDefined()
    expect(welcome!.parsed.html as string).toMatch(/&lt;script&gt;alert\(1\)|&#x3C;script&#x3E;|&lt;script/)
  }, 60_000)
})
