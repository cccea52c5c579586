// Template versions: admin edits stored over the file defaults. History only
// grows (a rollback or a revert is a new version), so "the version in use"
// is always the newest row of a (notification, locale).

import { and, desc, eq, sql } from 'drizzle-orm'
import { rows, type Db, type Executor } from '../db/client.ts'
import { templateVersions, type TemplateVersion } from '../db/schema/index.ts'
import type { StoredVersion, TemplateSource } from './templates.ts'

/** NOTIFY channel a new version is announced on; every process's TemplateVersionSync listens. */
export const TEMPLATES_CHANNEL = 'belfry_templates'

function toStored(row: TemplateVersion): StoredVersion {
  return {
    id: row.id,
    notification: row.notification,
    locale: row.locale,
    version: row.version,
    revertedToDefault: row.revertedToDefault,
    subject: row.subject,
    preheader: row.preheader,
    experiment: row.experiment,
    mjml: row.mjml,
    text: row.text,
  }
}

/**
 * What changes whenever a version is added: the row count and the newest
 * created_at. Read every few seconds by each process; an index-only count on
 * a table of a few hundred rows, no locks.
 */
export async function versionStamp(db: Executor): Promise<string> {
  const [row] = await rows<{ n: number; newest: string | null }>(
    db,
    sql`select count(*)::int as n, max(created_at)::text as newest from template_versions`,
  )
  return `${row?.n ?? 0}/${row?.newest ?? ''}`
}

/** The newest version of every (notification, locale) that has one. No locks. */
export async function latestVersions(db: Executor): Promise<StoredVersion[]> {
  const found = await db
    .selectDistinctOn([templateVersions.notification, templateVersions.locale])
    .from(templateVersions)
    .orderBy(templateVersions.notification, templateVersions.locale, desc(templateVersions.version))
  return found.map(toStored)
}

export type VersionRow = TemplateVersion

/** Every version of one (notification, locale), newest first. No locks. */
export async function listVersions(db: Executor, notification: string, locale: string): Promise<VersionRow[]> {
  return db
    .select()
    .from(templateVersions)
    .where(and(eq(templateVersions.notification, notification), eq(templateVersions.locale, locale)))
    .orderBy(desc(templateVersions.version))
}

/** The newest version of each (notification, locale), for the list page (who, when). No locks. */
export async function latestVersionSummaries(
  db: Executor,
): Promise<Pick<VersionRow, 'notification' | 'locale' | 'version' | 'revertedToDefault' | 'createdBy' | 'createdAt'>[]> {
  return db
    .selectDistinctOn([templateVersions.notification, templateVersions.locale], {
      notification: templateVersions.notification,
      locale: templateVersions.locale,
      version: templateVersions.version,
      revertedToDefault: templateVersions.revertedToDefault,
      createdBy: templateVersions.createdBy,
      createdAt: templateVersions.createdAt,
    })
    .from(templateVersions)
    .orderBy(templateVersions.notification, templateVersions.locale, desc(templateVersions.version))
}

export async function findVersion(db: Executor, id: string): Promise<VersionRow | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined
  const [row] = await db.select().from(templateVersions).where(eq(templateVersions.id, id))
  return row
}

export interface NewVersion extends TemplateSource {
  notification: string
  locale: string
  revertedToDefault: boolean
  note: string | null
  createdBy: string
}

/**
 * Adds the next version of (notification, locale) and announces it. Takes a
 * transaction-level advisory lock on the pair, so two admins saving at once
 * get versions n and n+1 instead of a unique-key error; NOTIFY goes out on
 * commit, to every process (this one included).
 */
export async function insertVersion(db: Db, version: NewVersion): Promise<StoredVersion> {
  return db.transaction(async (tx) => {
    const key = `${TEMPLATES_CHANNEL}:${version.notification}/${version.locale}`
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${key}))`)
    const [last] = await rows<{ version: number | null }>(
      tx,
      sql`select max(version) as version from template_versions
          where notification = ${version.notification} and locale = ${version.locale}`,
    )
    const [row] = await tx
      .insert(templateVersions)
      .values({ ...version, version: (last?.version ?? 0) + 1 })
      .returning()
    await tx.execute(sql`select pg_notify(${TEMPLATES_CHANNEL}, ${`${version.notification}/${version.locale}`})`)
    return toStored(row!)
  })
}
