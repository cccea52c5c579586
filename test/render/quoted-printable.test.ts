// Protects the bytes every rendered email is sent as: the quoted-printable
// encoder of src/transport/mime.ts, which works on runs of characters for
// speed, writes exactly what the plain byte-at-a-time encoder below (the
// one it replaced) writes, for every template and locale and for text made
// to hit every edge: soft breaks at each column, `=` and spaces at line
// ends, CR/LF mixes, multi-byte and broken UTF-16 characters, controls.

import { describe, expect, test } from 'bun:test'
import { fileURLToPath } from 'node:url'
import { gallery } from '../../src/render/gallery.ts'
import { TemplateStore } from '../../src/render/templates.ts'
import { quotedPrintable } from '../../src/transport/mime.ts'

/** The reference: one byte at a time, each literal (width 1) or `=XX` (3), a soft break before what would pass 75 columns (76 for a line's last byte). */
function referenceQuotedPrintable(text: string): string {
  const bytes = new TextEncoder().encode(text.replace(/\r\n?/g, '\n'))
  let out = ''
  let column = 0
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    if (byte === 0x0a) {
      out += '\r\n'
      column = 0
      continue
    }
    const atLineEnd = i + 1 === bytes.length || bytes[i + 1] === 0x0a
    const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !atLineEnd)
    const width = literal ? 1 : 3
    if (column + width > (atLineEnd ? 76 : 75)) {
      out += '=\r\n'
      column = 0
    }
    out += literal ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`
    column += width
  }
  return out
}

describe('quoted-printable', () => {
  test('every rendered email, HTML and text, as the reference encodes it', async () => {
    const store = await TemplateStore.load(fileURLToPath(new URL('../../templates', import.meta.url)))
    let parts = 0
    for (const { email } of gallery(store)) {
      for (const part of [email.html, email.text]) {
        expect(quotedPrintable(part)).toBe(referenceQuotedPrintable(part))
        parts++
      }
    }
    expect(parts).toBeGreaterThan(100)
  })

  test('edges: each column a break can fall at, line ends, UTF-8 and broken UTF-16', () => {
    const pieces = ['a', ' ', '\t', '=', '\n', '\r\n', '\r', 'é', '€', '😀', '\ud800', '\udc00', '\u0000', '\u007f', '\u0080', '.', 'From ']
    const cases: string[] = ['', '=', ' ', '\t', '\n', 'a\n', ' \n', '=\n', 'é\n', '😀', '\r']
    for (let n = 60; n <= 80; n++) {
      for (const end of ['', ' ', '\t', '=', 'é', '😀', '\ud800', '\n', ' \n', '=\n', 'é\n']) {
        cases.push('x'.repeat(n) + end, 'x'.repeat(n) + end + 'y', `${'x'.repeat(n)}${end}${'z'.repeat(n)}`)
        for (const inner of ['=', 'é', ' ', '😀']) cases.push('x'.repeat(n - 3) + inner + 'x'.repeat(5) + end)
      }
    }
    // A fixed pseudo-random sequence, so a failure repeats.
    let seed = 42
    const next = (max: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % max
    }
    for (let c = 0; c < 3000; c++) {
      let text = ''
      const length = next(400)
      while (text.length < length) text += next(3) === 0 ? 'x'.repeat(next(90)) : pieces[next(pieces.length)]!
      cases.push(text)
    }
    for (const text of cases) expect(quotedPrintable(text)).toBe(referenceQuotedPrintable(text))
  })

  test('every line of the output within 76 characters', () => {
    const text = `${'word '.repeat(40)}\n${'é'.repeat(80)}\n${'='.repeat(100)}\n${'x'.repeat(300)} \n`
    for (const line of quotedPrintable(text).split('\r\n')) expect(line.length).toBeLessThanOrEqual(76)
  })
})
