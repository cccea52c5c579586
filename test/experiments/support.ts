// A copy of the shipped templates in which `welcome` runs a subject A/B test,
// and what a reader's mail client does with a received email.

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { templatesDir } from '../../src/service.ts'
import { decodeEntities } from '../support/mail.ts'
import type { ReceivedMessage } from '../support/smtp-sink.ts'
import type { TestService } from '../support/service.ts'

export const SUBJECT_A = 'Welcome to Belfry Academy'
export const SUBJECT_B = 'Your first lesson at Belfry Academy is waiting'

/** Templates where `welcome` tests a second subject at 50/50; returns the folder and how to remove it. */
export async function templatesWithExperiment(extra = ''): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'belfry-templates-'))
  await cp(templatesDir, dir, { recursive: true })
  const file = join(dir, 'welcome', 'en.mjml')
  const source = await readFile(file, 'utf8')
  await writeFile(
    file,
    source.replace(
      /^(subject: .*)$/m,
      `$1\nsubject.b: "Your first lesson at {{site.name}} is waiting"\nvariants: a:50, b:50\nexperiment: welcome-subject${extra}`,
    ),
  )
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** The open pixel of a received email, as a mail client would fetch it. */
export function pixelOf(mail: ReceivedMessage): string {
  const src = /<img\b[^>]*\ssrc="([^"]*\/t\/o\/[^"]+)"/.exec(String(mail.parsed.html))?.[1]
  if (!src) throw new Error(`no open pixel in "${mail.parsed.subject}"`)
  return decodeEntities(src)
}

/** Opens count as a person's only when they come well after the send: move every send back a minute. */
export async function sendsAMinuteAgo(t: TestService): Promise<void> {
  await t.service.database.db.execute(sql`update messages set sent_at = sent_at - interval '1 minute' where sent_at is not null`)
}

export const BROWSER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36'

/** Fetches the pixel the way a reader's mail client does (the service itself, not over the network). */
export async function open(t: TestService, mail: ReceivedMessage): Promise<void> {
  const url = new URL(pixelOf(mail))
  const response = await t.send(new Request(`http://belfry.test${url.pathname}`, { headers: { 'user-agent': BROWSER_AGENT } }))
  if (response.status !== 200) throw new Error(`pixel answered ${response.status}`)
}
