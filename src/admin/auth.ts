// Admin sign-in: argon2id passwords (Bun.password), database-backed sessions
// behind an HttpOnly cookie, a CSRF token per session, and a sliding-window
// limit on failed logins (429, never a permanent lockout, so an attacker
// cannot lock the on-call admin out for good).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { ensureSetting, getSetting, putSetting } from '../settings/queries.ts'
import {
  clearLoginFailures,
  countAdmins,
  countLoginFailures,
  deleteSession,
  findAdminByEmail,
  findSession,
  insertAdmin,
  insertSession,
  recordLoginFailure,
} from './queries.ts'

export const SESSION_TTL_MS = 12 * 3_600_000
/** Failed logins allowed per address (and, separately, per client) in the window before 429. */
export const LOGIN_FAILURE_LIMIT = 5
export const CLIENT_FAILURE_LIMIT = 20
export const LOGIN_WINDOW_MS = 15 * 60_000
export const MIN_PASSWORD_LENGTH = 12

const SETUP_TOKEN_SETTING = 'admin_setup_token_sha256'

export interface AdminSession {
  adminId: string
  email: string
  csrfToken: string
  tokenHash: string
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')
const randomToken = () => randomBytes(32).toString('base64url')

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: 'argon2id' })
}

/** Compared against when the address is unknown, so a wrong address costs as long as a wrong password. */
let dummyHash: Promise<string> | undefined

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

export class AdminAuth {
  /** `__Host-` needs Secure, which needs https: the prefix is used exactly when PUBLIC_URL is https. */
  readonly cookieName: string
  private readonly secure: boolean

  constructor(
    private readonly db: Db,
    publicUrl: string,
  ) {
    this.secure = publicUrl.startsWith('https://')
    this.cookieName = this.secure ? '__Host-belfry_admin' : 'belfry_admin'
  }

  /**
   * Checks the password and opens a new session (a fresh id at every login,
   * so a session id planted before login is worthless).
   */
  async login(
    email: string,
    password: string,
    client: string,
  ): Promise<{ ok: true; token: string; session: AdminSession } | { ok: false; reason: 'invalid' | 'rate_limited' }> {
    const addressKey = `address:${email.trim().toLowerCase()}`
    const clientKey = `client:${client}`
    const [byAddress, byClient] = await Promise.all([
      countLoginFailures(this.db, addressKey, LOGIN_WINDOW_MS),
      countLoginFailures(this.db, clientKey, LOGIN_WINDOW_MS),
    ])
    if (byAddress >= LOGIN_FAILURE_LIMIT || byClient >= CLIENT_FAILURE_LIMIT) return { ok: false, reason: 'rate_limited' }

    const admin = await findAdminByEmail(this.db, email.trim())
    dummyHash ??= hashPassword(randomToken())
    const valid = await Bun.password.verify(password, admin?.passwordHash ?? (await dummyHash))
    if (!admin || !valid) {
      await Promise.all([recordLoginFailure(this.db, addressKey), recordLoginFailure(this.db, clientKey)])
      return { ok: false, reason: 'invalid' }
    }
    await clearLoginFailures(this.db, addressKey)
    const token = randomToken()
    const session = { adminId: admin.id, email: admin.email, csrfToken: randomToken(), tokenHash: sha256(token) }
    await insertSession(this.db, { ...session, expiresAt: new Date(Date.now() + SESSION_TTL_MS) })
    return { ok: true, token, session }
  }

  async sessionFrom(request: Request): Promise<AdminSession | null> {
    const token = readCookie(request.headers.get('cookie'), this.cookieName)
    if (!token || token.length > 100) return null
    const tokenHash = sha256(token)
    const row = await findSession(this.db, tokenHash)
    return row ? { adminId: row.adminId, email: row.email, csrfToken: row.csrfToken, tokenHash } : null
  }

  logout(session: AdminSession): Promise<void> {
    return deleteSession(this.db, session.tokenHash)
  }

  sessionCookie(token: string): string {
    return [
      `${this.cookieName}=${token}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Lax',
      `Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}`,
      ...(this.secure ? ['Secure'] : []),
    ].join('; ')
  }

  clearedCookie(): string {
    return [`${this.cookieName}=`, 'Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=0', ...(this.secure ? ['Secure'] : [])].join('; ')
  }

  /** Sets the first admin's password from a one-time setup token; the token is spent either way it succeeds. */
  async completeSetup(token: string, email: string, password: string): Promise<boolean> {
    const expected = await getSetting<string>(this.db, SETUP_TOKEN_SETTING)
    if (!expected || !safeEqual(sha256(token), expected)) return false
    if ((await countAdmins(this.db)) > 0) return false
    const created = await insertAdmin(this.db, email, await hashPassword(password))
    if (created) await putSetting(this.db, SETUP_TOKEN_SETTING, '')
    return created
  }

  async setupTokenValid(token: string): Promise<boolean> {
    const expected = await getSetting<string>(this.db, SETUP_TOKEN_SETTING)
    return Boolean(expected) && safeEqual(sha256(token), expected!) && (await countAdmins(this.db)) === 0
  }
}

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=')
    if (key === name) return rest.join('=')
  }
  return undefined
}

/**
 * The first admin: ADMIN_EMAIL with ADMIN_PASSWORD when both are set, else a
 * one-time setup link in the log (the only secret Belfry ever logs, on
 * purpose: it is how the operator gets in, and it is spent on use).
 */
export async function ensureFirstAdmin(
  db: Db,
  options: { adminEmail?: string | undefined; adminPassword?: string | undefined; publicUrl: string },
  log: Logger,
): Promise<void> {
  if ((await countAdmins(db)) > 0) return
  if (options.adminEmail && options.adminPassword) {
    if (options.adminPassword.length < MIN_PASSWORD_LENGTH) {
      log.warn(`ADMIN_PASSWORD is shorter than ${MIN_PASSWORD_LENGTH} characters; no admin was created`)
    } else if (await insertAdmin(db, options.adminEmail, await hashPassword(options.adminPassword))) {
      log.info('first admin created', { admin: options.adminEmail })
      return
    } else return
  }
  const token = randomToken()
  // Several processes starting at once agree on one link: the first stored wins.
  const stored = await ensureSetting(db, SETUP_TOKEN_SETTING, sha256(token))
  if (stored === sha256(token)) {
    log.warn('no admin account yet: open this one-time link to create one', { setupLink: `${options.publicUrl}/admin/setup/${token}` })
  } else if (stored) {
    log.warn('no admin account yet: use the setup link logged when the first process started')
  }
}
