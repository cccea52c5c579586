// Protects the one brand every email wears, as an admin sets it in the
// settings: new colours, a logo (with the name as its alt text), a name and
// postal address reach the next real email in every language; a palette
// below WCAG AA is refused with the pair and its ratio, and nothing changes;
// a second service on the database follows; back to the defaults undoes it.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { auditLog } from '../../src/db/schema/index.ts'
import { DEFAULT_BRAND } from '../../src/render/brand.ts'
import { loadBrand } from '../../src/settings/runtime.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../support/smtp-sink.ts'

let sink: SmtpSink
let t: TestService
let cookie: string
let csrf: string
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
}, 30_000)
afterAll(async () => {
  await t?.stop()
  await sink?.close()
})

const post = (fields: Record<string, string>) =>
  t.send(
    new Request('http://belfry.test/admin/settings/brand', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ _csrf: csrf, ...fields }).toString(),
    }),
  )

const form = (changes: Record<string, string> = {}) => ({
  action: 'save',
  name: '',
  logo_url: '',
  primary: DEFAULT_BRAND.primary,
  text: DEFAULT_BRAND.text,
  muted: DEFAULT_BRAND.muted,
  page: DEFAULT_BRAND.page,
  card: DEFAULT_BRAND.card,
  font_stack: DEFAULT_BRAND.fontStack,
  postal_address: '',
  ...changes,
})

let seq = 0
/** A new learner's welcome, in their language. */
async function welcome(locale = 'en'): Promise<ReceivedMessage> {
  seq++
  const email = `brand${seq}@learner.test`
  sink.reset()
  await t.post('user.registered', { user: { id: `u-brand-${seq}`, email, name: 'Grace', locale } })
  return (await sink.waitFor(2, 10_000)).find((m) => m.envelope.to[0] === email)!
}

describe('the brand in the settings', () => {
  test('new colours, a logo, a name and an address reach the next email, in every language; audited', async () => {
    expect(String((await welcome()).parsed.html)).toContain('background:#1d4ed8')
    const response = await post(
      form({ name: 'Harbour School', logo_url: 'https://cdn.example.org/logo.png', primary: '#0F766E', postal_address: '2 Quay Road, Leith' }),
    )
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('Saved: new emails use this brand')

    for (const locale of ['en', 'fr', 'ar']) {
      const html = String((await welcome(locale)).parsed.html)
      expect(html).toContain('background:#0f766e')
      expect(html).not.toContain('#1d4ed8')
      expect(html).toMatch(/<img[^>]+alt="Harbour School"[^>]+src="https:\/\/cdn\.example\.org\/logo\.png"|<img[^>]+src="https:\/\/cdn\.example\.org\/logo\.png"[^>]+alt="Harbour School"/)
      expect(html).toContain('2 Quay Road, Leith')
    }
    const text = (await welcome()).parsed.text!
    expect(text).toContain('Harbour School')
    const [audit] = await t.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'settings.brand'))
    expect(audit?.adminEmail).toBe(ADMIN)
  })

  test('a palette below WCAG AA is refused with the pair and its ratio, and nothing changes', async () => {
    const before = await loadBrand(t.service.database.db)
    const response = await post(form({ primary: '#7dd3fc', text: '#cccccc' }))
    expect(response.status).toBe(422)
    const page = await response.text()
    expect(page).toContain('links on the card: contrast 1.67:1, below the 4.5:1 WCAG AA needs')
    expect(page).toContain('body text on the card: contrast 1.61:1')
    expect(await loadBrand(t.service.database.db)).toEqual(before)
    const font = await post(form({ font_stack: 'Arial"><script>' }))
    expect(font.status).toBe(422)
    expect(await font.text()).toContain('the font stack may hold only font names, quotes and commas')
  })

  test('a second service on the same database starts with it; back to the defaults undoes it', async () => {
    const second = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { testDb: t.testDb })
    // Read at start; a running one picks a change up within 10 s (its refresh), which this test does not wait for.
    expect(second.service.templates.brand.primary).toBe('#0f766e')
    await second.stop()
    expect((await post({ action: 'reset' })).status).toBe(200)
    expect(String((await welcome()).parsed.html)).toContain('background:#1d4ed8')
    expect(await loadBrand(t.service.database.db)).toEqual(DEFAULT_BRAND)
  })
})
