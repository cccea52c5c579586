// Admin accounts, their sessions, failed logins and the audit log.

import { and, count, eq, gt, lt, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { adminSessions, admins, auditLog, loginFailures, type Admin } from '../db/schema/index.ts'

export async function countAdmins(db: Executor): Promise<number> {
  const [row] = await db.select({ n: count() }).from(admins)
  return row?.n ?? 0
}

export async function findAdminByEmail(db: Executor, email: string): Promise<Admin | undefined> {
  const [row] = await db.select().from(admins).where(eq(admins.email, email.toLowerCase()))
  return row
}

/** Creates the admin unless the address already has an account; returns whether it did. */
export async function insertAdmin(db: Executor, email: string, passwordHash: string): Promise<boolean> {
  const rows = await db
    .insert(admins)
    .values({ email: email.toLowerCase(), passwordHash })
    .onConflictDoNothing()
    .returning({ id: admins.id })
  return rows.length > 0
}

export async function setAdminPassword(db: Executor, adminId: string, passwordHash: string): Promise<void> {
  await db.update(admins).set({ passwordHash }).where(eq(admins.id, adminId))
}

export async function insertSession(
  db: Executor,
  session: { tokenHash: string; adminId: string; csrfToken: string; expiresAt: Date },
): Promise<void> {
  await db.insert(adminSessions).values(session)
  await db.update(admins).set({ lastLoginAt: sql`now()` }).where(eq(admins.id, session.adminId))
}

export interface SessionRow {
  adminId: string
  email: string
  csrfToken: string
  expiresAt: Date
}

/** The live session behind a token hash, with its admin; expired ones are not returned. */
export async function findSession(db: Executor, tokenHash: string): Promise<SessionRow | undefined> {
  const [row] = await db
    .select({
      adminId: adminSessions.adminId,
      email: admins.email,
      csrfToken: adminSessions.csrfToken,
      expiresAt: adminSessions.expiresAt,
    })
    .from(adminSessions)
    .innerJoin(admins, eq(admins.id, adminSessions.adminId))
    .where(and(eq(adminSessions.tokenHash, tokenHash), gt(adminSessions.expiresAt, sql`now()`)))
  return row
}

export async function deleteSession(db: Executor, tokenHash: string): Promise<void> {
  await db.delete(adminSessions).where(eq(adminSessions.tokenHash, tokenHash))
}

export async function deleteExpiredSessions(db: Executor): Promise<void> {
  await db.delete(adminSessions).where(lt(adminSessions.expiresAt, sql`now()`))
}

export async function recordLoginFailure(db: Executor, key: string): Promise<void> {
  await db.insert(loginFailures).values({ key })
}

/** Failures for this key within the window. Uses the (key, at) index. */
export async function countLoginFailures(db: Executor, key: string, windowMs: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(loginFailures)
    .where(and(eq(loginFailures.key, key), gt(loginFailures.at, sql`now() - ${windowMs} * interval '1 millisecond'`)))
  return row?.n ?? 0
}

export async function clearLoginFailures(db: Executor, key: string): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.key, key))
}

export interface AuditEntry {
  adminId: string | null
  adminEmail: string | null
  action: string
  target?: string
  detail?: Record<string, unknown>
}

export async function recordAudit(db: Executor, entry: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({
    adminId: entry.adminId,
    adminEmail: entry.adminEmail,
    action: entry.action,
    target: entry.target ?? null,
    detail: entry.detail ?? null,
  })
}
