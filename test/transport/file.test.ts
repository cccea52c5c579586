// Protects: with no mail server configured, every message lands in
// DATA_DIR/mail/ as a complete .eml a mail client can open — same subject,
// bodies, Message-ID and headers as SMTP would send — named so the newest
// sorts last, and never visible half-written.

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { simpleParser } from 'mailparser'
import { createFileTransport } from '../../src/transport/file.ts'
import { TransportError } from '../../src/transport/types.ts'
import { rawHeader, sampleMail } from './sample-mail.ts'

let root: string
let dir: string

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'belfry-file-transport-'))
  dir = join(root, 'mail')
})

afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('file transport', () => {
  test('writes a complete .eml a mail client can open', async () => {
    const transport = createFileTransport({ dir })
    const mail = sampleMail()

    const result = await transport.send(mail)

    expect(result.code).toBe('file')
    expect(dirname(result.response)).toBe(dir)
    const raw = await readFile(result.response)
    const parsed = await simpleParser(raw)
    expect(parsed.messageId).toBe(mail.messageId)
    expect(parsed.subject).toBe(mail.subject)
    expect(parsed.text).toBe(mail.text)
    expect(parsed.html).toBe(mail.html)
    expect(parsed.from?.value).toEqual([{ address: 'notify@belfry.test', name: 'Belfry Academy' }])
    expect(parsed.to).toMatchObject({ value: [{ address: 'zoe@example.com', name: 'Zoë Martín' }] })
    expect(rawHeader(parsed.headerLines, 'List-Unsubscribe')).toBe(mail.headers!['List-Unsubscribe']!)
    expect(rawHeader(parsed.headerLines, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' })
    expect(parsed.date).toBeInstanceOf(Date)
    // RFC 5322 line ends throughout: no bare LF.
    expect(raw.toString('latin1')).not.toMatch(/[^\r]\n/)
  })

  test('names files by send time and Message-ID, so they sort oldest first', async () => {
    const transport = createFileTransport({ dir })
    const sent: string[] = []
    for (let i = 0; i < 4; i++) {
      sent.push((await transport.send(sampleMail())).response)
      await Bun.sleep(2)
    }

    const names = (await readdir(dir)).sort()
    expect(names).toEqual(sent.map((path) => basename(path)))
    const mail = sampleMail({ messageId: '<0b7c1e9e-5f0a-4a53-9a43-1f2c3d4e5f60@belfry.test>' })
    const name = basename((await transport.send(mail)).response)
    expect(name).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z_0b7c1e9e-5f0a-4a53-9a43-1f2c3d4e5f60\.eml$/)
  })

  test('a Message-ID with characters no file system accepts still gives a plain file name', async () => {
    const transport = createFileTransport({ dir })
    const mail = sampleMail({ messageId: '<../../etc/pa:ss*wd?@belfry.test>' })

    const result = await transport.send(mail)

    expect(dirname(result.response)).toBe(dir)
    expect(basename(result.response)).toMatch(/_[A-Za-z0-9._-]+\.eml$/)
    expect((await simpleParser(await readFile(result.response))).messageId).toBe(mail.messageId)
  })

  test('many sends at once each leave one whole file and nothing half-written', async () => {
    const transport = createFileTransport({ dir })
    const mails = Array.from({ length: 20 }, () => sampleMail())

    const results = await Promise.all(mails.map((mail) => transport.send(mail)))

    const names = await readdir(dir)
    expect(names).toHaveLength(20)
    expect(names.every((name) => name.endsWith('.eml'))).toBe(true)
    const ids = await Promise.all(results.map(async (r) => (await simpleParser(await readFile(r.response))).messageId))
    expect(ids.sort()).toEqual(mails.map((m) => m.messageId).sort())
  })

  test('a directory it cannot write to is a transient failure, so the message is retried', async () => {
    // A plain file where the directory should be: fails for root too, unlike permissions.
    await writeFile(dir, 'not a directory')
    const transport = createFileTransport({ dir })

    const error = await transport.send(sampleMail()).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(TransportError)
    expect(error).toMatchObject({ kind: 'transient' })
    expect((error as TransportError).code).toMatch(/^E[A-Z]+$/)
  })
})
