// The default transport: every message becomes an RFC 5322 .eml file under
// DATA_DIR/mail/, so `npm start` works with no mail server and a developer
// can open what a learner would have received in any mail client.
//
// File names sort by send time (`2026-12-04T20-55-01.123Z_<id>.eml`), and a
// file appears only once complete: it is written to a dot-prefixed temporary
// name in the same directory and renamed, which is atomic on one filesystem.
// Readers list `*.eml` only.

import { randomUUID } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { buildMessage } from './mime.ts'
import { TransportError, type OutgoingMail, type SendResult, type Transport } from './types.ts'

/** Where the file transport writes, given DATA_DIR. The admin mail browser reads the same place. */
export function mailDirectory(dataDir: string): string {
  return join(dataDir, 'mail')
}

export interface FileTransportOptions {
  /** Directory the .eml files go to; created when missing. */
  dir: string
}

export function createFileTransport(options: FileTransportOptions): Transport {
  const { dir } = options

  return {
    name: 'file',
    async send(mail: OutgoingMail): Promise<SendResult> {
      // The same bytes an SMTP server or SES would get; a header with a line break throws a permanent TransportError.
      const eml = buildMessage(mail).raw
      const name = `${new Date().toISOString().replace(/:/g, '-')}_${fileId(mail.messageId)}.eml`
      const path = join(dir, name)
      const temp = join(dir, `.${name}.${randomUUID()}.part`)
      try {
        // mkdir on every send: cheap, and survives someone clearing DATA_DIR/mail while running.
        await mkdir(dir, { recursive: true })
        const handle = await open(temp, 'wx')
        try {
          await handle.writeFile(eml)
          // The outbox marks the row sent once this returns; the bytes must be on disk by then.
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(temp, path)
      } catch (error) {
        await rm(temp, { force: true }).catch(() => {})
        const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
        // A full disk or a permission problem is the operator's to fix; the message is fine.
        throw new TransportError('transient', `could not write ${path}: ${(error as Error).message}`, code)
      }
      return { code: 'file', response: path }
    },
    // Nothing held open: each send opens and closes its own file.
    async close() {},
  }
}

/** The Message-ID's left part, made safe for a file name on any OS (`<a1b2…@host>` → `a1b2…`). */
function fileId(messageId: string): string {
  const local = messageId.replace(/^<|>$/g, '').split('@')[0] ?? ''
  const safe = local.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(0, 80)
  return safe || randomUUID()
}
