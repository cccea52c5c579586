// The `file` transport's mailbox, read for the admin UI: the .eml files under
// DATA_DIR/mail, newest first, and one of them split into headers, text part
// and HTML part. A small MIME reader rather than mailparser (a test-only
// dependency): the file transport writes what nodemailer composes, and the
// viewer only has to show it, so multipart, quoted-printable, base64 and
// RFC 2047 encoded words cover it. Anything it cannot decode is shown raw.
//
// A name is opened only when it is one the listing would show (a plain file
// name ending in .eml, present in the directory): no path from a request
// ever reaches the filesystem.

import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.eml$/

/** Files bigger than this are listed but not opened in the browser. */
export const MAX_VIEW_BYTES = 5 * 1024 * 1024

export interface MailboxEntry {
  name: string
  size: number
  modifiedAt: Date
}

/** The .eml files, newest first (their names start with the send time), one page of them and the total. */
export async function listMailbox(
  dir: string,
  page: { limit: number; offset: number },
): Promise<{ entries: MailboxEntry[]; total: number }> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((name) => NAME.test(name))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], total: 0 }
    throw error
  }
  names.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
  const entries = await Promise.all(
    names.slice(page.offset, page.offset + page.limit).map(async (name) => {
      const info = await stat(join(dir, name)).catch(() => null)
      return { name, size: info?.size ?? 0, modifiedAt: info?.mtime ?? new Date(0) }
    }),
  )
  return { entries, total: names.length }
}

/** The raw bytes of one listed message, or undefined when the name is not one the listing shows. */
export async function readMailboxFile(dir: string, name: string): Promise<Buffer | undefined> {
  if (!NAME.test(name)) return undefined
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return undefined
  }
  if (!names.includes(name)) return undefined
  const path = join(dir, name)
  const info = await stat(path)
  if (!info.isFile() || info.size > MAX_VIEW_BYTES) return undefined
  return readFile(path)
}

export interface ParsedEml {
  headers: { name: string; value: string }[]
  subject: string
  text: string | null
  html: string | null
}

interface Part {
  headers: { name: string; value: string }[]
  body: Buffer
}

function splitHeaders(raw: Buffer): Part {
  const text = raw.toString('latin1')
  const match = /\r?\n\r?\n/.exec(text)
  const headEnd = match ? match.index : text.length
  const bodyStart = match ? match.index + match[0].length : text.length
  const unfolded = text.slice(0, headEnd).replace(/\r?\n[ \t]+/g, ' ')
  const headers: { name: string; value: string }[] = []
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() })
  }
  return { headers, body: raw.subarray(Buffer.byteLength(text.slice(0, bodyStart), 'latin1')) }
}

function header(part: Part, name: string): string | undefined {
  return part.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value
}

function param(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value)
  return match ? (match[1] ?? match[2]) : undefined
}

function charsetDecode(bytes: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes)
  } catch {
    return bytes.toString('utf8')
  }
}

export function decodeQuotedPrintable(input: string): Buffer {
  const softBreaksGone = input.replace(/=\r?\n/g, '')
  const bytes: number[] = []
  for (let i = 0; i < softBreaksGone.length; i++) {
    const c = softBreaksGone[i]!
    const hex = softBreaksGone.slice(i + 1, i + 3)
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16))
      i += 2
    } else {
      bytes.push(softBreaksGone.charCodeAt(i) & 0xff)
    }
  }
  return Buffer.from(bytes)
}

function decodeBody(part: Part): string {
  const encoding = (header(part, 'content-transfer-encoding') ?? '7bit').toLowerCase()
  const charset = param(header(part, 'content-type'), 'charset')
  const raw = part.body.toString('latin1')
  if (encoding === 'base64') return charsetDecode(Buffer.from(raw.replace(/\s+/g, ''), 'base64'), charset)
  if (encoding === 'quoted-printable') return charsetDecode(decodeQuotedPrintable(raw), charset)
  return charsetDecode(part.body, charset)
}

/** RFC 2047 `=?utf-8?Q?...?=` / `=?utf-8?B?...?=` words in a header, decoded. */
export function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_all, charset: string, kind: string, text: string) => {
      const bytes =
        kind.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQuotedPrintable(text.replace(/_/g, ' '))
      return charsetDecode(bytes, charset)
    })
}

/** Finds the first text/plain and text/html parts, walking nested multiparts. */
function walk(part: Part, found: { text: string | null; html: string | null }, depth = 0): void {
  const type = header(part, 'content-type') ?? 'text/plain'
  const mime = type.split(';')[0]!.trim().toLowerCase()
  if (mime.startsWith('multipart/')) {
    const boundary = param(type, 'boundary')
    if (!boundary || depth > 5) return
    const body = part.body.toString('latin1')
    const delimiter = `--${boundary}`
    const pieces = body.split(delimiter).slice(1)
    for (const piece of pieces) {
      if (piece.startsWith('--')) break
      const content = piece.replace(/^\r?\n/, '').replace(/\r?\n$/, '')
      walk(splitHeaders(Buffer.from(content, 'latin1')), found, depth + 1)
    }
    return
  }
  if (/^attachment/i.test(header(part, 'content-disposition') ?? '')) return
  if (mime === 'text/plain' && found.text === null) found.text = decodeBody(part)
  else if (mime === 'text/html' && found.html === null) found.html = decodeBody(part)
}

export function parseEml(raw: Buffer): ParsedEml {
  const top = splitHeaders(raw)
  const found = { text: null as string | null, html: null as string | null }
  walk(top, found)
  const headers = top.headers.map((h) => ({ name: h.name, value: decodeWords(Buffer.from(h.value, 'latin1').toString('utf8')) }))
  const subject = headers.find((h) => h.name.toLowerCase() === 'subject')?.value ?? ''
  return { headers, subject, ...found }
}
