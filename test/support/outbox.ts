// Reading the outbox back in tests: a message's state and its attempts.

import { asc, eq } from 'drizzle-orm'
import type { Db } from '../../src/db/client.ts'
import { deliveryAttempts, messages } from '../../src/db/schema/index.ts'

export async function allMessages(db: Db) {
  return db.select().from(messages).orderBy(asc(messages.createdAt), asc(messages.toAddress))
}

export async function attemptsOf(db: Db, messageId: string) {
  return db.select().from(deliveryAttempts).where(eq(deliveryAttempts.messageId, messageId)).orderBy(asc(deliveryAttempts.id))
}

/** Polls until `check` returns a value (not undefined/false) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(20)
  }
}
