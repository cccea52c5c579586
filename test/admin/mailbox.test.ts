// Protects the mailbox viewer's reader: what nodemailer composes (quoted-
// printable or base64 parts, RFC 2047 subjects, folded headers) comes back
// as the text that was sent; listing is newest first and paginated; a name
// is opened only when it is a plain .eml name present in the directory.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import nodemailer, { type SendMailOptions } from 'nodemailer'
import { decodeQuotedPrintable, decodeWords, listMailbox, parseEml, readMailboxFile } from '../../src/admin/mailbox.ts'

const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' })
const compose = async (options: SendMailOptions) => (await composer.sendMail(options)).message as Buffer

let root: string
let dir: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'belfry-mailbox-'))
  dir = join(root, 'mail')
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('parseEml', () => {
  test('quoted-printable parts and an encoded, folded subject', async () => {
    const subject = `Grüße aus Zürich — ${'a long subject '.repeat(6)}`.trim()
    const parsed = parseEml(
      await compose({ from: 'Bé <a@b.test>', to: 'x@y.test', subject, text: `Hällo = wörld\n${'x'.repeat(120)}`, html: '<p>Hällo <b>wörld</b></p>' }),
    )
    expect(parsed.subject).toBe(subject)
    expect(parsed.text).toBe(`Hällo = wörld\r\n${'x'.repeat(120)}`)
    expect(parsed.html).toBe('<p>Hällo <b>wörld</b></p>')
    expect(parsed.headers.find((h) => h.name === 'From')?.value).toBe('Bé <a@b.test>')
  })

  test('base64 parts, and a message with a text part only', async () => {
    const b64 = parseEml(await compose({ from: 'a@b.test', to: 'x@y.test', subject: 'b', text: 'ünïcödé text', html: '<p>ünï</p>', textEncoding: 'base64' }))
    expect(b64.text).toBe('ünïcödé text')
    expect(b64.html).toBe('<p>ünï</p>')
    const plain = parseEml(await compose({ from: 'a@b.test', to: 'x@y.test', subject: 'p', text: 'just text' }))
    expect(plain.text?.trimEnd()).toBe('just text')
    expect(plain.html).toBeNull()
  })

  test('decoders', () => {
    expect(decodeQuotedPrintable('caf=C3=A9 =\r\nsoft').toString('utf8')).toBe('café soft')
    expect(decodeWords('=?UTF-8?B?w6k=?= =?UTF-8?Q?_and_=C3=A8?=')).toBe('é and è')
  })
})

describe('listing and opening', () => {
  test('a missing directory is an empty mailbox', async () => {
    expect(await listMailbox(join(root, 'nope'), { limit: 10, offset: 0 })).toEqual({ entries: [], total: 0 })
  })

  test('newest first, paginated, only .eml files', async () => {
    const { mkdirSync } = await import('node:fs')
    mkdirSync(dir, { recursive: true })
    for (const name of ['2026-12-01T10-00-00.000Z_a.eml', '2026-12-03T10-00-00.000Z_c.eml', '2026-12-02T10-00-00.000Z_b.eml']) {
      writeFileSync(join(dir, name), 'Subject: x\r\n\r\nbody')
    }
    writeFileSync(join(dir, '.2026-12-04T10-00-00.000Z_d.eml.1234.part'), 'partial')
    writeFileSync(join(dir, 'notes.txt'), 'no')
    const first = await listMailbox(dir, { limit: 2, offset: 0 })
    expect(first.total).toBe(3)
    expect(first.entries.map((e) => e.name)).toEqual(['2026-12-03T10-00-00.000Z_c.eml', '2026-12-02T10-00-00.000Z_b.eml'])
    expect((await listMailbox(dir, { limit: 2, offset: 2 })).entries.map((e) => e.name)).toEqual(['2026-12-01T10-00-00.000Z_a.eml'])
  })

  test('only a listed name opens: no traversal, no hidden or partial files, no other extension', async () => {
    writeFileSync(join(root, 'secret.eml'), 'Subject: outside\r\n\r\nsecret')
    expect((await readMailboxFile(dir, '2026-12-01T10-00-00.000Z_a.eml'))?.toString()).toContain('body')
    for (const name of ['../secret.eml', '..%2Fsecret.eml', '/etc/passwd', '.2026-12-04T10-00-00.000Z_d.eml.1234.part', 'notes.txt', 'missing.eml', '']) {
      expect(await readMailboxFile(dir, name)).toBeUndefined()
    }
  })
})
