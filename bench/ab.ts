// Same-process A/B comparisons behind the per-message CPU choices of the
// worker's render and MIME stages, on the stage phase's email
// (course_completed, tracked): `bun bench/ab.ts`. Each pair runs
// interleaved, round after round, and the medians and their ratio are
// printed; on a shared, noisy machine only the ratio means much.
//
// - tracking: rendering and then rewriting the HTML (trackEmail, rewriteHtml:
//   how it was done, still the reference) against tracking in the render
//   (RenderOptions.tracking, src/render/render.ts);
// - quoted-printable: the byte-at-a-time encoder src/transport/mime.ts had
//   (kept below, and as the reference of test/render/quoted-printable.test.ts)
//   against the current one, on the same email's HTML part.

import { fileURLToPath } from 'node:url'
import { learnerLinks } from '../src/preferences/links.ts'
import { TokenSigner } from '../src/preferences/tokens.ts'
import { TemplateStore } from '../src/render/templates.ts'
import { trackEmail, trackingFor } from '../src/tracking/apply.ts'
import type { TrackingPolicy } from '../src/tracking/policy.ts'
import { quotedPrintable } from '../src/transport/mime.ts'

/** The encoder mime.ts had before it worked on runs: one byte at a time through a Uint8Array. */
function byteAtATimeQuotedPrintable(text: string): string {
  const bytes = new TextEncoder().encode(text.replace(/\r\n?/g, '\n'))
  const out = new Uint8Array(bytes.length * 3 + Math.ceil(bytes.length / 24) * 3 + 3)
  const hex = '0123456789ABCDEF'
  let o = 0
  let column = 0
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    if (byte === 0x0a) {
      out[o++] = 0x0d
      out[o++] = 0x0a
      column = 0
      continue
    }
    const next = bytes[i + 1]
    const atLineEnd = next === undefined || next === 0x0a
    const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !atLineEnd)
    const width = literal ? 1 : 3
    if (column + width > (atLineEnd ? 76 : 75)) {
      out[o++] = 61
      out[o++] = 0x0d
      out[o++] = 0x0a
      column = 0
    }
    if (literal) out[o++] = byte
    else {
      out[o++] = 61
      out[o++] = hex.charCodeAt(byte >> 4)
      out[o++] = hex.charCodeAt(byte & 15)
    }
    column += width
  }
  return Buffer.from(out.buffer, 0, o).toString('latin1')
}

/** Mean CPU µs per call over `count` calls. */
function cost(work: () => unknown, count = 2000): number {
  const before = process.cpuUsage()
  for (let i = 0; i < count; i++) work()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / count
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!

function compare(name: string, before: () => unknown, after: () => unknown, rounds = 10): void {
  for (let i = 0; i < 300; i++) {
    before()
    after()
  }
  const a: number[] = []
  const b: number[] = []
  for (let round = 0; round < rounds; round++) {
    a.push(cost(before))
    b.push(cost(after))
  }
  console.log(`${name}: before ${median(a).toFixed(1)} µs, after ${median(b).toFixed(1)} µs, ratio ${(median(b) / median(a)).toFixed(2)}`)
}

const templates = await TemplateStore.load(fileURLToPath(new URL('../templates', import.meta.url)))
const signer = new TokenSigner(['bench-app-secret-'.repeat(3)])
const publicUrl = 'http://localhost:3000'
const message = { id: '00000000-0000-4000-8000-000000000001', recipientId: '00000000-0000-4000-8000-000000000002', notification: 'course_completed', category: 'progress' }
const links = learnerLinks(signer, publicUrl, message)
const deps = { signer, publicUrl, policy: { tracks: () => true } as unknown as TrackingPolicy }
const variables = {
  user: { id: 'stage-1', email: 'learner-1@stage.bench.test', name: 'Learner 1' },
  course: { id: 'bench-101', title: 'Benchmarking 101' },
  completion: { completed_at: '2026-12-01T10:00:00Z' },
}
const options = { locale: 'en', variables, context: { siteName: 'Belfry Bench', siteUrl: publicUrl, links } }
const rewritten = () => trackEmail(deps, message, links, templates.render('course_completed', options))
const inRender = () => templates.render('course_completed', { ...options, tracking: trackingFor(deps, message, links) })
if (rewritten().html !== inRender().html) throw new Error('tracking in the render and rewriting the output disagree')
compare('render + tracking (rewriteHtml → in the render)', rewritten, inRender)

const html = inRender().html
if (byteAtATimeQuotedPrintable(html) !== quotedPrintable(html)) throw new Error('the quoted-printable encoders disagree')
compare(`quoted-printable of the ${(html.length / 1024).toFixed(1)} KB HTML part (bytes → runs)`, () => byteAtATimeQuotedPrintable(html), () => quotedPrintable(html))
