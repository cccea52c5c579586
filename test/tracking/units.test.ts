// Protects the pieces behind the tracking URLs: tokens are bound to their
// purpose (a click token is no open, preference or unsubscribe token, and
// the reverse), machines are told from readers by agent and timing, and the
// admin's tracking_off_categories setting reaches the policy.

import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { TokenSigner } from '../../src/preferences/tokens.ts'
import { putSetting } from '../../src/settings/queries.ts'
import { SETTING } from '../../src/settings/runtime.ts'
import { clickUrl, openUrl, withoutTracking } from '../../src/tracking/apply.ts'
import { cleanAgent, judgeClick, judgeOpen, machineAgent } from '../../src/tracking/machines.ts'
import { rewriteHtml } from '../../src/tracking/rewrite.ts'
import { TrackingPolicy } from '../../src/tracking/policy.ts'
import { locationFor } from '../../src/tracking/routes.ts'
import { clickToken, openToken, readClickToken, readOpenToken } from '../../src/tracking/tokens.ts'
import { createTestDatabase } from '../support/db.ts'

const signer = new TokenSigner(['a'.repeat(32)])
const id = '0b6c3c1e-6a3e-4c5e-9a43-4f6e2f0d9b11'

describe('tokens', () => {
  test('each token reads back only as what it was signed for', () => {
    const click = clickToken(signer, id, 'https://lms.test/a?b=1&c=ü')
    const open = openToken(signer, id)
    expect(readClickToken(signer, click)).toEqual({ messageId: id, url: 'https://lms.test/a?b=1&c=ü' })
    expect(readOpenToken(signer, open)).toEqual({ messageId: id })
    expect(readOpenToken(signer, click)).toBeNull()
    expect(readClickToken(signer, open)).toBeNull()
    expect(signer.verify('preferences', open)).toBeNull()
    const preferences = signer.sign('preferences', { recipientId: id })
    expect(readOpenToken(signer, preferences)).toBeNull()
  })

  test('another secret, or a signed URL that is not http(s), is refused', () => {
    expect(readClickToken(new TokenSigner(['b'.repeat(32)]), clickToken(signer, id, 'https://lms.test/'))).toBeNull()
    expect(readClickToken(signer, signer.signData('track-click', `${id} javascript:alert(1)`))).toBeNull()
    expect(readClickToken(signer, signer.signData('track-click', `not-a-uuid https://lms.test/`))).toBeNull()
  })

  test('a rotated secret still reads old tokens', () => {
    const token = clickToken(signer, id, 'https://lms.test/')
    expect(readClickToken(new TokenSigner(['c'.repeat(32), 'a'.repeat(32)]), token)?.url).toBe('https://lms.test/')
  })
})

describe('machines', () => {
  test.each([
    ['Mozilla/5.0', 'apple_privacy_proxy'],
    ['Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)', 'image_proxy'],
    ['YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html', 'image_proxy'],
    ['Mozilla/5.0 (compatible; Barracuda Sentinel)', 'security_scanner'],
    ['Mimecast-URL-Protect/1.0', 'security_scanner'],
    ['Proofpoint URL Defense', 'security_scanner'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36', 'headless_browser'],
    ['python-requests/2.31', 'http_library'],
    ['', 'no_user_agent'],
  ])('%p is a machine (%s)', (agent, why) => {
    expect(machineAgent(cleanAgent(agent))).toBe(why)
  })

  test.each([
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
    'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0 Thunderbird/115.6',
  ])('%p is a reader', (agent) => {
    expect(machineAgent(cleanAgent(agent))).toBeNull()
  })

  test('opens within 10 s of sending, or before the send was recorded, are machines; HEAD clicks are', () => {
    const reader = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'
    expect(judgeOpen(reader, 3_000)).toEqual({ machine: true, why: 'too_soon_after_send' })
    expect(judgeOpen(reader, null)).toEqual({ machine: true, why: 'too_soon_after_send' })
    expect(judgeOpen(reader, 60_000)).toEqual({ machine: false })
    expect(judgeClick('HEAD', reader)).toEqual({ machine: true, why: 'head_request' })
    expect(judgeClick('GET', reader)).toEqual({ machine: false })
  })

  test('the stored agent is trimmed, cut to 300 characters and free of control characters', () => {
    expect(cleanAgent('  Mozilla/5.0\r\nX-Injected: 1  ')).toBe('Mozilla/5.0  X-Injected: 1')
    expect(cleanAgent('x'.repeat(1000))).toHaveLength(300)
    expect(cleanAgent(null)).toBe('')
  })
})

test('Location: ASCII URLs byte for byte, anything else as percent-encoded UTF-8', () => {
  expect(locationFor('https://lms.test/a?b=1&c=%C3%A9#x')).toBe('https://lms.test/a?b=1&c=%C3%A9#x')
  expect(locationFor('https://lms.test/é?q=😀 x')).toBe('https://lms.test/%C3%A9?q=%F0%9F%98%80%20x')
})

test('the policy: password resets and admin alerts never, categories per the admin setting, nothing when off', async () => {
  const testDb = await createTestDatabase()
  try {
    let now = 0
    const policy = new TrackingPolicy(testDb.database.db, true, silentLogger, 5_000, () => now)
    await policy.refresh()
    expect(policy.tracks({ notification: 'deadline_reminder', category: 'reminders' })).toBe(true)
    expect(policy.tracks({ notification: 'password_reset', category: 'account' })).toBe(false)
    expect(policy.tracks({ notification: 'admin_system_error', category: 'admin' })).toBe(false)

    await putSetting(testDb.database.db, SETTING.trackingOffCategories, ['reminders'])
    // Cached for 5 s, then read again.
    expect(await policy.records({ notification: 'deadline_reminder', category: 'reminders' })).toBe(true)
    now = 5_000
    expect(await policy.records({ notification: 'deadline_reminder', category: 'reminders' })).toBe(false)
    expect(policy.tracks({ notification: 'discussion_update', category: 'discussions' })).toBe(true)

    const off = new TrackingPolicy(testDb.database.db, false, silentLogger)
    await off.refresh()
    expect(off.tracks({ notification: 'discussion_update', category: 'discussions' })).toBe(false)
    expect(await off.records({ notification: 'discussion_update', category: 'discussions' })).toBe(false)
  } finally {
    await testDb.drop()
  }
})

test('TRACKING is on by default, off when set so, and anything else stops the start naming it', () => {
  expect(loadConfig({}).tracking).toBe(true)
  expect(loadConfig({ TRACKING: 'on' }).tracking).toBe(true)
  expect(loadConfig({ TRACKING: 'off' }).tracking).toBe(false)
  expect(() => loadConfig({ TRACKING: 'no' })).toThrow(/^TRACKING: /)
})

describe('withoutTracking', () => {
  test('an admin preview gets the email back as it was before tracking: no pixel, links to their targets', () => {
    const signer = new TokenSigner(['preview-secret-preview-secret-preview-secret'])
    const deps = { signer, publicUrl: 'https://mail.example.org' }
    const original = '<html><body><a href="https://lms.example.org/c?a=1&amp;b=2">Course</a><a href="mailto:x@y">Mail</a></body></html>'
    const tracked = rewriteHtml(original, {
      clickUrl: (target) => clickUrl(deps, '1b4e28ba-2fa1-41d2-883f-0016d3cca427', target),
      pixelUrl: openUrl(deps, '1b4e28ba-2fa1-41d2-883f-0016d3cca427'),
    })
    expect(tracked).toContain('/t/c/')
    expect(tracked).toContain('/t/o/')
    expect(withoutTracking(deps, tracked)).toBe(original)
    // A link whose token does not verify is left as it is, never guessed at.
    expect(withoutTracking(deps, '<a href="https://mail.example.org/t/c/forged">x</a>')).toBe('<a href="https://mail.example.org/t/c/forged">x</a>')
  })
})
