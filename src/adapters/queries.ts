// SQL for the adapters: their settings and the native events they stored.

import { and, desc, eq, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { adapterSettings, nativeEvents, type AdapterSettingsRow, type NativeEvent } from '../db/schema/index.ts'
import type { AdapterName, NativeDescriptor } from './model.ts'

/** The enrichment retry job runs under this advisory lock (one process at a time). */
export const ADAPTERS_JOB_LOCK = 0x62656c07

/** A `received` row this old was left by a process that stopped mid-mapping: the retry job takes it. */
const ORPHAN_AFTER = '1 minute'
/** A claimed row is hidden from other claims this long: longer than any mapping takes (lookups time out at 10 s). */
const CLAIM_LEASE = '5 minutes'

export async function loadAdapterSettings(db: Executor, adapter: AdapterName): Promise<AdapterSettingsRow | undefined> {
  const [row] = await db.select().from(adapterSettings).where(eq(adapterSettings.adapter, adapter))
  return row
}

export async function loadAllAdapterSettings(db: Executor): Promise<AdapterSettingsRow[]> {
  return db.select().from(adapterSettings)
}

export type AdapterSettingsPatch = Partial<Pick<AdapterSettingsRow, 'enabled' | 'baseUrl' | 'apiToken' | 'inboundToken' | 'jwksUrl'>>

export async function saveAdapterSettings(db: Executor, adapter: AdapterName, patch: AdapterSettingsPatch): Promise<void> {
  await db
    .insert(adapterSettings)
    .values({ adapter, ...patch })
    .onConflictDoUpdate({ target: adapterSettings.adapter, set: { ...patch, updatedAt: sql`now()` } })
}

/** Stores a native event; undefined when this delivery id is already stored (a re-delivery). */
export async function insertNativeEvent(db: Executor, adapter: AdapterName, native: NativeDescriptor, payload: unknown): Promise<NativeEvent | undefined> {
  const [row] = await db
    .insert(nativeEvents)
    .values({ adapter, deliveryId: native.deliveryId, eventName: native.eventName, objectId: native.objectId, eventTime: native.eventTime, payload })
    .onConflictDoNothing()
    .returning()
  return row
}

export async function findNativeEvent(db: Executor, adapter: AdapterName, deliveryId: string): Promise<NativeEvent | undefined> {
  const [row] = await db.select().from(nativeEvents).where(and(eq(nativeEvents.adapter, adapter), eq(nativeEvents.deliveryId, deliveryId)))
  return row
}

export async function findNativeEventById(db: Executor, id: string): Promise<NativeEvent | undefined> {
  const [row] = await db.select().from(nativeEvents).where(eq(nativeEvents.id, id))
  return row
}

export type NativeEventPatch = Partial<Pick<NativeEvent, 'state' | 'reason' | 'attempts' | 'nextAttemptAt' | 'mapped'>>

export async function updateNativeEvent(db: Executor, id: string, patch: NativeEventPatch): Promise<void> {
  await db.update(nativeEvents).set({ ...patch, updatedAt: sql`now()` }).where(eq(nativeEvents.id, id))
}

/**
 * Claims native events due for another mapping attempt: `enriching` ones
 * whose wait is over, and `received` ones a stopped process left behind.
 * Locks: FOR UPDATE SKIP LOCKED, then the lease pushed forward in the same
 * statement, so another process's claim passes them by.
 */
export async function claimDueNativeEvents(db: Executor, now: Date, limit: number): Promise<NativeEvent[]> {
  const claimed = await rows<{ id: string }>(
    db,
    sql`update native_events set next_attempt_at = ${now.toISOString()}::timestamptz + ${CLAIM_LEASE}::interval, updated_at = now()
        where id in (
          select id from native_events
          where (state = 'enriching' and next_attempt_at <= ${now.toISOString()}::timestamptz)
             or (state = 'received' and received_at < ${now.toISOString()}::timestamptz - ${ORPHAN_AFTER}::interval
                 and (next_attempt_at is null or next_attempt_at <= ${now.toISOString()}::timestamptz))
          order by next_attempt_at nulls first
          limit ${limit}
          for update skip locked)
        returning id`,
  )
  if (claimed.length === 0) return []
  return db.select().from(nativeEvents).where(sql`${nativeEvents.id} in ${claimed.map((r) => r.id)}`)
}

export async function recentNativeEvents(db: Executor, limit: number, adapter?: AdapterName): Promise<NativeEvent[]> {
  return db
    .select()
    .from(nativeEvents)
    .where(adapter ? eq(nativeEvents.adapter, adapter) : undefined)
    .orderBy(desc(nativeEvents.receivedAt))
    .limit(limit)
}

/** A dead native event back to `enriching`, due now, with its attempts reset (an admin's retry). */
export async function requeueNativeEvent(db: Executor, id: string): Promise<boolean> {
  const changed = await db
    .update(nativeEvents)
    .set({ state: 'enriching', attempts: 0, nextAttemptAt: sql`now()`, reason: 'retried by an admin', updatedAt: sql`now()` })
    .where(and(eq(nativeEvents.id, id), eq(nativeEvents.state, 'dead')))
    .returning({ id: nativeEvents.id })
  return changed.length > 0
}

/**
 * Deletes native events finished (mapped or ignored) before `cutoff`, 500 at
 * a time like housekeeping does; dead ones stay until an admin acts, as dead
 * letters do. Uses native_events_received_idx.
 */
export async function deleteFinishedNativeEvents(db: Executor, cutoff: Date): Promise<number> {
  const deleted = await rows<{ id: string }>(
    db,
    sql`delete from native_events where id in (
          select id from native_events where received_at < ${cutoff.toISOString()}::timestamptz and state in ('mapped', 'ignored') limit 500)
        returning id`,
  )
  return deleted.length
}

/**
 * Erasure: native payloads about the person lose their content (they hold
 * names and emails as the LMS sent them). Found through the events each was
 * mapped to — so this runs before those events are redacted — or, for one
 * never mapped (ignored, waiting, dead), by the person's address appearing
 * in it; a payload naming the person only by the LMS's own ids and never
 * mapped is not found. A payload about several people goes whole. Scans
 * the table: erasure is rare.
 */
export async function redactNativeEventsAbout(db: Executor, lmsUserId: string, email: string | null): Promise<void> {
  const mentionsAddress = email ? sql`strpos(lower(n.payload::text), ${email.toLowerCase()}) > 0` : sql`false`
  await db.execute(sql`
    update ${nativeEvents} n set payload = '{"erased": true}'::jsonb, updated_at = now()
    where ${mentionsAddress} or jsonb_typeof(n.mapped) = 'array'
      and exists (
        select 1 from jsonb_array_elements(n.mapped) d
        join events e on e.id::text = d->>'event_id'
        where e.data->'user'->>'id' = ${lmsUserId}
           or exists (select 1 from jsonb_array_elements(case when jsonb_typeof(e.data->'users') = 'array' then e.data->'users' else '[]'::jsonb end) u
                      where u->>'id' = ${lmsUserId})
           or exists (select 1 from jsonb_array_elements(case when jsonb_typeof(e.data->'recipients') = 'array' then e.data->'recipients' else '[]'::jsonb end) u
                      where u->>'id' = ${lmsUserId}))`)
}
